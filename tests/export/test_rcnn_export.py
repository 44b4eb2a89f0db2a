"""Two-stage detectors exported: a Faster R-CNN test net (py-faster-rcnn's Python proposal
layer -> ROIPooling -> fc head, tests/model/rcnn_nets.py) and an R-FCN-style net (the C++
Proposal type -> PSROIPooling).  The SavedModel gives what the Keras model gives, ROIs
included (their number is the data's: the signature leaves it open).  TFLite runs the
proposals (both layers) with builtin ops: anchors, decoding, the sort and the NMS loop.  Its
builtin ops cannot run the pooling layers' bins, which divide in float64 (C's float32
division exactly, also under XLA; TFLite's DIV is float32 only): the export refuses with an
error naming the op and each layer it blocks, and ``allow_tf_ops`` keeps it as a TF (Flex)
op, which needs an interpreter with the Flex delegate."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import keras_caffe
from keras_caffe.export import export_savedmodel, export_tflite
from keras_caffe.export.tflite import TFLiteConversionError, interpreter
from keras_caffe.graph import layout
from tests.export.conftest import random
from tests.forks.rcnn_nets import TINY_RFCN as RFCN
from tests.model.rcnn_nets import FASTER_RCNN

NETS = {  # name: (prototxt, image shape, outputs compared, what blocks TFLite's builtins)
    "faster_rcnn": (FASTER_RCNN, (1, 3, 64, 80), ("cls_prob", "bbox_pred"),
                    ["tf.RealDiv (f64): roi_pool_conv2 (ROIPooling)"]),
    # PSROIPooling also slices its 6-D view of the score maps (TFLite's builtins stop at 5).
    "rfcn": (RFCN, (1, 3, 32, 48), ("cls_prob",),
             ["tf.RealDiv (f64): psroi (PSROIPooling)",
              "tf.StridedSlice (f32, i32): psroi (PSROIPooling)"]),
}


@pytest.fixture(scope="module", params=sorted(NETS))
def detector(request):
    text, shape, outputs, blockers = NETS[request.param]
    cnet = keras_caffe.build_net(text, seed=3)
    return request.param, cnet, shape, outputs + ("rois",), blockers


def _inputs(shape, seed):
    return {"data": random(shape, seed=seed),
            "im_info": np.array([[shape[2], shape[3], 1.0]], np.float32)}


def keras_blobs(cnet, inputs, names) -> dict:
    """The Keras model's blobs ``names`` as Caffe shows them, from one compiled call (eagerly,
    ROIPooling's loop over 300 ROIs takes seconds)."""
    model = tf.function(cnet.blob_model())
    out = model({k: tf.constant(layout.to_internal_array(v)) for k, v in inputs.items()})
    return {k: layout.to_caffe_array(out[k].numpy()) for k in names}


def test_savedmodel_gives_the_keras_models_rois_and_scores(detector, tmp_path):
    name, cnet, shape, outputs, _ = detector
    result = export_savedmodel(cnet, tmp_path / name, input_layout="NCHW", outputs=list(outputs))
    serve = tf.saved_model.load(result.path).signatures["serving_default"]
    shapes = {e["blob"]: e["shape"] for e in result.manifest["outputs"]}
    assert shapes["rois"] == [None, 5]                 # as many rows as the data make
    inputs = _inputs(shape, 0)
    want = keras_blobs(cnet, inputs, outputs)
    got = serve(**{k: tf.constant(v) for k, v in inputs.items()})
    assert 1 < len(want["rois"]) <= (300 if name == "faster_rcnn" else 20)
    for blob in outputs:
        assert got[blob].shape == want[blob].shape, blob
        np.testing.assert_allclose(got[blob].numpy(), want[blob], rtol=0, atol=1e-6,
                                   err_msg=blob)


def test_tflite_names_what_blocks_builtin_ops(detector, tmp_path):
    """Every op TFLite's builtins lack, with the layer it belongs to, in one error (with
    ``allow_tf_ops`` those ops are kept as TF ops: see the module docstring)."""
    name, cnet, _, outputs, blockers = detector
    with pytest.raises(TFLiteConversionError) as err:
        export_tflite(cnet, tmp_path / f"{name}.tflite", input_layout="NCHW",
                      outputs=list(outputs))
    message = str(err.value)
    assert f"TFLite's builtin ops cannot run {len(blockers)} op(s) of this net:" in message
    for blocker in blockers:
        assert f"  {blocker}" in message
    assert "allow_tf_ops=True" in message
    assert not (tmp_path / f"{name}.tflite").exists()


def test_tflite_runs_the_proposals_with_builtin_ops(detector, tmp_path):
    name, cnet, shape, _, _ = detector
    result = export_tflite(cnet, tmp_path / f"{name}_rois.tflite", input_layout="NCHW",
                           outputs=["rois"])
    assert result.tf_ops == []
    with open(result.path, "rb") as f:
        run = interpreter(f.read()).get_signature_runner("serving_default")
    inputs = _inputs(shape, 1)
    want = keras_blobs(cnet, inputs, ["rois"])["rois"]
    got = run(**inputs)["rois"]
    assert got.shape == want.shape and len(want) > 1
    # TFLite's exp and float32 arithmetic (XNNPACK): 2.9e-5 px measured on an 80 px image.
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
