"""R-FCN's PSROIPooling layer (position-sensitive ROI average pooling) on NHWC maps."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_caffe.layers._utils import broadcast_add, check_int, check_number, \
    float32_divide
from keras_caffe.layers.roi_pooling import _round_half_away, check_rois


def psroi_bins(rois, group_size, spatial_scale, height, width):
    """R-FCN's bins of each ROI ``[batch, x1, y1, x2, y2]``, in float32 as its kernel
    computes them: the batch index, and ``[start, end)`` rows ``(R, G)`` and columns
    ``(R, G)`` clipped to the map."""
    rois = ops.cast(rois, "float32")
    scale = np.float32(spatial_scale)
    batch = ops.cast(rois[:, 0], "int32")                     # int roi_batch_ind = rois[0]
    x1, y1, x2, y2 = (_round_half_away(rois[:, k]) for k in range(1, 5))
    groups = np.float32(group_size)

    def axis(start, end, size):
        start = ops.multiply(start, scale)                    # round(x1) * spatial_scale
        end = ops.multiply(ops.add(end, 1.0), scale)          # (round(x2) + 1) * scale
        extent = ops.maximum(ops.subtract(end, start), np.float32(0.1))
        bin_size = float32_divide(extent, groups)[:, None]
        p = ops.arange(group_size, dtype="float32")[None]
        lo = ops.floor(broadcast_add(ops.multiply(p, bin_size), start[:, None]))
        hi = ops.ceil(broadcast_add(ops.multiply(ops.add(p, 1.0), bin_size), start[:, None]))
        clip = lambda v: ops.clip(ops.cast(v, "int32"), 0, size)   # noqa: E731
        return clip(lo), clip(hi)

    hs, he = axis(y1, y2, height)
    ws, we = axis(x1, x2, width)
    return batch, hs, he, ws, we


def _in_bins(start, end, size):
    """``(R, G, size)``: whether each position lies in each bin ``[start, end)``."""
    pos = ops.arange(size, dtype="int32")[None, None]
    return ops.logical_and(ops.greater_equal(pos, start[:, :, None]),
                           ops.less(pos, end[:, :, None]))


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffePSROIPooling(keras.layers.Layer):
    """R-FCN's `PSROIPooling` (daijifeng001/caffe-rfcn): `call([features, rois])` averages,
    for each ROI, bin `(i, j)` of a `group_size x group_size` grid over its own channels.

    `features` is NHWC `(N, H, W, output_dim * group_size^2)`; output channel `o` of bin
    `(i, j)` reads input channel `(o * group_size + i) * group_size + j`. `rois` holds `R`
    rows `[batch, x1, y1, x2, y2]` (shape `(R, 5)`, or `(R, 1, 1, 5)` as a 4-D blob) in
    image coordinates: each corner is rounded (C's `round`), the ROI spans
    `[round(x1) * s, (round(x2) + 1) * s)` (`s = spatial_scale`), at least 0.1 wide, and
    bin `i` covers rows `[floor(i * h / G + y1 * s), ceil((i + 1) * h / G + y1 * s))`
    clipped to the map, in float32 as R-FCN's kernel. A bin's value is the mean over its
    cells; an empty bin gives 0. Output `(R, group_size, group_size, output_dim)`. The
    gradient spreads each output's gradient evenly over its bin (R-FCN's backward).

    Args:
        output_dim: output channels.
        group_size: bins per side.
        spatial_scale: default 1.
    """

    def __init__(self, output_dim, group_size, spatial_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = check_int(output_dim, "output_dim", 1)
        self.group_size = check_int(group_size, "group_size", 1)
        self.spatial_scale = check_number(spatial_scale, "spatial_scale")

    def build(self, input_shape):
        feat, rois = (tuple(s) for s in input_shape)
        channels = self.output_dim * self.group_size ** 2
        if len(feat) != 4 or feat[3] not in (None, channels):
            raise ValueError(f"CaffePSROIPooling: features must be N, H, W, C with C = "
                             f"output_dim * group_size^2 = {channels}, got {feat}.")
        check_rois("CaffePSROIPooling", rois)

    def call(self, inputs):
        feat, rois = inputs
        rois = ops.reshape(rois, (-1, 5))
        shape = ops.shape(feat)
        n, h, w = shape[0], shape[1], shape[2]
        g, od = self.group_size, self.output_dim
        batch, hs, he, ws, we = psroi_bins(rois, g, self.spatial_scale, h, w)
        dtype = feat.dtype
        rows = ops.cast(_in_bins(hs, he, h), dtype)                        # (R, G, H)
        cols = ops.cast(_in_bins(ws, we, w), dtype)                        # (R, G, W)
        item = ops.one_hot(batch, n, dtype=dtype)                          # (R, N)
        grouped = ops.reshape(feat, (n, h, w, od, g, g))                   # c = (o*G + i)*G + j
        rows_of_item = ops.multiply(item[:, :, None, None], rows[:, None])  # (R, N, G, H)
        partial = ops.einsum("rnih,nhwoij->riwoj", rows_of_item, grouped)   # sum over rows
        total = ops.einsum("rjw,riwoj->rijo", cols, partial)               # sum over columns
        area = ops.multiply(ops.subtract(he, hs)[:, :, None], ops.subtract(we, ws)[:, None])
        empty = ops.less_equal(area, 0)[..., None]
        safe = ops.cast(ops.maximum(area, 1), dtype)[..., None]
        return ops.where(empty, ops.zeros_like(total), ops.divide(total, safe))

    def compute_output_shape(self, input_shape):
        feat, rois = input_shape
        return (rois[0], self.group_size, self.group_size, self.output_dim)

    def get_config(self):
        return {**super().get_config(), "output_dim": self.output_dim,
                "group_size": self.group_size, "spatial_scale": self.spatial_scale}
