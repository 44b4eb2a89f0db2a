"""OpenCV's 8-bit ``cv::resize(..., INTER_LINEAR)``, bit-exact, in numpy and as TF ops.

Caffe resizes with OpenCV in two places: the ImageData layer (``new_height``/``new_width``)
and ``convert_imageset --resize_height/--resize_width`` (before encoding).  OpenCV 4.x
resizes uint8 images in fixed point, which ``tf.image.resize`` (float, bilinear) misses by
up to one grey level, so we model the integer arithmetic exactly:

* source coordinates use half-pixel centres, computed in float32:
  ``f = float32((d + 0.5) * (src / dst) - 0.5)``, ``s = floor(f)``, ``f -= s``;
* the two taps weigh ``round((1 - f) * 2048)`` and ``round(f * 2048)`` (11 bits, round half
  to even); along the width the offset and weights are clamped at the borders, along the
  height only the row index is;
* the horizontal pass keeps the full sums (up to 255 x 2048); the vertical pass computes
  ``((h0 >> 4) * b0 >> 16) + ((h1 >> 4) * b1 >> 16) + 2 >> 2``;
* an exact 2x downscale in both directions is done by OpenCV with INTER_AREA (mean of
  each 2x2 block, rounded half up).

>>> img = np.arange(12, dtype=np.uint8).reshape(3, 4)
>>> opencv_linear_u8(img, 3, 4).tolist() == img.tolist()   # identity
True
"""

from __future__ import annotations

import functools
import operator

import numpy as np

__all__ = ["opencv_linear_u8", "opencv_linear_u8_tf"]


