"""Fast R-CNN's ROIPooling layer (Caffe fork) on NHWC feature maps."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from keras_caffe.layers._utils import broadcast_add, check_int, float32_divide

#: ROIs searched at once (``tf.map_fn``'s ``parallel_iterations``); each holds its feature
#: map masked once per column bin and its row maxima once per bin.
PARALLEL_ROIS = 8


def _round_half_away(x):
    """C's ``round`` (halves away from zero), exact in float32 (``floor(x + 0.5)`` is not)."""
    a = ops.abs(x)
    r = ops.floor(a)
    r = ops.where(ops.greater_equal(ops.subtract(a, r), 0.5), ops.add(r, 1.0), r)
    return ops.multiply(ops.sign(x), r)


def check_rois(layer: str, rois) -> None:
    """An error unless each ROI of a ``(R, 5)`` or ``(R, 1, 1, 5)`` shape holds 5 values."""
    if None not in rois[1:] and int(np.prod(rois[1:])) != 5:
        raise ValueError(f"{layer}: each ROI must hold 5 values [batch, x1, y1, x2, y2], got "
                         f"shape {rois}.")


def roi_bins(rois, pooled_h, pooled_w, spatial_scale, height, width):
    """Caffe's integer bins of each ROI ``[batch, x1, y1, x2, y2]`` (float32 arithmetic as
    in Caffe): batch index, and ``[start, end)`` rows ``(R, pooled_h)`` and columns
    ``(R, pooled_w)``, clipped to the map."""
    rois = ops.cast(rois, "float32")
    scale = np.float32(spatial_scale)
    batch = ops.cast(rois[:, 0], "int32")          # static_cast<int>: truncation
    x1, y1, x2, y2 = (ops.cast(_round_half_away(ops.multiply(rois[:, k], scale)), "int32")
                      for k in range(1, 5))

    def axis(start, end, bins, size):
        extent = ops.maximum(ops.add(ops.subtract(end, start), 1), 1)
        bin_size = float32_divide(extent, np.float32(bins))[:, None]
        p = ops.arange(bins, dtype="float32")[None]
        lo = ops.cast(ops.floor(ops.multiply(p, bin_size)), "int32")
        hi = ops.cast(ops.ceil(ops.multiply(ops.add(p, 1.0), bin_size)), "int32")
        clip = lambda v: ops.clip(broadcast_add(v, start[:, None]), 0, size)   # noqa: E731
        return clip(lo), clip(hi)

    hs, he = axis(y1, y2, pooled_h, height)
    ws, we = axis(x1, x2, pooled_w, width)
    return batch, hs, he, ws, we


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeROIPooling(keras.layers.Layer):
    """Fast R-CNN's `ROIPooling`: `call([features, rois])` max-pools each ROI into a
    `pooled_h x pooled_w` grid.

    `features` is NHWC `(N, H, W, C)`; `rois` holds `R` rows `[batch, x1, y1, x2, y2]` in
    input-image coordinates (shape `(R, 5)`, or `(R, 1, 1, 5)` as a 4-D blob). Each ROI is
    scaled by `spatial_scale` and rounded (C's `round`), made at least 1 x 1, and split into
    bins `[floor(p * size / pooled), ceil((p + 1) * size / pooled))` clipped to the map;
    an empty bin gives 0. Output: `(R, pooled_h, pooled_w, C)`.

    The gradient goes, as in Caffe, to the first maximum of each bin in row-major order
    (after a ReLU a bin often holds many equal zeros; spreading the gradient over them
    would change training).
    """

    def __init__(self, pooled_h, pooled_w, spatial_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.pooled_h = check_int(pooled_h, "pooled_h", 1)
        self.pooled_w = check_int(pooled_w, "pooled_w", 1)
        self.spatial_scale = float(spatial_scale)

    def build(self, input_shape):
        feat, rois = (tuple(s) for s in input_shape)
        if len(feat) != 4:
            raise ValueError(f"CaffeROIPooling: features must be N, H, W, C, got {feat}.")
        check_rois("CaffeROIPooling", rois)

    def call(self, inputs):
        import tensorflow as tf

        feat, rois = inputs
        rois = ops.reshape(rois, (-1, 5))
        shape = tf.shape(feat)
        batch, hs, he, ws, we = roi_bins(rois, self.pooled_h, self.pooled_w,
                                         self.spatial_scale, shape[1], shape[2])
        index = tf.stop_gradient(tf.map_fn(
            lambda a: _first_max(feat, *a), (batch, hs, he, ws, we),
            fn_output_signature=tf.TensorSpec([self.pooled_h, self.pooled_w, None, 4], tf.int32),
            parallel_iterations=PARALLEL_ROIS))
        empty = tf.logical_or(tf.less_equal(he, hs)[:, :, None], tf.less_equal(we, ws)[:, None])
        out = tf.gather_nd(feat, index)                       # (R, PH, PW, C)
        return tf.where(empty[..., None], tf.zeros_like(out), out)

    def compute_output_shape(self, input_shape):
        feat, rois = input_shape
        return (rois[0], self.pooled_h, self.pooled_w, feat[3])

    def get_config(self):
        return {**super().get_config(), "pooled_h": self.pooled_h, "pooled_w": self.pooled_w,
                "spatial_scale": self.spatial_scale}


def _first_max(feat, batch, hs, he, ws, we):
    """``[batch, h, w, c]`` of the first maximum (row-major) of every bin of one ROI, per
    channel: ``(PH, PW, C, 4)``.  Separable: per column bin the first maximum of each row,
    then per row bin the first row holding the bin's maximum."""
    import tensorflow as tf

    fm = feat[batch]                                          # (H, W, C)
    h_len, w_len = tf.shape(fm)[0], tf.shape(fm)[1]
    low = tf.constant(-np.inf, fm.dtype)
    cols = tf.range(w_len)
    in_w = tf.logical_and(cols[None] >= ws[:, None], cols[None] < we[:, None])   # (PW, W)
    x = tf.where(in_w[:, None, :, None], fm[None], low)                          # (PW, H, W, C)
    row_max = tf.reduce_max(x, axis=2)                                           # (PW, H, C)
    big = tf.int32.max
    row_arg = tf.reduce_min(tf.where(tf.equal(x, row_max[:, :, None]), cols[None, None, :, None],
                                     big), axis=2)                               # (PW, H, C)
    rows = tf.range(h_len)
    in_h = tf.logical_and(rows[None] >= hs[:, None], rows[None] < he[:, None])   # (PH, H)
    y = tf.where(in_h[:, None, :, None], row_max[None], low)                     # (PH, PW, H, C)
    bin_max = tf.reduce_max(y, axis=2)                                           # (PH, PW, C)
    h_star = tf.reduce_min(tf.where(tf.equal(y, bin_max[:, :, None]), rows[None, None, :, None],
                                    big), axis=2)                                # (PH, PW, C)
    h_star = tf.minimum(h_star, h_len - 1)                    # empty bins: any valid index
    pw_idx = tf.broadcast_to(tf.range(tf.shape(ws)[0])[None, :, None], tf.shape(h_star))
    c_idx = tf.broadcast_to(tf.range(tf.shape(fm)[2])[None, None], tf.shape(h_star))
    w_star = tf.minimum(tf.gather_nd(row_arg, tf.stack([pw_idx, h_star, c_idx], -1)), w_len - 1)
    return tf.stack([tf.fill(tf.shape(h_star), batch), h_star, w_star, c_idx], -1)
