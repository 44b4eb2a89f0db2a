"""DeepLab's and PSPNet's Interp layer (bilinear resize on the align-corners grid)."""

from __future__ import annotations

import keras
from keras import ops

from keras_caffe.layers._utils import canonical_axes, check_int, check_int_tuple


def interp_size(size_in, pad_beg=0, pad_end=0, zoom_factor=1, shrink_factor=1, size=None):
    """DeepLab's output size along one axis (`size_in` a Python int or a scalar tensor):
    the input cropped by the (non-positive) pads, shrunk, then zoomed; or `size`."""
    if size is not None:
        return size
    n = size_in + pad_beg + pad_end
    n = (n - 1) // shrink_factor + 1
    return n + (n - 1) * (zoom_factor - 1)


def _grid(size_in, size_out, start):
    """Source rows and weights of each output row, computed in float32 as DeepLab's
    `caffe_cpu_interp2` does: `r = (in - 1) / (out - 1)`, `src = r * o`,
    `i0 = int(src)`, `i1 = i0 + (i0 < in - 1)`, `l1 = src - i0`, `l0 = 1 - l1`."""
    f32 = "float32"
    ratio = ops.where(size_out > 1,
                      ops.divide(ops.cast(size_in - 1, f32),
                                 ops.cast(ops.maximum(size_out - 1, 1), f32)),
                      ops.cast(0.0, f32))
    src = ops.multiply(ratio, ops.cast(ops.arange(size_out), f32))
    i0 = ops.cast(src, "int32")
    l1 = ops.subtract(src, ops.cast(i0, f32))
    l0 = ops.subtract(ops.cast(1.0, f32), l1)
    i1 = ops.where(i0 < size_in - 1, i0 + 1, i0)
    return i0 + start, i1 + start, l0, l1


