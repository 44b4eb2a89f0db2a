"""Generators (ours) of the segmentation forks' published nets, as prototxt text.

* SegNet (alexgkendall/SegNet-Tutorial, ``Models/``): ``segnet_basic("inference")`` and
  ``segnet_basic("train")`` are ``segnet_basic_inference.prototxt`` and
  ``segnet_basic_train.prototxt`` (LRN, four 7x7 encoders with BN and MAX pooling masks,
  four decoders unpooling by those masks, 11 CamVid classes); ``segnet("inference")`` and
  ``segnet("train")`` the VGG16 SegNet of ``segnet_inference.prototxt`` /
  ``segnet_train.prototxt``.  Both are fed by SegNet's DenseImageData layer.
* PSPNet (hszhao/PSPNet, ``evaluation/prototxt/``): ``pspnet(50, 150, 473)`` is
  ``pspnet50_ADE20K_473.prototxt``, ``pspnet(101, 21, 473)`` ``pspnet101_VOC2012_473`` and
  ``pspnet(101, 19, 713)`` ``pspnet101_cityscapes_713`` (dilated ResNet with PSPNet's frozen
  BN, the pyramid pooling module, Interp).

Each parses to the same NetParameter as the published file (layers, names, types, bottoms,
tops, every parameter); that was checked once against the forks' files, outside the tests.
"""

from __future__ import annotations


def _layer(name: str, kind: str, bottoms, tops, body: str = "") -> str:
    bottoms = [bottoms] if isinstance(bottoms, str) else bottoms
    tops = [tops] if isinstance(tops, str) else tops
    lines = [f'  name: "{name}"', f'  type: "{kind}"']
    lines += [f'  bottom: "{b}"' for b in bottoms] + [f'  top: "{t}"' for t in tops]
    return "layer {\n" + "\n".join(lines) + ("\n  " + body if body else "") + "\n}\n"


def _params(*mults) -> str:
    return " ".join(f"param {{ lr_mult: {lr} decay_mult: {decay} }}" for lr, decay in mults)


# --- SegNet ------------------------------------------------------------------------------

SEGNET_CLASSES = 11
#: SegNet-Tutorial's CamVid class weights (median frequency balancing), label 11 ignored.
CAMVID_CLASS_WEIGHTS = (0.2595, 0.1826, 4.5640, 0.1417, 0.9051, 0.3826, 9.6446, 1.8418,
                        0.6823, 6.2478, 7.3614)


def _segnet_data(stage: str) -> str:
    if stage == "inference":
        body = 'source: "/SegNet/CamVid/test.txt" batch_size: 1'
    else:
        body = 'source: "/SegNet/CamVid/train.txt" batch_size: 4 shuffle: true'
    return _layer("data", "DenseImageData", [], ["data", "label"],
                  f"dense_image_data_param {{ {body} }}")


def _segnet_conv(name, bottom, top, num, kernel, pad) -> str:
    pad = f"pad: {pad} " if pad else ""
    return _layer(name, "Convolution", bottom, top,
                  f"{_params((1, 1), (2, 0))} convolution_param {{ num_output: {num} {pad}"
                  f'kernel_size: {kernel} weight_filler {{ type: "msra" }} '
                  f'bias_filler {{ type: "constant" }} }}')


def _segnet_bn(name, blob, stage, params="") -> str:
    mode = "bn_mode: INFERENCE " if stage == "inference" else ""
    return _layer(name, "BN", blob, blob,
                  f'{params}bn_param {{ {mode}scale_filler {{ type: "constant" value: 1 }} '
                  f'shift_filler {{ type: "constant" value: 0.001 }} }}')


def _segnet_pool(name, bottom) -> str:
    return _layer(name, "Pooling", bottom, [name, f"{name}_mask"],
                  "pooling_param { pool: MAX kernel_size: 2 stride: 2 }")


def _segnet_upsample(name, bottom, mask, top, body) -> str:
    return _layer(name, "Upsample", [bottom, mask], top, f"upsample_param {{ {body} }}")


def _segnet_head(stage: str, scores: str) -> str:
    if stage == "inference":
        return _layer("prob", "Softmax", scores, "prob", "softmax_param { engine: CAFFE }")
    weights = " ".join(f"class_weighting: {w}" for w in CAMVID_CLASS_WEIGHTS)
    loss = _layer("loss", "SoftmaxWithLoss", [scores, "label"], "loss",
                  "softmax_param { engine: CAFFE } loss_param { weight_by_label_freqs: true "
                  f"ignore_label: {SEGNET_CLASSES} {weights} }}")
    return loss + _layer("accuracy", "Accuracy", [scores, "label"],
                         ["accuracy", "per_class_accuracy"])


