"""The forks' ``BN`` layer: batch normalization with its scale and shift in one layer, as
SegNet's and PSPNet's Caffe forks define it, with the fork's blobs as weights."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_caffe.layers._utils import broadcast_add, canonical_axis, check_bool, check_choice, \
    check_int, check_number

VARIANTS = ("segnet", "pspnet")
MODES = ("learn", "inference")


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeBN(keras.layers.Layer):
    """The forks' `BN` layer on the channel axis `axis`; two forks define it differently.

    `variant="segnet"` (alexgkendall/caffe-segnet, TimoSaemann/caffe-segnet-cudnn5): weights
    `scale` and `shift` `(C,)`, no running statistics.

    * `mode="learn"` (SegNet's LEARN, in every phase): the batch's mean `m` and variance
      `v = E[x^2] - m^2` over every axis but `axis`, and
      `y = scale * (x - m) / sqrt(v + epsilon) + shift` (SegNet's epsilon is 1e-9).
    * `mode="inference"` (SegNet's INFERENCE): `y = scale * x + shift`, the statistics
      having been folded into `scale` and `shift` (SegNet's compute_bn_statistics.py).
    * `stats_axis` (LEARN only): also return the batch's `m` and `v`, SegNet's second and
      third tops (what compute_bn_statistics.py reads), each a rank-4 tensor with its C
      values along `stats_axis` and 1 elsewhere: `[y, m, v]`.

    `variant="pspnet"` (hszhao/PSPNet): weights `slope`, `bias` (trainable unless `frozen`),
    `mean` and `variance` `(C,)` (running statistics, never trained).

    * `frozen=True`, or called with a falsy `training` (Caffe's TEST phase):
      `y = slope * (x - mean) * (variance + epsilon)^-1/2 + bias`.
    * Otherwise (TRAIN, not frozen): the batch's mean `m` and biased variance
      `v = E[(x - m)^2]` replace them, and the running ones are updated:
      `mean = (1 - momentum) * m + momentum * mean`, `variance` likewise with `v`.

    Args:
        variant: "segnet" or "pspnet" (default).
        axis: the channel axis (an internal axis of the input), default -1.
        mode: SegNet's "learn" (default) or "inference".
        epsilon: added to the variance, default 1e-5.
        momentum: PSPNet's running-average momentum, default 0.9.
        frozen: PSPNet's `frozen`, default False.
        stats_axis: None (default), or the axis of a rank-4 tensor that holds the batch
            statistics returned besides `y` (SegNet LEARN only).

    Example:

    >>> bn = CaffeBN("pspnet", axis=-1, frozen=True)
    >>> y = bn(np.random.rand(2, 4, 4, 3).astype("float32"))
    >>> [w.name for w in bn.weights]
    ['slope', 'bias', 'mean', 'variance']
    """

    def __init__(self, variant="pspnet", axis=-1, mode="learn", epsilon=1e-5, momentum=0.9,
                 frozen=False, stats_axis=None, **kwargs):
        super().__init__(**kwargs)
        self.variant = check_choice(variant, "variant", VARIANTS)
        self.axis = check_int(axis, "axis")
        self.mode = check_choice(mode, "mode", MODES)
        self.epsilon = check_number(epsilon, "epsilon")
        if self.epsilon < 0:
            raise ValueError(f"`epsilon` must be >= 0, got epsilon={epsilon!r}.")
        self.momentum = check_number(momentum, "momentum")
        self.frozen = check_bool(frozen, "frozen")
        self.stats_axis = None if stats_axis is None else check_int(stats_axis, "stats_axis")
        if self.stats_axis is not None and (self.variant, self.mode) != ("segnet", "learn"):
            raise ValueError("only SegNet's LEARN BN returns its batch statistics, got "
                             f"variant={variant!r}, mode={mode!r} with stats_axis={stats_axis!r}.")

    def build(self, input_shape):
        self._rank = len(input_shape)
        self._axis = canonical_axis(self.axis, self._rank)
        channels = input_shape[self._axis]
        if channels is None:
            raise ValueError(f"CaffeBN needs a known size at axis={self.axis}, got input shape "
                             f"{tuple(input_shape)}.")
        if self.variant == "segnet":
            names, trainable = ("scale", "shift"), (True, True)
        else:
            learned = not self.frozen
            names, trainable = ("slope", "bias", "mean", "variance"), (learned, learned,
                                                                        False, False)
        for name, train in zip(names, trainable):
            setattr(self, name, self.add_weight(name=name, shape=(channels,), initializer="zeros",
                                                trainable=train))
        self.input_spec = keras.layers.InputSpec(ndim=self._rank, axes={self._axis: channels})

    def _along(self, v, dtype):
        shape = [1] * self._rank
        shape[self._axis] = -1
        return ops.reshape(ops.cast(v, dtype), shape)

    def _reduce_axes(self):
        return tuple(i for i in range(self._rank) if i != self._axis)

    def call(self, inputs, training=None):
        x = ops.cast(inputs, self.compute_dtype)
        if self.variant == "segnet":
            return self._segnet(x)
        return self._pspnet(x, training)

    def _segnet(self, x):
        scale, shift = self._along(self.scale, x.dtype), self._along(self.shift, x.dtype)
        if self.mode == "inference":
            return broadcast_add(ops.multiply(x, scale), shift)
        axes = self._reduce_axes()
        mean = ops.mean(x, axis=axes, keepdims=True)
        mean_sq = ops.mean(ops.square(x), axis=axes, keepdims=True)
        var = ops.subtract(mean_sq, ops.square(mean))          # E[x^2] - (E x)^2, as SegNet
        std = ops.sqrt(ops.add(var, self.epsilon))
        y = broadcast_add(ops.multiply(ops.divide(ops.subtract(x, mean), std), scale), shift)
        if self.stats_axis is None:
            return y
        shape = [1] * 4
        shape[self.stats_axis] = -1
        return [y] + [ops.reshape(v, shape) for v in (mean, var)]

    def _pspnet(self, x, training):
        if self.frozen or not training:
            mean, var = self._along(self.mean, x.dtype), self._along(self.variance, x.dtype)
        else:
            axes = self._reduce_axes()
            mean = ops.mean(x, axis=axes, keepdims=True)
            var = ops.mean(ops.square(ops.subtract(x, mean)), axis=axes, keepdims=True)
            m = np.float32(self.momentum)   # caffe_cpu_axpby(1 - momentum, batch, momentum)
            for blob, batch in ((self.mean, mean), (self.variance, var)):
                batch = ops.cast(ops.reshape(batch, (-1,)), blob.dtype)
                blob.assign(ops.add(ops.multiply(batch, np.float32(1) - m),
                                    ops.multiply(blob, m)))
        inv_std = ops.power(ops.add(var, self.epsilon), -0.5)
        normed = ops.multiply(ops.subtract(x, mean), inv_std)
        return broadcast_add(ops.multiply(normed, self._along(self.slope, x.dtype)),
                             self._along(self.bias, x.dtype))

    def compute_output_shape(self, input_shape):
        if self.stats_axis is None:
            return tuple(input_shape)
        stats = [1] * 4
        stats[self.stats_axis] = input_shape[canonical_axis(self.axis, len(input_shape))]
        return [tuple(input_shape), tuple(stats), tuple(stats)]

    def get_config(self):
        return {**super().get_config(), "variant": self.variant, "axis": self.axis,
                "mode": self.mode, "epsilon": self.epsilon, "momentum": self.momentum,
                "frozen": self.frozen, "stats_axis": self.stats_axis}
