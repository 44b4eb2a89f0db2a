"""BVLC's BatchReindex, Filter and Parameter."""

from __future__ import annotations

from ..errors import NetError
from ..graph import layout
from ..graph.shapes import blob_shape
from ..layers import CaffeBatchReindex, CaffeFilter, CaffeParameter
from ..weights.layouts import INTERNAL_ORDER
from .registry import register


def _batch_reindex_shape(layer, bottoms):
    if len(bottoms[1]) != 1:
        raise NetError(f"the index bottom must be a vector, got {tuple(bottoms[1])}",
                       layer=layer.name)
    return [(bottoms[1][0],) + tuple(bottoms[0][1:])]


@register("BatchReindex", bottoms=2, shape=_batch_reindex_shape)
def batch_reindex(ctx, x, index):
    if ctx.rank(1) != 1:
        raise ctx.error(f"the index bottom must be a vector, got shape {ctx.bottom_shapes[1]}")
    return ctx.add(CaffeBatchReindex(name=ctx.keras_name))([x, index])


def _filter_shape(layer, bottoms):
    """As Caffe's first Reshape: the tops keep their bottoms' shapes (how many samples pass
    is known only from the selector's values)."""
    *xs, selector = bottoms
    if len(layer.top) != len(xs):
        raise NetError(f"a Filter layer has one top per filtered bottom: {len(xs)} bottoms "
                       f"before the selector but {len(layer.top)} tops", layer=layer.name)
    if any(d != 1 for d in selector[1:]):
        raise NetError(f"the selector (last bottom) must hold one value per sample, got shape "
                       f"{tuple(selector)}", layer=layer.name)
    for x in xs:
        if x[0] != selector[0]:
            raise NetError(f"each bottom must have as many samples as the selector "
                           f"({selector[0]}), got shape {tuple(x)}", layer=layer.name)
    return [tuple(x) for x in xs]


@register("Filter", bottoms=(2, None), tops=(1, None), shape=_filter_shape)
def filter_(ctx, *inputs):
    """The tops' batch size depends on the selector's values (the shape table checks the
    top count and the selector's shape)."""
    return ctx.add(CaffeFilter(name=ctx.keras_name))(list(inputs))


def _parameter_shape(layer, bottoms):
    return [blob_shape(layer.parameter_param.shape, "parameter_param.shape")]


@register("Parameter", bottoms=0, shape=_parameter_shape, params=_parameter_shape)
def parameter(ctx):
    """The blob is held in our layout (a rank-4 blob as N,H,W,C): its layout moves it to and
    from Caffe's.

    A Keras layer needs an input tensor to sit in a functional model; Caffe's Parameter
    has none. The layer is therefore called on an anchor, a model input given by the
    build as ``ctx.anchor``, whose values it ignores."""
    anchor = ctx.anchor
    if anchor is None:
        raise ctx.error("a Parameter layer has no bottom, and a Keras model computes only "
                        "from its inputs: it needs a model input to attach to, and none was "
                        "given (the net has no input, or this build does not pass one)")
    shape = tuple(int(d) for d in ctx.param.parameter_param.shape.dim)
    layer = CaffeParameter(layout.to_internal_shape(shape), name=ctx.keras_name)
    return ctx.add(layer, holds_params=True, layouts=(INTERNAL_ORDER,))(anchor)
