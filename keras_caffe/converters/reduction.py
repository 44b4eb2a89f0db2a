"""Reduction, ArgMax and Accuracy: layers that reduce blobs to fewer values."""

from __future__ import annotations

from ..graph import layout
from ..graph.limits import check_field
from ..graph.shapes import known_count
from ..layers import CaffeAccuracy, CaffeArgMax, CaffeReduction
from ..proto import caffe_pb2
from .registry import classes_along, register
from .shape import caffe_ordered, in_caffe_order

_REDUCTIONS = {caffe_pb2.ReductionParameter.SUM: "sum", caffe_pb2.ReductionParameter.ASUM: "asum",
               caffe_pb2.ReductionParameter.SUMSQ: "sumsq", caffe_pb2.ReductionParameter.MEAN: "mean"}


def _reduction_shape(layer, bottoms):
    axis = layout.normalize_axis(layer.reduction_param.axis, len(bottoms[0]))
    return [tuple(bottoms[0][:axis])]


@register("Reduction", shape=_reduction_shape, float32=True)
def reduction(ctx, x):
    p = ctx.param.reduction_param
    layer = CaffeReduction(operation=_REDUCTIONS[p.operation], axis=p.axis, coeff=p.coeff,
                           name=ctx.keras_name)
    return in_caffe_order(ctx, x, layer)


def _argmax_shape(layer, bottoms):
    """Caffe's ArgMax tops; ``top_k`` is bounded as Caffe's LayerSetUp bounds it: by the
    size of the axis, or of one item when no axis is given."""
    p = layer.argmax_param
    shape = bottoms[0]
    if p.HasField("axis"):
        axis = layout.normalize_axis(p.axis, len(shape))
        _check_top_k(layer, shape[axis], f"the size of axis {p.axis}")
        return [tuple(shape[:axis]) + (p.top_k,) + tuple(shape[axis + 1:])]
    _check_top_k(layer, known_count(shape[1:]), "the values of one item")
    return [(shape[0], 2 if p.out_max_val else 1, p.top_k)]


def _check_top_k(layer, size, what: str) -> None:
    if size is not None:
        check_field(layer, "argmax_param.top_k", layer.argmax_param.top_k, size,
                    f"Caffe: top_k must not exceed {what}")


@register("ArgMax", shape=_argmax_shape, float32=True)
def argmax(ctx, x):
    p = ctx.param.argmax_param
    layer = CaffeArgMax(top_k=p.top_k, out_max_val=p.out_max_val,
                        axis=p.axis if p.HasField("axis") else None, name=ctx.keras_name)
    return in_caffe_order(ctx, x, layer)


def _accuracy_shape(layer, bottoms):
    shapes = [()]
    if len(layer.top) > 1:
        axis = layout.normalize_axis(layer.accuracy_param.axis, len(bottoms[0]))
        shapes.append((bottoms[0][axis],))
    return shapes


def _accuracy_ignore(layer):
    p = layer.accuracy_param
    return p.ignore_label if p.HasField("ignore_label") else None


@register("Accuracy", bottoms=2, tops=(1, 2), shape=_accuracy_shape, float32=True,
          classes=classes_along("accuracy_param"), ignore_label=_accuracy_ignore)
def accuracy(ctx, scores, labels):
    p = ctx.param.accuracy_param
    per_class = len(ctx.node.tops) > 1
    classes = ctx.bottom_shapes[0][layout.normalize_axis(p.axis, ctx.rank(0))]
    layer = ctx.add(CaffeAccuracy(top_k=p.top_k, axis=p.axis,
                                  ignore_label=_accuracy_ignore(ctx.param),
                                  per_class=per_class, num_classes=classes, name=ctx.keras_name))
    out = layer(caffe_ordered(ctx, (scores, labels), ("scores", "labels")))
    return list(out) if per_class else out
