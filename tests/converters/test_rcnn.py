"""Converters of the R-CNN family's fork types: Fast R-CNN's SmoothL1Loss, R-FCN's
PSROIPooling, and region proposals (py-faster-rcnn's Python ProposalLayer, built in, and
OpenCV's C++ Proposal type), against the numpy references of ``tests/layers/rcnn_ref.py``."""

import sys

import numpy as np
import pytest

import keras_caffe
from keras_caffe.converters.rcnn import parse_param_str

from ..layers.rcnn_ref import proposals, psroi_pooling, smooth_l1
from .nets import assert_close, build, keras_class, layer, net, randn, run


@pytest.mark.parametrize("weights", [False, True])
def test_smooth_l1_loss_and_its_diffs(weights):
    inputs = {"pred": randn(4, 8, 1, 1), "target": randn(4, 8, 1, 1, seed=1)}
    if weights:
        rng = np.random.default_rng(2)
        inputs["inside"] = (rng.random((4, 8, 1, 1)) > 0.5).astype(np.float32)
        inputs["outside"] = rng.random((4, 8, 1, 1)).astype(np.float32)
    text = net(inputs, layer("loss", "SmoothL1Loss", list(inputs), "loss",
                             "smooth_l1_loss_param { sigma: 3 }"), header="force_backward: true")
    out = keras_caffe.forward(text, inputs, backward=True)
    extra = {k: inputs[k] for k in ("inside", "outside") if k in inputs}
    want, grad = smooth_l1(inputs["pred"], inputs["target"], sigma=3.0, **extra)
    assert_close(out["loss"], want)
    assert_close(out["diff/pred"], grad)
    assert_close(out["diff/target"], -grad)
    for name in extra:   # Fast R-CNN never back-propagates into its weights
        assert not out.get(f"diff/{name}", np.zeros(1)).any()


def test_smooth_l1_weights_come_in_pairs():
    inputs = {"pred": randn(2, 4), "target": randn(2, 4, seed=1), "inside": randn(2, 4, seed=2)}
    with pytest.raises(keras_caffe.NetError, match="layer 'loss'.*both the inside and the outside"):
        build(net(inputs, layer("loss", "SmoothL1Loss", list(inputs), "loss")), inputs)


ROIS = np.array([[0, 2, 3, 20, 14], [1, -6, -8, 10, 6], [0, 7, 7, 7, 7]], np.float32)


@pytest.mark.parametrize("roi_shape", [(3, 5), (3, 5, 1, 1)], ids=["2d_rois", "4d_rois"])
def test_psroi_pooling_matches_r_fcn(roi_shape):
    inputs = {"data": randn(2, 2 * 9, 9, 11), "rois": ROIS.reshape(roi_shape)}
    cnet, out = run(net(inputs, layer("ps", "PSROIPooling", ["data", "rois"], "ps",
                                      "psroi_pooling_param { spatial_scale: 0.5 output_dim: 2 "
                                      "group_size: 3 }")), inputs)
    assert keras_class(cnet, "ps") == "CaffePSROIPooling"
    assert_close(out["ps"], psroi_pooling(inputs["data"], ROIS, 2, 3, 0.5))


@pytest.mark.parametrize("body, channels, match", [
    ("spatial_scale: 0.5 output_dim: 2", 18, "needs group_size"),
    ("spatial_scale: 0.5 output_dim: 2 group_size: 3", 17, "input channel number does not match"),
    ("spatial_scale: 0.5 output_dim: 0 group_size: 3", 18, "must be > 0"),
])
def test_bad_psroi_pooling_is_a_net_error(body, channels, match):
    inputs = {"data": randn(1, channels, 5, 5), "rois": ROIS[:1]}
    text = net(inputs, layer("ps", "PSROIPooling", ["data", "rois"], "ps",
                             f"psroi_pooling_param {{ {body} }}"))
    with pytest.raises(keras_caffe.NetError, match=f"layer 'ps'.*{match}"):
        build(text, inputs)


def _rpn_inputs(h=6, w=7, anchors=9, seed=0):
    rng = np.random.default_rng(seed)
    return {"scores": rng.random((1, 2 * anchors, h, w)).astype(np.float32),
            "deltas": (rng.standard_normal((1, 4 * anchors, h, w)) * 0.3).astype(np.float32),
            "im_info": np.array([[h * 16, w * 16, 1.2]], np.float32)}


