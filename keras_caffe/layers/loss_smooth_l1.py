"""Fast R-CNN's SmoothL1Loss layer (on tensors in Caffe axis order)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_caffe.layers._loss import CaffeLossLayer, static_product
from keras_caffe.layers._utils import check_number


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeSmoothL1Loss(CaffeLossLayer):
    """Fast R-CNN's `SmoothL1Loss` (rbgirshick/caffe-fast-rcnn): `call([pred, target])` or
    `call([pred, target, inside, outside])` -> a 0-d loss.

        d = inside * (pred - target)
        f(d) = 0.5 * sigma^2 * d^2     if |d| < 1 / sigma^2
               |d| - 0.5 / sigma^2     otherwise
        loss = sum(outside * f(d)) / N            N = pred.shape[0]

    The weights default to 1. Every input is read in `pred`'s element order (Caffe checks
    channels, height and width). Gradients go to `pred` and `target` (Caffe's backward;
    its `f'` at `|d| = 1 / sigma^2` is `sign(d)`, as here); the weights are not
    differentiated (mark them as labels). Works with unknown dims.

    Args:
        sigma: default 1.

    Example:

    >>> pred, target = np.array([[0.5, 3.0]], "float32"), np.zeros((1, 2), "float32")
    >>> CaffeSmoothL1Loss()([pred, target])  # 0.125 + 2.5 = 2.625
    """

    _inputs = (2, 4)
    _input_names = "[pred, target] or [pred, target, inside_weights, outside_weights]"

    def __init__(self, sigma=1.0, **kwargs):
        super().__init__(**kwargs)
        self.sigma = check_number(sigma, "sigma")

    def build(self, input_shape):
        shapes = self._split(input_shape)
        count = static_product(shapes[0])
        for name, shape in zip(("target", "inside_weights", "outside_weights"), shapes[1:]):
            self._check_count(shape, count, f"{name} for pred {shapes[0]}")

    def call(self, inputs):
        pred = inputs[0]
        shape = ops.shape(pred)
        others = [ops.cast(ops.reshape(x, shape), pred.dtype) for x in inputs[1:]]
        diff = ops.subtract(pred, others[0])
        if len(others) == 3:
            diff = ops.multiply(ops.stop_gradient(others[1]), diff)
        sigma2 = np.float32(self.sigma) * np.float32(self.sigma)
        absd = ops.abs(diff)
        quadratic = ops.multiply(ops.multiply(np.float32(0.5), ops.square(diff)), sigma2)
        linear = ops.subtract(absd, np.float32(0.5 / float(sigma2)))
        errors = ops.where(_below(absd, 1.0 / float(sigma2)), quadratic, linear)
        if len(others) == 3:
            errors = ops.multiply(ops.stop_gradient(others[2]), errors)
        return ops.divide(ops.sum(errors), ops.cast(shape[0], errors.dtype))

    def get_config(self):
        return {**super().get_config(), "sigma": self.sigma}


def _below(x, bound: float):
    """``x < bound`` for float32 ``x`` and a double ``bound``, exactly as C compares them:
    against the float32 nearest ``bound``, or up to it when that lies below ``bound``."""
    nearest = np.float32(bound)
    return ops.less_equal(x, nearest) if float(nearest) < bound else ops.less(x, nearest)
