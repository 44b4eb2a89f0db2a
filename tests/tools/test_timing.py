"""``keras-caffe time`` / ``keras_caffe.tools.timing.time_net`` on small nets (CPU, few
iterations)."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from keras_caffe import cli
from keras_caffe.cli import options as cli_options
from keras_caffe.tools import timing
from keras_caffe.errors import NetError

# conv / relu / pool / fc / softmax-loss, fed by Input layers (data and labels).
SMALL_TRAIN_NET = """
name: "tiny_lenet"
layer { name: "input" type: "Input" top: "data" top: "label"
  input_param { shape { dim: 4 dim: 1 dim: 12 dim: 12 } shape { dim: 4 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool1" top: "ip1"
  inner_product_param { num_output: 5 weight_filler { type: "xavier" } } }
layer { name: "accuracy" type: "Accuracy" bottom: "ip1" bottom: "label" top: "accuracy"
  include { phase: TEST } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip1" bottom: "label" top: "loss" }
"""

TRAIN_LAYERS = ["input", "conv1", "relu1", "pool1", "ip1", "loss"]

# The same net behind a Data layer: its shapes come from batch_size, crop_size and the
# number of mean values (no database is read).
DATA_NET = SMALL_TRAIN_NET.replace(
    """layer { name: "input" type: "Input" top: "data" top: "label"
  input_param { shape { dim: 4 dim: 1 dim: 12 dim: 12 } shape { dim: 4 } } }""",
    """layer { name: "input" type: "Data" top: "data" top: "label"
  transform_param { crop_size: 12 mean_value: 1 mean_value: 2 mean_value: 3 }
  data_param { source: "no_such_lmdb" batch_size: 3 backend: LMDB } }""")

NO_CROP_DATA_NET = DATA_NET.replace("crop_size: 12 ", "")

DEPLOY_NET = """
name: "deploy"
layer { name: "data" type: "Input" top: "data"
  input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 2 kernel_size: 3 } }
layer { name: "prob" type: "Softmax" bottom: "conv1" top: "prob" }
"""


def _check(result, names, iterations):
    for key in ("forward_ms", "backward_ms", "forward_backward_ms", "total_ms", "layers"):
        assert key in result
    assert result["forward_ms"] > 0 and result["forward_backward_ms"] > 0
    assert result["backward_ms"] >= 0 and result["total_ms"] > 0
    assert result["iterations"] == iterations
    assert [l["name"] for l in result["layers"]] == names
    for layer in result["layers"]:
        assert set(layer) >= {"name", "type", "forward_ms", "backward_ms"}
        assert "error" not in layer, layer
        assert layer["forward_ms"] >= 0 and layer["backward_ms"] >= 0
        if layer["type"] != "Input":
            assert layer["forward_ms"] > 0, layer
    by_name = {l["name"]: l for l in result["layers"]}
    return by_name


def test_time_net_reports_every_caffe_layer():
    result = timing.time_net(SMALL_TRAIN_NET, iterations=2, warmup=1)
    layers = _check(result, TRAIN_LAYERS, 2)
    assert layers["conv1"]["type"] == "Convolution" and layers["loss"]["type"] == "SoftmaxWithLoss"
    # Layers with weights below them have a backward pass to time.
    for name in ("conv1", "ip1"):
        assert layers[name]["forward_backward_ms"] > 0
    assert result["phase"] == "train" and result["device"] in ("CPU", "GPU")
    assert result["input_shapes"] == {"data": [4, 1, 12, 12], "label": [4]}
    report = timing.format_report(result)
    assert "     conv1\tforward: " in report and "     conv1\tbackward: " in report
    for line in ("Average Forward pass: ", "Average Backward pass: ",
                 "Average Forward-Backward: ", "Total Time: "):
        assert line in report
    assert "do not add up" in report


def test_test_phase_batch_override_and_no_backward_for_accuracy():
    result = timing.time_net(SMALL_TRAIN_NET, iterations=1, warmup=0, batch=2, phase="test",
                             per_layer=True)
    layers = _check(result, ["input", "conv1", "relu1", "pool1", "ip1", "accuracy", "loss"], 1)
    assert result["input_shapes"] == {"data": [2, 1, 12, 12], "label": [2]}
    assert layers["accuracy"]["backward_ms"] == 0.0  # feeds no loss: Caffe skips it


def test_labels_are_class_indices_in_range():
    from keras_caffe.api import build_net

    cnet = build_net(SMALL_TRAIN_NET, phase="train")
    values = timing.random_inputs(cnet, np.random.default_rng(0))
    assert values["data"].shape == (4, 1, 12, 12)
    labels = values["label"]
    assert labels.shape == (4,) and np.all(labels == np.round(labels))
    assert labels.min() >= 0 and labels.max() < 5


def test_data_layer_shapes_from_its_parameters():
    result = timing.time_net(DATA_NET, iterations=1, warmup=0, per_layer=False)
    assert result["input_shapes"] == {"data": [3, 3, 12, 12], "label": [3]}
    assert result["layers"] == [] and result["forward_ms"] > 0


def test_data_layer_without_fixed_shape_needs_shape():
    with pytest.raises(NetError, match="--shape data=3,3,H,W"):
        timing.time_net(NO_CROP_DATA_NET, iterations=1)
    result = timing.time_net(NO_CROP_DATA_NET, iterations=1, warmup=0,
                             shapes={"data": (2, 3, 10, 10)})
    assert result["input_shapes"] == {"data": [2, 3, 10, 10], "label": [2]}
    assert result["layers"][0]["name"] == "input" and result["layers"][0]["forward_ms"] > 0


def test_net_without_loss_times_a_surrogate_backward():
    result = timing.time_net(DEPLOY_NET, iterations=1, warmup=0, phase="test")
    layers = _check(result, ["data", "conv1", "prob"], 1)
    assert layers["conv1"]["forward_backward_ms"] > 0
    assert any("no loss" in n for n in result["notes"])


def test_xla_runs_on_cpu():
    result = timing.time_net(SMALL_TRAIN_NET, iterations=1, warmup=0, xla="always")
    _check(result, TRAIN_LAYERS, 1)
    assert result["xla"] is True
    assert result["xla_choice"]["forward"] == {"used": True, "mode": "always", "plain_ms": None,
                                               "xla_ms": None, "compile_s": None,
                                               "reason": "as asked (always)"}


def test_mixed_bfloat16_runs_and_restores_the_policy():
    before = keras.mixed_precision.global_policy().name
    result = timing.time_net(SMALL_TRAIN_NET, iterations=1, warmup=0,
                             precision="mixed_bfloat16")
    layers = _check(result, TRAIN_LAYERS, 1)
    assert keras.mixed_precision.global_policy().name == before
    assert result["precision"] == "mixed_bfloat16"
    assert layers["conv1"]["dtype"] == "bfloat16"
    assert layers["loss"]["dtype"] == "float32"  # the converters keep losses in float32


def test_caffe_names_with_slashes_trace():
    # Caffe names with "/" must become valid TF name scopes (graph/names.py) to trace.
    net = SMALL_TRAIN_NET.replace('"conv1"', '"conv1/3x3"').replace('"relu1"', '"relu1/3x3"')
    result = timing.time_net(net, iterations=1, warmup=0)
    _check(result, ["input", "conv1/3x3", "relu1/3x3", "pool1", "ip1", "loss"], 1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="iterations"):
        timing.time_net(SMALL_TRAIN_NET, iterations=0)
    with pytest.raises(ValueError, match="precision"):
        timing.time_net(SMALL_TRAIN_NET, precision="float64")
    with pytest.raises(NetError, match="not input blobs"):
        timing.time_net(SMALL_TRAIN_NET, shapes={"nope": (1, 2)})
    assert cli_options.parse_shapes(["data=1,3,8,8", "label=1"]) == {"data": (1, 3, 8, 8),
                                                                  "label": (1,)}
    with pytest.raises(ValueError):
        cli_options.parse_shapes(["data"])


def _run_cli(argv):
    return cli.main(argv)


def test_cli_prints_caffe_style_and_writes_json(tmp_path, capsys):
    net = tmp_path / "net.prototxt"
    net.write_text(SMALL_TRAIN_NET)
    out = tmp_path / "time.json"
    assert _run_cli(["time", str(net), "--iterations", "2", "--warmup", "1", "--json",
                     str(out)]) == 0
    text = capsys.readouterr().out
    for name in TRAIN_LAYERS:
        assert f"{name:>10}\tforward: " in text and f"{name:>10}\tbackward: " in text
    assert "Average Forward-Backward: " in text and "Total Time: " in text
    data = json.loads(out.read_text())
    _check(data, TRAIN_LAYERS, 2)
    assert data["xla"] is False


def test_cli_xla_precision_and_shape_flags(tmp_path, capsys):
    net = tmp_path / "net.prototxt"
    net.write_text(NO_CROP_DATA_NET)
    out = tmp_path / "time.json"
    assert _run_cli(["time", str(net), "--iterations", "1", "--warmup", "0", "--xla", "always",
                     "--precision", "mixed_bfloat16", "--shape", "data=2,3,10,10",
                     "--batch", "3", "--no-layers", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["input_shapes"] == {"data": [3, 3, 10, 10], "label": [3]}
    assert data["xla"] and data["precision"] == "mixed_bfloat16"
    assert _run_cli(["time", str(net), "--shape", "data=2,x"]) == 2
