"""load_model / forward / save_caffemodel on self-made nets: layouts, sizes, round trips."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import keras_caffe
from keras_caffe.graph import layout
from keras_caffe.proto import binary
from tests.model.nets import FULLY_CONV, SMALL_CONVNET


def _nchw(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_inputs_and_outputs_are_named_after_caffe_blobs():
    model = keras_caffe.load_model(SMALL_CONVNET)
    assert isinstance(model.input, dict) and list(model.input) == ["data"]
    out = model({"data": layout.to_internal_array(_nchw((2, 3, 12, 10)))})
    assert list(out) == ["prob"]
    assert out["prob"].shape == (2, 5)
    np.testing.assert_allclose(np.asarray(out["prob"]).sum(axis=1), 1.0, rtol=1e-5)


def test_nchw_and_nhwc_layouts_agree():
    x = _nchw((3, 3, 12, 10))
    nhwc = keras_caffe.build_net(SMALL_CONVNET, seed=5)
    nchw = keras_caffe.build_net(SMALL_CONVNET, input_layout="NCHW", seed=5)
    a = np.asarray(nhwc.model({"data": layout.to_internal_array(x)})["prob"])
    b = np.asarray(nchw.model({"data": x})["prob"])
    np.testing.assert_array_equal(a, b)


def test_batch_size_is_free():
    model = keras_caffe.load_model(SMALL_CONVNET)
    for n in (1, 7):
        out = model({"data": np.zeros((n, 12, 10, 3), np.float32)})
        assert out["prob"].shape == (n, 5)


def test_fully_convolutional_net_accepts_any_spatial_size():
    cnet = keras_caffe.build_net(FULLY_CONV, input_layout="NCHW")
    assert cnet.free_spatial
    for h, w in ((16, 16), (21, 34)):
        out = np.asarray(cnet.model({"data": _nchw((1, 3, h, w))})["up"])
        # conv s2 p1 -> ceil pool s2 p1 -> x2 deconv, by Caffe's formulas
        ch, cw = (h + 2 - 3) // 2 + 1, (w + 2 - 3) // 2 + 1
        ph, pw = -(-(ch + 2 - 3) // 2) + 1, -(-(cw + 2 - 3) // 2) + 1
        ph -= (ph - 1) * 2 >= ch + 1
        pw -= (pw - 1) * 2 >= cw + 1
        assert out.shape == (1, 2, 2 * ph, 2 * pw)


def test_free_spatial_model_equals_fixed_size_model():
    x = _nchw((2, 3, 16, 16), seed=3)
    free = keras_caffe.build_net(FULLY_CONV, input_layout="NCHW", seed=1)
    fixed = keras_caffe.build_net(FULLY_CONV, input_layout="NCHW", seed=1, free_spatial=False)
    assert not fixed.free_spatial
    np.testing.assert_allclose(np.asarray(free.model({"data": x})["up"]),
                               np.asarray(fixed.model({"data": x})["up"]), rtol=1e-6, atol=1e-6)


def test_forward_returns_every_blob_in_caffe_layout_with_in_place_last_producer():
    x = _nchw((2, 3, 12, 10))
    blobs = keras_caffe.forward(SMALL_CONVNET, {"data": x})
    assert sorted(blobs) == ["conv1", "data", "ip1", "pool1", "prob"]
    assert blobs["conv1"].shape == (2, 4, 12, 10)
    assert blobs["conv1"].min() >= 0.0          # in-place ReLU: the last producer wins
    assert blobs["pool1"].shape == (2, 4, 6, 5)  # ceil mode: 12 -> 6, 10 -> 5 (floor: 5, 4)


def test_forward_builds_at_the_shape_of_its_inputs():
    blobs = keras_caffe.forward(FULLY_CONV, {"data": _nchw((2, 3, 9, 13))})
    assert blobs["conv1"].shape == (2, 4, 5, 7)


def test_caffemodel_round_trip(tmp_path):
    cnet = keras_caffe.build_net(SMALL_CONVNET, seed=11)
    path = tmp_path / "w.caffemodel"
    keras_caffe.save_caffemodel(cnet.model, path)
    written = {l.name: l.blobs for l in binary.read_weights(path) if l.blobs}
    expected = cnet.get_blobs()
    assert written.keys() == expected.keys() == {"conv1", "ip1"}
    assert written["conv1"][0].shape == (4, 3, 3, 3) and written["ip1"][0].shape == (5, 4 * 6 * 5)
    for name in expected:
        for a, b in zip(written[name], expected[name]):
            np.testing.assert_array_equal(a, b)
    again = keras_caffe.build_net(SMALL_CONVNET, path, seed=99)
    x = layout.to_internal_array(_nchw((2, 3, 12, 10)))
    np.testing.assert_array_equal(np.asarray(again.model({"data": x})["prob"]),
                                  np.asarray(cnet.model({"data": x})["prob"]))


def test_inner_product_after_conv_uses_caffe_flatten_order(tmp_path):
    """Weights written in Caffe's C,H,W row order must give what a NCHW flatten gives."""
    cnet = keras_caffe.build_net(SMALL_CONVNET, seed=2)
    x = _nchw((2, 3, 12, 10), seed=4)
    blobs = keras_caffe.forward(cnet, {"data": x})
    w, b = cnet.get_blobs()["ip1"]
    expected = blobs["pool1"].reshape(2, -1) @ w.T + b
    np.testing.assert_allclose(blobs["ip1"], expected, rtol=1e-5, atol=1e-5)


