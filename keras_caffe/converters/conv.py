"""Convolution, depthwise convolution and Deconvolution."""

from __future__ import annotations

import keras

from ..errors import NetError
from ..graph import geometry
from ..graph.shapes import rank4
from ..layers import CaffeConv2D, CaffeDeconv2D, CaffeIm2col
from ..proto import caffe_pb2
from ..weights.layouts import CONV_KERNEL, DECONV_KERNEL, DEPTHWISE_KERNEL
from .registry import absorb_affine, bias_blob, register, weight_and_bias

_FORKS = {"ConvolutionDepthwise": "MobileNet forks", "DepthwiseConvolution": "MobileNet forks"}


def _same_padding(win) -> bool:
    """Whether Keras's 'same' padding equals Caffe's symmetric pad (stride 1, odd extent)."""
    if win.stride != (1, 1):
        return False
    extents = [d * (k - 1) + 1 for k, d in zip(win.kernel, win.dilation)]
    return all(e % 2 == 1 and p == (e - 1) // 2 for e, p in zip(extents, win.pad))


def _conv_setup(ctx):
    p = ctx.param.convolution_param
    if p.axis != 1:
        raise ctx.error(f"convolution over axis {p.axis} is not supported (only the channel axis 1)")
    if len(ctx.bottom_shapes[0]) != 4:
        raise ctx.error(f"needs a 4-D bottom, got shape {ctx.bottom_shapes[0]}")
    channels = ctx.bottom_shapes[0][1]
    return p, geometry.conv_window(ctx.param), channels, _group(ctx.param, channels)


def _group(layer, channels) -> int:
    """The layer's group (a depthwise type's is its channel count), or an error unless it
    divides both the input channels and num_output, as Caffe checks (group 0 included)."""
    p = layer.convolution_param
    group = channels if layer.type in _FORKS else p.group
    if channels is None or group is None:
        return group
    if group < 1:
        raise NetError(f"group {group} must be at least 1 (it divides the input channels "
                       f"({channels}) and num_output ({p.num_output}) into groups)",
                       layer=layer.name)
    if channels % group or p.num_output % group:
        raise NetError(f"group {group} must divide both the input channels ({channels}) and "
                       f"num_output ({p.num_output})", layer=layer.name)
    return group


def _output_hw(layer, hw, size_fn):
    win = geometry.conv_window(layer)
    return tuple(size_fn(s, k, st, p, d) for s, k, st, p, d in
                 zip(hw, win.kernel, win.stride, win.pad, win.dilation))


def _conv_shape(layer, bottoms):
    n, c, h, w = rank4(layer, bottoms[0])
    _group(layer, c)
    ho, wo = _output_hw(layer, (h, w), geometry.conv_output_size)
    if (ho is not None and ho <= 0) or (wo is not None and wo <= 0):
        raise NetError(f"output would be {ho}x{wo} for a {h}x{w} input", layer=layer.name)
    return [(n, layer.convolution_param.num_output, ho, wo) for _ in bottoms]


def _conv_params(layer, bottoms):
    """Caffe's (num_output, C / group, kh, kw) weight and (num_output,) bias."""
    p, channels = layer.convolution_param, bottoms[0][1]
    kh, kw = geometry.conv_window(layer).kernel
    per_group = None if channels is None else channels // _group(layer, channels)
    return [(p.num_output, per_group, kh, kw)] + bias_blob(p)


def _conv_workspace(layer, bottoms):
    """Per bottom: the copy zero-padded by ``pad`` (unless Keras's 'same' padding is
    Caffe's), and with both a stride and a dilation the convolution at stride 1 that the
    stride then samples (``CaffeConv2D``)."""
    win, out = geometry.conv_window(layer), []
    for shape in bottoms:
        if win.pad != (0, 0) and not _same_padding(win):
            out.append(geometry.padded_shape(shape, win.pad))
        if win.stride != (1, 1) and win.dilation != (1, 1):
            n, _, h, w = shape
            out.append((n, layer.convolution_param.num_output) + tuple(
                geometry.conv_output_size(s, k, 1, p, d) for s, k, p, d in
                zip((h, w), win.kernel, win.pad, win.dilation)))
    return out


def _conv_absorb(layer, blobs, a, b):
    """A per-channel affine map after the convolution, folded into its weight and bias."""
    if layer.convolution_param.axis != 1:
        return None
    folded = caffe_pb2.LayerParameter()
    folded.CopyFrom(layer)
    folded.convolution_param.bias_term = True
    return folded, absorb_affine(blobs, a, b)


@register("Convolution", "ConvolutionDepthwise", "DepthwiseConvolution", bottoms=(1, None),
          tops=(1, None), shape=_conv_shape, params=_conv_params, workspace=_conv_workspace,
          fillers=weight_and_bias("convolution_param"), origin=_FORKS, absorb=_conv_absorb)
def convolution(ctx, *xs):
    p, win, channels, group = _conv_setup(ctx)
    if len(xs) != len(ctx.node.tops):
        raise ctx.error("needs as many tops as bottoms")
    padding = "same" if _same_padding(win) else "valid" if win.pad == (0, 0) else None
    stride_and_dilation = win.stride != (1, 1) and win.dilation != (1, 1)
    depthwise = group == channels and group > 1
    if depthwise and not stride_and_dilation:
        layer = keras.layers.DepthwiseConv2D(
            win.kernel, strides=win.stride, padding=padding or "valid",
            depth_multiplier=p.num_output // channels, dilation_rate=win.dilation,
            use_bias=p.bias_term, depthwise_initializer="zeros", name=ctx.keras_name)
        pad = None
        if padding is None:
            pad = ctx.add(keras.layers.ZeroPadding2D(win.pad, name=ctx.helper_name("pad")))
        layer = ctx.add(layer, holds_params=True, layouts=(DEPTHWISE_KERNEL,))
        return [layer(pad(x) if pad else x) for x in xs]
    if padding is not None and not stride_and_dilation and group == 1:
        layer = keras.layers.Conv2D(p.num_output, win.kernel, strides=win.stride, padding=padding,
                                    dilation_rate=win.dilation, groups=group,
                                    use_bias=p.bias_term, kernel_initializer="zeros",
                                    name=ctx.keras_name)
    else:
        layer = CaffeConv2D(p.num_output, win.kernel, strides=win.stride, padding=win.pad,
                            dilation_rate=win.dilation, groups=group, use_bias=p.bias_term,
                            kernel_initializer="zeros", name=ctx.keras_name)
    layer = ctx.add(layer, holds_params=True, layouts=(CONV_KERNEL,))
    return [layer(x) for x in xs]


def _deconv_shape(layer, bottoms):
    n, c, h, w = rank4(layer, bottoms[0])
    _group(layer, c)
    ho, wo = _output_hw(layer, (h, w), geometry.deconv_output_size)
    return [(n, layer.convolution_param.num_output, ho, wo) for _ in bottoms]


def _deconv_params(layer, bottoms):
    """Caffe's (C, num_output / group, kh, kw) weight and (num_output,) bias."""
    p = layer.convolution_param
    kh, kw = geometry.conv_window(layer).kernel
    per_group = p.num_output // p.group if p.group else None
    return [(bottoms[0][1], per_group, kh, kw)] + bias_blob(p)


def _deconv_workspace(layer, bottoms):
    """Per bottom, with a ``pad``: the transposed convolution before the pad is cropped."""
    win = geometry.conv_window(layer)
    if win.pad == (0, 0):
        return []
    return [geometry.padded_shape(top, win.pad) for top in _deconv_shape(layer, bottoms)]


@register("Deconvolution", bottoms=(1, None), tops=(1, None), shape=_deconv_shape,
          fillers=weight_and_bias("convolution_param"),
          params=_deconv_params, workspace=_deconv_workspace)
def deconvolution(ctx, *xs):
    p = ctx.param.convolution_param
    if p.axis != 1 or len(ctx.bottom_shapes[0]) != 4:
        raise ctx.error("Deconvolution is supported on 4-D blobs over the channel axis only")
    win = geometry.conv_window(ctx.param)
    _group(ctx.param, ctx.bottom_shapes[0][1])
    layer = ctx.add(CaffeDeconv2D(p.num_output, win.kernel, strides=win.stride, padding=win.pad,
                                  dilation_rate=win.dilation, groups=p.group,
                                  use_bias=p.bias_term, kernel_initializer="zeros",
                                  name=ctx.keras_name), holds_params=True,
                    layouts=(DECONV_KERNEL,))
    return [layer(x) for x in xs]


def _im2col_shape(layer, bottoms):
    n, c, h, w = rank4(layer, bottoms[0])
    win = geometry.conv_window(layer)
    ho, wo = _output_hw(layer, (h, w), geometry.conv_output_size)
    return [(n, c * win.kernel[0] * win.kernel[1], ho, wo)]


def _im2col_workspace(layer, bottoms):
    """The bottom padded by ``pad`` and a stride, and the kernel's rows taken from it."""
    win, (n, c, _, _) = geometry.conv_window(layer), bottoms[0]
    padded = geometry.padded_shape(bottoms[0], win.pad, win.stride)
    out_h = _output_hw(layer, bottoms[0][2:], geometry.conv_output_size)[0]
    rows = (n, None if c is None else c * win.kernel[0], out_h, padded[3])
    return [padded, rows]


@register("Im2col", shape=_im2col_shape, workspace=_im2col_workspace)
def im2col(ctx, x):
    win = geometry.conv_window(ctx.param)
    return ctx.add(CaffeIm2col(win.kernel, strides=win.stride, padding=win.pad,
                               dilation_rate=win.dilation, name=ctx.keras_name))(x)
