"""Types of widely used Caffe forks: SSD's Permute, Normalize and PriorBox, DeepLab's
Interp, the YOLO ports' Upsample, ShuffleNet's ShuffleChannel and Fast R-CNN's
ROIPooling."""

from __future__ import annotations

import keras

from ..graph import layout
from ..graph.shapes import interp_rule, permute_order
from ..layers import (CaffeInterp, CaffeNormalize, CaffePermute, CaffePriorBox,
                      CaffeROIPooling, CaffeShuffleChannel)
from .registry import register


@register("Permute")
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


@register("Normalize")
def normalize(ctx, x):
    p = ctx.param.norm_param
    if not 2 <= ctx.rank(0) <= 4:
        raise ctx.error(f"needs a bottom of 2 to 4 axes, got shape {ctx.bottom_shapes[0]}")
    layer = CaffeNormalize(axis=ctx.axis(1), across_spatial=p.across_spatial,
                           channel_shared=p.channel_shared, eps=p.eps, name=ctx.keras_name)
    return ctx.add(layer, holds_params=True)(x)


@register("Interp", bottoms=(1, 2))
def interp(ctx, x, *reference):
    rule = interp_rule(ctx.param, bool(reference))
    p = ctx.param.interp_param
    layer = CaffeInterp(axes=(ctx.axis(2), ctx.axis(3)), pad_beg=p.pad_beg, pad_end=p.pad_end,
                        name=ctx.keras_name, **rule)
    layer = ctx.add(layer)
    return layer([x, reference[0]]) if reference else layer(x)


@register("Upsample", bottoms=(1, 2))
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


@register("ShuffleChannel")
def shuffle_channel(ctx, x):
    group = ctx.param.shuffle_channel_param.group
    channels = ctx.bottom_shapes[0][1] if ctx.rank(0) > 1 else None
    if group < 1 or channels is None or channels % group:
        raise ctx.error(f"group {group} must divide the channels, got bottom shape "
                        f"{ctx.bottom_shapes[0]}")
    return ctx.add(CaffeShuffleChannel(group, axis=ctx.axis(1), name=ctx.keras_name))(x)


@register("ROIPooling", bottoms=2)
def roi_pooling(ctx, features, rois):
    """The ROIs may come as ``(R, 5)`` or as a 4-D ``(R, 5, 1, 1)`` blob (a rank-4 blob is held
    as ``(R, 1, 1, 5)``: the same values in the same order)."""
    p = ctx.param.roi_pooling_param
    return ctx.add(CaffeROIPooling(p.pooled_h, p.pooled_w, p.spatial_scale,
                                   name=ctx.keras_name))([features, rois])


@register("PriorBox", bottoms=(1, 2))
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
