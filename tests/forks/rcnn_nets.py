"""Generators (ours) of the two-stage detectors' published test nets, built with pycaffe's
NetSpec: the same layers, names, types, bottoms, tops and parameters as py-faster-rcnn's
``models/pascal_voc/{ZF,VGG16}/faster_rcnn_end2end/test.prototxt`` (rbgirshick/py-faster-rcnn)
and py-R-FCN's ``models/pascal_voc/ResNet-50/rfcn_end2end/test_agnostic.prototxt``
(YuwenXiong/py-R-FCN); each was checked once to parse to messages equal to the fork's file.

Both nets take ``data`` (1 x 3 x 224 x 224 as published) and ``im_info``
``[height, width, scale]``, run their conv layers to a stride-16 map, the RPN (a 3x3 conv, 18
scores and 36 deltas per cell for 9 anchors), py-faster-rcnn's Python
``rpn.proposal_layer.ProposalLayer`` (``'feat_stride': 16``), ROIPooling at 1/16 and the Fast
R-CNN head (fc6, fc7, 21 class probabilities and 84 box deltas per ROI).
"""

from __future__ import annotations

from google.protobuf import text_format

from keras_caffe.proto import caffe_pb2
from keras_caffe.pycaffe import layers as L
from keras_caffe.pycaffe import params as P
from keras_caffe.pycaffe.net_spec import NetSpec

#: PASCAL VOC: 20 classes and the background.
CLASSES = 21
#: py-faster-rcnn's RPN: 9 anchors (3 ratios x 3 scales) per cell of the stride-16 map.
ANCHORS = 9

_ZERO = dict(type="constant", value=0)
#: (lr_mult, decay_mult) of a learned layer's weights and biases, and of a frozen one's.
_LEARNED = [dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)]
_FROZEN = [dict(lr_mult=0, decay_mult=0), dict(lr_mult=0, decay_mult=0)]


#: A small net in R-FCN's shape (ours): the C++ Proposal type (OpenCV's proposal_param) on an
#: RPN, position-sensitive score maps of 3 classes in 3 x 3 bins pooled by PSROIPooling and
#: averaged; the export tests and the OpenCV comparison of PSROIPooling use it.
TINY_RFCN = """
name: "tiny_rfcn"
input: "data" input_shape { dim: 1 dim: 3 dim: 32 dim: 48 }
input: "im_info" input_shape { dim: 1 dim: 3 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 8 kernel_size: 3 stride: 4 pad: 1
    weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "rpn_score" type: "Convolution" bottom: "conv" top: "rpn_score"
  convolution_param { num_output: 12 kernel_size: 1 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "rpn_score_reshape" type: "Reshape" bottom: "rpn_score" top: "rpn_score_reshape"
  reshape_param { shape { dim: 0 dim: 2 dim: -1 dim: 0 } } }
layer { name: "rpn_prob" type: "Softmax" bottom: "rpn_score_reshape" top: "rpn_prob" }
layer { name: "rpn_prob_reshape" type: "Reshape" bottom: "rpn_prob" top: "rpn_prob_reshape"
  reshape_param { shape { dim: 0 dim: 12 dim: -1 dim: 0 } } }
layer { name: "rpn_bbox_pred" type: "Convolution" bottom: "conv" top: "rpn_bbox_pred"
  convolution_param { num_output: 24 kernel_size: 1 weight_filler { type: "gaussian" std: 0.05 } } }
layer { name: "proposal" type: "Proposal" bottom: "rpn_prob_reshape" bottom: "rpn_bbox_pred"
  bottom: "im_info" top: "rois"
  proposal_param { feat_stride: 4 base_size: 4 min_size: 2 ratio: 1 ratio: 2 scale: 2
                   scale: 4 scale: 8 pre_nms_topn: 100 post_nms_topn: 20 } }
layer { name: "rfcn_cls" type: "Convolution" bottom: "conv" top: "rfcn_cls"
  convolution_param { num_output: 27 kernel_size: 1 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "psroi" type: "PSROIPooling" bottom: "rfcn_cls" bottom: "rois" top: "psroi"
  psroi_pooling_param { spatial_scale: 0.25 output_dim: 3 group_size: 3 } }
layer { name: "ave" type: "Pooling" bottom: "psroi" top: "cls_score"
  pooling_param { pool: AVE kernel_size: 3 stride: 3 } }
layer { name: "cls_prob" type: "Softmax" bottom: "cls_score" top: "cls_prob" }
"""


def _gauss(std):
    return dict(type="gaussian", std=std)