def test_saved_keras_model_reloads_in_a_fresh_process(tmp_path):
    cnet = keras_caffe.build_net(FULLY_CONV, input_layout="NCHW", seed=4)
    x = _nchw((1, 3, 16, 16), seed=8)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", np.asarray(cnet.model({"data": x})["up"]))
    cnet.model.save(tmp_path / "m.keras")
    script = textwrap.dedent(f"""
        import numpy as np, keras, keras_caffe
        m = keras.saving.load_model({str(tmp_path / 'm.keras')!r}, safe_mode=True)
        y = np.asarray(m({{"data": np.load({str(tmp_path / 'x.npy')!r})}})["up"])
        assert np.array_equal(y, np.load({str(tmp_path / 'y.npy')!r})), "outputs differ"
        print("identical")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env={**__import__("os").environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "identical" in result.stdout


def test_save_caffemodel_of_a_reloaded_model_needs_and_uses_the_net(tmp_path):
    cnet = keras_caffe.build_net(SMALL_CONVNET, seed=6)
    cnet.model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    with pytest.raises(keras_caffe.NetError, match="pass net="):
        keras_caffe.save_caffemodel(reloaded, tmp_path / "x.caffemodel")
    keras_caffe.save_caffemodel(reloaded, tmp_path / "x.caffemodel", net=SMALL_CONVNET)
    written = {l.name: l.blobs for l in binary.read_weights(tmp_path / "x.caffemodel")}
    np.testing.assert_array_equal(written["ip1"][0], cnet.get_blobs()["ip1"][0])


def test_big_inner_product_weights_are_assigned_in_blocks(tmp_path, monkeypatch):
    from keras_caffe.weights import loader

    cnet = keras_caffe.build_net(SMALL_CONVNET, seed=12)
    path = tmp_path / "w.caffemodel"
    keras_caffe.save_caffemodel(cnet, path)
    monkeypatch.setattr(loader, "CHUNK_BYTES", 4 * 120 * 2)  # two output rows per block
    blocked = keras_caffe.build_net(SMALL_CONVNET, path, seed=0)
    np.testing.assert_array_equal(blocked.get_blobs()["ip1"][0], cnet.get_blobs()["ip1"][0])


def test_layers_missing_from_the_caffemodel_keep_fillers_and_others_are_not_refilled(tmp_path):
    cnet = keras_caffe.build_net(SMALL_CONVNET, seed=3)
    path = tmp_path / "w.caffemodel"
    binary.write_caffemodel(path, {"conv1": cnet.get_blobs()["conv1"]})
    partial = keras_caffe.build_net(SMALL_CONVNET, path, seed=4, allow_missing=True)
    np.testing.assert_array_equal(partial.get_blobs()["conv1"][0], cnet.get_blobs()["conv1"][0])
    w = partial.get_blobs()["ip1"][0]
    assert np.abs(w).max() <= np.sqrt(3.0 / 120) + 1e-6 and w.std() > 0  # xavier filler
