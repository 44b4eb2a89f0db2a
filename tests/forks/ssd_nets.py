"""Generators of two published SSD deploy nets, written with our pycaffe NetSpec.

* :func:`ssd300_vgg16` -- the SSD300 deploy net that the SSD fork's ``examples/ssd/ssd_pascal.py``
  writes (weiliu89/caffe, branch ssd; its ``python/caffe/model_libs.py``): ``VGGNetBody``
  reduced (fc6 a 3x3 convolution of 1024 with dilation 6 after a 3x3/1 pool5, fc7 1x1, no
  dropout), ``AddExtraLayers`` without batch norm (conv6_1 ... conv9_2),
  ``CreateMultiBoxHead`` over conv4_3 (L2-normalized, scale 20), fc7 and conv6_2 ... conv9_2
  (3x3 loc and conf convolutions, Permute 0 2 3 1 and Flatten, a PriorBox with min and max
  size, aspect ratios 2 (and 3) with flip, the script's steps), the conf Reshape / Softmax /
  Flatten and DetectionOutput with the script's ``det_out_param``; the deploy net is the test
  net without its first (AnnotatedData) and last (DetectionEvaluate) layer, fed by
  ``input: "data"`` of 1 x 3 x 300 x 300.  8732 priors.
* :func:`mobilenet_ssd` -- chuanqi305's MobileNet-SSD deploy net (``voc/MobileNetSSD_deploy.
  prototxt``, what its ``gen.py -s deploy -c 21`` writes): MobileNet v1 with its batch norms
  merged into the convolutions' biases, depthwise 3x3 convolutions as ``group`` convolutions
  (``engine: CAFFE``), extra layers conv14_1 ... conv17_2, 1x1 heads on conv11, conv13,
  conv14_2 ... conv17_2, priors from the scales 0.2 ... 0.95 (the first without max_size and
  with aspect ratio 2 only), no step.  1917 priors.

Both were checked once, outside the repository, to parse to the same NetParameter as the
fork's own output (see the report of issue 15).
"""

from __future__ import annotations

import math

from keras_caffe.proto import caffe_pb2
from keras_caffe.pycaffe import NetSpec
from keras_caffe.pycaffe import layers as L
from keras_caffe.pycaffe import params as P

VARIANCE = [0.1, 0.1, 0.2, 0.2]


def _deploy(net: NetSpec, name: str, size: int) -> caffe_pb2.NetParameter:
    """The NetParameter of ``net`` without its Input layer, fed by ``input: "data"``."""
    proto = net.to_proto()
    del proto.layer[0]
    proto.name = name
    proto.input.append("data")
    proto.input_shape.add().dim.extend([1, 3, size, size])
    return proto


def _conf_and_detections(net: NetSpec, classes: int, nms_top_k: int, keep_top_k: int,
                         threshold: float, save_output_param: dict | None = None):
    net.mbox_conf_reshape = L.Reshape(net.mbox_conf, shape=dict(dim=[0, -1, classes]))
    net.mbox_conf_softmax = L.Softmax(net.mbox_conf_reshape, axis=2)
    net.mbox_conf_flatten = L.Flatten(net.mbox_conf_softmax, axis=1)
    params = dict(num_classes=classes, share_location=True, background_label_id=0,
                  nms_param=dict(nms_threshold=0.45, top_k=nms_top_k), keep_top_k=keep_top_k,
                  confidence_threshold=threshold, code_type=P.PriorBox.CENTER_SIZE)
    if save_output_param:
        params["save_output_param"] = save_output_param
    net.detection_out = L.DetectionOutput(net.mbox_loc, net.mbox_conf_flatten, net.mbox_priorbox,
                                          detection_output_param=params,
                                          include=dict(phase=caffe_pb2.TEST))


# --- SSD300 (weiliu89/caffe, branch ssd: examples/ssd/ssd_pascal.py) -------------------------

_VGG_CONV = dict(param=[dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)],
                 weight_filler=dict(type="xavier"), bias_filler=dict(type="constant", value=0))


