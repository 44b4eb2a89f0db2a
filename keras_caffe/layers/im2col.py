"""Caffe's Im2col layer on NHWC tensors."""

from __future__ import annotations

import keras
from keras import ops

from keras_caffe.layers._utils import check_pair


def _out_size(size, kernel, stride, pad, dilation):
    """Caffe's convolution output length: floor((H + 2p - (d(k-1)+1)) / s) + 1."""
    return (size + 2 * pad - (dilation * (kernel - 1) + 1)) // stride + 1


def _tap(x, axis: int, offset, size, stride):
    """``x[..., offset + k * stride, ...]`` along ``axis`` for ``k < size``: a slice of
    ``size * stride`` entries split into ``(size, stride)``, of which the first column is
    kept (``x`` holds that many entries past ``offset``)."""
    shape = list(ops.shape(x))
    start, length = [0] * len(shape), list(shape)
    start[axis], length[axis] = offset, size * stride
    split = shape[:axis] + [size, stride] + shape[axis + 1:]
    x = ops.reshape(ops.slice(x, start, length), split)
    length = list(split)
    length[axis + 1] = 1
    return ops.reshape(ops.slice(x, [0] * len(split), length), shape[:axis] + [size] +
                       shape[axis + 1:])


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeIm2col(keras.layers.Layer):
    """Caffe's `Im2col` layer on an NHWC tensor.

    Caffe's top is the column buffer of a convolution, `(N, C * kh * kw, Ho, Wo)`;
    here it is held as NHWC, `(N, Ho, Wo, C * kh * kw)`, with Caffe's channel order:

        y[n, h, w, c * kh * kw + i * kw + j] = x_pad[n, h * sh + i * dh, w * sw + j * dw, c]

    where `x_pad` is `x` zero-padded by `(ph, pw)` on both sides, and
    `Ho = floor((H + 2 ph - (dh (kh - 1) + 1)) / sh) + 1` (likewise `Wo`).
    Works with unknown batch and unknown H/W.

    Args:
        kernel_size: int or `(kh, kw)`.
        strides: int or `(sh, sw)`, default `(1, 1)`.
        padding: int or `(ph, pw)`, default `(0, 0)`.
        dilation_rate: int or `(dh, dw)`, default `(1, 1)`.

    Example:

    >>> CaffeIm2col(3, padding=1)(np.zeros((1, 5, 5, 2), "float32")).shape  # (1, 5, 5, 18)
    """

    def __init__(self, kernel_size, strides=(1, 1), padding=(0, 0),
                 dilation_rate=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.kernel_size = check_pair(kernel_size, "kernel_size", 1)
        self.strides = check_pair(strides, "strides", 1)
        self.padding = check_pair(padding, "padding", 0)
        self.dilation_rate = check_pair(dilation_rate, "dilation_rate", 1)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def call(self, inputs):
        (kh, kw), (sh, sw) = self.kernel_size, self.strides
        (ph, pw), (dh, dw) = self.padding, self.dilation_rate
        n, height, width, channels = ops.shape(inputs)
        out_h = _out_size(height, kh, sh, ph, dh)
        out_w = _out_size(width, kw, sw, pw, dw)
        # Pad one extra stride at the end so that every tap can take out * stride
        # rows and then keep each stride-th one by a reshape (no strided slice op).
        x = ops.pad(inputs, ((0, 0), (ph, ph + sh), (pw, pw + sw), (0, 0)))
        # The kernel's rows, then its columns: kh + kw taps, not kh * kw (a kernel's size
        # is bounded only by the blobs it makes, and each tap is a few graph ops).
        rows = ops.stack([_tap(x, 1, i * dh, out_h, sh) for i in range(kh)], axis=-1)
        cols = ops.stack([_tap(rows, 2, j * dw, out_w, sw) for j in range(kw)], axis=-1)
        return ops.reshape(cols, (n, out_h, out_w, channels * kh * kw))  # N,Ho,Wo,C,kh,kw

    def compute_output_shape(self, input_shape):
        n, height, width, channels = input_shape
        out = []
        for size, k, s, p, d in zip((height, width), self.kernel_size, self.strides,
                                    self.padding, self.dilation_rate):
            if size is None:
                out.append(None)
                continue
            size_out = _out_size(size, k, s, p, d)
            if size_out < 1:
                raise ValueError(
                    f"CaffeIm2col: input spatial size {(height, width)} is too small "
                    f"for kernel {self.kernel_size} with dilation "
                    f"{self.dilation_rate} and padding {self.padding}.")
            out.append(size_out)
        kernel = self.kernel_size[0] * self.kernel_size[1]
        return (n, out[0], out[1], None if channels is None else channels * kernel)

    def get_config(self):
        config = super().get_config()
        config.update({
            "kernel_size": list(self.kernel_size),
            "strides": list(self.strides),
            "padding": list(self.padding),
            "dilation_rate": list(self.dilation_rate),
        })
        return config
