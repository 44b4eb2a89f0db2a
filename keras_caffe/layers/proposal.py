"""Faster R-CNN's region proposals: py-faster-rcnn's ``rpn.proposal_layer.ProposalLayer`` (a
Python layer in Caffe) as a Keras layer, also OpenCV's C++ ``Proposal`` type."""

from __future__ import annotations

import keras
import numpy as np

from keras_caffe.layers._utils import check_int, check_number

#: py-faster-rcnn's ``fast_rcnn/config.py``: (RPN_PRE_NMS_TOP_N, RPN_POST_NMS_TOP_N,
#: RPN_NMS_THRESH, RPN_MIN_SIZE) by phase.
RPN_CONFIG = {"TRAIN": (12000, 2000, 0.7, 16), "TEST": (6000, 300, 0.7, 16)}


def generate_anchors(base_size=16, ratios=(0.5, 1, 2), scales=(8, 16, 32)) -> np.ndarray:
    """py-faster-rcnn's ``generate_anchors``: ``(len(ratios) * len(scales), 4)`` windows
    ``[x1, y1, x2, y2]`` around the reference ``(0, 0, base_size - 1, base_size - 1)``,
    ratio-major, with its float64 arithmetic and ``np.round`` (halves to even)."""
    def whctrs(a):
        w, h = a[2] - a[0] + 1, a[3] - a[1] + 1
        return w, h, a[0] + 0.5 * (w - 1), a[1] + 0.5 * (h - 1)

    def mkanchors(ws, hs, x, y):
        ws, hs = ws[:, None], hs[:, None]
        return np.hstack((x - 0.5 * (ws - 1), y - 0.5 * (hs - 1),
                          x + 0.5 * (ws - 1), y + 0.5 * (hs - 1)))

    w, h, x, y = whctrs(np.array([1, 1, base_size, base_size], np.float64) - 1)
    ws = np.round(np.sqrt(w * h / np.asarray(ratios, np.float64)))
    hs = np.round(ws * np.asarray(ratios, np.float64))
    out = []
    for anchor in mkanchors(ws, hs, x, y):
        w, h, x, y = whctrs(anchor)
        out.append(mkanchors(w * np.asarray(scales, np.float64), h * np.asarray(scales, np.float64),
                             x, y))
    return np.vstack(out)


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeProposal(keras.layers.Layer):
    """py-faster-rcnn's `ProposalLayer`: `call([scores, deltas, im_info])` -> `rois` (and
    `scores` with `return_scores=True`).

    Inputs in Caffe's axis order: `scores` `(1, 2A, H, W)` (background then foreground
    probabilities of the `A` anchors), `deltas` `(1, 4A, H, W)`, `im_info` `(1, 3)`
    `[height, width, scale]`. As the Python layer (float32 throughout): the anchors of
    `generate_anchors(base_size, ratios, scales)` shifted by `feat_stride` per cell, ordered
    (h, w, anchor); `bbox_transform_inv` (widths `x2 - x1 + 1`, centres `x1 + 0.5 w`,
    `exp(dw) * w`); boxes clipped to `[0, width - 1] x [0, height - 1]`; boxes narrower or
    lower than `min_size * scale` dropped; sorted by score (numpy's
    `argsort()[::-1]`, stable: equal scores in reverse index order), the first
    `pre_nms_top_n` (all if <= 0) kept; `py_cpu_nms` (overlap with `+ 1` widths, a box
    survives while its overlap is `<= nms_threshold`, sorting again as it does); the first
    `post_nms_top_n` (all if <= 0) returned as rows `[0, x1, y1, x2, y2]` `(R, 5)`, and
    their scores `(R, 1)`. No gradient (the Python layer has no backward). One image only,
    as the Python layer asserts.

    Args:
        feat_stride: the feature map's stride in image pixels.
        scales, ratios, base_size: the anchors; defaults (8, 16, 32), (0.5, 1, 2), 16.
        min_size, pre_nms_top_n, post_nms_top_n, nms_threshold: py-faster-rcnn's TEST
            config by default: 16, 6000, 300, 0.7.
        return_scores: also return the scores (the layer's second top). Default False.
    """

    def __init__(self, feat_stride, scales=(8, 16, 32), ratios=(0.5, 1, 2), base_size=16,
                 min_size=16, pre_nms_top_n=6000, post_nms_top_n=300, nms_threshold=0.7,
                 return_scores=False, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.feat_stride = check_number(feat_stride, "feat_stride")
        self.scales = [check_number(s, "scales") for s in scales]
        self.ratios = [check_number(r, "ratios") for r in ratios]
        if not self.scales or not self.ratios or min(self.scales + self.ratios) <= 0:
            raise ValueError(f"`scales` and `ratios` must be positive numbers, got "
                             f"scales={scales!r}, ratios={ratios!r}.")
        self.base_size = check_number(base_size, "base_size")
        self.min_size = check_number(min_size, "min_size")
        self.pre_nms_top_n = check_int(pre_nms_top_n, "pre_nms_top_n")
        self.post_nms_top_n = check_int(post_nms_top_n, "post_nms_top_n")
        self.nms_threshold = check_number(nms_threshold, "nms_threshold")
        self.return_scores = bool(return_scores)
        self.anchors = generate_anchors(self.base_size, self.ratios, self.scales)

    @property
    def num_anchors(self) -> int:
        return len(self.anchors)

    def build(self, input_shape):
        if not (isinstance(input_shape, (list, tuple)) and len(input_shape) == 3):
            raise ValueError("CaffeProposal takes [scores, deltas, im_info], got "
                             f"input_shape={input_shape!r}.")
        scores, deltas, info = (tuple(s) for s in input_shape)
        a = self.num_anchors
        for what, shape, per in (("scores", scores, 2), ("deltas", deltas, 4)):
            if len(shape) != 4 or shape[1] not in (None, per * a):
                raise ValueError(f"CaffeProposal: {what} must be (1, {per} x {a} anchors, H, W), "
                                 f"got {shape}.")
        if None not in info[1:] and int(np.prod(info[1:])) < 3:
            raise ValueError(f"CaffeProposal: im_info must hold [height, width, scale], got "
                             f"shape {info}.")

    def call(self, inputs):
        import tensorflow as tf

        # No gradient, as py-faster-rcnn's ProposalLayer (its backward does nothing).
        scores, deltas, info = (tf.stop_gradient(tf.cast(x, tf.float32)) for x in inputs)
        one = tf.debugging.Assert(tf.equal(tf.shape(scores)[0], 1), [
            f"layer {self.name}: only single item batches are supported (as py-faster-rcnn's "
            "ProposalLayer asserts); got a batch of", tf.shape(scores)[0]])
        with tf.control_dependencies([one]):
            scores = tf.identity(scores)
        a = self.num_anchors
        info = tf.reshape(info[0], [-1])
        fg = tf.reshape(tf.transpose(scores[0, a:], [1, 2, 0]), [-1])           # (h, w, a)
        deltas = tf.reshape(tf.transpose(deltas[0], [1, 2, 0]), [-1, 4])
        boxes = _clip(_transform_inv(self._shifted_anchors(tf.shape(scores)), deltas), info)
        wide = boxes[:, 2] - boxes[:, 0] + 1.0
        high = boxes[:, 3] - boxes[:, 1] + 1.0
        min_size = np.float32(self.min_size) * info[2]
        valid = tf.logical_and(wide >= min_size, high >= min_size)
        keep, kept_scores = _select(boxes, fg, valid, self.pre_nms_top_n, self.post_nms_top_n,
                                    np.float32(self.nms_threshold))
        picked = tf.gather(boxes, keep)
        rois = tf.concat([tf.zeros_like(picked[:, :1]), picked], axis=1)
        return [rois, kept_scores[:, None]] if self.return_scores else rois

    def _shifted_anchors(self, shape):
        import tensorflow as tf

        stride = np.float32(self.feat_stride)
        xs = tf.cast(tf.range(shape[3]), tf.float32) * stride
        ys = tf.cast(tf.range(shape[2]), tf.float32) * stride
        sy, sx = tf.meshgrid(ys, xs, indexing="ij")                           # (H, W)
        shifts = tf.stack([sx, sy, sx, sy], axis=-1)[:, :, None, :]            # (H, W, 1, 4)
        anchors = tf.constant(self.anchors.astype(np.float32))[None, None]    # (1, 1, A, 4)
        return tf.reshape(shifts + anchors, [-1, 4])

    def compute_output_shape(self, input_shape):
        rois = (None, 5)
        return [rois, (None, 1)] if self.return_scores else rois

    def get_config(self):
        return {**super().get_config(), "feat_stride": self.feat_stride, "scales": self.scales,
                "ratios": self.ratios, "base_size": self.base_size, "min_size": self.min_size,
                "pre_nms_top_n": self.pre_nms_top_n, "post_nms_top_n": self.post_nms_top_n,
                "nms_threshold": self.nms_threshold, "return_scores": self.return_scores}


def _transform_inv(boxes, deltas):
    """py-faster-rcnn's ``bbox_transform_inv`` in float32."""
    import tensorflow as tf

    widths = boxes[:, 2] - boxes[:, 0] + 1.0
    heights = boxes[:, 3] - boxes[:, 1] + 1.0
    ctr_x = boxes[:, 0] + 0.5 * widths
    ctr_y = boxes[:, 1] + 0.5 * heights
    x = deltas[:, 0] * widths + ctr_x
    y = deltas[:, 1] * heights + ctr_y
    w = tf.exp(deltas[:, 2]) * widths
    h = tf.exp(deltas[:, 3]) * heights
    return tf.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], axis=1)