def _conv(bottom, num_output, kernel, pad, stride=None, param=None, fillers=None, **layer):
    settings = dict(num_output=num_output, kernel_size=kernel, pad=pad, **(fillers or {}))
    if stride is not None:
        settings["stride"] = stride
    if param:
        layer["param"] = param
    return L.Convolution(bottom, convolution_param=settings, **layer)


def _relu(n, name, bottom):
    n[name] = L.ReLU(bottom, in_place=True)
    return n[name]


def _start() -> NetSpec:
    """A NetSpec with stand-ins for ``data`` and ``im_info`` (Input layers that
    :func:`_finish` replaces by the published ``input`` / ``input_shape`` header)."""
    n = NetSpec()
    n.data = L.Input()
    n.im_info = L.Input()
    return n


def _finish(n, name: str, height: int, width: int) -> str:
    net = n.to_proto()
    kept = [layer for layer in net.layer if layer.type != "Input"]
    del net.layer[:]
    net.layer.extend(kept)
    net.name = name
    net.input.extend(["data", "im_info"])
    net.input_shape.add().dim.extend([1, 3, height, width])
    net.input_shape.add().dim.extend([1, 3])
    return str(net)


def _rpn(n, features, width, param):
    """The RPN on ``features`` and py-faster-rcnn's proposal layer, as both nets write them."""
    fillers = dict(weight_filler=_gauss(0.01), bias_filler=_ZERO)
    n["rpn/output"] = _conv(features, width, 3, 1, 1, param, fillers, name="rpn_conv/3x3")
    out = _relu(n, "rpn_relu/3x3", n["rpn/output"])
    n.rpn_cls_score = _conv(out, 2 * ANCHORS, 1, 0, 1, param, fillers)
    n.rpn_bbox_pred = _conv(out, 4 * ANCHORS, 1, 0, 1, param, fillers)
    n.rpn_cls_score_reshape = L.Reshape(n.rpn_cls_score,
                                        reshape_param=dict(shape=dict(dim=[0, 2, -1, 0])))
    n.rpn_cls_prob = L.Softmax(n.rpn_cls_score_reshape)
    n.rpn_cls_prob_reshape = L.Reshape(
        n.rpn_cls_prob, reshape_param=dict(shape=dict(dim=[0, 2 * ANCHORS, -1, 0])))
    n.rois = L.Python(n.rpn_cls_prob_reshape, n.rpn_bbox_pred, n.im_info, name="proposal",
                      python_param=dict(module="rpn.proposal_layer", layer="ProposalLayer",
                                        param_str="'feat_stride': 16"))


def _head(n, pooled, dropout, param, fillers):
    """fc6 and fc7 (ReLU, Dropout in place) and the two outputs, on the pooled ROIs."""
    extra = {"param": param} if param else {}
    bottom = pooled
    for i in (6, 7):
        n[f"fc{i}"] = L.InnerProduct(bottom, inner_product_param=dict(num_output=4096), **extra)
        _relu(n, f"relu{i}", n[f"fc{i}"])
        n[f"drop{i}"] = L.Dropout(n[f"relu{i}"], in_place=True, dropout_param=dropout)
        bottom = n[f"drop{i}"]
    cls, box = fillers
    n.cls_score = L.InnerProduct(bottom, inner_product_param=dict(num_output=CLASSES, **cls),
                                 **extra)
    n.bbox_pred = L.InnerProduct(bottom, inner_product_param=dict(num_output=4 * CLASSES,
                                                                  **box), **extra)


def zf_test_net(height: int = 224, width: int = 224) -> str:
    """py-faster-rcnn's ZF ``faster_rcnn_end2end/test.prototxt`` (input ``height`` x
    ``width``; 224 x 224 as published)."""
    n = _start()
    lrn = dict(local_size=3, alpha=0.00005, beta=0.75, norm_region=P.LRN.WITHIN_CHANNEL,
               engine=P.LRN.CAFFE)
    bottom = n.data
    for i, (out, kernel, pad, stride) in enumerate(
            [(96, 7, 3, 2), (256, 5, 2, 2), (384, 3, 1, 1), (384, 3, 1, 1), (256, 3, 1, 1)], 1):
        n[f"conv{i}"] = _conv(bottom, out, kernel, pad, stride)
        bottom = _relu(n, f"relu{i}", n[f"conv{i}"])
        if i <= 2:
            n[f"norm{i}"] = L.LRN(bottom, lrn_param=lrn)
            n[f"pool{i}"] = L.Pooling(n[f"norm{i}"], pooling_param=dict(
                kernel_size=3, stride=2, pad=1, pool=P.Pooling.MAX))
            bottom = n[f"pool{i}"]
    _rpn(n, bottom, 256, None)
    n.roi_pool_conv5 = L.ROIPooling(bottom, n.rois, roi_pooling_param=dict(
        pooled_w=6, pooled_h=6, spatial_scale=0.0625))
    _head(n, n.roi_pool_conv5, dict(dropout_ratio=0.5, scale_train=False), None, ({}, {}))
    n.cls_prob = L.Softmax(n.cls_score, loss_param=dict(ignore_label=-1, normalize=True))
    return _finish(n, "ZF", height, width)


