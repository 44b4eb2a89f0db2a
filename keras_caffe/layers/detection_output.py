"""SSD's DetectionOutput layer: decode, per-class NMS, keep the best, Caffe's rows."""

from __future__ import annotations

import functools

import keras
import numpy as np

from keras_caffe.layers._utils import FLT_MAX, check_bool, check_int, check_number

#: SSD's PriorBoxParameter.CodeType, by name (the proto's enum values 1, 2, 3).
CODE_TYPES = ("CORNER", "CENTER_SIZE", "CORNER_SIZE")


def _code_type(value) -> str:
    if isinstance(value, str) and value.upper() in CODE_TYPES:
        return value.upper()
    if isinstance(value, (int, np.integer)) and 1 <= int(value) <= 3:
        return CODE_TYPES[int(value) - 1]
    raise ValueError(f"`code_type` must be one of {list(CODE_TYPES)} (or 1, 2, 3), got "
                     f"code_type={value!r}.")


def decode_boxes(loc, prior, variance, code_type: str, variance_encoded_in_target: bool):
    """SSD's ``DecodeBBox`` (clip_bbox false), float32: ``loc`` (..., 4) offsets against
    ``prior`` boxes and their ``variance`` (broadcastable, ``[xmin, ymin, xmax, ymax]``)."""
    import tensorflow as tf

    v = tf.ones_like(variance) if variance_encoded_in_target else variance
    pxmin, pymin, pxmax, pymax = tf.unstack(prior, axis=-1)
    lx0, ly0, lx1, ly1 = tf.unstack(loc, axis=-1)
    v0, v1, v2, v3 = tf.unstack(v, axis=-1)
    if code_type == "CORNER":
        out = [pxmin + v0 * lx0, pymin + v1 * ly0, pxmax + v2 * lx1, pymax + v3 * ly1]
    else:
        width, height = pxmax - pxmin, pymax - pymin
        if code_type == "CORNER_SIZE":
            out = [pxmin + v0 * lx0 * width, pymin + v1 * ly0 * height,
                   pxmax + v2 * lx1 * width, pymax + v3 * ly1 * height]
        else:  # CENTER_SIZE
            cx = v0 * lx0 * width + (pxmin + pxmax) / 2.0
            cy = v1 * ly0 * height + (pymin + pymax) / 2.0
            half_w, half_h = tf.exp(v2 * lx1) * width / 2.0, tf.exp(v3 * ly1) * height / 2.0
            out = [cx - half_w, cy - half_h, cx + half_w, cy + half_h]
    return tf.stack(out, axis=-1)


def jaccard(a, b):
    """SSD's ``JaccardOverlap`` (normalized): 0 for boxes apart (or touching), and a box with
    ``xmax < xmin`` or ``ymax < ymin`` has size 0."""
    import tensorflow as tf

    ax0, ay0, ax1, ay1 = tf.unstack(a, axis=-1)
    bx0, by0, bx1, by1 = tf.unstack(b, axis=-1)
    apart = (bx0 > ax1) | (bx1 < ax0) | (by0 > ay1) | (by1 < ay0)
    iw = tf.minimum(ax1, bx1) - tf.maximum(ax0, bx0)
    ih = tf.minimum(ay1, by1) - tf.maximum(ay0, by0)
    meets = ~apart & (iw > 0) & (ih > 0)
    inter = tf.where(meets, iw * ih, 0.0)

    def size(x0, y0, x1, y1):
        return tf.where((x1 < x0) | (y1 < y0), 0.0, (x1 - x0) * (y1 - y0))

    union = size(ax0, ay0, ax1, ay1) + size(bx0, by0, bx1, by1) - inter
    return tf.where(meets, inter / tf.where(meets, union, 1.0), 0.0)


def nms_keep(boxes, valid, nms_threshold: float, eta: float):
    """SSD's ``ApplyNMSFast`` after its sort, for many lists at once: ``boxes`` (B, K, 4)
    sorted by score, ``valid`` (B, K) the candidates (a prefix of each list).  Candidate j
    is kept when its overlap with every box kept before it is <= the threshold; after each
    kept box the threshold is multiplied by ``eta`` while it is above 0.5.  Returns the kept
    mask (B, K).  The loop is a graph even when called eagerly (one op per step otherwise)."""
    import tensorflow as tf

    return _nms_loop()(boxes, valid, tf.constant(nms_threshold, tf.float32),
                       tf.constant(eta, tf.float32))