def _clip(boxes, info):
    """``clip_boxes``: x into [0, width - 1], y into [0, height - 1]."""
    import tensorflow as tf

    limits = tf.stack([info[1], info[0], info[1], info[0]]) - 1.0
    return tf.maximum(tf.minimum(boxes, limits[None]), 0.0)


def _numpy_order(scores):
    """numpy's ``scores.argsort()[::-1]`` with a stable sort."""
    import tensorflow as tf

    return tf.reverse(tf.argsort(scores, stable=True), [0])


def _select(boxes, scores, valid, pre_nms_top_n, post_nms_top_n, threshold):
    """Indices of the proposals kept, in output order, and their scores: the valid boxes
    sorted, cut to ``pre_nms_top_n``, through ``py_cpu_nms``, cut to ``post_nms_top_n``.
    Sizes stay fixed until the last step (the filtered-out boxes sort last and stay dead),
    so XLA compiles it."""
    import tensorflow as tf

    ranked = tf.where(valid, scores, -np.inf)
    order = _numpy_order(ranked)
    if pre_nms_top_n > 0:
        order = order[:pre_nms_top_n]
    order = tf.gather(order, _numpy_order(tf.gather(ranked, order)))   # py_cpu_nms's own sort
    kept = _nms(tf.gather(boxes, order), tf.gather(valid, order), threshold, post_nms_top_n)
    keep = tf.gather(order, kept)
    return keep, tf.gather(scores, keep)