def vgg16_test_net(height: int = 224, width: int = 224) -> str:
    """py-faster-rcnn's VGG16 ``faster_rcnn_end2end/test.prototxt`` (input ``height`` x
    ``width``; 224 x 224 as published)."""
    n = _start()
    bottom = n.data
    for block, (out, convs) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
        for k in range(1, convs + 1):
            n[f"conv{block}_{k}"] = _conv(bottom, out, 3, 1,
                                          param=_FROZEN if block <= 2 else _LEARNED)
            bottom = _relu(n, f"relu{block}_{k}", n[f"conv{block}_{k}"])
        if block < 5:
            n[f"pool{block}"] = L.Pooling(bottom, pooling_param=dict(
                pool=P.Pooling.MAX, kernel_size=2, stride=2))
            bottom = n[f"pool{block}"]
    _rpn(n, bottom, 512, _LEARNED)
    n.pool5 = L.ROIPooling(bottom, n.rois, name="roi_pool5", roi_pooling_param=dict(
        pooled_w=7, pooled_h=7, spatial_scale=0.0625))
    _head(n, n.pool5, dict(dropout_ratio=0.5), _LEARNED,
          (dict(weight_filler=_gauss(0.01), bias_filler=_ZERO),
           dict(weight_filler=_gauss(0.001), bias_filler=_ZERO)))
    n.cls_prob = L.Softmax(n.cls_score)
    return _finish(n, "VGG_ILSVRC_16_layers", height, width)


def _conv_bn(n, name, bottom, num_output, kernel, pad, stride, lr, suffix, dilation=None,
             relu=True):
    """ResNet's Convolution (no bias), BatchNorm and Scale in place, and a ReLU."""
    settings = dict(num_output=num_output, kernel_size=kernel, pad=pad, stride=stride,
                    bias_term=False, **({"dilation": dilation} if dilation else {}))
    n[name] = L.Convolution(bottom, convolution_param=settings, param=[dict(lr_mult=lr)])
    frozen = dict(lr_mult=0, decay_mult=0)
    n[f"bn{suffix}"] = L.BatchNorm(n[name], in_place=True, param=[frozen] * 3,
                                   batch_norm_param=dict(use_global_stats=True))
    n[f"scale{suffix}"] = L.Scale(n[f"bn{suffix}"], in_place=True, param=[frozen] * 2,
                                  scale_param=dict(bias_term=True))
    if relu:
        n[f"{name}_relu"] = L.ReLU(n[f"scale{suffix}"], in_place=True)
        return n[f"{name}_relu"]
    return n[f"scale{suffix}"]


