"""A py-faster-rcnn-style TEST net end to end (tests/model/rcnn_nets.py): conv layers, the
RPN, py-faster-rcnn's Python proposal layer (built in: no user code imported), ROIPooling,
fc layers with Fast R-CNN's test-time dropout scaling, cls_prob and bbox_pred, through
keras_caffe.forward with an im_info input.  Each stage is checked against its numpy
reference applied to the blobs it reads (tests/layers/rcnn_ref.py for the proposals,
tests/layers/test_roi_pooling.py for ROIPooling, caffe_ref for the rest)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import keras_caffe
from tests.converters import caffe_ref
from tests.layers.rcnn_ref import proposals
from tests.layers.test_roi_pooling import ref_roi_pooling
from tests.model.rcnn_nets import FASTER_RCNN


@pytest.fixture(scope="module")
def frcnn():
    return keras_caffe.build_net(FASTER_RCNN, seed=3)


def _inputs(scale=1.0, seed=0):
    image = np.random.default_rng(seed).standard_normal((1, 3, 64, 80)).astype(np.float32)
    return {"data": image, "im_info": np.array([[64, 80, scale]], np.float32)}


def _close(actual, expected, rtol=1e-4, atol=1e-4):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def test_faster_rcnn_test_net_matches_the_reference_pipeline(frcnn):
    assert "rpn" not in sys.modules
    inputs = _inputs()
    out = keras_caffe.forward(frcnn, inputs)
    assert "rpn.proposal_layer" not in sys.modules
    w = frcnn.get_blobs()

    def conv(x, name, **kw):
        return caffe_ref.conv2d(x, *w[name], **kw)

    conv1 = np.maximum(conv(inputs["data"], "conv1", stride=2, pad=1), 0)
    conv2 = np.maximum(conv(conv1, "conv2", stride=2, pad=1), 0)
    _close(out["conv2"], conv2)
    rpn = np.maximum(conv(out["conv2"], "rpn_conv/3x3", pad=1), 0)
    _close(out["rpn_cls_score"], conv(rpn, "rpn_cls_score"))
    _close(out["rpn_bbox_pred"], conv(rpn, "rpn_bbox_pred"))
    score = out["rpn_cls_score"]
    prob = caffe_ref.softmax(score.reshape(1, 2, -1, score.shape[3])).reshape(score.shape)
    _close(out["rpn_cls_prob_reshape"], prob, atol=1e-6)

    rois, _ = proposals(out["rpn_cls_prob_reshape"], out["rpn_bbox_pred"], inputs["im_info"],
                        feat_stride=4, scales=(1, 2, 4))
    assert 30 < len(rois) <= 300
    _close(out["rois"], rois, rtol=1e-5, atol=1e-3)

    pooled, _ = ref_roi_pooling(out["conv2"], out["rois"], 3, 3, 0.25)
    _close(out["roi_pool_conv2"], pooled, atol=1e-6)
    flat = out["roi_pool_conv2"].reshape(len(rois), -1)
    fc6 = np.maximum(flat @ w["fc6"][0].T + w["fc6"][1], 0) * np.float32(0.5)  # scale_train
    _close(out["fc6"], fc6)
    cls_score = out["fc6"] @ w["cls_score"][0].T + w["cls_score"][1]
    _close(out["cls_prob"], caffe_ref.softmax(cls_score), atol=1e-6)
    _close(out["bbox_pred"], out["fc6"] @ w["bbox_pred"][0].T + w["bbox_pred"][1])
    assert out["cls_prob"].shape == (len(rois), 5) and out["bbox_pred"].shape == (len(rois), 20)


def test_im_info_scale_sets_the_minimum_proposal_size(frcnn):
    """RPN_MIN_SIZE (16) at the input scale: im_info[2] = 2 drops boxes under 32 px."""
    small = keras_caffe.forward(frcnn, _inputs(scale=1.0, seed=1))["rois"]
    big = keras_caffe.forward(frcnn, _inputs(scale=2.0, seed=1))["rois"]
    sides = np.minimum(big[:, 3] - big[:, 1], big[:, 4] - big[:, 2]) + 1
    assert len(big) < len(small) and sides.min() >= 32


def test_faster_rcnn_under_xla(frcnn):
    """Compiled whole (the proposals' loop, ROIPooling's bins): the same numbers."""
    inputs = _inputs(seed=2)
    plain = keras_caffe.forward(frcnn, inputs)
    compiled = keras_caffe.forward(frcnn, inputs, xla="always")
    for name in ("rois", "roi_pool_conv2", "cls_prob", "bbox_pred"):
        assert compiled[name].shape == plain[name].shape, name
        _close(compiled[name], plain[name], atol=1e-4)
