"""The keras-caffe command line, including the installed console script."""

from __future__ import annotations

import os
import shutil
import subprocess

import keras
import numpy as np
import pytest

import keras_caffe
from keras_caffe import cli
from keras_caffe.tools.demo import bundled
from tests.model.nets import SMALL_CONVNET


@pytest.fixture
def net_and_weights(tmp_path):
    net = tmp_path / "net.prototxt"
    net.write_text(SMALL_CONVNET)
    weights = tmp_path / "w.caffemodel"
    keras_caffe.save_caffemodel(keras_caffe.build_net(net, seed=3), weights)
    return net, weights


def test_convert_to_keras_and_weights_h5(net_and_weights, tmp_path):
    net, weights = net_and_weights
    assert cli.main(["convert", str(net), "--weights", str(weights), "-o", str(tmp_path / "m.keras")]) == 0
    model = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    reference = keras_caffe.load_model(net, weights)
    x = {"data": np.random.default_rng(0).standard_normal((2, 12, 10, 3)).astype(np.float32)}
    np.testing.assert_array_equal(np.asarray(model(x)["prob"]), np.asarray(reference(x)["prob"]))
    assert cli.main(["convert", str(net), "--weights", str(weights), "-o",
                     str(tmp_path / "m.weights.h5")]) == 0
    fresh = keras_caffe.load_model(net, seed=42)
    fresh.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_array_equal(np.asarray(fresh(x)["prob"]), np.asarray(reference(x)["prob"]))
    assert cli.main(["convert", str(net), "-o", str(tmp_path / "m.onnx")]) == 2


def test_info_lists_layers_shapes_and_params(net_and_weights, capsys):
    net, weights = net_and_weights
    assert cli.main(["info", str(net), "--weights", str(weights)]) == 0
    out = capsys.readouterr().out
    assert "conv1" in out and "2x4x12x10" in out and "2x4x6x5" in out
    assert "112" in out  # conv1: 4*3*3*3 + 4
    assert "605" in out  # ip1: 5*120 + 5
    assert "outputs: prob" in out


def test_forward_writes_nchw_blobs(net_and_weights, tmp_path):
    net, weights = net_and_weights
    x = np.random.default_rng(1).standard_normal((2, 3, 12, 10)).astype(np.float32)
    np.savez(tmp_path / "in.npz", data=x)
    out = tmp_path / "out.npz"
    assert cli.main(["forward", str(net), "--weights", str(weights), "--inputs",
                     str(tmp_path / "in.npz"), "--out", str(out)]) == 0
    with np.load(out) as blobs:
        assert blobs["pool1"].shape == (2, 4, 6, 5)
        expected = keras_caffe.forward(net, {"data": x}, weights=weights)
        np.testing.assert_array_equal(blobs["prob"], expected["prob"])


def test_forward_rejects_wrong_input_names(net_and_weights, tmp_path, capsys):
    net, _ = net_and_weights
    np.savez(tmp_path / "in.npz", image=np.zeros((1, 3, 12, 10), np.float32))
    assert cli.main(["forward", str(net), "--inputs", str(tmp_path / "in.npz"),
                     "--out", str(tmp_path / "o.npz")]) == 1
    assert "missing ['data']" in capsys.readouterr().err
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.skipif(shutil.which("keras-caffe") is None, reason="console script not installed")
def test_console_script_runs_the_demo(tmp_path):
    result = subprocess.run(["keras-caffe", "demo", "--workdir", str(tmp_path)], capture_output=True,
                            text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "demo passed" in result.stdout
    assert (tmp_path / "shapes_net.keras").is_file()


def test_bundled_demo_files_ship_with_the_package():
    for name in ("shapes_net.prototxt", "shapes_net.caffemodel", "shapes_samples.npz"):
        assert os.path.isfile(bundled(name)), name


def test_info_takes_data_layer_shapes(tmp_path, capsys):
    net = tmp_path / "tv.prototxt"
    net.write_text("""
layer { name: "data" type: "Data" top: "data" top: "label" data_param { source: "none" batch_size: 4 } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 2 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
""")
    assert cli.main(["info", str(net)]) == 1
    assert "input_shapes" in capsys.readouterr().err
    assert cli.main(["info", str(net), "--input-shape", "data=4,3,5,5", "--input-shape",
                     "label=4"]) == 0
    out = capsys.readouterr().out
    assert "4x3x5x5" in out and "152" in out  # ip: 2*75 + 2
