"""OpenCV's uint8 INTER_LINEAR: our vectorised numpy and TF versions against the conformance
README's loop model (which matched cv2.resize on thousands of size pairs)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.data.formats.resize import opencv_linear_u8, opencv_linear_u8_tf


def _coeffs(dst, src, clamp):
    scale = 1.0 / (float(dst) / float(src))
    ofs, w = [], []
    for d in range(dst):
        f = np.float32((d + 0.5) * scale - 0.5)
        s = int(np.floor(f))
        f = np.float32(f - np.float32(s))
        if clamp and s < 0:
            f, s = np.float32(0), 0
        if clamp and s >= src - 1:
            f, s = np.float32(0), src - 1
        ofs.append(s)
        w.append([int(np.round((np.float32(1) - f) * np.float32(2048))),
                  int(np.round(f * np.float32(2048)))])
    return np.array(ofs), np.array(w, np.int64)


def reference(img, dh, dw):
    H, W = img.shape[:2]
    x = img.reshape(H, W, -1).astype(np.int64)
    if W == 2 * dw and H == 2 * dh:
        out = (x[0::2, 0::2] + x[0::2, 1::2] + x[1::2, 0::2] + x[1::2, 1::2] + 2) >> 2
        return out.astype(np.uint8).reshape((dh, dw) + img.shape[2:])
    xo, xw = _coeffs(dw, W, clamp=True)
    yo, yw = _coeffs(dh, H, clamp=False)
    hr = x[:, xo] * xw[None, :, 0, None] + x[:, np.minimum(xo + 1, W - 1)] * xw[None, :, 1, None]
    r0, r1 = np.clip(yo, 0, H - 1), np.clip(yo + 1, 0, H - 1)
    b0, b1 = yw[:, 0, None, None], yw[:, 1, None, None]
    out = ((((hr[r0] >> 4) * b0) >> 16) + (((hr[r1] >> 4) * b1) >> 16) + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8).reshape((dh, dw) + img.shape[2:])


def _cases(n=150, seed=0):
    rng = np.random.default_rng(seed)
    for i in range(n):
        h, w = (int(v) for v in rng.integers(1, 70, 2))
        dh, dw = (int(v) for v in rng.integers(1, 70, 2))
        if i % 7 == 0:
            dh, dw = max(h // 2, 1), max(w // 2, 1)
        if i % 11 == 0:
            dh, dw = h, w
        c = int(rng.choice([0, 1, 3, 4]))
        img = rng.integers(0, 256, (h, w) if c == 0 else (h, w, c), np.uint8)
        yield img, dh, dw


def test_numpy_matches_reference():
    for img, dh, dw in _cases():
        np.testing.assert_array_equal(opencv_linear_u8(img, dh, dw), reference(img, dh, dw),
                                      err_msg=f"{img.shape} -> {dh} x {dw}")


def test_tf_matches_numpy_in_graph():
    fns = {}
    for img, dh, dw in list(_cases(25, seed=1)):
        img = img.reshape(img.shape[:2] + (-1,))
        key = (dh, dw, img.shape[2])
        if key not in fns:   # dynamic source size, as inside a tf.data pipeline
            fns[key] = tf.function(lambda x, dh=dh, dw=dw: opencv_linear_u8_tf(x, dh, dw),
                                   input_signature=[tf.TensorSpec([None, None, key[2]],
                                                                  tf.uint8)])
        np.testing.assert_array_equal(fns[key](img).numpy(), opencv_linear_u8(img, dh, dw),
                                      err_msg=f"{img.shape} -> {dh} x {dw}")


def test_tf_static_shapes_and_special_cases():
    img = np.random.default_rng(2).integers(0, 256, (20, 30, 3), np.uint8)
    for dh, dw in [(20, 30), (10, 15), (24, 31), (7, 50)]:
        np.testing.assert_array_equal(opencv_linear_u8_tf(img, dh, dw).numpy(),
                                      reference(img, dh, dw))
    assert opencv_linear_u8(img, 20, 30).tolist() == img.tolist()
    # 2x downscale is OpenCV's INTER_AREA: the rounded mean of each 2x2 block
    x = np.array([[0, 1], [1, 1]], np.uint8)
    assert opencv_linear_u8(x, 1, 1).item() == 1   # (0+1+1+1+2) >> 2


@pytest.mark.parametrize("bad", [np.zeros((3, 3), np.float32), np.zeros((2, 2, 2, 2), np.uint8)])
def test_rejects_bad_input(bad):
    with pytest.raises((TypeError, ValueError)):
        opencv_linear_u8(bad, 2, 2)
