"""Bad input gives one clear error naming the file/line or the layer."""

from __future__ import annotations

import numpy as np
import pytest

import keras_caffe
from keras_caffe import cli
from keras_caffe.proto import binary
from tests.model.nets import SMALL_CONVNET
from tests.sentinel import refused


def test_malformed_prototxt_names_file_line_and_column(tmp_path):
    path = tmp_path / "bad.prototxt"
    path.write_text('name: "x"\nlayer {\n  name: "a"\n  type: "ReLU"\n  bottom: "d" top "d"\n}\n')
    with pytest.raises(keras_caffe.PrototxtError) as err:
        keras_caffe.load_model(path)
    assert err.value.path == str(path) and err.value.line == 5
    assert str(path) + ":5:" in str(err.value)


def test_unknown_field_is_reported_with_its_line(tmp_path):
    path = tmp_path / "bad.prototxt"
    path.write_text('layer {\n  name: "a"\n  type: "ReLU"\n  relu_param { slope: 0.1 }\n}\n')
    with pytest.raises(keras_caffe.PrototxtError, match="slope") as err:
        keras_caffe.read_net(path)
    assert err.value.line == 4


def test_truncated_caffemodel_names_the_file(tmp_path):
    cnet = keras_caffe.build_net(SMALL_CONVNET)
    good = tmp_path / "w.caffemodel"
    keras_caffe.save_caffemodel(cnet, good)
    data = good.read_bytes()
    bad = tmp_path / "cut.caffemodel"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(keras_caffe.CaffemodelError) as err:
        keras_caffe.load_model(SMALL_CONVNET, bad)
    assert str(bad) in str(err.value)


def test_every_unsupported_type_is_reported_at_once():
    net = SMALL_CONVNET + """
layer { name: "w1" type: "Warp" bottom: "prob" top: "w1" }
layer { name: "w2" type: "Warp" bottom: "w1" top: "w2" }
layer { name: "z" type: "Zap" bottom: "w2" top: "z" }
"""
    with pytest.raises(keras_caffe.UnsupportedLayerError) as err:
        keras_caffe.load_model(net)
    assert err.value.missing == {"Warp": ["w1", "w2"], "Zap": ["z"]}
    assert "Warp (layers: w1, w2)" in str(err.value) and "Zap (layers: z)" in str(err.value)


def test_wrong_blob_shape_names_layer_blob_and_shapes(tmp_path):
    cnet = keras_caffe.build_net(SMALL_CONVNET)
    blobs = cnet.get_blobs()
    blobs["conv1"][0] = np.zeros((4, 3, 5, 5), np.float32)
    path = tmp_path / "w.caffemodel"
    binary.write_caffemodel(path, blobs)
    with pytest.raises(keras_caffe.WeightError) as err:
        keras_caffe.load_model(SMALL_CONVNET, path)
    message = str(err.value)
    assert "layer 'conv1', blob 0" in message
    assert "(4, 3, 3, 3)" in message and "(4, 3, 5, 5)" in message


def test_wrong_blob_count_is_reported(tmp_path):
    cnet = keras_caffe.build_net(SMALL_CONVNET)
    blobs = cnet.get_blobs()
    blobs["ip1"] = blobs["ip1"][:1]
    path = tmp_path / "w.caffemodel"
    binary.write_caffemodel(path, blobs)
    with pytest.raises(keras_caffe.WeightError, match="layer 'ip1'.*2 parameter blob.*1"):
        keras_caffe.load_model(SMALL_CONVNET, path)


def test_missing_bottom_names_the_layer():
    net = SMALL_CONVNET.replace('bottom: "pool1" top: "ip1"', 'bottom: "pool9" top: "ip1"')
    with pytest.raises(keras_caffe.NetError, match="layer 'ip1'.*unknown bottom blob 'pool9'"):
        keras_caffe.load_model(net)


def test_bottom_written_only_later_is_explained():
    net = """
layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 2 } } }
layer { name: "a" type: "ReLU" bottom: "y" top: "z" }
layer { name: "b" type: "ReLU" bottom: "x" top: "y" }
"""
    with pytest.raises(keras_caffe.NetError, match="layer 'a'.*later layer.*'b'"):
        keras_caffe.load_model(net)


def test_bad_parameter_names_the_layer():
    net = SMALL_CONVNET.replace("num_output: 5", "num_output: 5 axis: 7")
    with pytest.raises(keras_caffe.NetError, match="ip1"):
        keras_caffe.load_model(net)


def test_cli_reports_errors_with_exit_code_1(tmp_path, capsys):
    path = tmp_path / "bad.prototxt"
    path.write_text("layer { name: ")
    assert cli.main(["info", str(path)]) == 1
    assert str(path) in capsys.readouterr().err


def test_weights_missing_from_caffemodel_are_listed(tmp_path, caplog):
    cnet = keras_caffe.build_net(SMALL_CONVNET)
    path = tmp_path / "w.caffemodel"
    binary.write_caffemodel(path, {"conv1": cnet.get_blobs()["conv1"], "extra": [np.ones(3, np.float32)]})
    with pytest.raises(keras_caffe.MissingWeightsError, match="no weights for 1 of the net's 2 "
                       "parameter layer.*'ip1'") as err:
        keras_caffe.build_net(SMALL_CONVNET, path)
    assert err.value.missing == ["ip1"]
    with caplog.at_level("WARNING"):
        keras_caffe.build_net(SMALL_CONVNET, path, allow_missing=True)
    messages = caplog.text
    assert "ip1" in messages and "extra" in messages


@pytest.mark.parametrize("text", ["", "# nothing here\n\n  # a note\n", 'name: "only a name"\n'])
@pytest.mark.parametrize("command, phase", [("time", "TRAIN"), ("convert", "TEST")])
def test_a_net_without_layers_is_refused(tmp_path, monkeypatch, capsys, text, command, phase):
    """An empty or comment-only prototxt (Caffe accepts it and builds nothing) has no model."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty.prototxt").write_text(text)
    argv = [command, "empty.prototxt"] + (["-o", "m.keras"] if command == "convert" else [])
    assert refused(argv, tmp_path, capsys) == (
        f"empty.prototxt: the net has no layers in the {phase} phase (an empty or comment-only "
        "prototxt, or include/exclude rules that keep none): there is no model to build")
    with pytest.raises(keras_caffe.NetError) as err:
        keras_caffe.load_model(tmp_path / "empty.prototxt")
    assert str(err.value).startswith(f"{tmp_path / 'empty.prototxt'}: the net has no layers in "
                                     "the TEST phase")
