"""Caffe's Pooling layer on NHWC tensors."""

from __future__ import annotations

import keras
from keras import ops

from keras_caffe.layers._utils import FLT_MAX, FLT_MIN, check_bool, check_choice, check_pair

_POOLS = ("max", "ave", "stochastic")
_ROUND_MODES = ("ceil", "floor")


def _pooled_size(size, kernel, stride, pad, ceil_mode):
    """Caffe's output length along one axis; `size` is an int or a scalar tensor."""
    span = size + 2 * pad - kernel
    if ceil_mode:
        out = -((-span) // stride) + 1
    else:
        out = span // stride + 1
    if pad > 0:
        # The last window must start strictly inside the image (before H + pad).
        if isinstance(out, int):
            out -= int((out - 1) * stride >= size + pad)
        else:
            out = out - ops.cast(ops.greater_equal((out - 1) * stride, size + pad),
                                 out.dtype)
    return out


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffePooling2D(keras.layers.Layer):
    """Caffe's `Pooling` layer on an NHWC tensor, with Caffe's output size.

    Along each spatial axis (input length `H`, kernel `k`, stride `s`, pad `p`) the
    output length is

        ceil mode:  ceil((H + 2p - k) / s) + 1
        floor mode: floor((H + 2p - k) / s) + 1

    and, when `p > 0`, the last window is dropped if it would start at or beyond
    `H + p`. Window `i` covers `[i*s - p, i*s - p + k)`.

    * `"max"`: the maximum over the part of the window inside the image (padding
      never wins). An empty window (only possible in ceil mode with `s > k`) gives
      `-FLT_MAX`, as in Caffe.
    * `"ave"`: the sum over the window divided by the window size clipped to
      `[-p, H + p)`: padded zeros count, the part of a ceil-mode window beyond
      `H + p` does not. The divisor is `rows * cols`, computed from the run-time
      shape.
    * `"stochastic"`: Caffe's TEST-phase rule (its GPU kernel; Caffe's CPU build
      aborts): `sum(x^2) / (FLT_MIN + sum(x))` over the window clipped to the image.
      Caffe allows no padding with it.
    * `global_pooling=True`: one window covering the whole `H x W` (no kernel, pad 0,
      stride 1); output `(N, 1, 1, C)`.
    * `return_mask=True` (`"max"` only): also Caffe's second top, the mask: for each
      output the index `h * W + w` (in its channel's plane) of the first maximum of its
      window in row-major order, as float32 (-1, with the value -FLT_MAX, where nothing in
      the window exceeds -FLT_MAX, as Caffe leaves it). The call then returns
      `[pooled, mask]`.

    Works with unknown batch and unknown H/W.

    Args:
        pool: `"max"` (default), `"ave"` or `"stochastic"`.
        kernel_size: int or `(kh, kw)`; required unless `global_pooling`.
        strides: int or `(sh, sw)`, default `(1, 1)`.
        padding: int or `(ph, pw)`, default `(0, 0)`; must be smaller than the kernel.
        round_mode: `"ceil"` (Caffe's default) or `"floor"`.
        global_pooling: pool over the whole spatial extent. Default False.
        return_mask: also return the MAX pooling mask. Default False.

    Example:

    >>> x = np.random.rand(1, 5, 5, 2).astype("float32")
    >>> CaffePooling2D("ave", kernel_size=2, strides=2, padding=1)(x).shape  # 1, 3, 3, 2
    """

    def __init__(self, pool="max", kernel_size=None, strides=(1, 1), padding=(0, 0),
                 round_mode="ceil", global_pooling=False, return_mask=False, **kwargs):
        super().__init__(**kwargs)
        self.pool = check_choice(pool, "pool", _POOLS)
        self.return_mask = check_bool(return_mask, "return_mask")
        if self.return_mask and self.pool != "max":
            raise ValueError(f"Caffe writes a pooling mask for 'max' pooling only, got "
                             f"pool={pool!r} with return_mask=True.")
        self.round_mode = check_choice(round_mode, "round_mode", _ROUND_MODES)
        self.global_pooling = check_bool(global_pooling, "global_pooling")
        self.strides = check_pair(strides, "strides", 1)
        self.padding = check_pair(padding, "padding", 0)
        if self.global_pooling:
            if kernel_size is not None:
                raise ValueError(
                    "With global_pooling=True the kernel size cannot be given, got "
                    f"kernel_size={kernel_size!r}.")
            if self.padding != (0, 0) or self.strides != (1, 1):
                raise ValueError(
                    "With global_pooling=True only padding 0 and strides 1 are "
                    f"allowed, got padding={padding!r}, strides={strides!r}.")
            self.kernel_size = None
        else:
            if kernel_size is None:
                raise ValueError("`kernel_size` is required unless global_pooling=True.")
            self.kernel_size = check_pair(kernel_size, "kernel_size", 1)
            if self.padding != (0, 0):
                if self.pool == "stochastic":
                    raise ValueError(
                        "Caffe implements padding only for 'max' and 'ave' pooling, "
                        f"got pool='stochastic' with padding={padding!r}.")
                if (self.padding[0] >= self.kernel_size[0]
                        or self.padding[1] >= self.kernel_size[1]):
                    raise ValueError(
                        f"padding={padding!r} must be smaller than "
                        f"kernel_size={kernel_size!r}.")
        self.input_spec = keras.layers.InputSpec(ndim=4)

    # ------------------------------------------------------------------ call
    def call(self, inputs):
        if self.global_pooling:
            return self._global_with_mask(inputs) if self.return_mask else self._global(inputs)
        kh, kw = self.kernel_size
        sh, sw = self.strides
        ph, pw = self.padding
        ceil_mode = self.round_mode == "ceil"
        shape = ops.shape(inputs)
        height, width = shape[1], shape[2]
        out_h = _pooled_size(height, kh, sh, ph, ceil_mode)
        out_w = _pooled_size(width, kw, sw, pw, ceil_mode)

        pad_value = -FLT_MAX if self.pool == "max" else 0.0
        # Enough padding after the image for the last ceil-mode window, then cut the
        # padded tensor to exactly the extent the windows cover.
        x = ops.pad(inputs, ((0, 0), (ph, ph + sh - 1), (pw, pw + sw - 1), (0, 0)),
                    constant_values=pad_value)
        x = ops.slice(x, (0, 0, 0, 0),
                      (shape[0], (out_h - 1) * sh + kh, (out_w - 1) * sw + kw, shape[3]))
        window = (kh, kw)
        strides = (sh, sw)

        if self.pool == "max":
            if self.return_mask:
                return self._max_with_mask(x, out_h, out_w, width)
            return ops.max_pool(x, window, strides, padding="valid")

        area = float(kh * kw)
        if self.pool == "stochastic":
            sum_sq = ops.multiply(
                ops.average_pool(ops.square(x), window, strides, "valid"), area)
            total = ops.multiply(ops.average_pool(x, window, strides, "valid"), area)
            return ops.divide(sum_sq, ops.add(total, FLT_MIN))

        # AVE: sum / (rows * cols) with the window clipped to [-p, H + p).
        rows = self._clipped_counts(out_h, kh, sh, ph, height)
        cols = self._clipped_counts(out_w, kw, sw, pw, width)
        divisor = ops.multiply(ops.reshape(rows, (1, -1, 1, 1)),
                               ops.reshape(cols, (1, 1, -1, 1)))
        factor = ops.cast(ops.divide(area, divisor), x.dtype)
        return ops.multiply(ops.average_pool(x, window, strides, "valid"), factor)

    def _max_with_mask(self, x, out_h, out_w, width):
        """Caffe's MAX loop: over the window in row-major order, a value replaces the
        running maximum (from -FLT_MAX) only when strictly greater; the padding (-FLT_MAX)
        never does.  ``x`` is the padded input cut to the windows' extent."""
        kh, kw = self.kernel_size
        sh, sw = self.strides
        ph, pw = self.padding
        shape = ops.shape(x)
        rows = ops.subtract(ops.arange(shape[1], dtype="int32"), ph)
        cols = ops.subtract(ops.arange(shape[2], dtype="int32"), pw)
        # The index of each position, 1 x H x W x 1 by reshape: TFLite's builtin
        # StridedSlice has no new axes (``[None, ...]``).
        where = ops.add(ops.multiply(ops.expand_dims(rows, 1), ops.cast(width, "int32")),
                        ops.expand_dims(cols, 0))
        where = ops.expand_dims(ops.expand_dims(where, 0), -1)
        span_h, span_w = (out_h - 1) * sh + 1, (out_w - 1) * sw + 1
        best = ops.full_like(x[:, :out_h, :out_w], -FLT_MAX)
        mask = ops.full_like(where[:, :out_h, :out_w], -1)
        for i in range(kh):
            for j in range(kw):
                value = x[:, i:i + span_h:sh, j:j + span_w:sw]
                index = where[:, i:i + span_h:sh, j:j + span_w:sw]
                wins = ops.greater(value, best)
                best = ops.where(wins, value, best)
                mask = ops.where(wins, index, mask)
        mask = ops.broadcast_to(mask, ops.shape(best))
        return [best, ops.cast(mask, "float32")]

    def _global_with_mask(self, inputs):
        shape = ops.shape(inputs)
        flat = ops.reshape(inputs, (shape[0], -1, shape[3]))
        best = ops.max(flat, axis=1, keepdims=True)
        positions = ops.reshape(ops.arange(shape[1] * shape[2], dtype="int32"), (1, -1, 1))
        first = ops.min(ops.where(ops.equal(flat, best), positions, shape[1] * shape[2]),
                        axis=1, keepdims=True)
        found = ops.greater(best, -FLT_MAX)
        best = ops.where(found, best, ops.cast(-FLT_MAX, best.dtype))
        mask = ops.cast(ops.where(found, first, -1), "float32")
        return [ops.reshape(best, (shape[0], 1, 1, shape[3])),
                ops.reshape(mask, (shape[0], 1, 1, shape[3]))]

    @staticmethod
    def _clipped_counts(out, kernel, stride, pad, size):
        start = ops.arange(out) * stride - pad
        end = ops.minimum(start + kernel, size + pad)
        return ops.cast(end - start, "float32")

    def _global(self, inputs):
        if self.pool == "max":
            return ops.max(inputs, axis=(1, 2), keepdims=True)
        if self.pool == "ave":
            return ops.mean(inputs, axis=(1, 2), keepdims=True)
        sum_sq = ops.sum(ops.square(inputs), axis=(1, 2), keepdims=True)
        total = ops.sum(inputs, axis=(1, 2), keepdims=True)
        return ops.divide(sum_sq, ops.add(total, FLT_MIN))

    # ---------------------------------------------------------------- shapes
    def compute_output_shape(self, input_shape):
        out = self._output_shape(input_shape)
        return [out, out] if self.return_mask else out

    def _output_shape(self, input_shape):
        n, h, w, c = input_shape
        if self.global_pooling:
            return (n, 1, 1, c)
        ceil_mode = self.round_mode == "ceil"
        out = []
        for size, k, s, p in zip((h, w), self.kernel_size, self.strides, self.padding):
            out.append(None if size is None else _pooled_size(size, k, s, p, ceil_mode))
        if any(o is not None and o < 1 for o in out):
            raise ValueError(
                f"Input of spatial size {(h, w)} is too small for kernel "
                f"{self.kernel_size} with padding {self.padding}.")
        return (n, out[0], out[1], c)

    def get_config(self):
        config = super().get_config()
        config.update({
            "pool": self.pool,
            "kernel_size": None if self.kernel_size is None else list(self.kernel_size),
            "strides": list(self.strides),
            "padding": list(self.padding),
            "round_mode": self.round_mode,
            "global_pooling": self.global_pooling,
            "return_mask": self.return_mask,
        })
        return config
