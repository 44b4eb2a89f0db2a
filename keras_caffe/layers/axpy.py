"""SENet's Axpy layer: a channel-wise scale and an element-wise sum in one layer."""

from __future__ import annotations

import keras
from keras import ops

from keras_caffe.layers._utils import canonical_axis, check_int


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeAxpy(keras.layers.Layer):
    """SENet's `Axpy` (hujie-frank/SENet): `call([a, x, y])` -> `a * x + y`.

    `x` and `y` have one shape `(N, ..., C, ...)` with the channels at `axis`; `a` holds one
    factor per item and channel (`N x C` values: Caffe's `N x C` or `N x C x 1 x 1`, in any
    layout, since the other axes are 1), broadcast over the rest of `x`.  The gradients are
    SENet's: `a` gets the sum of `top_diff * x` over each channel, `x` gets `a * top_diff`,
    `y` gets `top_diff`.

    Args:
        axis: the channel axis of `x` (an internal axis), default -1.

    Example:

    >>> a = np.full((2, 1, 1, 3), 2.0, "float32")
    >>> x, y = np.ones((2, 4, 4, 3), "float32"), np.ones((2, 4, 4, 3), "float32")
    >>> CaffeAxpy(axis=-1)([a, x, y])[0, 0, 0]  # [3., 3., 3.]
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = check_int(axis, "axis")

    def _shapes(self, input_shape):
        if not (isinstance(input_shape, (list, tuple)) and len(input_shape) == 3):
            raise ValueError(f"CaffeAxpy takes [a, x, y], got input_shape={input_shape!r}.")
        a, x, y = (tuple(s) for s in input_shape)
        if len(x) != len(y) or any(p is not None and q is not None and p != q
                                   for p, q in zip(x, y)):
            raise ValueError(f"CaffeAxpy: x and y must have one shape, got {x} and {y}.")
        return a, x

    def build(self, input_shape):
        _, x = self._shapes(input_shape)
        self._axis = canonical_axis(self.axis, len(x))
        if x[self._axis] is None:
            raise ValueError(f"CaffeAxpy needs a known size at axis={self.axis}, got x shape {x}.")
        self._channels = int(x[self._axis])

    def call(self, inputs):
        a, x, y = inputs
        shape = [-1] + [1] * (len(x.shape) - 1)
        shape[self._axis] = self._channels
        a = ops.reshape(ops.cast(a, x.dtype), shape)
        return ops.add(ops.multiply(a, x), ops.cast(y, x.dtype))

    def compute_output_shape(self, input_shape):
        return self._shapes(input_shape)[1]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
