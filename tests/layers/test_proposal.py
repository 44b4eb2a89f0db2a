"""CaffeProposal against py-faster-rcnn's ProposalLayer (``rcnn_ref.proposals``)."""

import keras
import numpy as np
import pytest

from keras_caffe.layers import CaffeProposal
from keras_caffe.layers.proposal import generate_anchors

from .rcnn_ref import MATLAB_ANCHORS, anchors, proposals


def test_default_anchors_are_the_published_ones():
    np.testing.assert_array_equal(generate_anchors(), MATLAB_ANCHORS - 1)
    np.testing.assert_array_equal(anchors(), MATLAB_ANCHORS - 1)
    four = generate_anchors(scales=(4, 8, 16, 32))
    assert four.shape == (12, 4)
    np.testing.assert_array_equal(four, anchors(scales=(4, 8, 16, 32)))


def _inputs(h, w, a=9, seed=0, spread=0.3, ties=False):
    rng = np.random.default_rng(seed)
    scores = rng.random((1, 2 * a, h, w)).astype(np.float32)
    if ties:   # quantized scores: many equal ones, as a saturated softmax gives
        scores = np.round(scores * 4) / np.float32(4)
    deltas = (rng.standard_normal((1, 4 * a, h, w)) * spread).astype(np.float32)
    return scores, deltas


def _run(layer, scores, deltas, info):
    out = layer([scores, deltas, info])
    return [np.asarray(o) for o in out] if isinstance(out, list) else np.asarray(out)


@pytest.mark.parametrize("case", ["plain", "ties", "small_image_scale", "wide_deltas"])
def test_proposals_match_py_faster_rcnn(case):
    h, w = (7, 9)
    scores, deltas = _inputs(h, w, ties=case == "ties", spread=1.5 if case == "wide_deltas" else 0.3)
    info = np.array([[h * 16 - 5, w * 16 + 3, 2.5 if case == "small_image_scale" else 1.0]],
                    np.float32)
    layer = CaffeProposal(feat_stride=16, return_scores=True)
    rois, kept = _run(layer, scores, deltas, info)
    want_rois, want_scores = proposals(scores, deltas, info)
    assert rois.shape == want_rois.shape and len(rois) > 5
    np.testing.assert_allclose(rois, want_rois, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(kept, want_scores)
    assert np.all(rois[:, 0] == 0)
    assert np.all(rois[:, 3] <= info[0, 1] - 1) and np.all(rois[:, 4] <= info[0, 0] - 1)


def test_top_n_limits_nms_threshold_and_min_size():
    scores, deltas = _inputs(10, 12, seed=3)
    info = np.array([[160, 192, 1.0]], np.float32)
    cfg = (400, 10, 0.5, 24)
    layer = CaffeProposal(feat_stride=16, pre_nms_top_n=400, post_nms_top_n=10,
                          nms_threshold=0.5, min_size=24)
    rois = _run(layer, scores, deltas, info)
    want, _ = proposals(scores, deltas, info, cfg=cfg)
    assert len(rois) == len(want) == 10     # 28 survive the NMS: the post-NMS cut matters
    few = _run(CaffeProposal(feat_stride=16, pre_nms_top_n=15, post_nms_top_n=10,
                             nms_threshold=0.5, min_size=24), scores, deltas, info)
    np.testing.assert_allclose(few, proposals(scores, deltas, info, cfg=(15, 10, 0.5, 24))[0],
                               rtol=1e-5, atol=1e-3)
    assert len(few) < 10                         # the pre-NMS cut matters too
    np.testing.assert_allclose(rois, want, rtol=1e-5, atol=1e-3)
    sides = np.minimum(rois[:, 3] - rois[:, 1], rois[:, 4] - rois[:, 2]) + 1
    assert sides.min() >= 24


def test_train_settings_and_custom_scales():
    scores, deltas = _inputs(6, 6, a=12, seed=5)
    info = np.array([[96, 96, 1.0]], np.float32)
    layer = CaffeProposal(feat_stride=16, scales=(4, 8, 16, 32), pre_nms_top_n=12000,
                          post_nms_top_n=2000)
    want, _ = proposals(scores, deltas, info, scales=(4, 8, 16, 32), phase="TRAIN")
    np.testing.assert_allclose(_run(layer, scores, deltas, info), want, rtol=1e-5, atol=1e-3)


def test_nothing_survives_the_size_filter():
    scores, deltas = _inputs(3, 3, seed=1)
    info = np.array([[48, 48, 10.0]], np.float32)     # min side 160 px on a 48 px image
    rois = _run(CaffeProposal(feat_stride=16), scores, deltas, info)
    assert rois.shape == (0, 5)


def test_channel_counts_are_checked_when_built():
    layer = CaffeProposal(feat_stride=16)
    with pytest.raises(ValueError, match=r"scores must be \(1, 2 x 9 anchors"):
        layer.build([(1, 10, 4, 4), (1, 36, 4, 4), (1, 3)])


def test_batches_of_more_than_one_image_are_refused():
    scores, deltas = _inputs(3, 3)
    with pytest.raises(Exception, match="only single item batches"):
        _run(CaffeProposal(feat_stride=16), np.concatenate([scores] * 2),
             np.concatenate([deltas] * 2), np.array([[48, 48, 1.0]] * 2, np.float32))


def test_config_round_trip(config_roundtrip):
    layer = CaffeProposal(feat_stride=8, scales=(2, 4), ratios=(1,), post_nms_top_n=5,
                          return_scores=True)
    clone = config_roundtrip(layer)
    np.testing.assert_array_equal(clone.anchors, layer.anchors)
    assert keras.saving.get_registered_object("keras_caffe>CaffeProposal") is CaffeProposal
