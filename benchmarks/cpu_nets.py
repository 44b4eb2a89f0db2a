"""Deploy prototxts for ``cpu_inference.py`` (not a benchmark).

AlexNet and GoogLeNet are read from ``../shared/zoo`` beside the repository (never copied).
ResNet-50 comes from ``train_throughput.resnet50_prototxt`` (Kaiming He's deploy layout).
SqueezeNet 1.0 and MobileNet v2 are generated here, layer for layer as the published deploy
files (forresti/SqueezeNet ``SqueezeNet_v1.0/deploy.prototxt``; shicai/MobileNet-Caffe
``mobilenet_v2_deploy.prototxt``, whose stride-2 blocks are its own: conv2_2, conv3_2, conv4_7,
conv5_3): same names, types, bottoms/tops and parameters, with an Input layer for the legacy
``input:`` fields.  MobileNet-SSD (chuanqi305's deploy net: depthwise convolutions as groups,
PriorBox, DetectionOutput) comes from the forks' tests (``tests/forks/ssd_nets.py``).
"""

from __future__ import annotations

import os

ZOO = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "shared",
                   "zoo", "bvlc", "models")
ZOO_FILES = {"alexnet": os.path.join(ZOO, "bvlc_alexnet", "deploy.prototxt"),
             "googlenet": os.path.join(ZOO, "bvlc_googlenet", "deploy.prototxt")}
SIZES = {"alexnet": 227, "googlenet": 224, "resnet50": 224, "squeezenet": 227,
         "mobilenet_v2": 224, "mobilenet_ssd": 300}
#: The blob each net's runtimes are compared on (default ``prob``).
OUTPUTS = {"mobilenet_ssd": "detection_out"}
#: Layers whose random weights are scaled, by name suffix: SSD's class scores sharpened so
#: that boxes pass the confidence threshold and the detections compared are not empty.
WEIGHT_SCALES = {"mobilenet_ssd": ("_mbox_conf", 8.0)}


def _input(batch, size):
    return (f'layer {{ name: "input" type: "Input" top: "data" input_param {{ shape {{ '
            f'dim: {batch} dim: 3 dim: {size} dim: {size} }} }} }}')


def _conv(name, bottom, top, n, k, s=1, p=0, group=1, bias=True, params="", fillers="",
          engine=""):
    extra = (f" pad: {p}" if p else "") + (f" stride: {s}" if s != 1 else "") + \
        (f" group: {group}" if group != 1 else "") + ("" if bias else " bias_term: false")
    return (f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{top}" '
            f'{params}convolution_param {{ num_output: {n}{extra} kernel_size: {k}{fillers}'
            f'{engine} }} }}')


def _relu(name, blob):
    return f'layer {{ name: "{name}" type: "ReLU" bottom: "{blob}" top: "{blob}" }}'


def _pool(name, bottom, top, pool, k=0, s=1):
    shape = "global_pooling: true" if not k else f"kernel_size: {k} stride: {s}"
    return (f'layer {{ name: "{name}" type: "Pooling" bottom: "{bottom}" top: "{top}" '
            f'pooling_param {{ pool: {pool} {shape} }} }}')


def squeezenet_prototxt(batch=1, size=227):
    """SqueezeNet 1.0's deploy net (no name, fillers or param blocks, as published)."""
    out = [_input(batch, size),
           _conv("conv1", "data", "conv1", 96, 7, s=2), _relu("relu_conv1", "conv1"),
           _pool("pool1", "conv1", "pool1", "MAX", 3, 2)]
    fires = [(2, 16, 64), (3, 16, 64), (4, 32, 128), "pool4", (5, 32, 128), (6, 48, 192),
             (7, 48, 192), (8, 64, 256), "pool8", (9, 64, 256)]
    bottom = "pool1"
    for fire in fires:
        if isinstance(fire, str):
            out.append(_pool(fire, bottom, fire, "MAX", 3, 2))
            bottom = fire
            continue
        i, squeeze, expand = fire
        f = f"fire{i}"
        out += [_conv(f"{f}/squeeze1x1", bottom, f"{f}/squeeze1x1", squeeze, 1),
                _relu(f"{f}/relu_squeeze1x1", f"{f}/squeeze1x1"),
                _conv(f"{f}/expand1x1", f"{f}/squeeze1x1", f"{f}/expand1x1", expand, 1),
                _relu(f"{f}/relu_expand1x1", f"{f}/expand1x1"),
                _conv(f"{f}/expand3x3", f"{f}/squeeze1x1", f"{f}/expand3x3", expand, 3, p=1),
                _relu(f"{f}/relu_expand3x3", f"{f}/expand3x3"),
                f'layer {{ name: "{f}/concat" type: "Concat" bottom: "{f}/expand1x1" '
                f'bottom: "{f}/expand3x3" top: "{f}/concat" }}']
        bottom = f"{f}/concat"
    out += [f'layer {{ name: "drop9" type: "Dropout" bottom: "{bottom}" top: "{bottom}" '
            f'dropout_param {{ dropout_ratio: 0.5 }} }}',
            _conv("conv10", bottom, "conv10", 1000, 1, p=1), _relu("relu_conv10", "conv10"),
            _pool("pool10", "conv10", "pool10", "AVE"),
            'layer { name: "prob" type: "Softmax" bottom: "pool10" top: "prob" }']
    return "\n".join(out) + "\n"


