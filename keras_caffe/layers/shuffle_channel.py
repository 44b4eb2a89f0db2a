"""ShuffleNet's ShuffleChannel layer."""

from __future__ import annotations

import keras
from keras import ops

from keras_caffe.layers._utils import canonical_axis, check_int


def shuffle_order(channels: int, group: int):
    """Input channel of each output channel, as a tensor: output `j * group + i` reads input
    `i * (channels // group) + j` (the (group, channels/group) matrix transposed).  Made by
    tensor ops: no Python work per channel, whatever the channel count."""
    matrix = ops.reshape(ops.arange(channels, dtype="int32"), (group, channels // group))
    return ops.reshape(ops.transpose(matrix), (-1,))


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeShuffleChannel(keras.layers.Layer):
    """ShuffleNet's `ShuffleChannel` layer: interleave the channels of `group` groups.

    The `C` channels are read as a `(group, C / group)` matrix and written transposed,
    so output channel `j * group + i` is input channel `i * (C / group) + j`. `C` must be
    known and divisible by `group`; every other dim may be unknown.

    Args:
        group: number of groups, >= 1.
        axis: internal channel axis (Caffe's axis 1), default -1.

    Example:

    >>> x = np.arange(6, dtype="float32").reshape(1, 6)
    >>> CaffeShuffleChannel(group=2, axis=1)(x)  # [[0, 3, 1, 4, 2, 5]]
    """

    def __init__(self, group, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.group = check_int(group, "group", 1)
        self.axis = check_int(axis, "axis")

    def build(self, input_shape):
        self._axis = canonical_axis(self.axis, len(input_shape))
        channels = input_shape[self._axis]
        if channels is None or channels % self.group:
            raise ValueError(f"CaffeShuffleChannel: the channel dim (axis {self.axis}) must be "
                             f"known and divisible by group={self.group}, got shape "
                             f"{tuple(input_shape)}.")
        self._channels = channels

    def call(self, inputs):
        return ops.take(inputs, shuffle_order(self._channels, self.group), axis=self._axis)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"group": self.group, "axis": self.axis})
        return config
