"""Eltwise, Concat, Slice and Split: layers that join or part blobs; SENet's Axpy."""

from __future__ import annotations

import keras

from ..errors import NetError
from ..graph import layout
from ..graph.layout import normalize_axis
from ..graph.shapes import same
from ..layers import CaffeAxpy, CaffeEltwise, CaffeSlice
from ..proto import caffe_pb2
from .registry import register

_OPS = {caffe_pb2.EltwiseParameter.SUM: "sum", caffe_pb2.EltwiseParameter.PROD: "prod",
        caffe_pb2.EltwiseParameter.MAX: "max"}


@register("Eltwise", bottoms=(2, None), shape=same)
def eltwise(ctx, *xs):
    p = ctx.param.eltwise_param
    op = _OPS[p.operation]
    coeffs = list(p.coeff)
    if coeffs and op != "sum":
        raise ctx.error("coeff is only allowed with operation SUM")
    if coeffs and len(coeffs) != len(xs):
        raise ctx.error(f"{len(coeffs)} coeff values for {len(xs)} bottoms (give one per bottom)")
    shapes = {tuple(s) for s in ctx.bottom_shapes}
    if len(shapes) > 1:
        raise ctx.error(f"bottoms must have equal shapes, got {sorted(shapes, key=str)}")
    if all(c == 1 for c in coeffs):
        stock = {"sum": keras.layers.Add, "prod": keras.layers.Multiply, "max": keras.layers.Maximum}
        return ctx.add(stock[op](name=ctx.keras_name))(list(xs))
    return ctx.add(CaffeEltwise(operation=op, coeffs=coeffs, name=ctx.keras_name))(list(xs))


def _axpy_shape(layer, bottoms):
    """SENet's checks: ``a`` is N x C (x 1 x 1) for x's N and C; x and y have one shape."""
    a, x, y = (tuple(b) for b in bottoms)
    def differ(p, q):
        return p is not None and q is not None and p != q
    if len(x) < 2 or len(a) < 2 or differ(a[0], x[0]) or differ(a[1], x[1]) or any(
            differ(d, 1) for d in a[2:]):
        raise NetError(f"Axpy takes a (N x C or N x C x 1 x 1), x and y (N x C x ...): the scale "
                       f"a {a} must match x {x} in its first two axes and be 1 beyond",
                       layer=layer.name)
    if len(x) != len(y) or any(differ(p, q) for p, q in zip(x, y)):
        raise NetError(f"Axpy's x {x} and y {y} must have one shape", layer=layer.name)
    return [x]


@register("Axpy", bottoms=3, shape=_axpy_shape, origin="SENet fork")
def axpy(ctx, a, x, y):
    """``top = a * x + y`` with one factor of ``a`` per item and channel."""
    return ctx.add(CaffeAxpy(axis=ctx.axis(1, 1), name=ctx.keras_name))([a, x, y])


def _concat_shape(layer, bottoms):
    p = layer.concat_param
    axis = p.concat_dim if p.HasField("concat_dim") else p.axis
    axis = normalize_axis(axis, len(bottoms[0]))
    out = list(bottoms[0])
    for b in bottoms[1:]:
        if len(b) != len(out) or any(x != y for i, (x, y) in enumerate(zip(b, out)) if i != axis):
            raise NetError(f"cannot concatenate shapes {bottoms} along axis {axis}", layer=layer.name)
        out[axis] = None if out[axis] is None or b[axis] is None else out[axis] + b[axis]
    return [tuple(out)]


@register("Concat", bottoms=(1, None), shape=_concat_shape)
def concat(ctx, *xs):
    if len(xs) == 1:
        return xs[0]
    p = ctx.param.concat_param
    axis = p.concat_dim if p.HasField("concat_dim") else p.axis
    return ctx.add(keras.layers.Concatenate(axis=ctx.axis(axis), name=ctx.keras_name))(list(xs))


def slice_sizes(layer, dim: int, n_tops: int) -> list[int]:
    """Sizes of Slice's tops along its axis (equal split when no slice_point)."""
    points = list(layer.slice_param.slice_point)
    if points:
        if len(points) != n_tops - 1:
            raise NetError(f"{len(points)} slice_point(s) for {n_tops} tops", layer=layer.name)
        edges = [0] + points + [dim]
        sizes = [b - a for a, b in zip(edges, edges[1:])]
        if min(sizes) <= 0:
            raise NetError(f"slice points {points} do not fit a dimension of {dim}", layer=layer.name)
        return sizes
    if dim % n_tops:
        raise NetError(f"dimension {dim} does not split equally into {n_tops} tops", layer=layer.name)
    return [dim // n_tops] * n_tops


def slice_axis(layer, rank: int) -> int:
    p = layer.slice_param
    return normalize_axis(p.slice_dim if p.HasField("slice_dim") else p.axis, rank)


def _slice_shape(layer, bottoms):
    shape = bottoms[0]
    axis = slice_axis(layer, len(shape))
    sizes = slice_sizes(layer, shape[axis], len(layer.top))
    return [tuple(shape[:axis]) + (s,) + tuple(shape[axis + 1:]) for s in sizes]


@register("Slice", tops=(1, None), shape=_slice_shape)
def slice_(ctx, x):
    rank = ctx.rank(0)
    axis = slice_axis(ctx.param, rank)
    n = len(ctx.node.tops)
    if n == 1:
        return x
    layer = CaffeSlice(axis=layout.internal_axis(axis, rank),
                       slice_points=list(ctx.param.slice_param.slice_point) or None,
                       num_outputs=n, name=ctx.keras_name)
    return ctx.add(layer)(x)


@register("Split", tops=(1, None), shape=same)
def split(ctx, x):
    return [x] * len(ctx.node.tops)
