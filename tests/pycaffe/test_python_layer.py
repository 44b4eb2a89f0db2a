"""Python layers (``caffe.Layer`` subclasses) inside ``caffe.Net``, run as Caffe runs them."""

from __future__ import annotations

import numpy as np
import pytest

import keras_caffe
import keras_caffe.pycaffe as caffe

MODULE = "tests.pycaffe.python_layers"


def _net(tmp_path, text, phase=caffe.TRAIN):
    path = tmp_path / "net.prototxt"
    path.write_text(text)
    return caffe.Net(str(path), phase)


def _py(name, layer, bottoms, tops, extra=""):
    words = [f"bottom: '{b}'" for b in bottoms] + [f"top: '{t}'" for t in tops]
    return (f"layer {{ type: 'Python' name: '{name}' {' '.join(words)} python_param {{ "
            f"module: '{MODULE}' layer: '{layer}' {extra} }} }}\n")


CHAIN = ("name: 'pythonnet' force_backward: true\n"
         "input: 'data' input_shape { dim: 10 dim: 9 dim: 8 }\n"
         + _py("one", "TimesTen", ["data"], ["one"]) + _py("two", "TimesTen", ["one"], ["two"])
         + _py("three", "TimesTen", ["two"], ["three"]))


def test_forward_runs_each_layers_numpy_forward(tmp_path):
    net = _net(tmp_path, CHAIN)
    net.blobs["data"].data[...] = 8
    net.forward()
    assert np.all(net.blobs["three"].data == 8000) and net.blobs["two"].shape == (10, 9, 8)


def test_backward_from_a_seeded_output_diff(tmp_path):
    net = _net(tmp_path, CHAIN)
    net.blobs["data"].data[...] = 1
    net.forward()
    net.blobs["three"].diff[...] = 7
    net.backward()
    assert np.all(net.blobs["data"].diff == 7000)


def test_reshaping_an_input_reshapes_the_net_at_the_next_forward(tmp_path):
    net = _net(tmp_path, CHAIN)
    net.blobs["data"].reshape(4, 4, 4)
    net.blobs["data"].data[...] = 2
    net.forward()
    assert all(blob.data.shape == (4, 4, 4) for blob in net.blobs.values())
    assert np.all(net.blobs["three"].data == 2000)


def test_an_exception_in_setup_surfaces_as_itself(tmp_path):
    text = ("input: 'data' input_shape { dim: 2 dim: 3 }\n"
            + _py("layer", "Failing", ["data"], ["top"]))
    with pytest.raises(RuntimeError, match="setup refuses"):
        _net(tmp_path, text, caffe.TEST)


PARAM = ("name: 'pythonnet' force_backward: true\n"
         "input: 'data' input_shape { dim: 2 dim: 3 }\n"
         + _py("layer", "Gain", ["data"], ["top"]))


def test_blobs_are_learnable_parameters_with_diffs_saved_and_shared(tmp_path):
    net = _net(tmp_path, PARAM)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    net.blobs["data"].data[...] = x
    net.forward()
    np.testing.assert_allclose(net.blobs["top"].data, 0.5 * x)
    net.blobs["top"].diff[...] = 1
    net.backward()
    layer = net.layers[list(net._layer_names).index("layer")]
    assert layer.blobs[0].data[0] == 0.5 and layer.blobs[0].diff[0] == x.sum()
    np.testing.assert_allclose(net.blobs["data"].diff, 0.5)
    layer.blobs[0].data[0] += 1.5          # a write through the blob takes effect
    net.forward()
    np.testing.assert_allclose(net.blobs["top"].data, 2.0 * x)
    path = tmp_path / "w.caffemodel"
    net.save(str(path))
    layer.blobs[0].data[0] = -1
    net.copy_from(str(path))
    assert layer.blobs[0].data[0] == 2.0
    other = _net(tmp_path, PARAM)
    other.share_with(net)
    assert other.params["layer"][0].data[0] == 2.0


def test_a_bottomless_python_layer_is_a_data_layer_with_phase_and_param_str(tmp_path):
    text = _py("source", "PhaseAndParam", [], ["phase", "n"], "param_str: 'abcd'")
    for phase in (caffe.TRAIN, caffe.TEST):
        net = _net(tmp_path, text, phase)
        out = net.forward()
        assert np.all(out["phase"] == phase)
        np.testing.assert_array_equal(out["n"], np.full((2, 3), 4 + 1))  # one forward so far
        assert np.all(net.forward()["n"] == 4 + 2)


