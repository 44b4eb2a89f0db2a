"""Caffe's SPP (spatial pyramid pooling) layer on NHWC tensors."""

from __future__ import annotations

import keras
from keras import ops

from keras_caffe.layers._utils import check_choice, check_int

_POOLS = ("max", "ave")
#: Caffe counts a level's bins in an int (``num_bins = pow(2, level)``): levels 0..30.
MAX_PYRAMID_HEIGHT = 31


def spp_bins(pyramid_height: int) -> int:
    """Bins per channel of a pyramid: 1 + 4 + ... + 4^(height - 1)."""
    return (4 ** pyramid_height - 1) // 3


def spp_level_geometry(size, bins):
    """Caffe's `(kernel, pad)` along one axis of length `size` for `bins` bins.

    kernel = ceil(size / bins), stride = kernel, pad = (kernel * bins - size + 1) // 2.
    `size` is an int or a scalar integer tensor.
    """
    kernel = (size + bins - 1) // bins
    pad = (kernel * bins - size + 1) // 2
    return kernel, pad


def _pool_axis0(x, size, bins, pool):
    """Pool axis 0 of `x` (length `size`) into `bins` Caffe SPP windows.

    With stride = kernel the windows `[i*k - p, (i+1)*k - p)` tile the padded axis,
    so row `h` falls into window `(h + p) // k` and Caffe's pooling of one level is
    a segment reduction (padding never wins a MAX and only the AVE divisor sees it).
    """
    kernel, pad = spp_level_geometry(size, bins)
    segment = ops.floor_divide(ops.add(ops.arange(size), pad), kernel)
    if pool == "max":
        return ops.segment_max(x, segment, num_segments=bins), kernel
    return ops.segment_sum(x, segment, num_segments=bins), kernel


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeSPP(keras.layers.Layer):
    """Caffe's `SPP` layer on an NHWC tensor.

    For each level `l < pyramid_height`, with `bins = 2^l`, the input is pooled by
    Caffe's `Pooling` with, per spatial axis of length `H`:

        kernel = ceil(H / bins),  stride = kernel,  pad = (kernel * bins - H + 1) // 2

    which always gives `bins x bins` windows: MAX over the part inside the image,
    AVE = window sum / (kernel_h * kernel_w) (padded zeros count, as in Caffe). Each
    level is flattened in Caffe's C, H, W order (index `c * bins^2 + i * bins + j`)
    and the levels are concatenated: output `(N, C * sum_l 4^l)`, whatever `H, W`.

    With `pyramid_height=1` Caffe uses the single pooling layer's top directly, so
    the output is the 4-D `(N, C, 1, 1)` blob, held here as NHWC `(N, 1, 1, C)`.

    Caffe aborts when a level's pad is not smaller than its kernel (e.g. `H = 5`
    with 4 bins: kernel 2, pad 2); that is checked when `H, W` are known at build
    time. `H, W` and the batch may be unknown (the windows follow the run-time size).

    Args:
        pyramid_height: number of levels, >= 1.
        pool: `"max"` (default) or `"ave"`.

    Example:

    >>> x = np.random.rand(2, 10, 10, 3).astype("float32")
    >>> CaffeSPP(3, "max")(x).shape  # (2, 63) = 3 * (1 + 4 + 16)
    """

    def __init__(self, pyramid_height, pool="max", **kwargs):
        super().__init__(**kwargs)
        self.pyramid_height = check_int(pyramid_height, "pyramid_height", 1, MAX_PYRAMID_HEIGHT)
        self.pool = check_choice(pool, "pool", _POOLS)
        self.input_spec = keras.layers.InputSpec(ndim=4)

    def build(self, input_shape):
        _, height, width, _ = input_shape
        for name, size in (("height", height), ("width", width)):
            if size is None:
                continue
            if size < 1:
                raise ValueError(f"CaffeSPP: the input {name} must be >= 1, got {size}.")
            for level in range(self.pyramid_height):
                kernel, pad = spp_level_geometry(size, 2 ** level)
                if pad >= kernel:
                    raise ValueError(
                        f"CaffeSPP: an input {name} of {size} is too small for "
                        f"pyramid_height={self.pyramid_height}: level {level} "
                        f"({2 ** level} bins) needs kernel {kernel} and pad {pad}, and "
                        "Caffe requires pad < kernel.")

    def call(self, inputs):
        n, height, width, channels = ops.shape(inputs)
        rows_first = ops.transpose(inputs, (1, 0, 2, 3))  # H, N, W, C
        levels = []
        for level in range(self.pyramid_height):
            bins = 2 ** level
            pooled, kernel_h = _pool_axis0(rows_first, height, bins, self.pool)
            cols_first = ops.transpose(pooled, (2, 1, 0, 3))  # W, N, bins_h, C
            pooled, kernel_w = _pool_axis0(cols_first, width, bins, self.pool)
            if self.pool == "ave":
                pooled = ops.divide(pooled, ops.cast(kernel_h * kernel_w, inputs.dtype))
            if self.pyramid_height == 1:
                return ops.transpose(pooled, (1, 2, 0, 3))  # N, 1, 1, C
            caffe_order = ops.transpose(pooled, (1, 3, 2, 0))  # N, C, bins_h, bins_w
            levels.append(ops.reshape(caffe_order, (n, channels * bins * bins)))
        return ops.concatenate(levels, axis=1)

    def compute_output_shape(self, input_shape):
        n, _, _, channels = input_shape
        if self.pyramid_height == 1:
            return (n, 1, 1, channels)
        return (n, None if channels is None else channels * spp_bins(self.pyramid_height))

    def get_config(self):
        config = super().get_config()
        config.update({"pyramid_height": self.pyramid_height, "pool": self.pool})
        return config
