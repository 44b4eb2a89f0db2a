"""Caffe's SoftmaxWithLoss layer (on tensors in Caffe axis order)."""

from __future__ import annotations

import keras
from keras import ops

from keras_caffe.layers._loss import (
    LOG_FLT_MIN,
    CaffeLossLayer,
    check_ignore_label,
    check_normalization,
    class_mask,
    floor_with_identity_gradient,
    int_labels,
    normalizer,
    not_ignored,
    product,
    static_product,
)
from keras_caffe.layers._utils import canonical_axis, check_int


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeSoftmaxWithLoss(CaffeLossLayer):
    """Caffe's `SoftmaxWithLoss`: `call([scores, labels])` -> a 0-d loss.

    `scores` is in Caffe axis order and read as `(outer, C, inner)` around `axis`
    (`outer = prod(shape[:axis])`, `inner = prod(shape[axis + 1:])`); `labels` is any
    shape with `outer * inner` entries (`(N,)`, `(N, H, W)`, `(N, 1, H, W)`), floats
    truncated toward zero. With `p = softmax(scores, axis)`:

        loss = -sum_{i, j not ignored} log(max(p[i, label[i, j], j], FLT_MIN)) / norm

    `norm` is Caffe's GetNormalizer, always at least 1:
    `"valid"` = number of labels not equal to `ignore_label` (default),
    `"batch_size"` = outer, `"full"` = outer * inner (ignored positions included),
    `"none"` = 1. (Caffe's legacy `normalize: false` is `"batch_size"`,
    `normalize: true` is `"valid"`.)

    With `class_weights` (SegNet's `weight_by_label_freqs` with its `class_weighting`, one
    weight per class) each position's term is multiplied by `class_weights[label]`, and
    so is its gradient; `norm` is unchanged (SegNet still divides by the count).

    The gradient is Caffe's `(p - onehot(label)) / norm`, zero at ignored positions:
    the FLT_MIN floor changes the value only, as in Caffe's backward. A label outside
    `[0, C)` that is not ignored (undefined in Caffe) adds 0 and is counted.
    Works with unknown dims, the batch included.

    Args:
        axis: the class axis of `scores` (Caffe's `softmax_param.axis`), default 1.
        ignore_label: int label to skip, or None (default).
        normalization: `"valid"` (default), `"batch_size"`, `"full"` or `"none"`.
        class_weights: None (default) or one float per class.

    Example:

    >>> scores = np.random.randn(2, 4, 3, 3).astype("float32")  # N, C, H, W
    >>> labels = np.random.randint(0, 4, (2, 1, 3, 3)).astype("float32")
    >>> CaffeSoftmaxWithLoss()([scores, labels])  # 0-d, mean over the 18 pixels
    """

    _input_names = "[scores, labels]"

    def __init__(self, axis=1, ignore_label=None, normalization="valid", class_weights=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.axis = check_int(axis, "axis")
        self.ignore_label = check_ignore_label(ignore_label)
        self.normalization = check_normalization(normalization)
        if class_weights is not None:
            class_weights = [float(w) for w in class_weights]
            if not class_weights:
                raise ValueError("class_weights must hold one weight per class, got none")
        self.class_weights = class_weights

    def build(self, input_shape):
        scores_shape, labels_shape = self._split(input_shape)
        axis = canonical_axis(self.axis, len(scores_shape))
        samples = scores_shape[:axis] + scores_shape[axis + 1:]
        self._check_count(labels_shape, static_product(samples),
                          f"labels for scores {scores_shape} with axis {self.axis}")
        classes = scores_shape[axis]
        if self.class_weights is not None and classes not in (None, len(self.class_weights)):
            raise ValueError(f"{len(self.class_weights)} class_weights for {classes} classes "
                             f"(scores {scores_shape}, axis {self.axis})")

    def call(self, inputs):
        scores, labels = inputs
        shape = ops.shape(scores)
        axis = canonical_axis(self.axis, len(shape))
        outer, classes, inner = product(shape[:axis]), shape[axis], product(shape[axis + 1:])
        scores = ops.reshape(scores, (outer, classes, inner))
        labels = int_labels(labels, (outer, inner))

        log_prob = floor_with_identity_gradient(ops.log_softmax(scores, axis=1), LOG_FLT_MIN)
        onehot = class_mask(labels, classes, 1)
        picked = ops.sum(ops.where(onehot, log_prob, ops.zeros_like(log_prob)), axis=1)
        if self.class_weights is not None:
            weights = ops.reshape(ops.convert_to_tensor(self.class_weights, log_prob.dtype),
                                  (1, -1, 1))
            picked = picked * ops.sum(ops.where(onehot, weights, ops.zeros_like(log_prob)),
                                      axis=1)
        counted = not_ignored(labels, self.ignore_label)
        total = -ops.sum(ops.where(counted, picked, ops.zeros_like(picked)))
        valid = ops.sum(ops.cast(counted, "int32"))
        return ops.divide(total, normalizer(self.normalization, outer, inner, valid,
                                            total.dtype))

    def get_config(self):
        config = super().get_config()
        config.update({
            "axis": self.axis,
            "ignore_label": self.ignore_label,
            "normalization": self.normalization,
            "class_weights": self.class_weights,
        })
        return config