def segnet_basic(stage: str = "inference") -> str:
    """SegNet-Tutorial's SegNet Basic, ``stage`` "inference" or "train"."""
    out = ['name: "segnet"\n', _segnet_data(stage),
           _layer("norm", "LRN", "data", "norm",
                  "lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 }")]
    bottom = "norm"
    for i in range(1, 5):
        out += [_segnet_conv(f"conv{i}", bottom, f"conv{i}", 64, 7, 3),
                _segnet_bn(f"conv{i}_bn", f"conv{i}", stage),
                _layer(f"relu{i}", "ReLU", f"conv{i}", f"conv{i}"),
                _segnet_pool(f"pool{i}", f"conv{i}")]
        bottom = f"pool{i}"
    for i in range(4, 0, -1):
        body = "scale: 2 pad_out_h: true" if i == 4 else "scale: 2"
        out += [_segnet_upsample(f"upsample{i}", bottom, f"pool{i}_mask", f"upsample{i}", body),
                _segnet_conv(f"conv_decode{i}", f"upsample{i}", f"conv_decode{i}", 64, 7, 3),
                _segnet_bn(f"conv_decode{i}_bn", f"conv_decode{i}", stage)]
        bottom = f"conv_decode{i}"
    out.append(_segnet_conv("conv_classifier", bottom, "conv_classifier", SEGNET_CLASSES, 1, 0))
    out.append(_segnet_head(stage, "conv_classifier"))
    return "".join(out)


#: VGG16's blocks: (convolutions, channels); the decoder mirrors them.
_VGG_BLOCKS = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))
#: SegNet's explicit unpooled sizes for CamVid's 360 x 480 (blocks 5 and 4).
_SEGNET_UPSAMPLE = {5: "scale: 2 upsample_w: 30 upsample_h: 23",
                    4: "scale: 2 upsample_w: 60 upsample_h: 45"}


def _conv_bn_relu(name, bottom, num, stage) -> list[str]:
    suffix = name[len("conv"):]
    bn = _segnet_bn(f"{name}_bn", name, stage, _params((1, 1), (1, 0)) + " ")
    return [_segnet_conv(name, bottom, name, num, 3, 1), bn,
            _layer(f"relu{suffix}", "ReLU", name, name)]


def segnet(stage: str = "inference") -> str:
    """SegNet-Tutorial's VGG16 SegNet, ``stage`` "inference" or "train"."""
    out = ['name: "VGG_ILSVRC_16_layer"\n', _segnet_data(stage)]
    bottom = "data"
    for block, (convs, channels) in enumerate(_VGG_BLOCKS, start=1):
        for j in range(1, convs + 1):
            out += _conv_bn_relu(f"conv{block}_{j}", bottom, channels, stage)
            bottom = f"conv{block}_{j}"
        out.append(_segnet_pool(f"pool{block}", bottom))
        bottom = f"pool{block}"
    for block in range(5, 0, -1):
        convs, _ = _VGG_BLOCKS[block - 1]
        out.append(_segnet_upsample(f"upsample{block}", bottom, f"pool{block}_mask",
                                    f"pool{block}_D", _SEGNET_UPSAMPLE.get(block, "scale: 2")))
        bottom = f"pool{block}_D"
        for j in range(convs, 0, -1):
            name = f"conv{block}_{j}_D"
            if block == 1 and j == 1:       # the classifier: no BN, no ReLU
                out.append(_segnet_conv(name, bottom, name, SEGNET_CLASSES, 3, 1))
            else:
                last = j == 1
                num = _VGG_BLOCKS[block - 2][1] if last else _VGG_BLOCKS[block - 1][1]
                out += _conv_bn_relu(name, bottom, num, stage)
            bottom = name
    out.append(_segnet_head(stage, bottom))
    return "".join(out)


# --- PSPNet ------------------------------------------------------------------------------

#: Residual blocks per stage of the dilated ResNets PSPNet uses.
_RESNET_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
_PSP_BN = ('bn_param { slope_filler { type: "constant" value: 1 } bias_filler { type: '
           '"constant" value: 0 } frozen: true momentum: 0.95 }')
#: The pyramid's bins (1, 2, 3, 6) in the order PSPNet's file lists them.
_PYRAMID_BINS = (1, 2, 3, 6)


def _psp_conv_bn(name, bottom, num, kernel, stride=1, pad=0, dilation=1, lr=1,
                 explicit_pad=True, relu=True, mean_decay=0) -> list[str]:
    pad_text = f"pad: {pad} " if explicit_pad else ""
    dil = f" dilation: {dilation}" if dilation > 1 else ""
    conv = _layer(name, "Convolution", bottom, name,
                  f"{_params((lr, 1))} convolution_param {{ num_output: {num} bias_term: false "
                  f"{pad_text}kernel_size: {kernel} stride: {stride} "
                  f'weight_filler {{ type: "msra" }}{dil} }}')
    bn = _layer(f"{name}/bn", "BN", name, name,
                f"{_params((lr, 0), (lr, 0), (0, mean_decay), (0, 0))} {_PSP_BN}")
    return [conv, bn] + ([_layer(f"{name}/relu", "ReLU", name, name)] if relu else [])


