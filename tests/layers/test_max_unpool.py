"""SegNet's unpooling: CaffePooling2D's mask top and CaffeMaxUnpool2D, against numpy loops
written from Caffe's MAX pooling (pooling_layer.cpp) and SegNet's upsample_layer.cpp."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.layers import CaffeMaxUnpool2D, CaffePooling2D

FLT_MAX = np.finfo(np.float32).max


def ref_max_mask(x, k, s, p, ceil=True):
    """Caffe's MAX loop on N, C, H, W: value and mask (first strict maximum, row-major)."""
    n, c, h, w = x.shape
    size = lambda d: (int(np.ceil((d + 2 * p - k) / s)) if ceil else (d + 2 * p - k) // s) + 1
    oh, ow = size(h), size(w)
    if p and (oh - 1) * s >= h + p:
        oh -= 1
    if p and (ow - 1) * s >= w + p:
        ow -= 1
    top = np.full((n, c, oh, ow), -FLT_MAX, np.float32)
    mask = np.full((n, c, oh, ow), -1, np.float32)
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * s - p, j * s - p
            he, we = min(hs + k, h), min(ws + k, w)
            for a in range(max(hs, 0), he):
                for b in range(max(ws, 0), we):
                    better = x[:, :, a, b] > top[:, :, i, j]
                    top[:, :, i, j] = np.where(better, x[:, :, a, b], top[:, :, i, j])
                    mask[:, :, i, j] = np.where(better, a * w + b, mask[:, :, i, j])
    return top, mask


def ref_unpool(x, mask, out_h, out_w):
    """SegNet's Forward_cpu: top[mask[i]] = bottom[i], in order (the last write wins)."""
    n, c = x.shape[:2]
    top = np.zeros((n, c, out_h * out_w), np.float32)
    for a in range(n):
        for b in range(c):
            for value, index in zip(x[a, b].ravel(), mask[a, b].ravel()):
                top[a, b, int(index)] = value
    return top.reshape(n, c, out_h, out_w)


def _nhwc(x):
    return x.transpose(0, 2, 3, 1)


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 2, 0), (3, 2, 1), (3, 3, 1)])
def test_pooling_mask_matches_caffe(k, s, p):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 8)).astype(np.float32)
    x[0, 0, :3, :3] = 0.5                           # ties: the first one is the maximum
    pooled, mask = CaffePooling2D("max", k, s, p, return_mask=True)(_nhwc(x))
    want, want_mask = ref_max_mask(x, k, s, p)
    np.testing.assert_array_equal(np.asarray(pooled), _nhwc(want))
    np.testing.assert_array_equal(np.asarray(mask), _nhwc(want_mask))
    assert mask.dtype == tf.float32


def test_global_pooling_mask():
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5)).astype(np.float32)
    x[1, 2] = 7.0                                    # all equal: the first, index 0
    pooled, mask = CaffePooling2D("max", global_pooling=True, return_mask=True)(_nhwc(x))
    flat = x.reshape(2, 3, -1)                       # np.argmax: the first maximum
    np.testing.assert_array_equal(np.asarray(pooled).reshape(2, 3), flat.max(axis=2))
    np.testing.assert_array_equal(np.asarray(mask).reshape(2, 3), flat.argmax(axis=2))
    assert np.asarray(mask)[1, 0, 0, 2] == 0


def test_only_max_pooling_has_a_mask():
    with pytest.raises(ValueError, match="'max' pooling only"):
        CaffePooling2D("ave", 2, 2, return_mask=True)


@pytest.mark.parametrize("k, s, size", [(2, 2, (7, 8)), (3, 2, (7, 8)), (2, 2, (8, 9))])
def test_unpool_puts_values_back_where_the_mask_says(k, s, size):
    """Non-overlapping windows, overlapping ones (3 x 3 stride 2: a position named twice
    takes the later value) and an output larger than the pooled input."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 7, 8)).astype(np.float32)
    values, mask = ref_max_mask(x, k, s, 0)
    mask = (mask // 8 * size[1] + mask % 8).astype(np.float32)    # rows of the output plane
    vals = tf.constant(_nhwc(values))
    with tf.GradientTape() as tape:
        tape.watch(vals)
        out = CaffeMaxUnpool2D(size)([vals, tf.constant(_nhwc(mask))])
    want = ref_unpool(values, mask, *size)
    np.testing.assert_array_equal(np.asarray(out), _nhwc(want))
    top_diff = rng.standard_normal((2, 3) + size).astype(np.float32)
    grad = np.asarray(tape.gradient(out, vals, output_gradients=tf.constant(_nhwc(top_diff))))
    # SegNet's Backward_cpu: bottom_diff[i] = top_diff[mask[i]], also for the losers.
    want_grad = np.take_along_axis(top_diff.reshape(2, 3, -1),
                                   mask.reshape(2, 3, -1).astype(int), axis=2)
    np.testing.assert_array_equal(grad, _nhwc(want_grad.reshape(values.shape)))
    if k == 3:
        assert len(np.unique(mask)) < mask.size        # overlapping windows did repeat


def test_scale_form_follows_the_input_size():
    """SegNet's deprecated form: out = H * scale - pad_out, at any input size."""
    inputs = [keras.Input((None, None, 1)), keras.Input((None, None, 1))]
    model = keras.Model(inputs, CaffeMaxUnpool2D(scales=(2, 2), pad_out=(1, 0))(inputs))
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 3, 1) + 1
    mask = np.float32([0, 2, 4, 6 * 1 + 1, 6 * 2 + 2, 6 * 2 + 5]).reshape(1, 2, 3, 1)
    out = np.asarray(model([x, mask]))[0, :, :, 0]
    assert out.shape == (3, 6)
    assert out.ravel()[[0, 2, 4, 7, 14, 17]].tolist() == [1, 2, 3, 4, 5, 6]
    assert np.count_nonzero(out) == 6


def test_an_index_outside_the_output_is_an_error(roundtrip):
    x = np.ones((1, 1, 2, 1), np.float32)
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside the output plane"):
        CaffeMaxUnpool2D((2, 2))([x, np.float32([[[[1], [4]]]])])
    inputs = [keras.Input((1, 2, 1)), keras.Input((1, 2, 1))]
    roundtrip(keras.Model(inputs, CaffeMaxUnpool2D((2, 2))(inputs)),
              [x, np.float32([[[[1], [3]]]])])
