"""Caffe's Filter layer."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeFilter(keras.layers.Layer):
    """Caffe's `Filter` layer: `call([x_1, ..., x_K, selector])` keeps the samples whose
    selector value is non-zero, in order, in every `x_k`.

    The selector has one value per sample (shape `(N,)` or `(N, 1, ..., 1)`); the outputs
    have as many samples as it has non-zero values, so their batch axis is dynamic (the
    batch axis is axis 0 in every layout). The gradient flows back to the kept samples and
    is zero for the dropped ones, as in Caffe's backward; the selector gets none (Caffe
    refuses to backpropagate to it). The data-dependent size keeps it out of XLA.

    Example:

    >>> x = np.arange(3, dtype="float32").reshape(3, 1)
    >>> CaffeFilter()([x, np.array([1.0, 0.0, 2.0], "float32")])  # [[0], [2]]
    """

    def _shapes(self, input_shape):
        if not (isinstance(input_shape, (list, tuple)) and len(input_shape) >= 2
                and all(isinstance(s, (list, tuple)) for s in input_shape)):
            raise ValueError("CaffeFilter takes inputs [x_1, ..., x_K, selector], got "
                             f"input_shape={input_shape!r}.")
        shapes = [tuple(s) for s in input_shape]
        selector = shapes[-1]
        if len(selector) < 1 or any(d not in (1, None) for d in selector[1:]):
            raise ValueError(f"CaffeFilter: the selector must hold one value per sample "
                             f"(shape (N,) or (N, 1, ...)), got shape {selector}.")
        for s in shapes[:-1]:
            if len(s) < 1:
                raise ValueError("CaffeFilter: every input needs a batch axis.")
            if None not in (s[0], selector[0]) and s[0] != selector[0]:
                raise ValueError(f"CaffeFilter: an input has {s[0]} samples but the selector "
                                 f"{selector[0]}.")
        return shapes

    def build(self, input_shape):
        self._shapes(input_shape)

    def call(self, inputs):
        *xs, selector = inputs
        keep = ops.not_equal(ops.reshape(selector, (-1,)), 0)
        index = ops.reshape(ops.nonzero(keep)[0], (-1,))
        out = [ops.take(x, index, axis=0) for x in xs]
        return out[0] if len(out) == 1 else out

    def compute_output_shape(self, input_shape):
        out = [(None,) + s[1:] for s in self._shapes(input_shape)[:-1]]
        return out[0] if len(out) == 1 else out
