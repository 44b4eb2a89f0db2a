import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.layers import CaffeROIPooling


def _c_round(v):
    return np.sign(v) * np.floor(np.abs(v) + np.float32(0.5)) if abs(v) % 1 != 0.5 \
        else np.sign(v) * np.ceil(np.abs(v))


def ref_roi_pooling(feat, rois, ph_n, pw_n, scale, top_diff=None):
    """Fast R-CNN's loops on N, C, H, W (float32 bins): output (R, C, PH, PW) and, given a
    top diff, the bottom diff (all to each bin's first maximum)."""
    n_, c_n, h_n, w_n = feat.shape
    out = np.zeros((len(rois), c_n, ph_n, pw_n), np.float32)
    diff = np.zeros_like(feat)
    scale = np.float32(scale)
    for r, roi in enumerate(np.asarray(rois, np.float32)):
        b = int(roi[0])
        x1, y1, x2, y2 = (int(_c_round(np.float32(v) * scale)) for v in roi[1:])
        bh = np.float32(max(y2 - y1 + 1, 1)) / np.float32(ph_n)
        bw = np.float32(max(x2 - x1 + 1, 1)) / np.float32(pw_n)
        for c in range(c_n):
            for ph in range(ph_n):
                for pw in range(pw_n):
                    hs = min(max(int(np.floor(np.float32(ph) * bh)) + y1, 0), h_n)
                    he = min(max(int(np.ceil(np.float32(ph + 1) * bh)) + y1, 0), h_n)
                    ws = min(max(int(np.floor(np.float32(pw) * bw)) + x1, 0), w_n)
                    we = min(max(int(np.ceil(np.float32(pw + 1) * bw)) + x1, 0), w_n)
                    if he <= hs or we <= ws:
                        continue
                    best, arg = -np.float32(np.finfo(np.float32).max), None
                    for h in range(hs, he):
                        for w in range(ws, we):
                            if feat[b, c, h, w] > best:
                                best, arg = feat[b, c, h, w], (h, w)
                    out[r, c, ph, pw] = best
                    if top_diff is not None:
                        diff[b, c][arg] += top_diff[r, c, ph, pw]
    return out, diff


ROIS = np.array([[0, 0, 0, 15, 11], [1, 3.5, 2.5, 9.5, 13.49], [0, 12, 4, 5, 20],
                 [1, -8, -8, 40, 40], [0, 30, 30, 33, 33]], np.float32)


@pytest.mark.parametrize("pooled,scale", [((2, 3), 0.5), ((3, 3), 0.25), ((4, 2), 1.0)])
def test_forward_and_backward_match_fast_rcnn(pooled, scale):
    rng = np.random.default_rng(0)
    feat = rng.standard_normal((2, 3, 9, 10)).astype(np.float32)
    feat[0, 1, :4, :4] = 0.0        # ties, as after a ReLU: the first one takes the gradient
    top_diff = rng.standard_normal((len(ROIS), 3) + pooled).astype(np.float32)
    layer = CaffeROIPooling(*pooled, spatial_scale=scale)
    x = tf.constant(feat.transpose(0, 2, 3, 1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer([x, tf.constant(ROIS)])
        loss = tf.reduce_sum(y * top_diff.transpose(0, 2, 3, 1))
    grad = tf.convert_to_tensor(tape.gradient(loss, x)).numpy().transpose(0, 3, 1, 2)
    want, want_diff = ref_roi_pooling(feat, ROIS, *pooled, scale, top_diff)
    np.testing.assert_array_equal(y.numpy().transpose(0, 3, 1, 2), want)
    np.testing.assert_allclose(grad, want_diff, rtol=1e-6, atol=1e-6)


def test_shapes_config_and_errors(roundtrip, config_roundtrip):
    f_in, r_in = keras.Input((9, 10, 3)), keras.Input(batch_shape=(None, 1, 1, 5))
    layer = CaffeROIPooling(2, 3, spatial_scale=0.5)
    out = layer([f_in, r_in])
    assert out.shape == (None, 2, 3, 3)
    roundtrip(keras.Model([f_in, r_in], out),
              [np.random.default_rng(1).standard_normal((2, 9, 10, 3)).astype(np.float32),
               ROIS.reshape(-1, 1, 1, 5)])
    config_roundtrip(layer)
    with pytest.raises(ValueError, match="5 values"):
        CaffeROIPooling(2, 2)([keras.Input((4, 4, 3)), keras.Input((4,))])
    with pytest.raises(ValueError, match="pooled_h"):
        CaffeROIPooling(0, 2)


def test_as_many_rois_as_bins():
    """R == pooled_h == pooled_w: keras.ops.add took the ROI starts (R, 1) for a bias along
    the bins and shifted every bin by the wrong ROI's start."""
    rng = np.random.default_rng(4)
    feat = rng.standard_normal((1, 2, 9, 10)).astype(np.float32)
    rois = np.array([[0, 0, 0, 15, 11], [0, 3, 2, 9, 13], [0, 12, 4, 5, 20]], np.float32)
    out = CaffeROIPooling(3, 3, spatial_scale=0.5)([tf.constant(feat.transpose(0, 2, 3, 1)),
                                                     tf.constant(rois)])
    want, _ = ref_roi_pooling(feat, rois, 3, 3, 0.5)
    np.testing.assert_array_equal(np.asarray(out).transpose(0, 3, 1, 2), want)


def test_bins_under_xla():
    """A ROI 7 cells wide in 3 bins: XLA turns the division by 3 into a multiplication by
    1/3, and 3 * (7 * 0.33333334) is 7.0000005, whose ceil is 8 (Caffe: 3 * (7 / 3) = 7);
    the bins are computed as C's float division."""
    rng = np.random.default_rng(5)
    feat = (np.arange(20) + rng.random((1, 2, 16, 20))).astype(np.float32)  # max: last column
    rois = np.array([[0, 40, 8, 64, 36], [0, 4, 8, 36, 44], [0, 2, 2, 50, 30]], np.float32)
    layer = CaffeROIPooling(3, 3, spatial_scale=0.25)
    jit = tf.function(lambda f, r: layer([f, r]), jit_compile=True)
    out = jit(tf.constant(feat.transpose(0, 2, 3, 1)), tf.constant(rois))
    want, _ = ref_roi_pooling(feat, rois, 3, 3, 0.25)
    np.testing.assert_array_equal(np.asarray(out).transpose(0, 3, 1, 2), want)