def _nms(boxes, alive, threshold, limit):
    """py_cpu_nms over the ``alive`` boxes in their order: positions kept, in order (at most
    ``limit`` when positive)."""
    import tensorflow as tf

    n = tf.shape(boxes)[0]
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    areas = (x2 - x1 + 1.0) * (y2 - y1 + 1.0)
    positions = tf.range(n)
    most = n if limit <= 0 else tf.minimum(n, limit)

    def more(alive, kept, count):
        return tf.logical_and(tf.reduce_any(alive), count < most)

    def step(alive, kept, count):
        i = tf.reduce_min(tf.where(alive, positions, n))              # the next survivor
        # tf.gather, not x1[i]: XLA (TF 2.21) slices at a loop variable wrongly.
        bx1, by1, bx2, by2, area = (tf.gather(v, i) for v in (x1, y1, x2, y2, areas))
        w = tf.maximum(0.0, tf.minimum(bx2, x2) - tf.maximum(bx1, x1) + 1.0)
        h = tf.maximum(0.0, tf.minimum(by2, y2) - tf.maximum(by1, y1) + 1.0)
        inter = w * h
        overlap = inter / (area + areas - inter)
        alive = tf.logical_and(alive, overlap <= threshold)           # NaN overlaps go too
        alive = tf.logical_and(alive, tf.not_equal(positions, i))
        return alive, tf.logical_or(kept, tf.equal(positions, i)), count + 1

    _, kept, _ = tf.while_loop(more, step, (alive, tf.zeros([n], tf.bool), tf.constant(0)))
    return tf.reshape(tf.where(kept), [-1])
