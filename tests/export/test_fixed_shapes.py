"""``input_shapes`` (``--input-shape``) fixes every shape of an export, batch included: the
SavedModel signature's and the TFLite interpreter's inputs and outputs; without it the batch
(and H, W where the net allows) stays free, as before."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras_caffe
from keras_caffe.export import export_savedmodel, export_tflite
from keras_caffe.export.tflite import interpreter
from keras_caffe.graph import layout
from tests.export.conftest import random
from tests.export.nets import CLASSIFIER

# conv / ReLU / pool only: H and W are free unless fixed
CONV_ONLY = """
name: "conv_only"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 stride: 2 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
"""


def _details(path):
    with open(path, "rb") as f:
        host = interpreter(f.read())
    shapes = [(list(d["shape"]), list(d["shape_signature"]))
              for d in host.get_input_details() + host.get_output_details()]
    return host, shapes


def test_savedmodel_signature_is_fixed_and_computes_the_model(tmp_path):
    result = export_savedmodel(CONV_ONLY, tmp_path / "sm", input_layout="NCHW",
                               input_shapes={"data": (2, 3, 9, 7)})
    assert [e["shape"] for e in result.manifest["inputs"]] == [[2, 3, 9, 7]]
    assert [e["shape"] for e in result.manifest["outputs"]] == [[2, 4, 4, 3]]
    serve = tf.saved_model.load(str(tmp_path / "sm")).signatures["serving_default"]
    spec = serve.structured_input_signature[1]["data"]
    assert spec.shape.as_list() == [2, 3, 9, 7]
    assert serve.structured_outputs["conv1"].shape.as_list() == [2, 4, 4, 3]
    x = random((2, 3, 9, 7), seed=4)
    cnet = keras_caffe.build_net(CONV_ONLY, input_shapes={"data": (2, 3, 9, 7)})
    want = layout.to_caffe_array(cnet.model({"data": layout.to_internal_array(x)})["conv1"])
    np.testing.assert_allclose(serve(data=tf.constant(x))["conv1"], want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("lay", ["NHWC", "NCHW"])
def test_tflite_interpreter_shapes_are_fixed(tmp_path, lay):
    result = export_tflite(CONV_ONLY, tmp_path / "m.tflite", input_layout=lay,
                           input_shapes={"data": (1, 3, 10, 6)})
    host, shapes = _details(result.path)
    want_in, want_out = [1, 3, 10, 6], [1, 4, 4, 2]
    if lay == "NHWC":
        want_in, want_out = [1, 10, 6, 3], [1, 4, 2, 4]
    assert shapes == [(want_in, want_in), (want_out, want_out)]   # no -1 anywhere
    x = random((1, 3, 10, 6), seed=5)
    cnet = keras_caffe.build_net(CONV_ONLY, input_shapes={"data": (1, 3, 10, 6)})
    want = cnet.model({"data": layout.to_internal_array(x)})["conv1"]
    feed = x if lay == "NCHW" else layout.to_internal_array(x)
    got = host.get_signature_runner("serving_default")(data=feed)["conv1"]
    np.testing.assert_allclose(got, want if lay == "NHWC" else layout.to_caffe_array(want),
                               rtol=0, atol=1e-5)


def test_without_input_shapes_batch_and_spatial_stay_free(tmp_path):
    result = export_tflite(CONV_ONLY, tmp_path / "m.tflite")
    assert [e["shape"] for e in result.manifest["inputs"]] == [[None, None, None, 3]]
    _, shapes = _details(result.path)
    assert shapes[0][1] == [-1, -1, -1, 3]
    result = export_tflite(CLASSIFIER, tmp_path / "c.tflite")   # InnerProduct fixes H, W
    _, shapes = _details(result.path)
    assert shapes == [([1, 12, 10, 3], [-1, 12, 10, 3]), ([1, 5], [-1, 5])]


def test_fixed_shapes_of_a_built_net(tmp_path):
    """A CaffeNet takes ``fixed_shapes=True``: its own (prototxt) shapes."""
    cnet = keras_caffe.build_net(CONV_ONLY)
    result = export_tflite(cnet, tmp_path / "m.tflite", fixed_shapes=True)
    _, shapes = _details(result.path)
    assert shapes == [([1, 8, 8, 3], [1, 8, 8, 3]), ([1, 3, 3, 4], [1, 3, 3, 4])]


def test_cli_input_shape_fixes_the_export(caffemodel, run_cli, tmp_path, capsys):
    net, weights = caffemodel(CLASSIFIER)
    out = tmp_path / "net.tflite"
    assert run_cli(["export", str(net), "--weights", str(weights), "-o", str(out), "--format",
                    "tflite", "--input-layout", "NCHW", "--input-shape", "data=4,3,12,10"]) == 0
    err = capsys.readouterr().err
    assert "input  data: float32 4x3x12x10" in err and "output prob: float32 4x5" in err
    host, shapes = _details(out)
    assert shapes == [([4, 3, 12, 10], [4, 3, 12, 10]), ([4, 5], [4, 5])]
    x = random((4, 3, 12, 10), seed=6, scale=2)
    want = keras_caffe.load_model(net, weights, input_layout="NCHW")({"data": x})["prob"]
    got = host.get_signature_runner("serving_default")(data=x)["prob"]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