@functools.cache
def _nms_loop():
    import tensorflow as tf

    def loop(boxes, valid, nms_threshold, eta):
        k = tf.shape(boxes)[1]
        steps = tf.reduce_max(tf.reduce_sum(tf.cast(valid, tf.int32), axis=1))  # < 0: B is 0
        positions = tf.range(k)

        def body(j, kept, threshold):
            # tf.gather, not boxes[:, j]: XLA (TF 2.21) slices at a loop variable wrongly.
            overlap = jaccard(tf.gather(boxes, j[None], axis=1), boxes)
            close = kept & ~(overlap <= threshold[:, None])  # NaN overlaps suppress, as in SSD
            keep = tf.gather(valid, j, axis=1) & ~tf.reduce_any(close, axis=1)
            kept = kept | (keep[:, None] & (positions == j)[None, :])
            shrink = keep & (eta < 1.0) & (threshold > 0.5)
            return j + 1, kept, tf.where(shrink, threshold * eta, threshold)

        threshold = tf.fill(tf.shape(valid)[:1], nms_threshold)
        _, kept, _ = tf.while_loop(lambda j, *_: j < steps, body,
                                   (tf.constant(0), tf.zeros_like(valid), threshold))
        return kept

    return tf.function(loop, reduce_retracing=True, autograph=False)


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeDetectionOutput(keras.layers.Layer):
    """SSD's `DetectionOutput` layer (weiliu89/caffe, branch ssd): boxes decoded from the
    priors, per-class non-maximum suppression, the best `keep_top_k` kept per image.

    `call([loc, conf, prior])` takes Caffe's blobs in Caffe's axis order and reads them as
    Caffe reads their memory: with `P = prior.shape[2] // 4` priors (Caffe's `height / 4`)
    and `L` = 1 location class with `share_location`, else `num_classes`, image i's
    locations are the `P * L * 4` values from `i * P * L * 4` (prior-major, then class, then
    `xmin, ymin, xmax, ymax`), its scores the `P * num_classes` values from
    `i * P * num_classes`, and the prior blob holds `P` boxes then their `P` variances.

    For each image and each class other than `background_label_id`, the boxes of that class
    (`code_type` CORNER, CENTER_SIZE or CORNER_SIZE, variances from the prior blob unless
    `variance_encoded_in_target`; not clipped) whose score is above `confidence_threshold`
    are sorted by score (stably), cut to `top_k`, and suppressed greedily: a box is kept
    when its IoU with every box kept before it is <= `nms_threshold`, which is multiplied
    by `eta` after each kept box while above 0.5. If an image keeps more than
    `keep_top_k` boxes (over all classes), only the `keep_top_k` best scores stay.

    Output: `(1, 1, M, 7)` rows `[image, label, score, xmin, ymin, xmax, ymax]`, by image,
    then label, then score (highest first); when no image keeps anything, one row
    `[i, -1, -1, -1, -1, -1, -1]` per image i. `M` is only known when the layer runs.

    Where SSD's CPU and GPU paths differ, this follows the one that runs: with
    `share_location` and `background_label_id=-1` the CPU path aborts (it never decodes the
    shared boxes) and a prior of zero width aborts its CENTER_SIZE / CORNER_SIZE decoding;
    the GPU path reports every class and decodes such priors, as here. The IoU is SSD's
    normalized one (no +1 on widths), as both paths compute it for DetectionOutput.

    Args:
        num_classes: classes per prior in `conf` (the background included).
        share_location: one box per prior for all classes (default True), else one per class.
        background_label_id: the class never reported (default 0; -1 for none).
        nms_threshold: IoU above which a box is suppressed (default 0.3, >= 0).
        top_k: candidates per class before NMS (default -1: all).
        eta: adaptive NMS factor in (0, 1] (default 1: fixed threshold).
        keep_top_k: detections kept per image (default -1: all).
        confidence_threshold: scores must be above it (default None: any score above
            -FLT_MAX).
        code_type: "CORNER" (default), "CENTER_SIZE" or "CORNER_SIZE".
        variance_encoded_in_target: ignore the prior variances (default False).

    Example:

    >>> prior = np.array([[[0.1, 0.1, 0.5, 0.5], [0.1, 0.1, 0.1, 0.1]]], "float32")
    >>> det = CaffeDetectionOutput(num_classes=2)
    >>> det([np.zeros((1, 4)), np.array([[0.2, 0.8]]), prior])  # [[[[0, 1, 0.8, .1, .1, .5, .5]]]]
    """

    def __init__(self, num_classes, share_location=True, background_label_id=0,
                 nms_threshold=0.3, top_k=-1, eta=1.0, keep_top_k=-1,
                 confidence_threshold=None, code_type="CORNER",
                 variance_encoded_in_target=False, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = check_int(num_classes, "num_classes", 1)
        self.share_location = check_bool(share_location, "share_location")
        self.background_label_id = check_int(background_label_id, "background_label_id")
        self.nms_threshold = check_number(nms_threshold, "nms_threshold")
        self.top_k = check_int(top_k, "top_k")
        self.eta = check_number(eta, "eta")
        self.keep_top_k = check_int(keep_top_k, "keep_top_k")
        self.confidence_threshold = (None if confidence_threshold is None else
                                     check_number(confidence_threshold, "confidence_threshold"))
        self.code_type = _code_type(code_type)
        self.variance_encoded_in_target = check_bool(variance_encoded_in_target,
                                                     "variance_encoded_in_target")
        if self.nms_threshold < 0:
            raise ValueError(f"`nms_threshold` must be >= 0, got nms_threshold={nms_threshold!r}.")
        if not 0 < self.eta <= 1:
            raise ValueError(f"`eta` must be in (0, 1], got eta={eta!r}.")
        self.classes = [c for c in range(self.num_classes) if c != self.background_label_id]

    @property
    def loc_classes(self) -> int:
        return 1 if self.share_location else self.num_classes

    def _check(self, input_shape):
        if not (isinstance(input_shape, (list, tuple)) and len(input_shape) == 3
                and all(isinstance(s, (list, tuple)) for s in input_shape)):
            raise ValueError("CaffeDetectionOutput takes inputs [loc, conf, prior], got "
                             f"input_shape={input_shape!r}.")
        loc, conf, prior = (tuple(s) for s in input_shape)
        if min(len(loc), len(conf), len(prior)) < 2:
            raise ValueError(f"CaffeDetectionOutput needs inputs with a batch axis and a "
                             f"channel axis, got shapes {loc}, {conf}, {prior}.")
        height = prior[2] if len(prior) > 2 else 0    # Caffe's height / 4 priors
        priors = None if height is None else height // 4
        for what, shape, per_prior in (("loc", loc, self.loc_classes * 4),
                                       ("conf", conf, self.num_classes)):
            if priors is not None and shape[1] is not None and shape[1] != priors * per_prior:
                raise ValueError(f"CaffeDetectionOutput: {what} has {shape[1]} channels; "
                                 f"{priors} priors need {priors * per_prior}.")
        if None not in (loc[0], conf[0]) and loc[0] != conf[0]:
            raise ValueError(f"CaffeDetectionOutput: loc has {loc[0]} images, conf {conf[0]}.")

    def build(self, input_shape):
        self._check(input_shape)

    def call(self, inputs):
        # No gradient, as in SSD (its Backward is NOT_IMPLEMENTED); stopping it here also
        # keeps XLA from differentiating the data-dependent gathers below.
        loc, conf, prior = (keras.ops.stop_gradient(keras.ops.cast(x, "float32"))
                            for x in inputs)
        return _detect(self, loc, conf, prior)

    def compute_output_shape(self, input_shape):
        self._check(input_shape)
        return (1, 1, None, 7)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor((1, 1, None, 7), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_classes": self.num_classes,
            "share_location": self.share_location,
            "background_label_id": self.background_label_id,
            "nms_threshold": self.nms_threshold,
            "top_k": self.top_k,
            "eta": self.eta,
            "keep_top_k": self.keep_top_k,
            "confidence_threshold": self.confidence_threshold,
            "code_type": self.code_type,
            "variance_encoded_in_target": self.variance_encoded_in_target,
        })
        return config