def _vgg16_reduced(net: NetSpec) -> None:
    """model_libs.VGGNetBody(fully_conv=True, reduced=True, dilated=True, dropout=False)."""
    last = net.data
    blocks = [(1, 64, 2), (2, 128, 2), (3, 256, 3), (4, 512, 3), (5, 512, 3)]
    for block, width, convs in blocks:
        for k in range(1, convs + 1):
            extra = dict(dilation=1) if block == 5 else {}   # VGGNetBody passes it to conv5_*
            net[f"conv{block}_{k}"] = L.Convolution(last, num_output=width, pad=1, kernel_size=3,
                                                    **extra, **_VGG_CONV)
            last = net[f"relu{block}_{k}"] = L.ReLU(net[f"conv{block}_{k}"], in_place=True)
        if block < 5:
            last = net[f"pool{block}"] = L.Pooling(last, pool=P.Pooling.MAX, kernel_size=2,
                                                   stride=2)
    net.pool5 = L.Pooling(last, pool=P.Pooling.MAX, pad=1, kernel_size=3, stride=1)
    net.fc6 = L.Convolution(net.pool5, num_output=1024, pad=6, kernel_size=3, dilation=6,
                            **_VGG_CONV)
    net.relu6 = L.ReLU(net.fc6, in_place=True)
    net.fc7 = L.Convolution(net.relu6, num_output=1024, kernel_size=1, **_VGG_CONV)
    net.relu7 = L.ReLU(net.fc7, in_place=True)


def _ssd_extra_layers(net: NetSpec) -> None:
    """ssd_pascal.AddExtraLayers(use_batchnorm=False): model_libs.ConvBNLayer without BN."""
    last = net.relu7
    for name, width, kernel, pad, stride in [
            ("conv6_1", 256, 1, 0, 1), ("conv6_2", 512, 3, 1, 2),
            ("conv7_1", 128, 1, 0, 1), ("conv7_2", 256, 3, 1, 2),
            ("conv8_1", 128, 1, 0, 1), ("conv8_2", 256, 3, 0, 1),
            ("conv9_1", 128, 1, 0, 1), ("conv9_2", 256, 3, 0, 1)]:
        net[name] = L.Convolution(last, num_output=width, kernel_size=kernel, pad=pad,
                                  stride=stride, **_VGG_CONV)
        last = net[f"{name}_relu"] = L.ReLU(net[name], in_place=True)


def _ssd300_sizes(min_dim=300, min_ratio=20, max_ratio=90, sources=6):
    """ssd_pascal.py's min_sizes and max_sizes."""
    step = int(math.floor((max_ratio - min_ratio) / (sources - 2)))
    ratios = range(min_ratio, max_ratio + 1, step)
    mins = [min_dim * 10 / 100.] + [min_dim * r / 100. for r in ratios]
    maxs = [min_dim * 20 / 100.] + [min_dim * (r + step) / 100. for r in ratios]
    return mins, maxs


def _multibox_head(net: NetSpec, sources, classes, mins, maxs, ratios, steps, norms,
                   kernel, pad, conv, flip=True, clip=False):
    """model_libs.CreateMultiBoxHead (share_location, no batch norm, no objectness)."""
    locs, confs, priors = [], [], []
    for i, (source, bottom) in enumerate(sources):
        if norms[i] != -1:
            source = f"{source}_norm"
            bottom = net[source] = L.Normalize(
                bottom, scale_filler=dict(type="constant", value=norms[i]),
                across_spatial=False, channel_shared=False)
        per_cell = (1 + (maxs[i] is not None) + len(ratios[i]) * (2 if flip else 1))
        for kind, outputs, into in (("loc", per_cell * 4, locs),
                                    ("conf", per_cell * classes, confs)):
            name = f"{source}_mbox_{kind}"
            net[name] = L.Convolution(bottom, num_output=outputs, kernel_size=kernel,
                                      **(dict(pad=pad, stride=1) if pad is not None else {}),
                                      **conv)
            net[f"{name}_perm"] = L.Permute(net[name], order=[0, 2, 3, 1])
            net[f"{name}_flat"] = L.Flatten(net[f"{name}_perm"], axis=1)
            into.append(net[f"{name}_flat"])
        prior = dict(min_size=[mins[i]], clip=clip, variance=VARIANCE, offset=0.5)
        if maxs[i] is not None:
            prior["max_size"] = [maxs[i]]
        if ratios[i]:
            prior.update(aspect_ratio=ratios[i], flip=flip)
        if steps:
            prior["step"] = steps[i]
        net[f"{source}_mbox_priorbox"] = L.PriorBox(bottom, net.data, **prior)
        priors.append(net[f"{source}_mbox_priorbox"])
    net.mbox_loc = L.Concat(*locs, axis=1)
    net.mbox_conf = L.Concat(*confs, axis=1)
    net.mbox_priorbox = L.Concat(*priors, axis=2)