LOSS = ("name: 'pyloss' force_backward: true\n"
        "input: 'a' input_shape { dim: 4 dim: 3 }\n"
        "input: 'b' input_shape { dim: 4 dim: 3 }\n"
        + _py("loss", "EuclideanLoss", ["a", "b"], ["loss"]).replace(
            "python_param", "loss_weight: 1 python_param"))


def test_a_python_loss_layer_trains_like_caffes_euclidean_loss(tmp_path):
    net = _net(tmp_path, LOSS)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 4, 3)).astype(np.float32)
    net.blobs["a"].data[...] = a
    net.blobs["b"].data[...] = b
    loss = net.forward()["loss"]
    np.testing.assert_allclose(loss, [np.sum((a - b) ** 2) / 8], rtol=1e-6)
    net.backward()
    np.testing.assert_allclose(net.blobs["a"].diff, (a - b) / 4, rtol=1e-6)
    np.testing.assert_allclose(net.blobs["b"].diff, (b - a) / 4, rtol=1e-6)


def test_build_net_imports_python_layers_only_when_allowed(tmp_path):
    with pytest.raises(keras_caffe.NetError, match="allow_python_layers"):
        keras_caffe.build_net(PARAM)
    cnet = keras_caffe.build_net(PARAM, allow_python_layers=True)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_allclose(np.asarray(cnet.model({"data": x})["top"]), 0.5 * x)


def test_a_model_with_a_python_layer_says_why_it_cannot_be_exported(tmp_path):
    from keras_caffe.export import ExportError, export_savedmodel

    cnet = keras_caffe.build_net(PARAM, allow_python_layers=True)
    with pytest.raises(ExportError, match=r"Python layer\(s\) \['layer'\].*numpy"):
        export_savedmodel(cnet, tmp_path / "sm")


def test_a_python_data_layer_feeds_a_solver(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(
        _py("data", "LineData", [], ["x", "y"], "param_str: '16'")
        + "layer { name: 'fc' type: 'InnerProduct' bottom: 'x' top: 'fc'\n"
          "  inner_product_param { num_output: 1 weight_filler { type: 'constant' } } }\n"
          "layer { name: 'loss' type: 'EuclideanLoss' bottom: 'fc' bottom: 'y' top: 'loss' }\n")
    (tmp_path / "solver.prototxt").write_text(
        "net: 'net.prototxt' base_lr: 0.1 momentum: 0.9 lr_policy: 'fixed' max_iter: 200 "
        "display: 0 snapshot_after_train: false")
    solver = caffe.SGDSolver("solver.prototxt")
    solver.solve()
    assert solver.net.blobs["x"].shape == (16, 1)
    np.testing.assert_allclose(solver.net.params["fc"][0].data, [[3.0]], atol=1e-2)
    np.testing.assert_allclose(solver.net.params["fc"][1].data, [-1.0], atol=1e-2)


def test_net_layers_gives_the_python_layer_itself_and_propagate_down_is_caffes(tmp_path):
    net = _net(tmp_path, ("input: 'x' input_shape { dim: 4 dim: 3 }\n"
                          "input: 'y' input_shape { dim: 4 dim: 3 }\n")
               + _py("loss", "EuclideanLoss", ["x", "y"], ["loss"]).replace(
                   "python_param", "loss_weight: 1 propagate_down: true propagate_down: false "
                   "python_param"))
    layer = net.layers[list(net._layer_names).index("loss")]
    assert type(layer).__name__ == "EuclideanLoss" and hasattr(layer, "diff")
    assert net.blobs["loss"].shape == (1,)          # reshape() ran at set-up, as in Caffe
    seen = []
    original = type(layer).backward

    def spy(self, top, propagate_down, bottom):
        seen.append(list(propagate_down))
        return original(self, top, propagate_down, bottom)

    type(layer).backward = spy
    try:
        net.forward()
        net.backward()
    finally:
        type(layer).backward = original
    assert seen == [[False, False]]                 # Input blobs need no diff without force