def rfcn_resnet50_test_agnostic(height: int = 224, width: int = 224) -> str:
    """py-R-FCN's ResNet-50 ``rfcn_end2end/test_agnostic.prototxt`` (YuwenXiong/py-R-FCN):
    ResNet-50 with res5 dilated (stride 16), the RPN on res4f, position-sensitive score maps
    (21 classes, 8 class-agnostic deltas, 7 x 7 bins) pooled by PSROIPooling on the
    proposals and averaged."""
    n = _start()
    n.conv1 = L.Convolution(n.data, convolution_param=dict(num_output=64, kernel_size=7, pad=3,
                                                           stride=2),
                            param=[dict(lr_mult=0), dict(lr_mult=0)])
    frozen = dict(lr_mult=0, decay_mult=0)
    n.bn_conv1 = L.BatchNorm(n.conv1, in_place=True, param=[frozen] * 3,
                             batch_norm_param=dict(use_global_stats=True))
    n.scale_conv1 = L.Scale(n.bn_conv1, in_place=True, param=[frozen] * 2,
                            scale_param=dict(bias_term=True))
    n.conv1_relu = L.ReLU(n.scale_conv1, in_place=True)
    n.pool1 = L.Pooling(n.conv1_relu, pooling_param=dict(kernel_size=3, stride=2,
                                                         pool=P.Pooling.MAX))
    bottom = n.pool1
    stages = [(2, "abc", 64, 1, 0, None), (3, "abcd", 128, 2, 1, None),
              (4, "abcdef", 256, 2, 1, None), (5, "abc", 512, 1, 1, 2)]
    for stage, blocks, width_, stride, lr, dilation in stages:
        for i, block in enumerate(blocks):
            res = f"res{stage}{block}"
            first = i == 0
            if first:
                shortcut = _conv_bn(n, f"{res}_branch1", bottom, 4 * width_, 1, 0, stride, lr,
                                    f"{stage}{block}_branch1", relu=False)
            else:
                shortcut = bottom
            x = _conv_bn(n, f"{res}_branch2a", bottom, width_, 1, 0, stride if first else 1,
                         lr, f"{stage}{block}_branch2a")
            x = _conv_bn(n, f"{res}_branch2b", x, width_, 3, dilation or 1, 1, lr,
                         f"{stage}{block}_branch2b", dilation=dilation)
            x = _conv_bn(n, f"{res}_branch2c", x, 4 * width_, 1, 0, 1, lr,
                         f"{stage}{block}_branch2c", relu=False)
            n[res] = L.Eltwise(shortcut, x)
            n[f"{res}_relu"] = L.ReLU(n[res], in_place=True)
            bottom = n[f"{res}_relu"]
            if res == "res4f":
                res4f = bottom
    _rpn(n, res4f, 512, _LEARNED)
    fillers = dict(weight_filler=_gauss(0.01), bias_filler=_ZERO)
    learned = [dict(lr_mult=1), dict(lr_mult=2)]
    n.conv_new_1 = _conv(bottom, 1024, 1, 0, None, learned, fillers)
    n.conv_new_1_relu = L.ReLU(n.conv_new_1, in_place=True)
    n.rfcn_cls = _conv(n.conv_new_1_relu, CLASSES * 49, 1, 0, None, learned, fillers)
    n.rfcn_bbox = _conv(n.conv_new_1_relu, 2 * 4 * 49, 1, 0, None, learned, fillers)
    average = dict(pool=P.Pooling.AVE, kernel_size=7, stride=7)
    n.psroipooled_cls_rois = L.PSROIPooling(n.rfcn_cls, n.rois, psroi_pooling_param=dict(
        spatial_scale=0.0625, output_dim=CLASSES, group_size=7))
    n.cls_score = L.Pooling(n.psroipooled_cls_rois, name="ave_cls_score_rois",
                            pooling_param=average)
    n.psroipooled_loc_rois = L.PSROIPooling(n.rfcn_bbox, n.rois, psroi_pooling_param=dict(
        spatial_scale=0.0625, output_dim=8, group_size=7))
    n.bbox_pred_pre = L.Pooling(n.psroipooled_loc_rois, name="ave_bbox_pred_rois",
                                pooling_param=average)
    n.cls_prob_pre = L.Softmax(n.cls_score, name="cls_prob")
    n.cls_prob = L.Reshape(n.cls_prob_pre, name="cls_prob_reshape",
                           reshape_param=dict(shape=dict(dim=[-1, CLASSES])))
    n.bbox_pred = L.Reshape(n.bbox_pred_pre, name="bbox_pred_reshape",
                            reshape_param=dict(shape=dict(dim=[-1, 8])))
    return _finish(n, "ResNet50", height, width)


def with_proposal_type(text: str) -> str:
    """The net with py-faster-rcnn's Python proposal layer written as the C++ ``Proposal``
    type that OpenCV's dnn reads (its ``proposal_param``: the Python layer's anchors and its
    TEST config, 6000 / 300 boxes, NMS 0.7, min size 16).  OpenCV 4 refuses ``type:
    "Python"``; this is how its Faster R-CNN samples write the layer."""
    net = text_format.Parse(text, caffe_pb2.NetParameter())
    for layer in net.layer:
        if layer.type == "Python" and layer.python_param.layer == "ProposalLayer":
            layer.type = "Proposal"
            layer.ClearField("python_param")
            p = layer.proposal_param
            p.feat_stride, p.base_size, p.min_size = 16, 16, 16
            p.ratio.extend([0.5, 1, 2])
            p.scale.extend([8, 16, 32])
            p.pre_nms_topn, p.post_nms_topn, p.nms_thresh = 6000, 300, 0.7
    return str(net)