def _bottleneck(stage, block, bottom, width, stride, dilation,
                stride_in_3x3) -> tuple[list[str], str]:
    name = f"conv{stage}_{block}"
    reduce_stride, stride_3x3 = (1, stride) if stride_in_3x3 else (stride, 1)
    out = _psp_conv_bn(f"{name}_1x1_reduce", bottom, width, 1, stride=reduce_stride)
    out += _psp_conv_bn(f"{name}_3x3", f"{name}_1x1_reduce", width, 3, stride=stride_3x3,
                        pad=dilation, dilation=dilation)
    out += _psp_conv_bn(f"{name}_1x1_increase", f"{name}_3x3", width * 4, 1, relu=False)
    shortcut = bottom
    if block == 1:
        out += _psp_conv_bn(f"{name}_1x1_proj", bottom, width * 4, 1, stride=stride, relu=False)
        shortcut = f"{name}_1x1_proj"
    out += [_layer(name, "Eltwise", [shortcut, f"{name}_1x1_increase"], name,
                   "eltwise_param { operation: SUM }"),
            _layer(f"{name}/relu", "ReLU", name, name)]
    return out, name


def pspnet(depth: int = 50, classes: int = 150, size: int = 473) -> str:
    """hszhao/PSPNet's deploy net: dilated ResNet-``depth``, ``classes`` outputs, input
    ``size`` x ``size`` (473 or 713; the pyramid's pooling kernels follow from it)."""
    feature = (size - 1) // 8 + 1                     # 60 for 473, 90 for 713
    out = [f'#\ninput: "data"\ninput_dim: 1\ninput_dim: 3\ninput_dim: {size}\n'
           f"input_dim: {size}\n\n"]
    out += _psp_conv_bn("conv1_1_3x3_s2", "data", 64, 3, stride=2, pad=1)
    out += _psp_conv_bn("conv1_2_3x3", "conv1_1_3x3_s2", 64, 3, pad=1)
    out += _psp_conv_bn("conv1_3_3x3", "conv1_2_3x3", 128, 3, pad=1)
    out.append(_layer("pool1_3x3_s2", "Pooling", "conv1_3_3x3", "pool1_3x3_s2",
                      "pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 }"))
    bottom = "pool1_3x3_s2"
    for stage, blocks in enumerate(_RESNET_BLOCKS[depth], start=2):
        width = 64 * 2 ** (stage - 2)
        dilation = {4: 2, 5: 4}.get(stage, 1)
        for block in range(1, blocks + 1):
            stride = 2 if stage == 3 and block == 1 else 1
            layers, bottom = _bottleneck(stage, block, bottom, width, stride, dilation,
                                         stride_in_3x3=depth == 101)
            out += layers
    for bins in _PYRAMID_BINS:
        name, kernel = f"conv5_3_pool{bins}", feature // bins
        out.append(_layer(name, "Pooling", "conv5_3", name,
                          f"pooling_param {{ pool: AVE kernel_size: {kernel} stride: {kernel} }}"))
        out += _psp_conv_bn(f"{name}_conv", name, 512, 1, lr=10, explicit_pad=False)
        out.append(_layer(f"{name}_interp", "Interp", f"{name}_conv", f"{name}_interp",
                          f"interp_param {{ height: {feature} width: {feature} }}"))
    pyramid = [f"conv5_3_pool{b}_interp" for b in reversed(_PYRAMID_BINS)]
    out.append(_layer("conv5_3_concat", "Concat", ["conv5_3"] + pyramid, "conv5_3_concat"))
    # The ADE20K file gives conv5_4/bn's mean blob decay_mult 1 (its lr_mult is 0 anyway).
    out += _psp_conv_bn("conv5_4", "conv5_3_concat", 512, 3, pad=1, lr=10,
                        mean_decay=1 if depth == 50 else 0)
    out.append(_layer("conv5_4/dropout", "Dropout", "conv5_4", "conv5_4",
                      "dropout_param { dropout_ratio: 0.1 }"))
    out.append(_layer("conv6", "Convolution", "conv5_4", "conv6",
                      f"{_params((10, 1), (20, 1))} convolution_param {{ num_output: {classes} "
                      'kernel_size: 1 stride: 1 weight_filler { type: "msra" } }'))
    out.append(_layer("conv6_interp", "Interp", "conv6", "conv6_interp",
                      "interp_param { zoom_factor: 8 }"))
    return "".join(out)
