"""LRN, BatchNorm, Scale and Bias; the forks' BN (SegNet's and PSPNet's)."""

from __future__ import annotations

import numpy as np

from ..errors import NetError
from ..graph import geometry, layout
from ..graph.shapes import same
from ..layers import (CaffeBatchNorm, CaffeBatchNormScale, CaffeBias, CaffeBN, CaffeLRN,
                      CaffeMVN, CaffeScale)
from ..proto import caffe_pb2
from ..weights.layouts import CHANNEL_VECTOR
from .registry import constant_filler, filler_or, register


def _lrn_workspace(layer, bottoms):
    """Within channels: the squared bottom padded by half the window on each side."""
    p = layer.lrn_param
    if p.norm_region == caffe_pb2.LRNParameter.ACROSS_CHANNELS or len(bottoms[0]) != 4:
        return []
    r = (p.local_size - 1) // 2
    return [geometry.padded_shape(bottoms[0], (r, r))]


@register("LRN", shape=same, workspace=_lrn_workspace, float32=True)
def lrn(ctx, x):
    p = ctx.param.lrn_param
    if len(ctx.bottom_shapes[0]) != 4:
        raise ctx.error(f"LRN needs a 4-D bottom, got shape {ctx.bottom_shapes[0]}")
    if p.local_size % 2 == 0:
        raise ctx.error(f"local_size must be odd, got {p.local_size}")
    region = ("across_channels" if p.norm_region == caffe_pb2.LRNParameter.ACROSS_CHANNELS
              else "within_channel")
    return ctx.add(CaffeLRN(local_size=p.local_size, alpha=p.alpha, beta=p.beta, k=p.k,
                            norm_region=region, name=ctx.keras_name))(x)


def _batch_norm_params(layer, bottoms):
    """Caffe's mean and variance (C,) and the scale factor (1,)."""
    channels = bottoms[0][1]
    return [(channels,), (channels,), (1,)]


def _batch_norm_affine(layer, blobs, phase, rank):
    """With global statistics: ``(x - mean) / sqrt(var + eps)`` per channel, the stored
    sums divided by the scale factor blob (0 when it is 0), as Caffe's forward pass."""
    p = layer.batch_norm_param
    use_global = p.use_global_stats if p.HasField("use_global_stats") else phase == caffe_pb2.TEST
    if not use_global or len(blobs) < 3:
        return None
    stored = float(np.asarray(blobs[2]).reshape(-1)[0])
    factor = 0.0 if stored == 0 else 1.0 / stored
    mean = np.asarray(blobs[0], np.float64).reshape(-1) * factor
    var = np.asarray(blobs[1], np.float64).reshape(-1) * factor
    a = 1.0 / np.sqrt(var + p.eps)
    return a, -mean * a


@register("BatchNorm", shape=same, params=_batch_norm_params, float32=True,
          affine=_batch_norm_affine)
def batch_norm(ctx, x):
    p = ctx.param.batch_norm_param
    # Unset: the phase decides at call time (training=True is Caffe's TRAIN), so the TRAIN
    # and TEST models of one net can share this layer.
    use_global = p.use_global_stats if p.HasField("use_global_stats") else None
    common = dict(axis=ctx.axis(1), epsilon=p.eps, use_global_stats=use_global,
                  moving_average_fraction=p.moving_average_fraction, name=ctx.keras_name)
    scale = ctx.folded_scale   # a Scale that graph.passes found may be computed with it
    if scale is not None:
        # BatchNorm + Scale as one layer: x * a + b, two passes instead of four.
        layer = CaffeBatchNormScale(bias_term=scale.param.scale_param.bias_term, **common)
        return ctx.add(layer, holds_params=True,
                       select=CaffeBatchNormScale.batch_norm_weights)(x)
    return ctx.add(CaffeBatchNorm(**common), holds_params=True)(x)


_SEGNET_BN = ("bn_mode", "scale_filler", "shift_filler")
_PSPNET_BN = ("slope_filler", "bias_filler", "momentum", "eps", "frozen", "engine")
#: SegNet's BN normalizes with this (``var_eps_ = 1e-9`` in its bn_layer.cpp).
SEGNET_BN_EPS = 1e-9