PYTHON_PROPOSAL = ('layer {{ name: "proposal" type: "Python" bottom: "scores" bottom: "deltas" '
                   'bottom: "im_info" {tops} python_param {{ module: "rpn.proposal_layer" '
                   'layer: "ProposalLayer" param_str: "{param_str}" }} }}')


@pytest.mark.parametrize("phase", ["test", "train"])
def test_python_proposal_layer_is_built_in(phase):
    inputs = _rpn_inputs()
    text = net(inputs, PYTHON_PROPOSAL.format(tops='top: "rois" top: "roi_scores"',
                                              param_str="'feat_stride': 16"))
    assert "rpn" not in sys.modules
    cnet, out = run(text, inputs, phase=phase)
    assert "rpn" not in sys.modules and "rpn.proposal_layer" not in sys.modules
    assert keras_class(cnet, "proposal") == "CaffeProposal"
    want, scores = proposals(inputs["scores"], inputs["deltas"], inputs["im_info"],
                             phase=phase.upper())
    assert_close(out["rois"], want, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(out["roi_scores"], scores)


@pytest.mark.parametrize("param_str, settings", [
    ("'feat_stride': 16", {"feat_stride": 16}),
    ("{'feat_stride': 16, 'scales': [4, 8, 16, 32]}", {"feat_stride": 16, "scales": [4, 8, 16, 32]}),
    ("'feat_stride': 16\\n'scales': !!python/tuple [4, 8, 16, 32]",
     {"feat_stride": 16, "scales": [4, 8, 16, 32]}),
    ("feat_stride: 16\\nscales: [2, 4]", {"feat_stride": 16, "scales": [2, 4]}),
])
def test_param_str_forms(param_str, settings):
    assert parse_param_str(param_str.replace("\\n", "\n")) == settings
    scales = tuple(settings.get("scales", (8, 16, 32)))
    inputs = _rpn_inputs(anchors=3 * len(scales))
    text = net(inputs, PYTHON_PROPOSAL.format(tops='top: "rois"', param_str=param_str))
    out = run(text, inputs)[1]
    want, _ = proposals(inputs["scores"], inputs["deltas"], inputs["im_info"], scales=scales)
    assert_close(out["rois"], want, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("param_str, match", [
    ("'feat_stride': 16, 'ratios': [1]", "reads 'feat_stride' .* got \\['feat_stride', 'ratios'\\]"),
    ("'scales': [8]", "'feat_stride' \\(required\\)"),
    ("feat_stride = 16", "not a mapping"),
])
def test_bad_param_str_is_a_net_error(param_str, match):
    inputs = _rpn_inputs()
    text = net(inputs, PYTHON_PROPOSAL.format(tops='top: "rois"', param_str=param_str))
    with pytest.raises(keras_caffe.NetError, match=f"layer 'proposal'.*{match}"):
        build(text, inputs)


def test_cpp_proposal_type_with_proposal_param():
    inputs = _rpn_inputs(anchors=4, seed=3)
    text = net(inputs, 'layer { name: "proposal" type: "Proposal" bottom: "scores" '
               'bottom: "deltas" bottom: "im_info" top: "rois" top: "s" proposal_param { '
               'feat_stride: 16 base_size: 16 min_size: 8 ratio: 0.5 ratio: 2 scale: 4 scale: 8 '
               'pre_nms_topn: 100 post_nms_topn: 12 nms_thresh: 0.6 } }')
    cnet, out = run(text, inputs)
    want, scores = proposals(inputs["scores"], inputs["deltas"], inputs["im_info"],
                             scales=(4, 8), ratios=(0.5, 2), cfg=(100, 12, 0.6, 8))
    assert len(want) == 12
    assert_close(out["rois"], want, rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(out["s"], scores)
    assert keras_class(cnet, "proposal") == "CaffeProposal"


def test_cpp_proposal_checks_the_anchor_channels():
    inputs = _rpn_inputs(anchors=9)
    text = net(inputs, 'layer { name: "proposal" type: "Proposal" bottom: "scores" '
               'bottom: "deltas" bottom: "im_info" top: "rois" proposal_param { scale: 8 } }')
    with pytest.raises(keras_caffe.NetError, match="layer 'proposal'.*1 x 6 x H x W"):
        build(text, inputs)
