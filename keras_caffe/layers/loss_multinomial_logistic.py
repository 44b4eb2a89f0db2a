"""Caffe's MultinomialLogisticLoss layer (on tensors in Caffe axis order)."""

from __future__ import annotations

import keras
from keras import ops

from keras_caffe.layers._loss import (
    LOG_THRESHOLD,
    CaffeLossLayer,
    floor_with_identity_gradient,
    sample_rows,
)


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeMultinomialLogisticLoss(CaffeLossLayer):
    """Caffe's `MultinomialLogisticLoss`: `call([probs, labels])` -> a 0-d loss.

    `probs` `(N, ...)` (already probabilities, e.g. a Softmax output) is flattened to
    `(N, K)`; `labels` holds one class per sample (`(N,)` or `(N, 1, 1, 1)`), floats
    truncated toward zero:

        loss = -sum_n log(max(probs[n, label[n]], 1e-20)) / N

    No normalization or ignore_label (Caffe ignores loss_param here). The gradient
    is Caffe's: `-1 / (N * max(p, 1e-20))` at the label entry and 0 elsewhere -- the
    floored value divides even where `p < 1e-20`, where plain autodiff of the max
    would give 0. A label outside `[0, K)` reads `p = 0`. Works with unknown dims.

    Example:

    >>> probs = np.full((2, 4), 0.25, "float32")
    >>> CaffeMultinomialLogisticLoss()([probs, np.array([1, 3], "float32")])  # log 4
    """

    _input_names = "[probs, labels]"

    def build(self, input_shape):
        _, labels_shape = self._split(input_shape)
        self._check_count(labels_shape[1:], 1, "labels (one per sample)")

    def call(self, inputs):
        probs, labels = inputs
        probs, is_label = sample_rows(probs, labels)
        picked = ops.sum(ops.where(is_label, probs, ops.zeros_like(probs)), axis=1)
        # Value max(p, 1e-20); gradient of log at that value (Caffe's scale / prob).
        total = -ops.sum(ops.log(floor_with_identity_gradient(picked, LOG_THRESHOLD)))
        return ops.divide(total, ops.cast(ops.shape(probs)[0], total.dtype))
