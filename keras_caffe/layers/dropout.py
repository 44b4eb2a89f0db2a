"""Caffe's Dropout with the forks' switches: Fast R-CNN's ``scale_train`` and Bayesian
SegNet's ``sample_weights_test``."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_caffe.layers._utils import check_bool


def scale_at_test(rate: float) -> float:
    """Fast R-CNN's TEST factor with ``scale_train: false``: ``1 / scale_`` in float32,
    where ``scale_ = 1 / (1 - ratio)`` is a float32 too."""
    scale = np.float32(1.0 / (1.0 - float(np.float32(rate))))
    return float(np.float32(1.0 / float(scale)))


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeDropout(keras.layers.Dropout):
    """Caffe's `Dropout` as the forks change it (stock `keras.layers.Dropout` is Caffe's own).

    * `scale_train=False` (Fast R-CNN, rbgirshick/caffe-fast-rcnn): TRAIN keeps each value
      with probability `1 - rate` without scaling it; TEST multiplies by `1 - rate`
      (Caffe's `1 / scale_` in float32). The default `True` is Caffe's inverted dropout:
      TRAIN scales the kept values by `1 / (1 - rate)`, TEST is the identity.
    * `test_dropout=True` (Bayesian SegNet's `sample_weights_test`, alexgkendall/caffe-segnet):
      values are dropped in TEST too, as in TRAIN (Monte Carlo dropout).

    Args:
        rate: the dropout ratio, in [0, 1).
        scale_train: default True.
        test_dropout: default False.
        seed: as `keras.layers.Dropout`.

    Example:

    >>> CaffeDropout(0.5, scale_train=False)(np.ones((1, 2), "float32"))  # [[0.5, 0.5]]
    """

    def __init__(self, rate, scale_train=True, test_dropout=False, **kwargs):
        super().__init__(rate, **kwargs)
        self.scale_train = check_bool(scale_train, "scale_train")
        self.test_dropout = check_bool(test_dropout, "test_dropout")
        self._test_scale = scale_at_test(self.rate)

    def call(self, inputs, training=False):
        if (training or self.test_dropout) and self.rate > 0:
            out = keras.random.dropout(inputs, self.rate, seed=self.seed_generator)
            if not self.scale_train:
                out = ops.multiply(out, ops.cast(1.0 - self.rate, out.dtype))
            return out
        if not self.scale_train:
            return ops.multiply(inputs, ops.cast(self._test_scale, inputs.dtype))
        return inputs

    def get_config(self):
        return {**super().get_config(), "scale_train": self.scale_train,
                "test_dropout": self.test_dropout}
