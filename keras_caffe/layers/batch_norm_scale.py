"""Caffe's BatchNorm followed by a per-channel Scale, computed as one layer."""

from __future__ import annotations

import keras
from keras import ops

from keras_caffe.layers._utils import broadcast_add, check_bool
from keras_caffe.layers.batch_norm import CaffeBatchNorm


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeBatchNormScale(CaffeBatchNorm):
    """`BatchNorm` then `Scale` (per channel, optional bias) in one pass:
    `y = x * a + b` with `a = gamma / sqrt(var + epsilon)` and `b = beta - mean * a`.

    Caffe nets (ResNet and its kin) follow every BatchNorm by a Scale; as two layers they
    cost four passes over the activations where Keras's BatchNormalization takes two.  The
    weights are BatchNorm's three raw blobs (`mean`, `variance`, `scale_factor`, as in
    :class:`CaffeBatchNorm`) followed by the Scale's `scale` (C,) and, with `bias_term`,
    `bias` (C,).  Statistics, phases and blob updates are exactly CaffeBatchNorm's.

    Args:
        bias_term: whether the Scale has a bias, default True; the rest as CaffeBatchNorm.
    """

    def __init__(self, axis=-1, epsilon=1e-5, use_global_stats=True,
                 moving_average_fraction=0.999, bias_term=True, **kwargs):
        super().__init__(axis=axis, epsilon=epsilon, use_global_stats=use_global_stats,
                         moving_average_fraction=moving_average_fraction, **kwargs)
        self.bias_term = check_bool(bias_term, "bias_term")

    def build(self, input_shape):
        super().build(input_shape)
        channels = input_shape[self._axis]
        self.gamma = self.add_weight(name="scale", shape=(channels,), initializer="ones")
        self.beta = (self.add_weight(name="bias", shape=(channels,), initializer="zeros")
                     if self.bias_term else None)

    def batch_norm_weights(self) -> list:
        """The BatchNorm's blobs: mean*s, variance*s, s."""
        return [self.mean, self.variance, self.scale_factor]

    def scale_weights(self) -> list:
        """The Scale's blobs: scale (and bias)."""
        return [self.gamma] + ([self.beta] if self.beta is not None else [])

    def call(self, inputs, training=None):
        x = ops.cast(inputs, self.compute_dtype)
        mean, var = self._moments(x, training)
        a = ops.multiply(ops.cast(self.gamma, x.dtype), ops.rsqrt(ops.add(var, self.epsilon)))
        b = ops.negative(ops.multiply(mean, a))
        if self.beta is not None:
            b = ops.add(b, ops.cast(self.beta, x.dtype))
        return broadcast_add(ops.multiply(x, self._broadcast(a)), self._broadcast(b))

    def get_config(self):
        config = super().get_config()
        config["bias_term"] = self.bias_term
        return config
