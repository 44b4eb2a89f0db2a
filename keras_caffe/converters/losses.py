"""Loss layers, with Caffe's normalization rules read from the prototxt.

The loss value is what the layer's top holds; its ``loss_weight`` is applied by the model
builder (the same way for every top), not here.
"""

from __future__ import annotations

import os

from ..graph import layout
from ..layers import (CaffeContrastiveLoss, CaffeEuclideanLoss, CaffeHingeLoss, CaffeInfogainLoss,
                      CaffeMultinomialLogisticLoss, CaffeSigmoidCrossEntropyLoss,
                      CaffeSoftmaxWithLoss)
from ..proto import caffe_pb2
from ..proto.binary import read_blob
from .registry import classes_along, register
from .shape import caffe_ordered

_NORMALIZATION = {caffe_pb2.LossParameter.FULL: "full", caffe_pb2.LossParameter.VALID: "valid",
                  caffe_pb2.LossParameter.BATCH_SIZE: "batch_size",
                  caffe_pb2.LossParameter.NONE: "none"}


def normalization(layer, default: str) -> str:
    """``normalization`` if given, else the legacy ``normalize`` (true: VALID, false:
    BATCH_SIZE), else the type's own default."""
    p = layer.loss_param
    if p.HasField("normalization"):
        return _NORMALIZATION[p.normalization]
    if p.HasField("normalize"):
        return "valid" if p.normalize else "batch_size"
    return default


def ignore_label(layer):
    p = layer.loss_param
    return p.ignore_label if p.HasField("ignore_label") else None


def _loss_shape(layer, bottoms):
    return [()]


def _loss_and_prob_shape(layer, bottoms):
    return [()] + [bottoms[0]] * (len(layer.top) - 1)


@register("SoftmaxWithLoss", bottoms=2, tops=(1, 2), shape=_loss_and_prob_shape, loss=True,
          labels=(1,), classes=classes_along("softmax_param"), ignore_label=ignore_label)
def softmax_with_loss(ctx, scores, labels):
    if len(ctx.node.tops) > 1:
        raise ctx.error("a second (prob) top is not supported: Caffe itself refuses it "
                        "('loss_weight must be unspecified or specified once per top blob')")
    layer = CaffeSoftmaxWithLoss(axis=ctx.param.softmax_param.axis,
                                 ignore_label=ignore_label(ctx.param),
                                 normalization=normalization(ctx.param, "valid"),
                                 class_weights=_class_weights(ctx), name=ctx.keras_name)
    return ctx.add(layer)(caffe_ordered(ctx, [scores, labels]))


def _class_weights(ctx):
    """SegNet's ``weight_by_label_freqs``: one ``class_weighting`` per class (its check)."""
    p = ctx.param.loss_param
    if not p.weight_by_label_freqs:
        return None
    shape, axis = ctx.bottom_shapes[0], ctx.param.softmax_param.axis
    classes = shape[axis] if -len(shape) <= axis < len(shape) else None
    if classes is not None and len(p.class_weighting) != classes:
        raise ctx.error(f"weight_by_label_freqs needs one class_weighting per class: "
                        f"{len(p.class_weighting)} for {classes} classes (SegNet's check)")
    return list(p.class_weighting)


@register("SigmoidCrossEntropyLoss", bottoms=2, shape=_loss_shape, loss=True, labels=(1,))
def sigmoid_cross_entropy_loss(ctx, x, targets):
    # Caffe's code (not the proto default) makes BATCH_SIZE the default here.
    layer = CaffeSigmoidCrossEntropyLoss(ignore_label=ignore_label(ctx.param),
                                         normalization=normalization(ctx.param, "batch_size"),
                                         name=ctx.keras_name)
    return ctx.add(layer)(caffe_ordered(ctx, [x, targets]))


@register("EuclideanLoss", bottoms=2, shape=_loss_shape, loss=True)
def euclidean_loss(ctx, a, b):
    return ctx.add(CaffeEuclideanLoss(name=ctx.keras_name))(caffe_ordered(ctx, [a, b]))


@register("HingeLoss", bottoms=2, shape=_loss_shape, loss=True, labels=(1,),
          classes=classes_along())
def hinge_loss(ctx, scores, labels):
    norm = "l2" if ctx.param.hinge_loss_param.norm == caffe_pb2.HingeLossParameter.L2 else "l1"
    return ctx.add(CaffeHingeLoss(norm=norm, name=ctx.keras_name))(caffe_ordered(ctx, [scores, labels]))


@register("MultinomialLogisticLoss", bottoms=2, shape=_loss_shape, loss=True, labels=(1,),
          classes=classes_along())
def multinomial_logistic_loss(ctx, probs, labels):
    layer = CaffeMultinomialLogisticLoss(name=ctx.keras_name)
    return ctx.add(layer)(caffe_ordered(ctx, [probs, labels]))


@register("ContrastiveLoss", bottoms=3, shape=_loss_shape, loss=True, labels=(2,))
def contrastive_loss(ctx, a, b, similar):
    p = ctx.param.contrastive_loss_param
    layer = CaffeContrastiveLoss(margin=p.margin, legacy_version=p.legacy_version, name=ctx.keras_name)
    return ctx.add(layer)(caffe_ordered(ctx, [a, b, similar]))


@register("InfogainLoss", bottoms=(2, 3), tops=(1, 2), shape=_loss_and_prob_shape, loss=True,
          labels=(1, 2), classes=classes_along("infogain_loss_param"), ignore_label=ignore_label)
def infogain_loss(ctx, *xs):
    if ctx.param.loss_param.HasField("normalize"):
        raise ctx.error("InfogainLoss does not accept the deprecated 'normalize' (Caffe aborts); "
                        "use loss_param { normalization: ... }")
    p = ctx.param.infogain_loss_param
    matrix = None
    if len(xs) == 2:
        if not p.source:
            raise ctx.error("needs the infogain matrix H: infogain_loss_param { source: ... } or a "
                            "third bottom")
        if not os.path.isfile(p.source):
            raise ctx.error(f"infogain matrix file '{p.source}' not found (Caffe reads it relative "
                            f"to the working directory, here {os.getcwd()})")
        matrix = read_blob(p.source)
    layer = CaffeInfogainLoss(axis=p.axis, infogain=matrix, ignore_label=ignore_label(ctx.param),
                              normalization=normalization(ctx.param, "valid"),
                              return_prob=len(ctx.node.tops) > 1, name=ctx.keras_name)
    out = ctx.add(layer)(caffe_ordered(ctx, xs))
    if len(ctx.node.tops) > 1:
        loss, prob = out
        return [loss, layout.from_caffe_order(prob, ctx.helper_name("prob_from_caffe"))]
    return out
