"""CaffePSROIPooling against R-FCN's PSROIPoolingForward (``rcnn_ref.psroi_pooling``)."""

import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.layers import CaffePSROIPooling

from .rcnn_ref import psroi_pooling

ROIS = np.array([[0, 2, 3, 20, 14],       # inside
                 [1, 5.5, 2.5, 9.5, 13.5],  # halves round away from zero
                 [0, -6, -8, 10, 6],      # partly off the map: clipped
                 [1, 60, 40, 70, 50],     # wholly off the map: every bin empty, 0
                 [0, 7, 7, 7, 7]], np.float32)   # one point: 0.1 wide after scaling


@pytest.mark.parametrize("group, output_dim, scale", [(3, 2, 0.5), (2, 3, 0.25), (1, 4, 1.0)])
def test_forward_matches_r_fcn(group, output_dim, scale):
    rng = np.random.default_rng(0)
    feat = rng.standard_normal((2, output_dim * group * group, 9, 11)).astype(np.float32)
    layer = CaffePSROIPooling(output_dim, group, scale)
    out = np.asarray(layer([tf.constant(feat.transpose(0, 2, 3, 1)), tf.constant(ROIS)]))
    want = psroi_pooling(feat, ROIS, output_dim, group, scale)
    assert out.shape == (len(ROIS), group, group, output_dim)
    np.testing.assert_allclose(out.transpose(0, 3, 1, 2), want, rtol=1e-5, atol=1e-6)
    assert not want[3].any() and np.abs(want[0]).min() > 0


def test_gradient_spreads_each_bin_evenly():
    """R-FCN's backward: each cell of a bin gets top_diff / bin area (for its channel)."""
    rng = np.random.default_rng(1)
    group, od = 2, 1
    feat = rng.standard_normal((1, od * group * group, 6, 6)).astype(np.float32)
    rois = np.array([[0, 0, 0, 5, 3]], np.float32)         # rows 0-3 in 2 bins, cols 0-5
    top_diff = rng.standard_normal((1, group, group, od)).astype(np.float32)
    x = tf.constant(feat.transpose(0, 2, 3, 1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = CaffePSROIPooling(od, group, 1.0)([x, tf.constant(rois)])
    grad = np.asarray(tape.gradient(y, x, output_gradients=tf.constant(top_diff)))
    want = np.zeros_like(feat)
    for i, (hs, he) in enumerate(((0, 2), (2, 4))):
        for j, (ws, we) in enumerate(((0, 3), (3, 6))):
            want[0, i * group + j, hs:he, ws:we] = top_diff[0, i, j, 0] / ((he - hs) * (we - ws))
    np.testing.assert_allclose(grad, want.transpose(0, 2, 3, 1), rtol=1e-6)


def test_channels_must_be_output_dim_times_group_squared(config_roundtrip):
    layer = CaffePSROIPooling(2, 3, 0.0625)
    with pytest.raises(ValueError, match="output_dim \\* group_size\\^2 = 18"):
        layer.build([(1, 5, 5, 17), (4, 5)])
    config_roundtrip(layer)


def test_as_many_rois_as_bins():
    """R == group_size: keras.ops.add would take the ROI starts (R, 1) for a bias along the
    bins (the layers add with broadcast_add)."""
    rng = np.random.default_rng(3)
    feat = rng.standard_normal((1, 9, 8, 8)).astype(np.float32)
    rois = np.array([[0, 0, 0, 7, 7], [0, 2, 4, 6, 7], [0, 5, 1, 7, 3]], np.float32)
    out = CaffePSROIPooling(1, 3, 1.0)([tf.constant(feat.transpose(0, 2, 3, 1)), tf.constant(rois)])
    np.testing.assert_allclose(np.asarray(out).transpose(0, 3, 1, 2),
                               psroi_pooling(feat, rois, 1, 3, 1.0), rtol=1e-5, atol=1e-6)


def test_bins_under_xla():
    """A ROI 7 wide in 3 bins: under XLA the division by 3 must stay C's (see ROIPooling)."""
    rng = np.random.default_rng(6)
    feat = (np.arange(20) + rng.random((1, 9, 16, 20))).astype(np.float32)
    rois = np.array([[0, 10, 2, 16, 8], [0, 1, 1, 13, 14]], np.float32)
    layer = CaffePSROIPooling(1, 3, 1.0)
    out = tf.function(lambda f, r: layer([f, r]), jit_compile=True)(
        tf.constant(feat.transpose(0, 2, 3, 1)), tf.constant(rois))
    np.testing.assert_allclose(np.asarray(out).transpose(0, 3, 1, 2),
                               psroi_pooling(feat, rois, 1, 3, 1.0), rtol=1e-5)
