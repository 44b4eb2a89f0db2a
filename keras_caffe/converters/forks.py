"""Types of widely used Caffe forks: SSD's Permute, Normalize and PriorBox, DeepLab's and
PSPNet's Interp, the YOLO ports' and SegNet's Upsample, ShuffleNet's ShuffleChannel and Fast
R-CNN's ROIPooling."""

from __future__ import annotations

import math

import keras

from ..errors import NetError
from ..graph import layout
from ..graph.shapes import rank4, same
from ..layers import (CaffeInterp, CaffeMaxUnpool2D, CaffeNormalize, CaffePermute,
                      CaffePriorBox, CaffeROIPooling, CaffeShuffleChannel)
from ..layers.prior_box import prior_aspect_ratios
from ..layers.roi_pooling import PARALLEL_ROIS
from .registry import filler_or, register


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


@register("Normalize", shape=same, params=_normalize_params, float32=True, origin="SSD fork",
          fillers=lambda layer, n: [filler_or(layer.norm_param, "scale_filler", 1.0)])
def normalize(ctx, x):
    p = ctx.param.norm_param
    if not 2 <= ctx.rank(0) <= 4:
        raise ctx.error(f"needs a bottom of 2 to 4 axes, got shape {ctx.bottom_shapes[0]}")
    layer = CaffeNormalize(axis=ctx.axis(1), across_spatial=p.across_spatial,
                           channel_shared=p.channel_shared, eps=p.eps, name=ctx.keras_name)
    return ctx.add(layer, holds_params=True)(x)


def interp_rule(layer, two_bottoms: bool) -> dict:
    """The output size as DeepLab v2's and PSPNet's ``InterpLayer::Reshape`` picks it:
    {shrink_factor, zoom_factor} (shrink first) if either is set; else {size: (height,
    width)} if both are set; else (DeepLab v2's two-bottom form) the second bottom's size,
    ``{}``."""
    p = layer.interp_param
    rule = {f: getattr(p, f) for f in ("shrink_factor", "zoom_factor") if p.HasField(f)}
    if p.pad_beg > 0 or p.pad_end > 0 or min(rule.values(), default=1) < 1:
        raise NetError("pad_beg and pad_end must be <= 0, zoom/shrink factors >= 1",
                       layer=layer.name)
    if rule:
        return rule
    if p.HasField("height") and p.HasField("width"):
        if min(p.height, p.width) <= 0:
            raise NetError(f"height and width must be > 0, got {p.height} x {p.width}",
                           layer=layer.name)
        return {"size": (p.height, p.width)}
    if two_bottoms:
        return {}
    raise NetError("no output size: give zoom_factor, shrink_factor, height and width (> 0), "
                   "or a second bottom", layer=layer.name)


