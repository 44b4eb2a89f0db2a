"""Flatten, Reshape, Crop, Tile and Silence: layers that only move values around."""

from __future__ import annotations

import math

from ..errors import NetError
from ..graph import layout
from ..graph.shapes import known_count
from ..layers import CaffeCrop, CaffeFlatten, CaffeReshape, CaffeTile
from .registry import register


def in_caffe_order(ctx, x, layer, holds_params: bool = False):
    """Apply a layer defined on Caffe's axis order to one of our tensors."""
    layer = ctx.add(layer, holds_params=holds_params)
    y = layer(layout.to_caffe_order(x, ctx.helper_name("to_caffe")))
    return layout.from_caffe_order(y, ctx.helper_name("from_caffe"))


def caffe_ordered(ctx, xs, roles=None) -> list:
    """Each of ``xs`` in Caffe's axis order, for a layer defined on that order that takes
    several bottoms (its helpers named ``<role>_to_caffe``; roles ``in0``, ``in1``, ...)."""
    roles = roles or [f"in{i}" for i in range(len(xs))]
    return [layout.to_caffe_order(x, ctx.helper_name(f"{r}_to_caffe")) for r, x in zip(roles, xs)]


def flatten_range(layer, rank: int) -> tuple[int, int]:
    p = layer.flatten_param
    return layout.normalize_axis(p.axis, rank), layout.normalize_axis(p.end_axis, rank)


def _flatten_shape(layer, bottoms):
    shape = bottoms[0]
    start, end = flatten_range(layer, len(shape))
    merged = shape[start:end + 1]
    size = known_count(merged)
    return [tuple(shape[:start]) + (size,) + tuple(shape[end + 1:])]


@register("Flatten", free_spatial=False, shape=_flatten_shape)
def flatten(ctx, x):
    p = ctx.param.flatten_param
    return in_caffe_order(ctx, x, CaffeFlatten(axis=p.axis, end_axis=p.end_axis, name=ctx.keras_name))


def reshape_shape(layer, shape: Shape) -> Shape:
    """Caffe's Reshape: dims 0 copy, one -1 inferred, over bottom axes [axis, axis+num_axes)."""
    p = layer.reshape_param
    dims = [int(d) for d in p.shape.dim]
    rank = len(shape)
    start = p.axis + rank + 1 if p.axis < 0 else p.axis
    if not 0 <= start <= rank:
        raise NetError(f"reshape axis {p.axis} out of range for rank {rank}", layer=layer.name)
    end = rank if p.num_axes == -1 else start + p.num_axes
    if p.num_axes < -1 or end > rank:
        raise NetError(f"num_axes {p.num_axes} out of range", layer=layer.name)
    out = []
    infer = None
    for i, d in enumerate(dims):
        if d == 0:
            if start + i >= rank:
                raise NetError(f"dim {i} is 0 (copy) but the bottom has no axis {start + i}",
                               layer=layer.name)
            out.append(shape[start + i])
        elif d == -1:
            if infer is not None:
                raise NetError("more than one dim is -1", layer=layer.name)
            infer = i
            out.append(-1)
        elif d < -1:
            raise NetError(f"invalid dim {d}", layer=layer.name)
        else:
            out.append(d)
    new = list(shape[:start]) + out + list(shape[end:])
    if infer is not None:
        total = known_count(shape)
        known = [d for j, d in enumerate(new) if j != start + infer]
        if total is None or None in known:
            new[start + infer] = None
        else:
            rest = math.prod(known)
            if rest == 0 or total % rest:
                raise NetError(f"cannot reshape {shape} to {tuple(new)}", layer=layer.name)
            new[start + infer] = total // rest
    elif None not in shape and None not in new and math.prod(new) != math.prod(shape):
        raise NetError(f"cannot reshape {shape} ({math.prod(shape)} values) to {tuple(new)}",
                       layer=layer.name)
    return tuple(new)


def _reshape_shape(layer, bottoms):
    return [reshape_shape(layer, bottoms[0])]


@register("Reshape", free_spatial=False, shape=_reshape_shape)
def reshape(ctx, x):
    p = ctx.param.reshape_param
    layer = CaffeReshape(axis=p.axis, num_axes=p.num_axes, dims=[int(d) for d in p.shape.dim],
                         name=ctx.keras_name)
    return in_caffe_order(ctx, x, layer)


def _crop_shape(layer, bottoms):
    a, b = bottoms
    axis = layout.normalize_axis(layer.crop_param.axis, len(a))
    return [tuple(a[:axis]) + tuple(b[axis:])]


@register("Crop", bottoms=2, shape=_crop_shape)
def crop(ctx, x, reference):
    p = ctx.param.crop_param
    rank = ctx.rank(0)
    if ctx.rank(1) != rank:
        raise ctx.error(f"bottoms must have the same rank, got {ctx.bottom_shapes}")
    start = layout.normalize_axis(p.axis, rank)
    axes = list(range(start, rank))
    offsets = list(p.offset)
    if not offsets:
        offsets = [0] * len(axes)
    elif len(offsets) == 1:
        offsets = offsets * len(axes)
    elif len(offsets) != len(axes):
        raise ctx.error(f"{len(offsets)} offsets for {len(axes)} cropped axes "
                        "(give none, one, or one per axis)")
    for a, o in zip(axes, offsets):
        big, small = ctx.bottom_shapes[0][a], ctx.bottom_shapes[1][a]
        if None not in (big, small) and o + small > big:
            raise ctx.error(f"crop of axis {a}: offset {o} + size {small} exceeds {big}")
    layer = CaffeCrop(axes=layout.internal_axes(axes, rank), offsets=offsets, name=ctx.keras_name)
    return ctx.add(layer)([x, reference])


def _no_tops(layer, bottoms):
    return []


@register("Silence", bottoms=(1, None), tops=0, shape=_no_tops)
def silence(ctx, *xs):
    return []


def _tile_shape(layer, bottoms):
    shape = list(bottoms[0])
    axis = layout.normalize_axis(layer.tile_param.axis, len(shape))
    shape[axis] = None if shape[axis] is None else shape[axis] * layer.tile_param.tiles
    return [tuple(shape)]


@register("Tile", shape=_tile_shape)
def tile(ctx, x):
    p = ctx.param.tile_param
    if p.tiles < 1:
        raise ctx.error(f"tiles must be >= 1, got {p.tiles}")
    return ctx.add(CaffeTile(axis=ctx.axis(p.axis), tiles=p.tiles, name=ctx.keras_name))(x)