def ssd300_vgg16(classes: int = 21, home: str = "/home/ssd") -> str:
    """The SSD300 VGG16 deploy prototxt of ssd_pascal.py (``home``: the ``$HOME`` its
    save_output_param's output_directory names)."""
    net = NetSpec()
    net.data = L.Input(shape=dict(dim=[1, 3, 300, 300]))
    _vgg16_reduced(net)
    _ssd_extra_layers(net)
    mins, maxs = _ssd300_sizes()
    sources = ["conv4_3", "fc7", "conv6_2", "conv7_2", "conv8_2", "conv9_2"]
    _multibox_head(net, [(s, net[s]) for s in sources], classes, mins, maxs,
                   [[2], [2, 3], [2, 3], [2, 3], [2], [2]],
                   [8, 16, 32, 64, 100, 300], [20, -1, -1, -1, -1, -1], 3, 1, _VGG_CONV)
    job = "SSD_300x300"
    _conf_and_detections(net, classes, 400, 200, 0.01, dict(
        output_directory=f"{home}/data/VOCdevkit/results/VOC2007/{job}/Main",
        output_name_prefix="comp4_det_test_", output_format="VOC",
        label_map_file="data/VOC0712/labelmap_voc.prototxt",
        name_size_file="data/VOC0712/test_name_size.txt", num_test_image=4952))
    return str(_deploy(net, f"VGG_VOC0712_{job}_deploy", 300))


# --- MobileNet-SSD (chuanqi305/MobileNet-SSD: gen.py -s deploy, voc/MobileNetSSD_deploy) ------

_MSRA = dict(type="msra")
_MOBILE_CONV = dict(param=[dict(lr_mult=1.0, decay_mult=1.0), dict(lr_mult=2.0, decay_mult=0.0)],
                    weight_filler=_MSRA, bias_filler=dict(type="constant", value=0.0))


def _mobile_conv(net: NetSpec, bottom, name, outputs, kernel, stride=1, group=1, relu=True):
    """gen.py's conv (batch norm merged: with a bias) and relu ("<name>/relu", in place)."""
    extra = dict(pad=kernel // 2) if kernel > 1 else {}
    if stride > 1:
        extra["stride"] = stride
    if group > 1:
        extra.update(group=group, engine=P.Convolution.CAFFE)
    net[name] = L.Convolution(bottom, num_output=outputs, kernel_size=kernel, **extra,
                              **_MOBILE_CONV)
    if not relu:
        return net[name]
    net[f"{name}/relu"] = L.ReLU(net[name], in_place=True)
    return net[f"{name}/relu"]


def _mobilenet_priors(input_size=300, layers=6, min_scale=0.2, max_scale=0.95):
    """gen.py's create_ssd_anchors: (min, max) sizes, the first without max_size."""
    scales = [min_scale + (max_scale - min_scale) * i / (layers - 1) for i in range(layers)]
    scales.append(1.0)
    sizes = [(round(input_size * lo, 1), round(input_size * hi, 1))
             for lo, hi in zip(scales[:-1], scales[1:])]
    return [s[0] for s in sizes], [None] + [s[1] for s in sizes[1:]]


def mobilenet_ssd(classes: int = 21) -> str:
    """chuanqi305's MobileNetSSD_deploy.prototxt (what ``gen.py -s deploy -c 21`` writes)."""
    net = NetSpec()
    net.data = L.Input(shape=dict(dim=[1, 3, 300, 300]))
    last = _mobile_conv(net, net.data, "conv0", 32, 3, 2)
    for k, (inp, outp, stride) in enumerate([
            (32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
            (256, 512, 2), (512, 512, 1), (512, 512, 1), (512, 512, 1), (512, 512, 1),
            (512, 512, 1), (512, 1024, 2), (1024, 1024, 1)], start=1):
        last = _mobile_conv(net, last, f"conv{k}/dw", inp, 3, stride, group=inp)
        last = _mobile_conv(net, last, f"conv{k}", outp, 1)
    for name, outputs, kernel, stride in [
            ("conv14_1", 256, 1, 1), ("conv14_2", 512, 3, 2), ("conv15_1", 128, 1, 1),
            ("conv15_2", 256, 3, 2), ("conv16_1", 128, 1, 1), ("conv16_2", 256, 3, 2),
            ("conv17_1", 64, 1, 1), ("conv17_2", 128, 3, 2)]:
        last = _mobile_conv(net, last, name, outputs, kernel, stride)
    sources = ["conv11", "conv13", "conv14_2", "conv15_2", "conv16_2", "conv17_2"]
    mins, maxs = _mobilenet_priors()
    _multibox_head(net, [(s, net[f"{s}/relu"]) for s in sources], classes, mins, maxs,
                   [[2.0]] + [[2.0, 3.0]] * 5, None,
                   [-1] * 6, 1, None, _MOBILE_CONV)
    _conf_and_detections(net, classes, 100, 100, 0.25)
    return str(_deploy(net, "MobileNet-SSD", 300))