def bn_variant(layer) -> str:
    """Which fork's BN a layer is: "segnet" (blobs scale, shift) or "pspnet" (slope, bias,
    mean, variance), by the ``bn_param`` fields it sets, else by its ``param`` count."""
    p = layer.bn_param
    segnet = [f for f in _SEGNET_BN if p.HasField(f)]
    pspnet = [f for f in _PSPNET_BN if p.HasField(f)]
    if segnet and pspnet:
        raise NetError(f"bn_param mixes SegNet's fields {segnet} with PSPNet's {pspnet}; a BN "
                       "layer is one fork's or the other's", layer=layer.name)
    if segnet or pspnet:
        return "segnet" if segnet else "pspnet"
    if len(layer.param) in (2, 4):
        return "segnet" if len(layer.param) == 2 else "pspnet"
    raise NetError("cannot tell which fork's BN this is: SegNet's (2 blobs: scale, shift; "
                   "bn_param { bn_mode scale_filler shift_filler }) or PSPNet's (4 blobs: slope, "
                   "bias, mean, variance; bn_param { slope_filler bias_filler momentum eps "
                   "frozen }); set one of those fields, or give one param { } per blob",
                   layer=layer.name)


def _bn_params(layer, bottoms):
    """The fork's blobs, each 1 x C x 1 x 1."""
    channels = bottoms[0][1] if len(bottoms[0]) > 1 else None
    return [(1, channels, 1, 1)] * (2 if bn_variant(layer) == "segnet" else 4)


def _bn_fillers(layer, n_blobs):
    """SegNet's scale, shift; PSPNet's slope, bias, mean, variance (1 when frozen)."""
    p = layer.bn_param
    if n_blobs == 2:
        return [p.scale_filler, p.shift_filler]
    return [p.slope_filler, p.bias_filler, constant_filler(0.0),
            constant_filler(1.0 if p.frozen else 0.0)]


def _bn_shape(layer, bottoms):
    """The bottom's shape; SegNet's second and third tops (batch mean, variance) are
    1 x C x 1 x 1."""
    channels = bottoms[0][1] if len(bottoms[0]) > 1 else None
    return [tuple(bottoms[0])] + [(1, channels, 1, 1)] * (len(layer.top) - 1)


@register("BN", tops=(1, 3), shape=_bn_shape, params=_bn_params, float32=True,
          fillers=_bn_fillers, origin="SegNet / PSPNet forks")
def bn(ctx, x):
    p = ctx.param.bn_param
    variant = bn_variant(ctx.param)
    stats = len(ctx.node.tops) > 1
    if stats and (variant != "segnet" or p.bn_mode == caffe_pb2.BNParameter.INFERENCE):
        raise ctx.error("a second and third top (the batch mean and variance) come from "
                        "SegNet's BN in LEARN mode only (its INFERENCE mode leaves them "
                        "unwritten; PSPNet's BN has one top)")
    if not 2 <= ctx.rank(0) <= 4:
        raise ctx.error(f"BN reads its bottom as num, channels, height, width: it needs 2 to 4 "
                        f"axes, got shape {ctx.bottom_shapes[0]}")
    if variant == "segnet":
        mode = "inference" if p.bn_mode == caffe_pb2.BNParameter.INFERENCE else "learn"
        layer = CaffeBN("segnet", axis=ctx.axis(1), mode=mode, epsilon=SEGNET_BN_EPS,
                        stats_axis=layout.internal_axis(1, 4) if stats else None,
                        name=ctx.keras_name)
    else:
        layer = CaffeBN("pspnet", axis=ctx.axis(1), epsilon=p.eps, momentum=p.momentum,
                        frozen=p.frozen, name=ctx.keras_name)
    out = ctx.add(layer, holds_params=True, layouts=(CHANNEL_VECTOR,) * 4)(x)
    return out[:len(ctx.node.tops)] if stats else out


def _param_axes(ctx, axis: int, num_axes: int) -> tuple[int, ...]:
    """Internal axes of bottom 0 covered by Caffe's [axis, axis + num_axes)."""
    rank = ctx.rank(0)
    start = layout.normalize_axis(axis, rank)
    end = rank if num_axes == -1 else start + num_axes
    if num_axes < -1 or end > rank:
        raise ctx.error(f"num_axes {num_axes} from axis {axis} does not fit a blob of rank {rank}")
    return layout.internal_axes(range(start, end), rank)


def _two_bottom_axes(ctx, axis: int) -> tuple[int, ...]:
    rank, other = ctx.rank(0), ctx.bottom_shapes[1]
    start = layout.normalize_axis(axis, rank)
    covered = ctx.bottom_shapes[0][start:start + len(other)]
    if len(covered) != len(other) or any(a is not None and b is not None and a != b
                                         for a, b in zip(covered, other)):
        raise ctx.error(f"bottom[1] shape {tuple(other)} does not match bottom[0] "
                        f"{tuple(ctx.bottom_shapes[0])} from axis {start}")
    return layout.internal_axes(range(start, start + len(other)), rank)


def _channel_only(axis: int, num_axes: int, two_bottoms: bool) -> bool:
    """Whether a learned Scale/Bias blob covers at most N and C, so H/W may vary."""
    if two_bottoms:
        return True
    return axis >= 0 and num_axes != -1 and axis + num_axes <= 2


