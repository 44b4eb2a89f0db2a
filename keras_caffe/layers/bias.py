"""Caffe's Bias layer."""

from __future__ import annotations

import keras
from keras import ops

from keras_caffe.layers._utils import (
    broadcast_add,
    broadcast_to_axes,
    canonical_axes,
    check_bool,
    check_int_tuple,
    param_shape_for,
    split_inputs,
)


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeBias(keras.layers.Layer):
    """Caffe's `Bias` layer: `y = x + b`, with `b` broadcast over `x`.

    The dims of `b` map, in order, onto the internal axes `axes` of `x` (any order,
    may include axis 0 in the two-input form; empty `axes` = a scalar).

    * Learned form (`learned=True`, one input): weight `bias` of shape
      `tuple(x.shape[a] for a in axes)` (Caffe's blob shape), default 0.
    * Two-input form (`learned=False`): `call([x, b])` with `b` of that shape.

    Args:
        axes: internal axes of `x` that the dims of `b` map onto, default `(-1,)`.
        learned: learn `b` (one input) or take it as a second input. Default True.
        bias_initializer: initializer of `bias`, default `"zeros"`.

    Example:

    >>> x = np.zeros((2, 4, 5, 3), "float32")
    >>> CaffeBias(axes=(3,))(x).shape
    """

    def __init__(self, axes=(-1,), learned=True, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.axes = check_int_tuple(axes, "axes", unique=True)
        self.learned = check_bool(learned, "learned")
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        x_shape, b_shape = split_inputs(input_shape, self.learned, "CaffeBias")
        self._rank = len(x_shape)
        self._axes = canonical_axes(self.axes, self._rank)
        shape = param_shape_for(x_shape, b_shape, self._axes, "CaffeBias", self.learned)
        if self.learned:
            self.bias = self.add_weight(name="bias", shape=shape,
                                        initializer=self.bias_initializer)

    def call(self, inputs):
        if self.learned:
            x, b = inputs, ops.convert_to_tensor(self.bias)
        else:
            x, b = inputs
        return broadcast_add(x, broadcast_to_axes(ops.cast(b, x.dtype), self._axes, self._rank))

    def compute_output_shape(self, input_shape):
        x_shape, _ = split_inputs(input_shape, self.learned, "CaffeBias")
        return x_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "axes": list(self.axes),
            "learned": self.learned,
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config
