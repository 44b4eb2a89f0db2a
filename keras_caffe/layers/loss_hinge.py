"""Caffe's HingeLoss layer (on tensors in Caffe axis order)."""

from __future__ import annotations

import keras
from keras import ops

from keras_caffe.layers._loss import CaffeLossLayer, sample_rows
from keras_caffe.layers._utils import check_choice

_NORMS = ("l1", "l2")


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeHingeLoss(CaffeLossLayer):
    """Caffe's `HingeLoss` (one-vs-all): `call([scores, labels])` -> a 0-d loss.

    `scores` `(N, ...)` is flattened to `(N, K)`; `labels` holds one class per sample
    (`(N,)` or `(N, 1, 1, 1)`), floats truncated toward zero. With `t[n, k] = +1` for
    the label and `-1` otherwise:

        m[n, k] = max(0, 1 - t[n, k] * scores[n, k])
        l1: loss = sum(m) / N          l2: loss = sum(m^2) / N

    Caffe has no normalization option here (always / N). The gradient is Caffe's:
    `-t * [m > 0] / N` (l1), `-2 * t * m / N` (l2). A label outside `[0, K)` makes
    every entry of that sample use `t = -1` (Caffe writes out of bounds there).
    Works with unknown dims, the batch included.

    Args:
        norm: `"l1"` (default) or `"l2"`.

    Example:

    >>> scores = np.random.randn(4, 5).astype("float32")
    >>> labels = np.array([0, 3, 4, 1], "float32")
    >>> CaffeHingeLoss("l2")([scores, labels])
    """

    _input_names = "[scores, labels]"

    def __init__(self, norm="l1", **kwargs):
        super().__init__(**kwargs)
        self.norm = check_choice(norm, "norm", _NORMS)

    def build(self, input_shape):
        scores_shape, labels_shape = self._split(input_shape)
        self._check_count(labels_shape[1:], 1, "labels (one per sample)")

    def call(self, inputs):
        scores, labels = inputs
        scores, is_label = sample_rows(scores, labels)
        signed = ops.where(is_label, ops.negative(scores), scores)  # -t * x
        margin = ops.relu(ops.add(signed, 1.0))
        total = ops.sum(margin if self.norm == "l1" else ops.square(margin))
        return ops.divide(total, ops.cast(ops.shape(scores)[0], total.dtype))

    def get_config(self):
        config = super().get_config()
        config.update({"norm": self.norm})
        return config
