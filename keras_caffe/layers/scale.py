"""Caffe's Scale layer."""

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
class CaffeScale(keras.layers.Layer):
    """Caffe's `Scale` layer: `y = x * s (+ b)`, with `s` broadcast over `x`.

    The dims of `s` map, in order, onto the internal axes `axes` of `x`; they may be
    given in any order (Caffe axes C, H, W of an NHWC tensor are `(3, 1, 2)`), may
    include axis 0 in the two-input form, and an empty `axes` makes `s` a scalar.

    * Learned form (`learned=True`, one input): weight `scale` of shape
      `tuple(x.shape[a] for a in axes)` (Caffe's blob shape), default 1.
    * Two-input form (`learned=False`): `call([x, s])` with `s` of that shape.

    With `bias_term=True` a learned weight `bias` of the same shape (default 0) is
    added after the product, in either form.

    Args:
        axes: internal axes of `x` that the dims of `s` map onto, default `(-1,)`.
        bias_term: add a learned bias, default False.
        learned: learn `s` (one input) or take it as a second input. Default True.
        scale_initializer: initializer of `scale`, default `"ones"`.
        bias_initializer: initializer of `bias`, default `"zeros"`.

    Example:

    >>> x = np.ones((2, 4, 5, 3), "float32")
    >>> layer = CaffeScale(axes=(3, 1), bias_term=True)  # Caffe blob (C, H) = (3, 4)
    >>> layer(x).shape, layer.scale.shape
    """

    def __init__(self, axes=(-1,), bias_term=False, learned=True,
                 scale_initializer="ones", bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.axes = check_int_tuple(axes, "axes", unique=True)
        self.bias_term = check_bool(bias_term, "bias_term")
        self.learned = check_bool(learned, "learned")
        self.scale_initializer = keras.initializers.get(scale_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        x_shape, s_shape = split_inputs(input_shape, self.learned, "CaffeScale")
        self._rank = len(x_shape)
        self._axes = canonical_axes(self.axes, self._rank)
        if self.learned:
            shape = param_shape_for(x_shape, None, self._axes, "CaffeScale", True)
            self.scale = self.add_weight(name="scale", shape=shape,
                                         initializer=self.scale_initializer)
        else:
            shape = param_shape_for(x_shape, s_shape, self._axes, "CaffeScale",
                                    self.bias_term)
        if self.bias_term:
            self.bias = self.add_weight(name="bias", shape=shape,
                                        initializer=self.bias_initializer)

    def call(self, inputs):
        if self.learned:
            x, s = inputs, ops.convert_to_tensor(self.scale)
        else:
            x, s = inputs
        y = ops.multiply(x, broadcast_to_axes(ops.cast(s, x.dtype), self._axes,
                                              self._rank))
        if self.bias_term:
            b = ops.cast(ops.convert_to_tensor(self.bias), x.dtype)
            y = broadcast_add(y, broadcast_to_axes(b, self._axes, self._rank))
        return y

    def compute_output_shape(self, input_shape):
        x_shape, _ = split_inputs(input_shape, self.learned, "CaffeScale")
        return x_shape

    def get_config(self):
        config = super().get_config()
        config.update({
            "axes": list(self.axes),
            "bias_term": self.bias_term,
            "learned": self.learned,
            "scale_initializer": keras.initializers.serialize(self.scale_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config
