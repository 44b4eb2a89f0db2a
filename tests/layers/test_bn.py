"""CaffeBN: the forks' BN, against numpy written from SegNet's and PSPNet's bn_layer.cpp."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.layers import CaffeBN

rng = np.random.default_rng(0)
X = (rng.standard_normal((3, 4, 5, 2)) * 2 + 1).astype(np.float32)   # NHWC, C = 2
A, B = np.float32([1.5, -0.5]), np.float32([0.25, 2.0])
MEAN, VAR = np.float32([0.75, 1.25]), np.float32([2.0, 0.5])


def _layer(variant, blobs, **kw):
    layer = CaffeBN(variant, axis=-1, **kw)
    layer.build(X.shape)
    for w, v in zip(layer.weights, blobs):
        w.assign(v)
    return layer


def test_segnet_inference_is_scale_and_shift():
    y = _layer("segnet", [A, B], mode="inference")(X)
    np.testing.assert_allclose(y, X * A + B, rtol=1e-6)


@pytest.mark.parametrize("training", [False, True])
def test_segnet_learn_uses_the_batch_in_every_phase(training):
    x = np.float64(X)
    m = x.mean(axis=(0, 1, 2))
    v = (x * x).mean(axis=(0, 1, 2)) - m * m              # E[x^2] - (E x)^2, biased
    want = (x - m) / np.sqrt(v + 1e-9) * A + B
    layer = _layer("segnet", [A, B], epsilon=1e-9)
    np.testing.assert_allclose(layer(X, training=training), want, rtol=1e-4, atol=1e-5)
    assert [w.name for w in layer.weights] == ["scale", "shift"]
    assert all(w.trainable for w in layer.weights)


@pytest.mark.parametrize("frozen", [False, True])
def test_pspnet_test_phase_and_frozen_use_the_running_statistics(frozen):
    layer = _layer("pspnet", [A, B, MEAN, VAR], epsilon=1e-5, frozen=frozen)
    want = (np.float64(X) - MEAN) / np.sqrt(np.float64(VAR) + 1e-5) * A + B
    np.testing.assert_allclose(layer(X), want, rtol=1e-5, atol=1e-6)
    if frozen:   # TRAIN too, and the statistics stay
        np.testing.assert_allclose(layer(X, training=True), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(layer.mean, MEAN)
    assert [w.trainable for w in layer.weights] == [not frozen, not frozen, False, False]


def test_pspnet_train_normalizes_by_the_batch_and_updates_the_averages():
    layer = _layer("pspnet", [A, B, MEAN, VAR], epsilon=1e-5, momentum=0.95)
    x = np.float64(X)
    m = x.mean(axis=(0, 1, 2))
    v = ((x - m) ** 2).mean(axis=(0, 1, 2))
    y = layer(X, training=True)
    np.testing.assert_allclose(y, (x - m) / np.sqrt(v + 1e-5) * A + B, rtol=1e-4, atol=1e-5)
    mom = np.float32(0.95)
    np.testing.assert_allclose(layer.mean, (1 - mom) * m + mom * MEAN, rtol=1e-5)
    np.testing.assert_allclose(layer.variance, (1 - mom) * v + mom * VAR, rtol=1e-5)


def test_segnet_learn_gradient_is_batch_norms():
    """Autodiff through the batch statistics: SegNet's Backward_cpu (LEARN) computes the
    standard batch-norm gradient; check it against central differences."""
    x = tf.constant(np.float64(X[:2, :2, :3]))
    weights = tf.constant(rng.standard_normal((2, 2, 3, 2)))
    layer64 = CaffeBN("segnet", axis=-1, epsilon=1e-9, dtype="float64")
    layer64.build(x.shape)
    layer64.set_weights([np.float64(A), np.float64(B)])
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.reduce_sum(layer64(x) * weights)
    grad = np.asarray(tape.gradient(loss, x))
    eps, idx = 1e-6, (1, 0, 2, 1)
    moved = [np.asarray(x).copy() for _ in range(2)]
    moved[0][idx] += eps
    moved[1][idx] -= eps
    f = [float(tf.reduce_sum(layer64(tf.constant(m)) * weights)) for m in moved]
    np.testing.assert_allclose(grad[idx], (f[0] - f[1]) / (2 * eps), rtol=1e-5)
    assert abs(grad[idx]) > 1e-3


def test_round_trip(roundtrip):
    inputs = keras.Input((4, 5, 2))
    model = keras.Model(inputs, CaffeBN("pspnet", axis=-1, frozen=True)(inputs))
    model.layers[1].set_weights([A, B, MEAN, VAR])
    roundtrip(model, X)


def test_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        CaffeBN("resnet")
    with pytest.raises(ValueError, match="known size"):
        CaffeBN(axis=-1).build((None, 4, 4, None))


@pytest.mark.parametrize("stats_axis", [1, 3])
def test_segnet_learn_returns_the_batch_statistics(stats_axis):
    """SegNet's second and third tops: E x and E[x^2] - (E x)^2 over all but the channels,
    as a rank-4 tensor with C along stats_axis."""
    y, mean, var = _layer("segnet", [A, B], stats_axis=stats_axis)(X)
    x = np.float64(X)
    want_mean = x.mean(axis=(0, 1, 2))
    want_var = (x * x).mean(axis=(0, 1, 2)) - want_mean ** 2
    shape = [1] * 4
    shape[stats_axis] = 2
    assert mean.shape == var.shape == tuple(shape)
    np.testing.assert_allclose(np.ravel(mean), want_mean, rtol=1e-5)
    np.testing.assert_allclose(np.ravel(var), want_var, rtol=1e-4)
    np.testing.assert_allclose(y, (x - want_mean) / np.sqrt(want_var + 1e-5) * A + B,
                               rtol=1e-4, atol=1e-5)
    assert CaffeBN("segnet", stats_axis=stats_axis).get_config()["stats_axis"] == stats_axis


def test_only_segnet_learn_returns_statistics():
    with pytest.raises(ValueError, match="only SegNet's LEARN BN"):
        CaffeBN("segnet", mode="inference", stats_axis=3)
    with pytest.raises(ValueError, match="only SegNet's LEARN BN"):
        CaffeBN("pspnet", stats_axis=3)