def _detect(p: CaffeDetectionOutput, loc, conf, prior):
    """The layer's computation (TF ops) on float32 Caffe-ordered blobs."""
    import tensorflow as tf

    n = tf.shape(loc)[0]
    priors = tf.shape(prior)[2] // 4 if prior.shape.rank >= 3 else tf.constant(0)
    lc, nc = p.loc_classes, p.num_classes
    loc = tf.reshape(tf.reshape(loc, [-1])[:n * priors * lc * 4], [n, priors, lc, 4])
    conf = tf.reshape(tf.reshape(conf, [-1])[:n * priors * nc], [n, priors, nc])
    prior = tf.reshape(prior, [-1])[:2 * priors * 4]
    prior_boxes = tf.reshape(prior[:priors * 4], [priors, 4])
    variances = tf.reshape(prior[priors * 4:], [priors, 4])
    classes = tf.constant(p.classes, tf.int32)
    c = len(p.classes)
    if not p.share_location:
        loc = tf.gather(loc, classes, axis=2)
    boxes = decode_boxes(loc, prior_boxes[:, None, :], variances[:, None, :], p.code_type,
                         p.variance_encoded_in_target)               # (N, P, L', 4)
    boxes = tf.transpose(boxes, [0, 2, 1, 3])                         # (N, L', P, 4)
    scores = tf.transpose(tf.gather(conf, classes, axis=2), [0, 2, 1])   # (N, C', P)

    # GetMaxScoreIndex: scores above the threshold, stably sorted, cut to top_k.
    threshold = -FLT_MAX if p.confidence_threshold is None else p.confidence_threshold
    threshold = tf.constant(threshold, tf.float32)
    k = priors if p.top_k <= -1 else tf.minimum(priors, p.top_k)
    masked = tf.where(scores > threshold, scores, -np.inf)
    top = tf.math.top_k(masked, k=k, sorted=True)       # ties: the lower index first
    valid = top.values > threshold
    order = top.indices                                  # (N, C', K)
    boxes = tf.broadcast_to(boxes, tf.stack([n, c, priors, 4])) if p.share_location else boxes
    candidates = tf.gather(boxes, order, batch_dims=2)   # (N, C', K, 4)
    kk = tf.shape(order)[2]
    kept = nms_keep(tf.reshape(candidates, [-1, kk, 4]), tf.reshape(valid, [-1, kk]),
                    p.nms_threshold, p.eta)
    kept = tf.reshape(kept, [n, c, kk])

    if p.keep_top_k > -1:   # more than keep_top_k in an image: its best keep_top_k stay
        flat = tf.reshape(tf.where(kept, top.values, -np.inf), [n, c * kk])
        best = tf.math.top_k(flat, k=tf.minimum(p.keep_top_k, c * kk)).indices
        image = tf.broadcast_to(tf.range(n)[:, None], tf.shape(best))
        chosen = tf.scatter_nd(tf.stack([image, best], axis=-1), tf.ones_like(best),
                               tf.stack([n, c * kk])) > 0
        over = tf.reduce_sum(tf.cast(kept, tf.int32), axis=[1, 2]) > p.keep_top_k
        kept = tf.where(over[:, None, None], kept & tf.reshape(chosen, [n, c, kk]), kept)

    where = tf.where(kept)                               # (M, 3): image, class, rank
    labels = tf.cast(tf.gather(classes, where[:, 1]), tf.float32)
    rows = tf.concat([tf.cast(where[:, :1], tf.float32), labels[:, None],
                      tf.gather_nd(top.values, where)[:, None],
                      tf.gather_nd(candidates, where)], axis=1)
    empty = tf.concat([tf.cast(tf.range(n), tf.float32)[:, None], -tf.ones([n, 6])], axis=1)
    rows = tf.cond(tf.shape(rows)[0] > 0, lambda: rows, lambda: empty)
    return tf.reshape(rows, [1, 1, -1, 7])
