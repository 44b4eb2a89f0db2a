"""Types of widely used Caffe forks: SSD's Permute, Normalize and PriorBox, DeepLab's
Interp, the YOLO ports' Upsample, ShuffleNet's ShuffleChannel and Fast R-CNN's
ROIPooling."""

from __future__ import annotations

import math

import keras

from ..errors import NetError
from ..graph import layout, types
from ..graph.shapes import rank4, same
from ..layers import (CaffeInterp, CaffeNormalize, CaffePermute, CaffePriorBox,
                      CaffeROIPooling, CaffeShuffleChannel)
from .registry import register


def permute_order(layer, rank: int) -> list[int]:
    """SSD's Permute order: the given axes, then the missing ones in their own order."""
    order = [int(o) for o in layer.permute_param.order]
    if any(o >= rank for o in order) or len(set(order)) != len(order):
        raise NetError(f"permute order {order} must name distinct axes below {rank}",
                       layer=layer.name)
    return order + [i for i in range(rank) if i not in order]


def _permute_shape(layer, bottoms):
    return [tuple(bottoms[0][o] for o in permute_order(layer, len(bottoms[0])))]


@register("Permute", shape=_permute_shape, origin="SSD fork")
def permute(ctx, x):
    rank = ctx.rank(0)
    order = permute_order(ctx.param, rank)
    # Our output axis k is Caffe output axis b[k], which is Caffe input axis order[b[k]],
    # which lives at our input axis a[order[b[k]]].
    a, b = layout.internal_to_caffe_perm(rank), layout.caffe_to_internal_perm(rank)
    perm = tuple(a[order[b[k]]] for k in range(rank))
    if perm == tuple(range(rank)):
        layer = keras.layers.Identity(name=ctx.keras_name)
    elif perm[0] == 0:
        layer = keras.layers.Permute(layout.keras_permute_dims(perm), name=ctx.keras_name)
    else:
        layer = CaffePermute(perm, name=ctx.keras_name)
    return ctx.add(layer)(x)


def _normalize_params(layer, bottoms):
    """One scale per channel, or one in a blob without axes (``channel_shared``)."""
    return [()] if layer.norm_param.channel_shared else [(bottoms[0][1],)]


@register("Normalize", shape=same, params=_normalize_params, float32=True, origin="SSD fork")
def normalize(ctx, x):
    p = ctx.param.norm_param
    if not 2 <= ctx.rank(0) <= 4:
        raise ctx.error(f"needs a bottom of 2 to 4 axes, got shape {ctx.bottom_shapes[0]}")
    layer = CaffeNormalize(axis=ctx.axis(1), across_spatial=p.across_spatial,
                           channel_shared=p.channel_shared, eps=p.eps, name=ctx.keras_name)
    return ctx.add(layer, holds_params=True)(x)


def interp_rule(layer, two_bottoms: bool) -> dict:
    """DeepLab's output size: a second bottom's; else {shrink_factor, zoom_factor} (shrink
    first) if either is set; else {size: (height, width)}."""
    p = layer.interp_param
    rule = {f: getattr(p, f) for f in ("shrink_factor", "zoom_factor") if p.HasField(f)}
    if p.pad_beg > 0 or p.pad_end > 0 or min(rule.values(), default=1) < 1:
        raise NetError("pad_beg and pad_end must be <= 0, zoom/shrink factors >= 1",
                       layer=layer.name)
    if two_bottoms or rule:
        if two_bottoms and (rule or p.HasField("height") or p.HasField("width")):
            raise NetError("a second bottom sets the size: shrink_factor, zoom_factor, height "
                           "and width must be unset", layer=layer.name)
        return rule
    if not (p.HasField("height") and p.HasField("width")) or min(p.height, p.width) <= 0:
        raise NetError("no output size: give zoom_factor, shrink_factor, height and width (> 0), "
                       "or a second bottom", layer=layer.name)
    return {"size": (p.height, p.width)}