def _along(weights, axis, rank):
    shape = [1] * rank
    shape[axis] = -1
    return ops.reshape(weights, shape)


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeInterp(keras.layers.Layer):
    """DeepLab's `Interp` layer: bilinear resize of two axes on the align-corners grid.

    Output pixel `o` reads the input at `src = o * (in - 1) / (out - 1)` (0 when
    `out == 1`), with the weights computed in float32 exactly as DeepLab's
    `caffe_cpu_interp2`, and combines the four neighbours as
    `l0h * (l0w * x00 + l1w * x01) + l1h * (l0w * x10 + l1w * x11)`.

    The input is first cropped by `pad_beg` / `pad_end` (both <= 0: `-pad_beg` rows and
    columns dropped at the start, `-pad_end` at the end). The output size is, in
    DeepLab's order: the second input's size along `axes` (`call([x, ref])`); or
    `size`; or the cropped size `n` shrunk, `(n - 1) // shrink_factor + 1`, then
    zoomed, `n + (n - 1) * (zoom_factor - 1)` (factors of 1 leave it alone).

    Args:
        axes: the internal (height, width) axes, default `(1, 2)`.
        size: fixed output `(height, width)`, or None.
        zoom_factor: int >= 1, default 1.
        shrink_factor: int >= 1, default 1.
        pad_beg, pad_end: int <= 0, default 0.

    Example:

    >>> CaffeInterp(zoom_factor=2)(np.zeros((1, 5, 7, 3), "float32")).shape  # (1, 9, 13, 3)
    """

    def __init__(self, axes=(1, 2), size=None, zoom_factor=1, shrink_factor=1, pad_beg=0,
                 pad_end=0, **kwargs):
        super().__init__(**kwargs)
        self.axes = check_int_tuple(axes, "axes", unique=True)
        if len(self.axes) != 2:
            raise ValueError(f"`axes` must name the (height, width) axes, got axes={axes!r}.")
        self.size = None if size is None else check_int_tuple(size, "size", minimum=1)
        if self.size is not None and len(self.size) != 2:
            raise ValueError(f"`size` must be (height, width), got size={size!r}.")
        self.zoom_factor = check_int(zoom_factor, "zoom_factor", 1)
        self.shrink_factor = check_int(shrink_factor, "shrink_factor", 1)
        self.pad_beg = check_int(pad_beg, "pad_beg")
        self.pad_end = check_int(pad_end, "pad_end")
        for name, value in (("pad_beg", self.pad_beg), ("pad_end", self.pad_end)):
            if value > 0:
                raise ValueError(f"`{name}` must be <= 0 (a crop), as in DeepLab; got "
                                 f"{name}={value!r}.")

    def _split(self, input_shape):
        two = (isinstance(input_shape, (list, tuple)) and len(input_shape) == 2
               and isinstance(input_shape[0], (list, tuple)))
        x_shape, ref_shape = (tuple(input_shape[0]), tuple(input_shape[1])) if two else \
            (tuple(input_shape), None)
        axes = canonical_axes(self.axes, len(x_shape))
        if ref_shape is not None:
            if self.size is not None or self.zoom_factor != 1 or self.shrink_factor != 1:
                raise ValueError("CaffeInterp: a second input sets the output size, so `size`, "
                                 "`zoom_factor` and `shrink_factor` must be left unset (DeepLab "
                                 "v2 reads the second bottom only when they are).")
            if len(ref_shape) != len(x_shape):
                raise ValueError(f"CaffeInterp: the reference must have the input's rank, got "
                                 f"{x_shape} and {ref_shape}.")
        return x_shape, ref_shape, axes

    def _sizes_out(self, sizes_in, ref_sizes):
        """Output sizes along `axes` from the input's (uncropped) sizes; a size that is
        unknown (None) stays unknown unless `size` or the reference fixes it."""
        if ref_sizes is not None:
            return list(ref_sizes)
        if self.size is not None:
            return list(self.size)
        return [None if n is None else interp_size(n, self.pad_beg, self.pad_end,
                                                   self.zoom_factor, self.shrink_factor)
                for n in sizes_in]

    def build(self, input_shape):
        self.compute_output_shape(input_shape)

    def call(self, inputs):
        two = isinstance(inputs, (list, tuple))
        x, ref = (inputs[0], inputs[1]) if two else (inputs, None)
        _, _, axes = self._split([tuple(x.shape), tuple(ref.shape)] if two else tuple(x.shape))
        rank = len(x.shape)
        shape = ops.shape(x)
        sizes_in = [shape[a] + self.pad_beg + self.pad_end for a in axes]
        ref_sizes = None if ref is None else [ops.shape(ref)[a] for a in axes]
        sizes_out = self._sizes_out([shape[a] for a in axes], ref_sizes)
        (h0, h1, lh0, lh1), (w0, w1, lw0, lw1) = (
            _grid(n_in, n_out, -self.pad_beg) for n_in, n_out in zip(sizes_in, sizes_out))
        ah, aw = axes
        dtype = x.dtype
        lh0, lh1 = (ops.cast(_along(l, ah, rank), dtype) for l in (lh0, lh1))
        lw0, lw1 = (ops.cast(_along(l, aw, rank), dtype) for l in (lw0, lw1))
        top, bottom = ops.take(x, h0, axis=ah), ops.take(x, h1, axis=ah)
        row0 = lw0 * ops.take(top, w0, axis=aw) + lw1 * ops.take(top, w1, axis=aw)
        row1 = lw0 * ops.take(bottom, w0, axis=aw) + lw1 * ops.take(bottom, w1, axis=aw)
        return lh0 * row0 + lh1 * row1

    def compute_output_shape(self, input_shape):
        x_shape, ref_shape, axes = self._split(input_shape)
        sizes_in = [x_shape[a] for a in axes]
        cropped = [n + self.pad_beg + self.pad_end for n in sizes_in if n is not None]
        if cropped and min(cropped) <= 0:
            raise ValueError(f"CaffeInterp: pad_beg={self.pad_beg} and pad_end={self.pad_end} "
                             f"crop away the whole input {x_shape} along axes {axes}.")
        ref_sizes = None if ref_shape is None else [ref_shape[a] for a in axes]
        out = list(x_shape)
        for a, n in zip(axes, self._sizes_out(sizes_in, ref_sizes)):
            out[a] = n
        return tuple(out)

    def get_config(self):
        config = super().get_config()
        config.update({
            "axes": list(self.axes),
            "size": None if self.size is None else list(self.size),
            "zoom_factor": self.zoom_factor,
            "shrink_factor": self.shrink_factor,
            "pad_beg": self.pad_beg,
            "pad_end": self.pad_end,
        })
        return config
