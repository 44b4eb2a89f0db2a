"""CaffeAxpy: SENet's a * x + y with channel-wise a."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.layers import CaffeAxpy

rng = np.random.default_rng(0)


@pytest.mark.parametrize("a_shape", [(2, 1, 1, 3), (2, 3)])
def test_forward_and_senet_gradients(a_shape):
    a = rng.standard_normal(a_shape).astype(np.float32)
    x, y = (rng.standard_normal((2, 4, 5, 3)).astype(np.float32) for _ in range(2))
    top_diff = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    tensors = [tf.constant(v) for v in (a, x, y)]
    with tf.GradientTape() as tape:
        tape.watch(tensors)
        out = CaffeAxpy(axis=-1)(tensors)
    ga, gx, gy = (np.asarray(g) for g in tape.gradient(out, tensors, output_gradients=top_diff))
    scale = a.reshape(2, 1, 1, 3)
    np.testing.assert_allclose(out, scale * x + y, rtol=1e-6)
    np.testing.assert_allclose(ga.reshape(2, 3), (top_diff * x).sum(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(gx, scale * top_diff, rtol=1e-6)
    np.testing.assert_array_equal(gy, top_diff)


def test_x_and_y_must_match(roundtrip):
    with pytest.raises(ValueError, match="one shape"):
        CaffeAxpy()([np.ones((1, 2), "float32"), np.ones((1, 3, 3, 2), "float32"),
                     np.ones((1, 3, 4, 2), "float32")])
    ins = [keras.Input((1, 1, 2)), keras.Input((3, 3, 2)), keras.Input((3, 3, 2))]
    model = keras.Model(ins, CaffeAxpy(axis=-1)(ins))
    roundtrip(model, [np.full((1, 1, 1, 2), 2.0, "float32"), np.ones((1, 3, 3, 2), "float32"),
                      np.ones((1, 3, 3, 2), "float32")])
