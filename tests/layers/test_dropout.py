"""CaffeDropout: Fast R-CNN's scale_train and Bayesian SegNet's sample_weights_test, against
their dropout_layer.cpp."""

import numpy as np
import pytest

from keras_caffe.layers import CaffeDropout

X = np.arange(1, 4001, dtype=np.float32).reshape(4, 1000)


def test_fast_rcnn_scales_at_test_time():
    layer = CaffeDropout(0.5, scale_train=False)
    np.testing.assert_array_equal(layer(X, training=False), X * np.float32(0.5))
    rate = 0.3     # Caffe: x * (1 / scale_), scale_ = 1 / (1 - 0.3) in float32
    alpha = np.float32(1.0 / float(np.float32(1.0 / (1.0 - float(np.float32(rate))))))
    np.testing.assert_array_equal(CaffeDropout(rate, scale_train=False)(X), X * alpha)


def test_fast_rcnn_drops_without_scaling_in_train():
    out = np.asarray(CaffeDropout(0.5, scale_train=False, seed=1)(X, training=True))
    kept = out != 0
    assert 0.4 < kept.mean() < 0.6
    np.testing.assert_allclose(out[kept], X[kept], rtol=1e-6)


@pytest.mark.parametrize("training", [False, True])
def test_bayesian_segnet_drops_in_every_phase(training):
    out = np.asarray(CaffeDropout(0.5, test_dropout=True, seed=2)(X, training=training))
    kept = out != 0
    assert 0.4 < kept.mean() < 0.6
    np.testing.assert_allclose(out[kept], 2 * X[kept], rtol=1e-6)   # Caffe's scale_


def test_plain_caffe_dropout_is_the_identity_at_test(config_roundtrip):
    layer = CaffeDropout(0.5, scale_train=True)
    np.testing.assert_array_equal(layer(X), X)
    config_roundtrip(CaffeDropout(0.25, scale_train=False, test_dropout=False))
