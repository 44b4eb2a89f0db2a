"""Element-wise layers: ReLU, PReLU, ELU, Sigmoid, TanH, AbsVal, Power, Exp, Log, BNLL,
Threshold, Clip, Swish, Dropout and Softmax; the MobileNetV2 ports' ReLU6."""

from __future__ import annotations

import keras

from ..graph import layout
from ..layers import (CaffeAbsVal, CaffeBNLL, CaffeClip, CaffeDropout, CaffeExp, CaffeLog,
                      CaffePower, CaffeSwish, CaffeThreshold)
from ..graph.shapes import same
from ..proto import caffe_pb2
from ..weights.layouts import Flattened
from .registry import filler_or, register


@register("ReLU", shape=same)
def relu(ctx, x):
    slope = ctx.param.relu_param.negative_slope
    return ctx.add(keras.layers.ReLU(negative_slope=slope, name=ctx.keras_name))(x)


@register("ReLU6", shape=same, origin="MobileNetV2 ports")
def relu6(ctx, x):
    """``min(max(x, 0) + negative_slope * min(x, 0), 6)`` (``relu6_param``), Keras's ReLU with
    ``max_value`` 6: the same for any slope >= 0 (the gradient at exactly 0 is 0 here,
    the slope in the port)."""
    slope = ctx.param.relu6_param.negative_slope
    if slope < 0:
        raise ctx.error(f"relu6_param.negative_slope must be >= 0 here, got {slope}")
    return ctx.add(keras.layers.ReLU(max_value=6.0, negative_slope=slope, name=ctx.keras_name))(x)


def _prelu_params(layer, bottoms):
    """One slope per channel, or one slope in a blob without axes (``channel_shared``)."""
    return [()] if layer.prelu_param.channel_shared else [(bottoms[0][1],)]


@register("PReLU", shape=same, params=_prelu_params,
          fillers=lambda layer, n: [filler_or(layer.prelu_param, "filler", 0.25)])
def prelu(ctx, x):
    rank = ctx.rank(0)
    if rank < 2:
        raise ctx.error(f"PReLU needs a bottom with a channel axis, got shape {ctx.bottom_shapes[0]}")
    channel = layout.internal_axis(1, rank)
    if ctx.param.prelu_param.channel_shared:
        shared = list(range(1, rank))
    else:
        shared = [a for a in range(1, rank) if a != channel]
    layer = keras.layers.PReLU(shared_axes=shared or None, name=ctx.keras_name)
    # Caffe keeps the slopes as one vector, or a channel-shared slope in a blob with no axes.
    return ctx.add(layer, holds_params=True,
                   layouts=(Flattened(scalar=bool(ctx.param.prelu_param.channel_shared)),))(x)


@register("ELU", shape=same)
def elu(ctx, x):
    return ctx.add(keras.layers.ELU(alpha=ctx.param.elu_param.alpha, name=ctx.keras_name))(x)


@register("Sigmoid", shape=same)
def sigmoid(ctx, x):
    return ctx.add(keras.layers.Activation("sigmoid", name=ctx.keras_name))(x)


@register("TanH", shape=same)
def tanh(ctx, x):
    return ctx.add(keras.layers.Activation("tanh", name=ctx.keras_name))(x)


@register("AbsVal", shape=same)
def absval(ctx, x):
    return ctx.add(CaffeAbsVal(name=ctx.keras_name))(x)


@register("BNLL", shape=same)
def bnll(ctx, x):
    return ctx.add(CaffeBNLL(name=ctx.keras_name))(x)


@register("Power", shape=same)
def power(ctx, x):
    p = ctx.param.power_param
    return ctx.add(CaffePower(power=p.power, scale=p.scale, shift=p.shift, name=ctx.keras_name))(x)


@register("Exp", shape=same)
def exp(ctx, x):
    p = ctx.param.exp_param
    return ctx.add(CaffeExp(base=p.base, scale=p.scale, shift=p.shift, name=ctx.keras_name))(x)


@register("Log", shape=same)
def log(ctx, x):
    p = ctx.param.log_param
    return ctx.add(CaffeLog(base=p.base, scale=p.scale, shift=p.shift, name=ctx.keras_name))(x)


@register("Threshold", shape=same)
def threshold(ctx, x):
    return ctx.add(CaffeThreshold(threshold=ctx.param.threshold_param.threshold,
                                  name=ctx.keras_name))(x)


@register("Clip", shape=same)
def clip(ctx, x):
    p = ctx.param.clip_param
    return ctx.add(CaffeClip(min=p.min, max=p.max, name=ctx.keras_name))(x)


@register("Swish", shape=same)
def swish(ctx, x):
    return ctx.add(CaffeSwish(beta=ctx.param.swish_param.beta, name=ctx.keras_name))(x)


@register("Dropout", shape=same)
def dropout(ctx, x):
    p = ctx.param.dropout_param
    ratio = p.dropout_ratio
    if not 0.0 <= ratio < 1.0:
        raise ctx.error(f"dropout_ratio must be in [0, 1), got {ratio}")
    if not p.scale_train or p.sample_weights_test:
        # Fast R-CNN's scale at TEST time, Bayesian SegNet's dropout at TEST time.
        if not p.scale_train and p.sample_weights_test:
            raise ctx.error("scale_train: false (Fast R-CNN) with sample_weights_test: true "
                            "(Bayesian SegNet) is not supported: say one or the other")
        return ctx.add(CaffeDropout(ratio, scale_train=p.scale_train,
                                    test_dropout=p.sample_weights_test, name=ctx.keras_name))(x)
    # Caffe's dropout is inverted (TRAIN scales by 1/(1 - p), TEST is the identity), as Keras's.
    return ctx.add(keras.layers.Dropout(ratio, name=ctx.keras_name))(x)


@register("Softmax", shape=same, float32=True)
def softmax(ctx, x):
    p = ctx.param.softmax_param
    if p.engine not in (caffe_pb2.SoftmaxParameter.DEFAULT, caffe_pb2.SoftmaxParameter.CAFFE,
                        caffe_pb2.SoftmaxParameter.CUDNN):
        raise ctx.error(f"unknown softmax engine {p.engine}")
    return ctx.add(keras.layers.Softmax(axis=ctx.axis(p.axis), name=ctx.keras_name))(x)
