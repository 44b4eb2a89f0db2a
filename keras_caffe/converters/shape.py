"""Flatten, Reshape, Crop, Tile, and the sinks Silence and HDF5Output: layers that only move
values around."""

from __future__ import annotations

from ..graph import layout
from ..layers import CaffeCrop, CaffeFlatten, CaffeReshape, CaffeTile
from .registry import register


def in_caffe_order(ctx, x, layer, holds_params: bool = False):
    """Apply a layer defined on Caffe's axis order to one of our tensors."""
    layer = ctx.add(layer, holds_params=holds_params)
    y = layer(layout.to_caffe_order(x, ctx.helper_name("to_caffe")))
    return layout.from_caffe_order(y, ctx.helper_name("from_caffe"))


@register("Flatten", free_spatial=False)
def flatten(ctx, x):
    p = ctx.param.flatten_param
    return in_caffe_order(ctx, x, CaffeFlatten(axis=p.axis, end_axis=p.end_axis, name=ctx.keras_name))


@register("Reshape", free_spatial=False)
def reshape(ctx, x):
    p = ctx.param.reshape_param
    layer = CaffeReshape(axis=p.axis, num_axes=p.num_axes, dims=[int(d) for d in p.shape.dim],
                         name=ctx.keras_name)
    return in_caffe_order(ctx, x, layer)


@register("Crop", bottoms=2)
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


@register("Silence", bottoms=(1, None), tops=0)
def silence(ctx, *xs):
    return []


@register("HDF5Output", bottoms=2, tops=0)
def hdf5_output(ctx, data, label):
    """A sink: nothing in the model; ``execution.run`` saves the two bottoms after each
    forward pass (see ``data/hdf5_output.py``)."""
    if not ctx.param.hdf5_output_param.file_name:
        raise ctx.error("hdf5_output_param.file_name is empty")
    return []


@register("Tile")
def tile(ctx, x):
    p = ctx.param.tile_param
    if p.tiles < 1:
        raise ctx.error(f"tiles must be >= 1, got {p.tiles}")
    return ctx.add(CaffeTile(axis=ctx.axis(p.axis), tiles=p.tiles, name=ctx.keras_name))(x)