def _interp_shape(layer, bottoms):
    n, c, h, w = rank4(layer, bottoms[0])
    rule, p = interp_rule(layer, len(bottoms) > 1), layer.interp_param
    cropped = [None if d is None else d + p.pad_beg + p.pad_end for d in (h, w)]
    if any(d is not None and d <= 0 for d in cropped):
        raise NetError(f"pad_beg {p.pad_beg} and pad_end {p.pad_end} crop away the whole "
                       f"{h} x {w} input", layer=layer.name)
    if "size" in rule:
        return [(n, c) + tuple(rule["size"])]
    if not rule:
        return [(n, c) + tuple(rank4(layer, bottoms[1])[2:])]
    shrink, zoom = rule.get("shrink_factor", 1), rule.get("zoom_factor", 1)
    out = [None if d is None else (d - 1) // shrink + 1 for d in cropped]
    return [(n, c) + tuple(None if d is None else d + (d - 1) * (zoom - 1) for d in out)]


@register("Interp", bottoms=(1, 2), shape=_interp_shape, origin="DeepLab / PSPNet forks")
def interp(ctx, x, *reference):
    """With two bottoms, the second one sets the size only when the parameters do not (it
    is then not read), as DeepLab v2's Reshape."""
    rule = interp_rule(ctx.param, bool(reference))
    p = ctx.param.interp_param
    layer = CaffeInterp(axes=(ctx.axis(2), ctx.axis(3)), pad_beg=p.pad_beg, pad_end=p.pad_end,
                        name=ctx.keras_name, **rule)
    layer = ctx.add(layer)
    return layer([x, reference[0]]) if reference and not rule else layer(x)


def _segnet_upsample(layer, bottoms) -> dict:
    """SegNet's two-bottom Upsample: its LayerSetUp and Reshape checks, and the
    ``CaffeMaxUnpool2D`` arguments (size, or scales and pad_out)."""
    p = layer.upsample_param
    x, mask = rank4(layer, bottoms[0]), rank4(layer, bottoms[1])
    if any(a is not None and b is not None and a != b for a, b in zip(x, mask)):
        raise NetError(f"the pooling mask {mask} must have the shape of the bottom {x}",
                       layer=layer.name)
    has = p.HasField
    if has("upsample_h") and has("upsample_w"):
        if min(p.upsample_h, p.upsample_w) <= 1:
            raise NetError(f"upsample_h and upsample_w must be > 1, got {p.upsample_h} x "
                           f"{p.upsample_w}", layer=layer.name)
        return {"size": (p.upsample_h, p.upsample_w)}
    if not ((not has("scale") and has("scale_h") and has("scale_w"))
            or (not has("scale_h") and not has("scale_w"))):
        raise NetError("upsample_h and upsample_w are required, else scale, or scale_h and "
                       "scale_w (SegNet's check)", layer=layer.name)
    scales = (p.scale_h, p.scale_w) if has("scale_h") else (p.scale, p.scale)
    if min(scales) <= 1:
        raise NetError(f"SegNet's scales must be > 1, got {scales}", layer=layer.name)
    pads = (int(p.pad_out_h), int(p.pad_out_w))
    if any(pad and s != 2 for pad, s in zip(pads, scales)):
        raise NetError("pad_out_h / pad_out_w need a scale of 2 along their axis (otherwise "
                       "the output size is ill-defined, SegNet says)", layer=layer.name)
    return {"scales": scales, "pad_out": pads}


def _upsample_shape(layer, bottoms):
    n, c, h, w = rank4(layer, bottoms[0])
    p = layer.upsample_param
    if len(bottoms) > 1:
        rule = _segnet_upsample(layer, bottoms)
        if "size" in rule:
            return [(n, c) + rule["size"]]
        return [(n, c) + tuple(None if d is None else d * k - pad for d, k, pad in
                               zip((h, w), rule["scales"], rule["pad_out"]))]
    if p.HasField("upsample_h") and p.HasField("upsample_w"):  # SegNet's explicit size
        return [(n, c, p.upsample_h, p.upsample_w)]
    scales = [getattr(p, f) if p.HasField(f) else p.scale for f in ("scale_h", "scale_w")]
    return [(n, c) + tuple(None if d is None else d * k - int(pad) for d, k, pad in
                           zip((h, w), scales, (p.pad_out_h, p.pad_out_w)))]


@register("Upsample", bottoms=(1, 2), shape=_upsample_shape, labels=(1,),
          origin="SegNet / YOLOv3 forks")
def upsample(ctx, x, *mask):
    """Two bottoms: SegNet's max-unpooling by the pooling mask; one: the YOLO ports'
    nearest-neighbour upsampling."""
    p = ctx.param.upsample_param
    if mask:
        rule = _segnet_upsample(ctx.param, ctx.bottom_shapes)
        return ctx.add(CaffeMaxUnpool2D(name=ctx.keras_name, **rule))([x, mask[0]])
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


def roi_bottoms(layer, bottoms) -> tuple[tuple, tuple]:
    """The bottoms of ROIPooling and PSROIPooling: an N x C x H x W map, and R ROIs of 5
    values (``(R, 5)`` or ``(R, 5, 1, 1)``), or an error."""
    feat, rois = (tuple(b) for b in bottoms)
    if len(feat) != 4 or None not in rois[1:] and math.prod(rois[1:]) != 5:
        raise NetError(f"{layer.type} takes an N x C x H x W map and R ROIs of 5 values [batch, "
                       f"x1, y1, x2, y2], got shapes {feat} and {rois}", layer=layer.name)
    return feat, rois


def _roi_pooling_shape(layer, bottoms):
    p = layer.roi_pooling_param
    if p.pooled_h < 1 or p.pooled_w < 1:
        raise NetError(f"pooled_h and pooled_w must be positive, got {p.pooled_h} x "
                       f"{p.pooled_w}", layer=layer.name)
    feat, rois = roi_bottoms(layer, bottoms)
    return [(rois[0], feat[1], p.pooled_h, p.pooled_w)]


def _roi_pooling_workspace(layer, bottoms):
    """Per ROI searched at once: the feature map masked once per column bin (PW x H x W x C)
    and its row maxima once per bin (PH x PW x H x C), as ``CaffeROIPooling`` makes them."""
    (_, c, h, w), rois = bottoms[0], bottoms[1]
    p = layer.roi_pooling_param
    at_once = PARALLEL_ROIS if rois[0] is None else min(rois[0], PARALLEL_ROIS)
    return [(at_once, p.pooled_w, h, w, c), (at_once, p.pooled_h, p.pooled_w, h, c)]


@register("ROIPooling", bottoms=2, shape=_roi_pooling_shape, workspace=_roi_pooling_workspace,
          origin="Fast R-CNN fork")
def roi_pooling(ctx, features, rois):
    """The ROIs may come as ``(R, 5)`` or as a 4-D ``(R, 5, 1, 1)`` blob (a rank-4 blob is held
    as ``(R, 1, 1, 5)``: the same values in the same order)."""
    p = ctx.param.roi_pooling_param
    return ctx.add(CaffeROIPooling(p.pooled_h, p.pooled_w, p.spatial_scale,
                                   name=ctx.keras_name))([features, rois])


def _prior_box_shape(layer, bottoms):
    n, c, h, w = rank4(layer, bottoms[0])
    p = layer.prior_box_param
    priors = len(prior_aspect_ratios(p.aspect_ratio, p.flip)) * len(p.min_size) + len(p.max_size)
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