def _interp_shape(layer, bottoms):
    n, c, h, w = rank4(layer, bottoms[0])
    rule, p = interp_rule(layer, len(bottoms) > 1), layer.interp_param
    if len(bottoms) > 1 or "size" in rule:
        return [(n, c) + tuple(rule.get("size") or rank4(layer, bottoms[1])[2:])]
    shrink, zoom = rule.get("shrink_factor", 1), rule.get("zoom_factor", 1)
    out = [None if d is None else (d + p.pad_beg + p.pad_end - 1) // shrink + 1 for d in (h, w)]
    return [(n, c) + tuple(None if d is None else d + (d - 1) * (zoom - 1) for d in out)]


@register("Interp", bottoms=(1, 2), shape=_interp_shape, origin="DeepLab fork")
def interp(ctx, x, *reference):
    rule = interp_rule(ctx.param, bool(reference))
    p = ctx.param.interp_param
    layer = CaffeInterp(axes=(ctx.axis(2), ctx.axis(3)), pad_beg=p.pad_beg, pad_end=p.pad_end,
                        name=ctx.keras_name, **rule)
    layer = ctx.add(layer)
    return layer([x, reference[0]]) if reference else layer(x)


def _upsample_shape(layer, bottoms):
    n, c, h, w = rank4(layer, bottoms[0])
    p = layer.upsample_param
    if p.HasField("upsample_h") and p.HasField("upsample_w"):  # SegNet's explicit size
        return [(n, c, p.upsample_h, p.upsample_w)]
    scales = [getattr(p, f) if p.HasField(f) else p.scale for f in ("scale_h", "scale_w")]
    return [(n, c) + tuple(None if d is None else d * k - int(pad) for d, k, pad in
                           zip((h, w), scales, (p.pad_out_h, p.pad_out_w)))]


@register("Upsample", bottoms=(1, 2), shape=_upsample_shape, origin="SegNet / YOLOv3 forks")
def upsample(ctx, x, *mask):
    p = ctx.param.upsample_param
    if mask:
        raise ctx.error("SegNet's Upsample with a second bottom (max-unpooling by the pooling "
                        "mask) is not supported; only the one-bottom nearest-neighbour form")
    if p.HasField("upsample_h") or p.HasField("upsample_w") or p.pad_out_h or p.pad_out_w:
        raise ctx.error("upsample_h, upsample_w and pad_out_* belong to SegNet's two-bottom "
                        "unpooling; the one-bottom form takes scale (or scale_h and scale_w)")
    scales = tuple(getattr(p, f) if p.HasField(f) else p.scale for f in ("scale_h", "scale_w"))
    if min(scales) < 1:
        raise ctx.error(f"scales must be >= 1, got {scales}")
    fmt = "channels_last" if layout.is_channels_last(4) else "channels_first"
    layer = keras.layers.UpSampling2D(scales, data_format=fmt, interpolation="nearest",
                                      name=ctx.keras_name)
    return ctx.add(layer)(x)


@register("ShuffleChannel", shape=same, origin="ShuffleNet fork")
def shuffle_channel(ctx, x):
    group = ctx.param.shuffle_channel_param.group
    channels = ctx.bottom_shapes[0][1] if ctx.rank(0) > 1 else None
    if group < 1 or channels is None or channels % group:
        raise ctx.error(f"group {group} must divide the channels, got bottom shape "
                        f"{ctx.bottom_shapes[0]}")
    return ctx.add(CaffeShuffleChannel(group, axis=ctx.axis(1), name=ctx.keras_name))(x)


def _roi_pooling_shape(layer, bottoms):
    feat, rois = (tuple(b) for b in bottoms)
    p = layer.roi_pooling_param
    if p.pooled_h < 1 or p.pooled_w < 1:
        raise NetError(f"pooled_h and pooled_w must be positive, got {p.pooled_h} x "
                       f"{p.pooled_w}", layer=layer.name)
    if len(feat) != 4 or math.prod(rois[1:]) != 5:
        raise NetError(f"ROIPooling takes an N x C x H x W map and R ROIs of 5 values [batch, "
                       f"x1, y1, x2, y2], got shapes {feat} and {rois}", layer=layer.name)
    return [(rois[0], feat[1], p.pooled_h, p.pooled_w)]


@register("ROIPooling", bottoms=2, shape=_roi_pooling_shape, origin="Fast R-CNN fork")
def roi_pooling(ctx, features, rois):
    """The ROIs may come as ``(R, 5)`` or as a 4-D ``(R, 5, 1, 1)`` blob (a rank-4 blob is held
    as ``(R, 1, 1, 5)``: the same values in the same order)."""
    p = ctx.param.roi_pooling_param
    return ctx.add(CaffeROIPooling(p.pooled_h, p.pooled_w, p.spatial_scale,
                                   name=ctx.keras_name))([features, rois])


def _prior_box_shape(layer, bottoms):
    n, c, h, w = rank4(layer, bottoms[0])
    p, ratios = layer.prior_box_param, [1.0]
    for ar in p.aspect_ratio:  # SSD skips repeats; flip adds 1/ar
        if all(abs(ar - r) >= 1e-6 for r in ratios):
            ratios += [ar, 1.0 / ar] if p.flip else [ar]
    priors = len(ratios) * len(p.min_size) + len(p.max_size)
    return [(1, 2, None if h is None or w is None else h * w * priors * 4)]


@register("PriorBox", bottoms=(1, 2), shape=_prior_box_shape, origin="SSD fork")
def prior_box(ctx, feature, *image):
    p = ctx.param.prior_box_param
    if any(len(f) for f in (p.offset_h, p.offset_w, p.width, p.height)):
        raise ctx.error("OpenCV's PriorBox fields offset_h, offset_w, width and height are not "
                        "supported (SSD's min_size / max_size / aspect_ratio are)")
    img = _pair(ctx, p, "img_size", "img_h", "img_w")
    step = _pair(ctx, p, "step", "step_h", "step_w")
    if img is None and not image:
        raise ctx.error("PriorBox needs the image as its second bottom when img_size "
                        "(or img_h and img_w) is not given")
    layer = CaffePriorBox(
        min_sizes=list(p.min_size), max_sizes=list(p.max_size),
        aspect_ratios=list(p.aspect_ratio), flip=p.flip, clip=p.clip,
        variances=list(p.variance) or [0.1], img_size=img, step=step, offset=p.offset,
        axes=(ctx.axis(2), ctx.axis(3)), name=ctx.keras_name)
    layer = ctx.add(layer)
    return layer([feature, image[0]]) if img is None else layer(feature)


def _pair(ctx, p, both, h, w):
    """SSD's (h, w) from either the pair of fields or the single one; None when unset."""
    if p.HasField(h) or p.HasField(w):
        if p.HasField(both):
            raise ctx.error(f"give either {both} or {h} and {w}, not both")
        return (getattr(p, h), getattr(p, w))
    return (getattr(p, both),) * 2 if p.HasField(both) else None


# Declared for the README table and error messages; nothing converts it yet.
types.declare("DetectionOutput", origin="SSD fork", bottoms=(3, 4), module=__name__)
