"""Export of the segmentation forks' layers: a small net with PSPNet's and SegNet's BN, MAX
pooling with its mask, SegNet's Upsample by that mask and Interp (zoom and shrink), under
XLA, as a SavedModel and as TFLite with builtin ops only, each equal to the Keras model."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras_caffe
from keras_caffe.export import export_savedmodel, export_tflite
from keras_caffe.export.tflite import interpreter
from keras_caffe.graph import layout
from keras_caffe.weights.loader import set_layer_blobs
from tests.export.conftest import random

SEG = """
layer { name: "input" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 13 dim: 15 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1 bias_term: false
                            weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "conv1/bn" type: "BN" bottom: "conv1" top: "conv1"
        bn_param { frozen: true momentum: 0.95 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" top: "pool1_mask"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
        convolution_param { num_output: 8 kernel_size: 3 pad: 1
                            weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "conv2_bn" type: "BN" bottom: "conv2" top: "conv2"
        bn_param { bn_mode: INFERENCE } }
layer { name: "up1" type: "Upsample" bottom: "conv2" bottom: "pool1_mask" top: "up1"
        upsample_param { scale: 2 pad_out_h: true pad_out_w: true } }
layer { name: "zoom" type: "Interp" bottom: "up1" top: "zoom" interp_param { zoom_factor: 2 } }
layer { name: "shrink" type: "Interp" bottom: "up1" top: "shrink"
        interp_param { shrink_factor: 2 pad_beg: -1 pad_end: -1 } }
"""
OUTPUTS = ("zoom", "shrink")


@pytest.fixture(scope="module")
def seg():
    cnet = keras_caffe.build_net(SEG, seed=2)
    rng = np.random.default_rng(3)
    set_layer_blobs(cnet.contexts["conv1/bn"], [
        rng.uniform(0.5, 1.5, (1, 8, 1, 1)), rng.normal(0, 0.1, (1, 8, 1, 1)),
        rng.normal(0, 0.5, (1, 8, 1, 1)), rng.uniform(0.5, 2.0, (1, 8, 1, 1))])
    set_layer_blobs(cnet.contexts["conv2_bn"], [
        rng.uniform(0.5, 1.5, (1, 8, 1, 1)), rng.normal(0, 0.1, (1, 8, 1, 1))])
    return cnet


def _reference(cnet, x):
    out = cnet.model({"data": layout.to_internal_array(x)})
    return {k: layout.to_caffe_array(np.asarray(out[k])) for k in OUTPUTS}


def test_the_net_has_the_forks_layers(seg):
    x = random((1, 3, 13, 15), seed=4)
    want = _reference(seg, x)
    assert want["zoom"].shape == (1, 8, 25, 29)      # unpooled to 13 x 15, then 2 * 13 - 1
    assert want["shrink"].shape == (1, 8, 6, 7)      # cropped to 11 x 13, then (11 - 1) / 2 + 1
    blobs = keras_caffe.forward(seg, {"data": x})
    assert blobs["pool1_mask"].max() < 13 * 15
    assert (blobs["up1"] != 0).sum() == blobs["conv2"].size      # one value per mask entry
    np.testing.assert_allclose(blobs["zoom"], want["zoom"], rtol=0, atol=1e-6)
    compiled = keras_caffe.forward(seg, {"data": x}, xla="always")     # under XLA too
    np.testing.assert_array_equal(compiled["pool1_mask"], blobs["pool1_mask"])
    for name in ("up1", "zoom", "shrink"):
        np.testing.assert_allclose(compiled[name], blobs[name], rtol=0, atol=1e-5, err_msg=name)


@pytest.mark.parametrize("lay", ["NHWC", "NCHW"])
def test_savedmodel_equals_the_keras_model(seg, tmp_path, lay):
    result = export_savedmodel(seg, tmp_path / "sm", input_layout=lay)
    loaded = tf.saved_model.load(result.path)
    x = random((1, 3, 13, 15), seed=5, scale=2)
    feed = x if lay == "NCHW" else layout.to_internal_array(x)
    got = loaded.signatures["serving_default"](data=tf.constant(feed))
    for name, want in _reference(seg, x).items():
        value = np.asarray(got[name])
        value = value if lay == "NCHW" else layout.to_caffe_array(value)
        np.testing.assert_allclose(value, want, rtol=0, atol=1e-5, err_msg=name)


def test_tflite_with_builtin_ops_equals_the_keras_model(seg, tmp_path):
    result = export_tflite(seg, tmp_path / "seg.tflite", input_layout="NCHW")
    assert result.tf_ops == []                       # no Flex: builtin TFLite ops only
    with open(result.path, "rb") as f:
        runner = interpreter(f.read()).get_signature_runner("serving_default")
    x = random((1, 3, 13, 15), seed=6, scale=2)
    got = runner(data=x)
    for name, want in _reference(seg, x).items():   # XNNPACK's convolution: 1e-6 of the scale
        np.testing.assert_allclose(got[name], want, rtol=0, atol=2e-6 * np.abs(want).max(),
                                   err_msg=name)
