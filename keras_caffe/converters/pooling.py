"""Pooling (Caffe's ceil-mode sizes and padding divisor, the MAX mask top) and SPP."""

from __future__ import annotations

import keras

from ..errors import NetError
from ..graph import geometry
from ..graph.limits import check_field
from ..graph.shapes import rank4
from ..layers import CaffePooling2D, CaffeSPP
from ..layers.spp import MAX_PYRAMID_HEIGHT, spp_bins, spp_level_geometry
from .registry import register

_POOL = {0: "max", 1: "ave", 2: "stochastic"}


def _stock_padding(ctx, kind, win, mode, hw) -> str | None:
    """'valid' or 'same' when a stock Keras pooling computes exactly Caffe's windows.

    Without padding, Caffe's windows start at 0 and the last may run past the edge (clipped,
    and AVE divides by the clipped size).  Keras's 'valid' is that when no window runs past;
    'same' is that when exactly one row/column is missing at the end (TF then pads it at the
    bottom/right, ignored by MAX and by AVE's divisor).  Both need the size, so a model that
    runs at any size keeps CaffePooling2D."""
    if ctx.options.free_spatial or kind not in ("max", "ave") or win.pad != (0, 0):
        return None
    if any(s is None for s in hw):
        return None
    outs = [geometry.pool_output_size(s, k, st, 0, mode) for s, k, st in zip(hw, win.kernel, win.stride)]
    missing = [(o - 1) * st + k - s for o, s, k, st in zip(outs, hw, win.kernel, win.stride)]
    if all(m <= 0 and (s - k) % st == 0 for m, s, k, st in zip(missing, hw, win.kernel, win.stride)):
        return "valid"
    same = [-(-s // st) for s, st in zip(hw, win.stride)]
    if outs == same and all(m <= 1 for m in missing):
        return "same"
    return None


def _pooling_shape(layer, bottoms):
    n, c, h, w = rank4(layer, bottoms[0])
    win = geometry.pool_window(layer, (h, w))
    mode = geometry.pool_round_mode(layer)
    ho, wo = (geometry.pool_output_size(s, k, st, p, mode) for s, k, st, p in
              zip((h, w), win.kernel, win.stride, win.pad))
    return [(n, c, ho, wo)] * len(layer.top)


def _pooling_workspace(layer, bottoms):
    """``CaffePooling2D``'s copy of the bottom padded by ``pad`` (and a stride less one
    after it, for the last ceil-mode window); none for global pooling."""
    if layer.pooling_param.global_pooling:
        return []
    n, c, h, w = rank4(layer, bottoms[0])
    win = geometry.pool_window(layer, (h, w))
    return [geometry.padded_shape((n, c, h, w), win.pad, [st - 1 for st in win.stride])]


@register("Pooling", tops=(1, 2), shape=_pooling_shape, workspace=_pooling_workspace)
def pooling(ctx, x):
    p = ctx.param.pooling_param
    shape = ctx.bottom_shapes[0]
    if len(shape) != 4:
        raise ctx.error(f"needs a 4-D bottom, got shape {shape}")
    kind = _POOL[p.pool]
    win = geometry.pool_window(ctx.param, shape[2:])
    mode = geometry.pool_round_mode(ctx.param)
    mask = len(ctx.node.tops) > 1   # the mask top: where each maximum is (SegNet's Upsample)
    if mask and kind != "max":
        raise ctx.error(f"only MAX pooling has a second (mask) top, as in Caffe; this one "
                        f"is {kind.upper()}")
    if p.global_pooling and kind in ("max", "ave") and not mask:
        cls = keras.layers.GlobalMaxPooling2D if kind == "max" else keras.layers.GlobalAveragePooling2D
        return ctx.add(cls(keepdims=True, name=ctx.keras_name))(x)
    stock = None if mask else _stock_padding(ctx, kind, win, mode, shape[2:])
    if stock is not None:
        cls = keras.layers.MaxPooling2D if kind == "max" else keras.layers.AveragePooling2D
        return ctx.add(cls(win.kernel, win.stride, padding=stock, name=ctx.keras_name))(x)
    # Global pooling: the window is the whole input, which CaffePooling2D finds at run time.
    kernel = None if p.global_pooling else win.kernel
    return ctx.add(CaffePooling2D(pool=kind, kernel_size=kernel, strides=win.stride,
                                  padding=win.pad, round_mode=mode,
                                  global_pooling=bool(p.global_pooling), return_mask=mask,
                                  name=ctx.keras_name))(x)


def _spp_shape(layer, bottoms):
    n, c, h, w = rank4(layer, bottoms[0])
    height = _check_pyramid(layer, h, w)
    if height == 1:
        return [(n, c, 1, 1)]  # Caffe then returns its single pooling's top as it is
    return [(n, None if c is None else c * spp_bins(height))]


def _check_pyramid(layer, h, w) -> int:
    """``pyramid_height``, or an error when a level cannot exist: level ``l`` pools into
    ``2^l x 2^l`` windows, and Caffe's Pooling requires pad < kernel, which fails once
    ``2^l`` exceeds the bottom's height or width (and at some sizes below, e.g. 4 bins over
    5 rows); with the size unknown, Caffe's ``int num_bins = pow(2, l)`` bounds it."""
    height = layer.spp_param.pyramid_height
    if height < 1:
        raise NetError(f"spp_param.pyramid_height must be >= 1, got {height}", layer=layer.name)
    sizes = [s for s in (h, w) if s is not None]
    if not sizes:
        check_field(layer, "spp_param.pyramid_height", height, MAX_PYRAMID_HEIGHT,
                    "level l has 2^l bins per axis, and Caffe counts them in an int")
        return height
    smallest = min(sizes)
    bound = min(smallest.bit_length(), MAX_PYRAMID_HEIGHT) if smallest > 0 else 0
    check_field(layer, "spp_param.pyramid_height", height, bound,
                f"level l has 2^l bins per axis, and a {h}x{w} bottom has room for "
                f"2^l <= {smallest} only up to level {bound - 1}")
    for size in sizes:
        for level in range(height):
            kernel, pad = spp_level_geometry(size, 2 ** level)
            if pad >= kernel:
                raise NetError(f"spp_param.pyramid_height {height} is too high for a {h}x{w} "
                               f"bottom: level {level} ({2 ** level} bins) needs kernel "
                               f"{kernel} and pad {pad} over {size}, and Caffe's Pooling "
                               "requires pad < kernel", layer=layer.name)
    return height


@register("SPP", free_spatial=False, shape=_spp_shape)
def spp(ctx, x):
    p = ctx.param.spp_param
    if len(ctx.bottom_shapes[0]) != 4:
        raise ctx.error(f"needs a 4-D bottom, got shape {ctx.bottom_shapes[0]}")
    if p.pool not in (0, 1):
        raise ctx.error("SPP supports MAX and AVE pooling")
    return ctx.add(CaffeSPP(pyramid_height=p.pyramid_height, pool=_POOL[p.pool],
                            name=ctx.keras_name))(x)
