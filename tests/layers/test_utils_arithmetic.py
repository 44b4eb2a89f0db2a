"""The arithmetic helpers of layers/_utils.py that work around the TensorFlow backend."""

import numpy as np
import tensorflow as tf

from keras_caffe.layers._utils import broadcast_add, float32_divide


def test_broadcast_add_is_numpys():
    a = np.arange(9, dtype=np.float32).reshape(3, 3)
    b = np.float32([[10], [20], [30]])          # keras.ops.add adds this along the rows
    np.testing.assert_array_equal(broadcast_add(tf.constant(a), tf.constant(b)), a + b)
    c = np.arange(24, dtype=np.float32).reshape(1, 2, 3, 4)
    d = np.float32([1, 2, 3]).reshape(1, 1, 3, 1)
    np.testing.assert_array_equal(broadcast_add(tf.constant(c), tf.constant(d)), c + d)


def test_float32_divide_is_cs_division_also_under_xla():
    x = np.arange(1, 200, dtype=np.float32)
    want = x / np.float32(3)
    for divisor in (np.float32(3), tf.constant(np.float32(3))):
        jit = tf.function(lambda v: float32_divide(v, divisor), jit_compile=True)
        np.testing.assert_array_equal(jit(tf.constant(x)), want)
        np.testing.assert_array_equal(float32_divide(tf.constant(x), divisor), want)


def test_bias_and_scale_along_an_axis_as_long_as_the_channels():
    """A bias over H when H == C: keras.ops.add added it along C."""
    from keras_caffe.layers import CaffeBias, CaffeScale

    x = np.random.default_rng(0).standard_normal((2, 4, 5, 4)).astype(np.float32)   # NHWC
    b = np.float32([1, 2, 3, 4])
    bias = CaffeBias(axes=(1,))
    bias.build(x.shape)
    bias.set_weights([b])
    np.testing.assert_array_equal(bias(x), x + b[None, :, None, None])
    scale = CaffeScale(axes=(1,), bias_term=True)
    scale.build(x.shape)
    scale.set_weights([np.ones(4, np.float32), b])
    np.testing.assert_array_equal(scale(x), x + b[None, :, None, None])


def test_folded_batch_norm_scale_on_a_3d_blob_as_long_as_the_channels():
    """(N, C, L) with L == C: the folded BatchNorm + Scale adds its shift along C."""
    from keras_caffe.layers import CaffeBatchNormScale

    x = np.random.default_rng(1).standard_normal((2, 3, 3)).astype(np.float32)
    layer = CaffeBatchNormScale(axis=1, epsilon=0.0, use_global_stats=True, bias_term=True)
    layer.build(x.shape)
    gamma, beta = np.ones(3, np.float32), np.float32([1, 2, 3])
    mean, var, factor = np.float32([0, 0, 0]), np.float32([1, 1, 1]), np.float32([1])
    layer.set_weights([gamma, beta, mean, var, factor])
    np.testing.assert_allclose(layer(x), x + beta[None, :, None], rtol=1e-6)