# (block, expanded channels, output channels, stride) of shicai's MobileNet v2
MOBILENET_V2_BLOCKS = (
    ("2_1", 32, 16, 1), ("2_2", 96, 24, 2), ("3_1", 144, 24, 1), ("3_2", 144, 32, 2),
    ("4_1", 192, 32, 1), ("4_2", 192, 32, 1), ("4_3", 192, 64, 1), ("4_4", 384, 64, 1),
    ("4_5", 384, 64, 1), ("4_6", 384, 64, 1), ("4_7", 384, 96, 2), ("5_1", 576, 96, 1),
    ("5_2", 576, 96, 1), ("5_3", 576, 160, 2), ("6_1", 960, 160, 1), ("6_2", 960, 160, 1),
    ("6_3", 960, 320, 1))


def mobilenet_v2_prototxt(batch=1, size=224):
    """MobileNet v2 as shicai/MobileNet-Caffe's deploy file: conv + BatchNorm + Scale (+ ReLU)
    triples, depthwise 3x3 as grouped Convolution, Eltwise SUM residuals ``block_*``."""
    weight = "param { lr_mult: 1 decay_mult: 1 } "
    msra = " weight_filler { type: \"msra\" }"

    def unit(name, bottom, n, k, s=1, p=0, group=1, relu=None):
        bn = f"{name}/bn"
        engine = " engine: CAFFE" if group != 1 else ""   # the depthwise convolutions
        layers = [_conv(name, bottom, name, n, k, s, p, group, False, weight, msra, engine),
                  f'layer {{ name: "{bn}" type: "BatchNorm" bottom: "{name}" top: "{bn}" '
                  + "param { lr_mult: 0 decay_mult: 0 } " * 3
                  + 'batch_norm_param { use_global_stats: true eps: 1e-5 } }',
                  f'layer {{ name: "{name}/scale" type: "Scale" bottom: "{bn}" top: "{bn}" '
                  + "param { lr_mult: 1 decay_mult: 0 } " * 2
                  + "scale_param { bias_term: true } }"]
        if relu:
            layers.append(_relu(relu, bn))
        return layers, bn

    out = ['name: "MOBILENET_V2"', _input(batch, size)]
    layers, bottom = unit("conv1", "data", 32, 3, s=2, p=1, relu="relu1")
    out += layers
    channels = 32
    for block, expanded, width, stride in MOBILENET_V2_BLOCKS:
        name = f"conv{block}"
        layers, x = unit(f"{name}/expand", bottom, expanded, 1, relu=f"relu{block}/expand")
        out += layers
        layers, x = unit(f"{name}/dwise", x, expanded, 3, stride, 1, expanded,
                         relu=f"relu{block}/dwise")
        out += layers
        layers, x = unit(f"{name}/linear", x, width, 1)
        out += layers
        if stride == 1 and channels == width:
            out.append(f'layer {{ name: "block_{block}" type: "Eltwise" bottom: "{bottom}" '
                       f'bottom: "{x}" top: "block_{block}" }}')
            x = f"block_{block}"
        bottom, channels = x, width
    layers, x = unit("conv6_4", bottom, 1280, 1, relu="relu6_4")
    out += layers
    out += [_pool("pool6", x, "pool6", "AVE"),
            _conv("fc7", "pool6", "fc7", 1000, 1, params="param { lr_mult: 1 decay_mult: 1 } "
                  "param { lr_mult: 2 decay_mult: 0 } ",
                  fillers=msra + ' bias_filler { type: "constant" value: 0 }'),
            'layer { name: "prob" type: "Softmax" bottom: "fc7" top: "prob" }']
    return "\n".join(out) + "\n"


def deploy_text(name: str, batch: int) -> str:
    """The deploy prototxt of ``name`` (see :data:`SIZES`) with its input batch ``batch``."""
    from keras_caffe.api import read_net
    from keras_caffe.proto import text

    size = SIZES[name]
    if name == "squeezenet":
        return squeezenet_prototxt(batch, size)
    if name == "mobilenet_v2":
        return mobilenet_v2_prototxt(batch, size)
    if name == "resnet50":
        import train_throughput as T

        return T.resnet50_prototxt(batch, size, use_global_stats=True)
    if name == "mobilenet_ssd":   # the depthwise, SSD-style net of the forks' tests
        from tests.forks.ssd_nets import mobilenet_ssd

        source = mobilenet_ssd()
    else:
        source = ZOO_FILES[name]
        if not os.path.isfile(source):
            raise FileNotFoundError(f"{source}: the zoo prototxt (../shared/zoo beside the "
                                    "repository) is not there")
    net = read_net(source)   # legacy input fields become an Input layer
    dims = net.layer[0].input_param.shape[0].dim
    dims[0] = batch
    return text.to_text(net)