def _covered(shape, axis: int, num_axes: int) -> tuple:
    """Caffe's axes [axis, axis + num_axes) of ``shape`` (to the end for num_axes -1)."""
    start = layout.normalize_axis(axis, len(shape))
    return tuple(shape[start:] if num_axes == -1 else shape[start:start + num_axes])


def _scale_params(layer, bottoms):
    """The scale blob (none with a second bottom, which gives the scale) and the bias blob,
    each over the covered axes (a second bottom's shape)."""
    p = layer.scale_param
    if len(bottoms) > 1:
        return [tuple(bottoms[1])] if p.bias_term else []
    covered = _covered(bottoms[0], p.axis, p.num_axes)
    return [covered] * (2 if p.bias_term else 1)


def _bias_params(layer, bottoms):
    p = layer.bias_param
    return [] if len(bottoms) > 1 else [_covered(bottoms[0], p.axis, p.num_axes)]


def _per_channel(axis: int, num_axes: int, rank: int) -> bool:
    """Whether blobs over ``axis`` for ``num_axes`` axes cover exactly Caffe's axis 1."""
    one_axis = num_axes == 1 or (num_axes == -1 and rank == 2)
    return one_axis and -rank <= axis < rank and layout.normalize_axis(axis, rank) == 1


def _scale_affine(layer, blobs, phase, rank):
    p = layer.scale_param
    if len(layer.bottom) != 1 or not _per_channel(p.axis, p.num_axes, rank) or not blobs:
        return None
    a = np.asarray(blobs[0], np.float64).reshape(-1)
    return a, (np.asarray(blobs[1], np.float64).reshape(-1) if p.bias_term and len(blobs) > 1
               else np.zeros_like(a))


def _bias_affine(layer, blobs, phase, rank):
    p = layer.bias_param
    if len(layer.bottom) != 1 or not _per_channel(p.axis, p.num_axes, rank) or not blobs:
        return None
    b = np.asarray(blobs[0], np.float64).reshape(-1)
    return np.ones_like(b), b


@register("Scale", bottoms=(1, 2), shape=same, params=_scale_params, affine=_scale_affine,
          fillers=lambda layer, n: [filler_or(layer.scale_param, "filler", 1.0),
                                    filler_or(layer.scale_param, "bias_filler", 0.0)],
          free_spatial=lambda layer: _channel_only(
    layer.scale_param.axis, layer.scale_param.num_axes, len(layer.bottom) > 1))
def scale(ctx, x, *other):
    p = ctx.param.scale_param
    if ctx.folded_into is not None:  # computed by the BatchNorm before it; its blobs follow BN's
        ctx.add(ctx.folded_into.param_layer, holds_params=True,
                select=CaffeBatchNormScale.scale_weights)
        return x
    if other:
        layer = CaffeScale(axes=_two_bottom_axes(ctx, p.axis), bias_term=p.bias_term,
                           learned=False, name=ctx.keras_name)
        layer = ctx.add(layer, holds_params=p.bias_term)
        return layer([x, other[0]])
    layer = CaffeScale(axes=_param_axes(ctx, p.axis, p.num_axes), bias_term=p.bias_term,
                       learned=True, name=ctx.keras_name)
    return ctx.add(layer, holds_params=True)(x)


@register("Bias", bottoms=(1, 2), shape=same, params=_bias_params, affine=_bias_affine,
          fillers=lambda layer, n: [filler_or(layer.bias_param, "filler", 0.0)],
          free_spatial=lambda layer: _channel_only(
    layer.bias_param.axis, layer.bias_param.num_axes, len(layer.bottom) > 1))
def bias(ctx, x, *other):
    p = ctx.param.bias_param
    if other:
        layer = CaffeBias(axes=_two_bottom_axes(ctx, p.axis), learned=False, name=ctx.keras_name)
        return ctx.add(layer)([x, other[0]])
    layer = CaffeBias(axes=_param_axes(ctx, p.axis, p.num_axes), name=ctx.keras_name)
    return ctx.add(layer, holds_params=True)(x)


@register("MVN", shape=same, float32=True)
def mvn(ctx, x):
    p = ctx.param.mvn_param
    rank = ctx.rank(0)
    first = 1 if p.across_channels else 2
    if rank <= first:
        raise ctx.error(f"MVN needs a bottom with axes beyond axis {first - 1}, got shape "
                        f"{ctx.bottom_shapes[0]}")
    layer = CaffeMVN(axes=layout.internal_axes(range(first, rank), rank),
                     normalize_variance=p.normalize_variance, eps=p.eps, name=ctx.keras_name)
    return ctx.add(layer)(x)
