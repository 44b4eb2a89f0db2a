"""The memory projection counts region proposals at the most ROIs they can be: Caffe's Reshape
shows ``rois`` as ``(1, 5)`` until the forward pass writes up to ``post_nms_topN`` rows, and
ROIPooling, PSROIPooling and the fc layers after them hold one row per ROI."""

from __future__ import annotations

import keras_caffe
from keras_caffe.graph import memory
from keras_caffe.graph.shapes import infer_shapes
from keras_caffe.graph.shapes import input_shapes as settle_input_shapes
from tests.graph.test_memory import NET, TOTAL
from tests.model.rcnn_nets import FASTER_RCNN

# tests/model/rcnn_nets.py's net: conv2 is 1 x 16 x 16 x 20 (a 64 x 80 image at stride 4),
# 9 anchors per cell: 2880 anchors; roi_pool_conv2 pools 3 x 3 x 16 per ROI, fc6 has 32.
ANCHORS = 16 * 20 * 9

# The C++ Proposal type (OpenCV's proposal_param) and R-FCN's PSROIPooling on its ROIs.
RFCN = """
name: "tiny_rfcn"
input: "data" input_shape { dim: 1 dim: 3 dim: 32 dim: 48 }
input: "im_info" input_shape { dim: 1 dim: 3 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 8 kernel_size: 3 stride: 4 pad: 1 } }
layer { name: "rpn_cls_prob" type: "Convolution" bottom: "conv" top: "rpn_cls_prob"
  convolution_param { num_output: 12 kernel_size: 1 } }
layer { name: "rpn_bbox_pred" type: "Convolution" bottom: "conv" top: "rpn_bbox_pred"
  convolution_param { num_output: 24 kernel_size: 1 } }
layer { name: "proposal" type: "Proposal" bottom: "rpn_cls_prob" bottom: "rpn_bbox_pred"
  bottom: "im_info" top: "rois" top: "scores"
  proposal_param { feat_stride: 4 ratio: 1 ratio: 2 scale: 2 scale: 4 scale: 8
                   pre_nms_topn: 100 post_nms_topn: %d } }
layer { name: "cls" type: "Convolution" bottom: "conv" top: "cls"
  convolution_param { num_output: 18 kernel_size: 1 } }
layer { name: "psroi" type: "PSROIPooling" bottom: "cls" bottom: "rois" top: "psroi"
  psroi_pooling_param { spatial_scale: 0.25 output_dim: 2 group_size: 3 } }
"""


def _projected(text, phase="test"):
    graph = keras_caffe.resolve_net(text, phase)
    shapes = infer_shapes(graph, settle_input_shapes(graph), strict=False)
    projection = memory.project(graph, shapes)
    bounded = {b.name: s for b, s in memory.bounded_shapes(graph, shapes).items()}
    return {l.name: l for l in projection.layers}, bounded


def test_python_proposal_layer_is_counted_at_post_nms_top_n_of_its_phase():
    layers, shapes = _projected(FASTER_RCNN)
    assert shapes["rois"] == (300, 5)                      # cfg.TEST.RPN_POST_NMS_TOP_N
    assert shapes["roi_pool_conv2"] == (300, 16, 3, 3)
    assert shapes["fc6"] == (300, 32) and shapes["cls_prob"] == (300, 5)
    assert layers["proposal"].activations == 300 * 5 * 4
    assert layers["roi_pool_conv2"].activations == 300 * 16 * 9 * 4
    # ROIPooling's working copies: 8 ROIs at once, each the map masked per column bin
    # (3 x 16 x 20 x 16) and its row maxima per bin (3 x 3 x 16 x 16).
    assert layers["roi_pool_conv2"].workspace == 8 * (3 * 16 * 20 * 16 + 9 * 16 * 16) * 4
    assert layers["fc6"].params == (144 * 32 + 32) * 4          # the head is counted at all
    assert layers["fc6"].activations == 300 * 32 * 4
    # TRAIN keeps 2000 after NMS (of 12000 before, of the 2880 anchors).
    _, train = _projected(FASTER_RCNN, "train")
    assert train["rois"] == (2000, 5) and ANCHORS > 2000


def test_cpp_proposal_and_psroi_pooling_follow_proposal_param():
    _, shapes = _projected(RFCN % 50)
    assert shapes["rois"] == (50, 5) and shapes["scores"] == (50, 1)
    assert shapes["psroi"] == (50, 2, 3, 3)
    # post_nms_topn 0 keeps every box NMS leaves: at most pre_nms_topn (100) of the
    # 8 x 12 x 6 = 576 anchors.
    layers, shapes = _projected(RFCN % 0)
    assert shapes["rois"] == (100, 5) and shapes["psroi"] == (100, 2, 3, 3)
    assert layers["psroi"].activations == 100 * 18 * 4


def test_a_net_without_proposals_is_projected_as_before():
    graph = keras_caffe.resolve_net(NET)
    shapes = infer_shapes(graph, settle_input_shapes(graph))
    assert memory.bounded_shapes(graph, shapes) == shapes
    assert memory.project(graph, shapes).total == TOTAL
