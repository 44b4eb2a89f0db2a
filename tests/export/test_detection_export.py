"""An SSD deploy net (PriorBox ... DetectionOutput) exported as a SavedModel and as TFLite
with builtin ops only: the exported models give the detections keras_caffe.forward gives."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras_caffe
from keras_caffe.export import export_savedmodel, export_tflite
from keras_caffe.export.savedmodel import prepare, serving_function
from keras_caffe.export.tflite import interpreter
from tests.export.conftest import random
from tests.layers.test_detection_output import assert_same_detections
from tests.model.ssd_net import SSD_DEPLOY

NOTHING = SSD_DEPLOY.replace("confidence_threshold: 0.01", "confidence_threshold: 1")


@pytest.fixture(scope="module")
def ssd():
    return keras_caffe.build_net(SSD_DEPLOY, seed=1)


def test_savedmodel_gives_the_same_detections(ssd, tmp_path):
    result = export_savedmodel(ssd, tmp_path / "ssd", input_layout="NCHW")
    assert result.manifest["outputs"][0]["key"] == "detection_out"
    serve = tf.saved_model.load(result.path).signatures["serving_default"]
    assert result.manifest["outputs"][0]["shape"] == [1, 1, None, 7]   # 1 x 1 x rows x 7
    assert serve.structured_outputs["detection_out"].shape.as_list() == [1, 1, None, 7]
    for seed in (0, 1):
        x = random((2, 3, 64, 64), seed=seed)
        got = serve(data=tf.constant(x))["detection_out"]
        want = keras_caffe.forward(ssd, {"data": x})["detection_out"]
        assert want.shape == (1, 1, 400, 7)
        assert_same_detections(got, want)


def test_tflite_with_builtin_ops_gives_the_same_detections(ssd, tmp_path):
    """TFLite runs the NMS loop (WHILE), TopK, Where and the empty case's IF as builtins."""
    result = export_tflite(ssd, tmp_path / "ssd.tflite", input_layout="NCHW")
    assert result.tf_ops == [] and result.manifest["tflite"]["check"]["within_1e-4"]
    with open(result.path, "rb") as f:
        run = interpreter(f.read()).get_signature_runner("serving_default")
    x = random((2, 3, 64, 64), seed=5)
    assert_same_detections(run(data=x)["detection_out"],
                           keras_caffe.forward(ssd, {"data": x})["detection_out"])

    empty = export_tflite(NOTHING, tmp_path / "nothing.tflite", input_layout="NCHW", seed=1)
    with open(empty.path, "rb") as f:
        run = interpreter(f.read()).get_signature_runner("serving_default")
    np.testing.assert_array_equal(run(data=x)["detection_out"],
                                  [[[[0] + [-1] * 6, [1] + [-1] * 6]]])


@pytest.mark.parametrize("layout,fixed,detections,loc", [
    ("NCHW", False, [1, 1, None, 7], [None, 5632]),
    ("NHWC", False, [1, None, 7, 1], [None, 5632]),
    ("NCHW", True, [1, 1, None, 7], [3, 5632]),
])
def test_manifest_shapes_are_the_layers_own(layout, fixed, detections, loc):
    """Caffe's detection_out is 1 x 1 x rows x 7 and PriorBox's top 1 x 2 x (4 x priors)
    whatever the batch: the manifest keeps their first axis (a fixed export fills only the
    axes that follow the batch, and never the rows, which the data decide)."""
    build = dict(input_shapes={"data": (3, 3, 64, 64)}) if fixed else {}
    job = prepare(SSD_DEPLOY, None, layout, False, ["detection_out", "mbox_priorbox", "mbox_loc"],
                  "test", dict(build, seed=1))
    _, spec, manifest = serving_function(job.cnet, job.model, layout, None, job.fixed)
    shapes = {e["blob"]: e["shape"] for e in manifest["outputs"]}
    assert shapes == {"detection_out": detections, "mbox_priorbox": [1, 2, 5632],
                      "mbox_loc": loc}
    assert spec["data"].shape.as_list() == ([3, 3, 64, 64] if fixed else
                                            [None, 3, 64, 64] if layout == "NCHW"
                                            else [None, 64, 64, 3])