@functools.lru_cache(maxsize=256)
def _coeffs(dst: int, src: int, clamp: bool) -> tuple[np.ndarray, ...]:
    """Source index, next index and (w0, w1) 11-bit weights for each destination index."""
    scale = 1.0 / (float(dst) / float(src))
    f = ((np.arange(dst, dtype=np.float64) + 0.5) * scale - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    f = (f - s.astype(np.float32)).astype(np.float32)
    if clamp:
        low, high = s < 0, s >= src - 1
        f = np.where(low | high, np.float32(0), f).astype(np.float32)
        s = np.where(low, 0, np.where(high, src - 1, s))
    w0 = np.round((np.float32(1) - f) * np.float32(2048)).astype(np.int64)
    w1 = np.round(f * np.float32(2048)).astype(np.int64)
    s0 = np.clip(s, 0, src - 1)
    s1 = np.clip(s + 1, 0, src - 1)
    for a in (s0, s1, w0, w1):
        a.flags.writeable = False
    return s0, s1, w0, w1


def opencv_linear_u8(img, dst_h: int, dst_w: int) -> np.ndarray:
    """Resize an ``H x W`` or ``H x W x C`` uint8 image to ``dst_h x dst_w`` exactly as
    OpenCV 4's ``cv::resize(img, Size(dst_w, dst_h))`` (INTER_LINEAR) does.

    Returns uint8 with the input's rank (channels kept).
    """
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise TypeError(f"opencv_linear_u8 needs a uint8 image, got {img.dtype}")
    if img.ndim not in (2, 3):
        raise ValueError(f"opencv_linear_u8 needs an H x W or H x W x C image, got shape "
                         f"{img.shape}")
    dst_h, dst_w = int(dst_h), int(dst_w)
    if dst_h <= 0 or dst_w <= 0:
        raise ValueError(f"resize target must be positive, got {dst_h} x {dst_w}")
    src_h, src_w = img.shape[:2]
    if src_h == 0 or src_w == 0:
        raise ValueError(f"cannot resize an empty image of shape {img.shape}")
    out_shape = (dst_h, dst_w) + img.shape[2:]
    if (src_h, src_w) == (dst_h, dst_w):
        return img.copy()
    x = img.reshape(src_h, src_w, -1)
    if src_w == 2 * dst_w and src_h == 2 * dst_h:
        x = x.astype(np.int32)
        out = (x[0::2, 0::2] + x[0::2, 1::2] + x[1::2, 0::2] + x[1::2, 1::2] + 2) >> 2
        return out.astype(np.uint8).reshape(out_shape)
    c0, c1, cw0, cw1 = _coeffs(dst_w, src_w, True)
    r0, r1, rw0, rw1 = _coeffs(dst_h, src_h, False)
    # Only the rows the vertical pass reads are needed from the horizontal pass.
    rows = np.union1d(r0, r1)
    xr = x[rows].astype(np.int32)
    hr = xr[:, c0] * cw0[None, :, None].astype(np.int32) + \
        xr[:, c1] * cw1[None, :, None].astype(np.int32)           # < 2**19, fits int32
    hr >>= 4
    where = np.searchsorted(rows, np.stack([r0, r1]))
    h0, h1 = hr[where[0]].astype(np.int64), hr[where[1]].astype(np.int64)
    out = ((h0 * rw0[:, None, None]) >> 16) + ((h1 * rw1[:, None, None]) >> 16)
    out = (out + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8).reshape(out_shape)


def _coeffs_tf(dst: int, src, clamp: bool):
    """In-graph :func:`_coeffs` for a dynamic source size ``src`` (int32 scalar tensor)."""
    import tensorflow as tf

    scale = 1.0 / (tf.constant(float(dst), tf.float64) / tf.cast(src, tf.float64))
    f = tf.cast((tf.range(dst, dtype=tf.float64) + 0.5) * scale - 0.5, tf.float32)
    s = tf.cast(tf.floor(f), tf.int32)
    f = f - tf.cast(s, tf.float32)
    if clamp:
        low, high = s < 0, s >= src - 1
        f = tf.where(low | high, tf.zeros_like(f), f)
        last = tf.broadcast_to(src - 1, tf.shape(s))
        s = tf.where(low, tf.zeros_like(s), tf.where(high, last, s))
    w0 = tf.cast(tf.round((1.0 - f) * 2048.0), tf.int32)   # tf.round: half to even, as np.round
    w1 = tf.cast(tf.round(f * 2048.0), tf.int32)
    s0 = tf.clip_by_value(s, 0, src - 1)
    s1 = tf.clip_by_value(s + 1, 0, src - 1)
    return s0, s1, w0, w1


def opencv_linear_u8_tf(img, dst_h: int, dst_w: int):
    """:func:`opencv_linear_u8` as TensorFlow ops (graph-safe, any source size), on an
    ``H x W x C`` uint8 tensor; ``dst_h``/``dst_w`` are Python ints.  Bit-identical to the
    numpy version."""
    import tensorflow as tf

    # operator.index, not int(): autograph would turn int() into a tensor cast.
    return tf.autograph.experimental.do_not_convert(_linear_tf)(
        img, operator.index(dst_h), operator.index(dst_w))


def _linear_tf(img, dst_h: int, dst_w: int):
    import tensorflow as tf

    img = tf.convert_to_tensor(img)
    shape = tf.shape(img)
    src_h, src_w = shape[0], shape[1]

    def identity():
        return img

    def halve():
        x = tf.cast(img, tf.int32)
        out = (x[0::2, 0::2] + x[0::2, 1::2] + x[1::2, 0::2] + x[1::2, 1::2] + 2) // 4
        return tf.cast(out, tf.uint8)

    def linear():
        x = tf.cast(img, tf.int32)
        c0, c1, cw0, cw1 = _coeffs_tf(dst_w, src_w, True)
        r0, r1, rw0, rw1 = _coeffs_tf(dst_h, src_h, False)
        hr = tf.gather(x, c0, axis=1) * cw0[None, :, None] + \
            tf.gather(x, c1, axis=1) * cw1[None, :, None]
        hr = tf.bitwise.right_shift(hr, 4)
        a = tf.bitwise.right_shift(tf.gather(hr, r0) * rw0[:, None, None], 16)
        b = tf.bitwise.right_shift(tf.gather(hr, r1) * rw1[:, None, None], 16)
        out = tf.bitwise.right_shift(a + b + 2, 2)
        return tf.cast(tf.clip_by_value(out, 0, 255), tf.uint8)

    static_h, static_w = img.shape[0], img.shape[1]
    if static_h is not None and static_w is not None:   # choose the branch now
        if (static_h, static_w) == (dst_h, dst_w):
            return identity()
        return halve() if (static_h, static_w) == (2 * dst_h, 2 * dst_w) else linear()
    same = tf.logical_and(tf.equal(src_h, dst_h), tf.equal(src_w, dst_w))
    double = tf.logical_and(tf.equal(src_h, 2 * dst_h), tf.equal(src_w, 2 * dst_w))
    out = tf.case([(same, identity), (double, halve)], default=linear)
    return tf.ensure_shape(out, [dst_h, dst_w, img.shape[-1]])
