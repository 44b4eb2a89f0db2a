"""Caffe's Convolution layer on NHWC tensors (a keras Conv2D subclass)."""

from __future__ import annotations

import functools

import keras
from keras import ops

from keras_caffe.layers._utils import check_pair


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeConv2D(keras.layers.Conv2D):
    """Caffe's `Convolution` layer on an NHWC tensor.

    Same weights as `keras.layers.Conv2D`: `kernel` `(kh, kw, C_in / groups, filters)`
    (Caffe's `(filters, C_in / groups, kh, kw)` transposed by `(2, 3, 1, 0)`) and
    `bias` `(filters,)`. Differences from Conv2D:

    * `padding` is Caffe's explicit symmetric zero padding `(ph, pw)` (not a mode);
    * dilation and stride > 1 may be combined (TensorFlow refuses that in one op:
      the dilated convolution then runs at stride 1 and its output is subsampled).

    Output size per axis: `floor((H + 2p - (d * (k - 1) + 1)) / s) + 1`.
    Works with unknown batch and unknown H/W.

    Args:
        filters: number of output channels.
        kernel_size: int or `(kh, kw)`.
        strides: int or `(sh, sw)`, default `(1, 1)`.
        padding: int or `(ph, pw)`, default `(0, 0)`.
        dilation_rate: int or `(dh, dw)`, default `(1, 1)`.
        groups: default 1; `C_in` and `filters` must be divisible by it.
        use_bias: default True.
        **kwargs: the other `keras.layers.Conv2D` arguments (initializers,
            regularizers, constraints, activation, ...). `data_format` must be
            `"channels_last"` (or omitted).

    Example:

    >>> conv = CaffeConv2D(8, 3, strides=2, padding=1, dilation_rate=2)
    >>> conv(np.zeros((1, 9, 9, 4), "float32")).shape  # (1, 4, 4, 8)
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding=(0, 0),
                 dilation_rate=(1, 1), groups=1, use_bias=True, **kwargs):
        data_format = kwargs.pop("data_format", None)
        if data_format not in (None, "channels_last"):
            raise ValueError(
                "CaffeConv2D works on NHWC tensors only, got "
                f"data_format={data_format!r}.")
        pad = check_pair(padding, "padding", 0)
        dilation = check_pair(dilation_rate, "dilation_rate", 1)
        stride = check_pair(strides, "strides", 1)
        check_pair(kernel_size, "kernel_size", 1)
        # Conv2D refuses stride > 1 together with dilation > 1: hand it dilation 1
        # and keep the real value ourselves (convolution_op applies it).
        super().__init__(filters=filters, kernel_size=kernel_size, strides=stride,
                         padding="valid", data_format="channels_last",
                         dilation_rate=1, groups=groups, use_bias=use_bias, **kwargs)
        self.dilation_rate = dilation
        self.caffe_padding = pad

    def convolution_op(self, inputs, kernel):
        ph, pw = self.caffe_padding
        if ph or pw:
            inputs = ops.pad(inputs, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
        dilated = max(self.dilation_rate) > 1
        strided = max(self.strides) > 1
        if not (dilated and strided):
            return self._conv(inputs, kernel, self.strides)
        out = self._conv(inputs, kernel, (1, 1))
        for axis, step in ((1, self.strides[0]), (2, self.strides[1])):
            if step > 1:
                length = ops.shape(out)[axis]
                out = ops.take(out, ops.arange(0, length, step), axis=axis)
        return out

    def _conv(self, inputs, kernel, strides):
        """A valid convolution.  Grouped, on TensorFlow's own kernels where they take groups
        (oneDNN's on a CPU, cuDNN's): Keras's ``ops.conv`` compiles every grouped
        convolution with XLA, a cluster that runs slower on a CPU and that no ONNX or
        TFLite converter reads."""
        if self.groups > 1 and native_grouped_conv():
            import tensorflow as tf

            return tf.nn.conv2d(inputs, kernel, strides=(1,) + tuple(strides) + (1,),
                                padding="VALID", dilations=(1,) + tuple(self.dilation_rate) + (1,))
        return ops.conv(inputs, kernel, strides=strides, padding="valid",
                        dilation_rate=self.dilation_rate)

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        out = []
        for size, k, s, p, d in zip((h, w), self.kernel_size, self.strides,
                                    self.caffe_padding, self.dilation_rate):
            if size is None:
                out.append(None)
                continue
            span = size + 2 * p - (d * (k - 1) + 1)
            if span < 0:
                raise ValueError(
                    f"CaffeConv2D: input spatial size {(h, w)} is too small for kernel "
                    f"{self.kernel_size} with dilation {self.dilation_rate} and padding "
                    f"{self.caffe_padding}.")
            out.append(span // s + 1)
        return (n, out[0], out[1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({
            "strides": list(self.strides),
            "padding": list(self.caffe_padding),
            "dilation_rate": list(self.dilation_rate),
        })
        return config


@functools.cache
def native_grouped_conv() -> bool:
    """Whether TensorFlow's Conv2D and its gradients take grouped kernels on the default
    device, as oneDNN's CPU kernels and cuDNN do (TensorFlow's generic CPU kernel, without
    oneDNN, does not); asked once per process with a tiny convolution."""
    if keras.backend.backend() != "tensorflow":
        return False
    import tensorflow as tf

    @tf.function
    def probe(x, k):
        y = tf.nn.conv2d(x, k, strides=1, padding="VALID")
        # tf.gradients, not a tape: init_scope (to run eagerly from inside a trace) stops
        # any tape from recording.
        return tf.gradients(tf.reduce_sum(y * y), [x, k])

    try:
        with tf.init_scope():
            x = tf.reshape(tf.range(2 * 3 * 3 * 4, dtype=tf.float32), (2, 3, 3, 4))
            dx, dk = probe(x, tf.ones((2, 2, 2, 6)))
            return tuple(dx.shape) == (2, 3, 3, 4) and tuple(dk.shape) == (2, 2, 2, 6)
    except Exception:  # noqa: BLE001  (no kernel takes groups here: Keras's way then)
        return False
