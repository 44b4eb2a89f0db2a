"""BVLC's BatchReindex, Filter and Parameter."""

from __future__ import annotations

from ..graph import layout
from ..layers import CaffeBatchReindex, CaffeFilter, CaffeParameter
from .registry import register


@register("BatchReindex", bottoms=2)
def batch_reindex(ctx, x, index):
    if ctx.rank(1) != 1:
        raise ctx.error(f"the index bottom must be a vector, got shape {ctx.bottom_shapes[1]}")
    return ctx.add(CaffeBatchReindex(name=ctx.keras_name))([x, index])


@register("Filter", bottoms=(2, None), tops=(1, None))
def filter_(ctx, *inputs):
    """The tops' batch size depends on the selector's values (the shape table checks the
    top count and the selector's shape)."""
    return ctx.add(CaffeFilter(name=ctx.keras_name))(list(inputs))


@register("Parameter", bottoms=0)
def parameter(ctx):
    """The blob is held in our layout (a rank-4 blob as N,H,W,C) and moved to and from
    Caffe's by the loader and saver below.

    A Keras layer needs an input tensor to sit in a functional model; Caffe's Parameter
    has none. The layer is therefore called on an anchor, a model input given by the
    build as ``ctx.extra["anchor"]``, whose values it ignores."""
    anchor = ctx.extra.get("anchor")
    if anchor is None:
        raise ctx.error("a Parameter layer has no bottom, and a Keras model computes only "
                        "from its inputs: it needs a model input to attach to, and none was "
                        "given (the net has no input, or this build does not pass one)")
    shape = tuple(int(d) for d in ctx.param.parameter_param.shape.dim)
    layer = CaffeParameter(layout.to_internal_shape(shape), name=ctx.keras_name)
    return ctx.add(layer, holds_params=True)(anchor)


@parameter.loader
def _(ctx, blobs):
    return [layout.to_internal_array(blobs[0])]


@parameter.saver
def _(ctx, weights):
    return [layout.to_caffe_array(weights[0])]


@parameter.shapes
def _(ctx, shapes):
    return [layout.to_caffe_shape(shapes[0])]
