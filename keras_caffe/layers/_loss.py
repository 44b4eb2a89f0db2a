"""Pieces shared by the Caffe loss layers (private: nothing here is a public layer).

Every loss layer takes a list of tensors in Caffe's axis order and returns a 0-d
scalar whose autodiff gradient is Caffe's analytic backward. Where Caffe clamps a
value in the forward pass but its backward ignores the clamp (or uses the clamped
value in a way plain autodiff would not), `floor_with_identity_gradient` keeps
Caffe's forward value while passing the gradient through unchanged.
"""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_caffe.layers._utils import FLT_MIN, check_choice, check_int

# Caffe's kLOG_THRESHOLD (loss_layer.hpp), the floor before a log in the
# MultinomialLogistic and Infogain losses.
LOG_THRESHOLD = float(np.float32(1e-20))
LOG_FLT_MIN = float(np.log(np.float32(FLT_MIN)))
LOG_LOG_THRESHOLD = float(np.log(np.float32(LOG_THRESHOLD)))

# LossParameter.NormalizationMode, lower case.
NORMALIZATIONS = ("full", "valid", "batch_size", "none")


def check_normalization(value) -> str:
    return check_choice(value, "normalization", NORMALIZATIONS)


def check_ignore_label(value):
    return None if value is None else check_int(value, "ignore_label")


def product(dims):
    """Product of dims that may mix ints and dynamic (tensor) sizes."""
    out = 1
    for dim in dims:
        out = out * dim
    return out


def static_product(dims):
    """Product of static dims, or None when one is unknown."""
    return None if any(d is None for d in dims) else math.prod(dims)


def normalizer(mode: str, outer, inner, valid_count, dtype):
    """Caffe's GetNormalizer: the divisor of the summed loss, at least 1.

    full: outer * inner; valid: `valid_count` (outer * inner when None);
    batch_size: outer; none: 1.
    """
    if mode == "full" or (mode == "valid" and valid_count is None):
        value = outer * inner
    elif mode == "valid":
        value = valid_count
    elif mode == "batch_size":
        value = outer
    else:
        value = 1
    return ops.maximum(ops.cast(value, dtype), ops.cast(1.0, dtype))


def floor_with_identity_gradient(x, floor: float):
    """`max(x, floor)` in value, `x` in gradient (the clamp is invisible to autodiff)."""
    return ops.add(x, ops.stop_gradient(ops.subtract(ops.maximum(x, floor), x)))


def int_labels(labels, shape):
    """Float labels as int32 of `shape`, truncated toward zero like `static_cast<int>`."""
    return ops.cast(ops.reshape(labels, shape), "int32")


def not_ignored(labels, ignore_label):
    """Boolean mask of labels that count (all of them without an ignore_label)."""
    if ignore_label is None:
        return ops.ones_like(labels, dtype="bool")
    return ops.not_equal(labels, ignore_label)


def sample_rows(x, labels):
    """``x`` as ``(N, dim)`` rows (one per sample, Caffe's ``count / num``) and the bool mask
    of each row's label -- how HingeLoss and MultinomialLogisticLoss read their inputs."""
    shape = ops.shape(x)
    num, dim = shape[0], product(shape[1:])
    return ops.reshape(x, (num, dim)), class_mask(int_labels(labels, (num,)), dim, 1)


def class_mask(labels, classes, axis):
    """Boolean one-hot of int `labels` along a new `axis`, False for labels out of range."""
    ids = ops.arange(classes, dtype="int32")
    shape = [1] * (len(labels.shape) + 1)
    shape[axis] = -1
    return ops.equal(ops.reshape(ids, shape), ops.expand_dims(labels, axis))


class CaffeLossLayer(keras.layers.Layer):
    """Base of the Caffe loss layers: checks the input count, outputs a 0-d scalar.

    Subclasses set `_inputs` (accepted input counts, e.g. `(2,)` or `(2, 3)`) and
    `_input_names` (for messages), and implement `call`.
    """

    _inputs = (2,)
    _input_names = "[predictions, labels]"

    def _split(self, input_shape):
        is_list = (isinstance(input_shape, (list, tuple)) and len(input_shape) > 0
                   and isinstance(input_shape[0], (list, tuple)))
        if not is_list or len(input_shape) not in self._inputs:
            raise ValueError(
                f"{type(self).__name__} takes the inputs {self._input_names}, got "
                f"input_shape={input_shape!r}.")
        return [tuple(s) for s in input_shape]

    def _check_count(self, shape, expected, what):
        """Raise unless the static element count of `shape` equals `expected`."""
        count = static_product(shape)
        if count is not None and expected is not None and count != expected:
            raise ValueError(
                f"{type(self).__name__}: {what} of shape {tuple(shape)} has {count} "
                f"elements, expected {expected}.")

    def compute_output_shape(self, input_shape):
        self._split(input_shape)
        return ()
