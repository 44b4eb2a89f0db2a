import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.layers import CaffeLSTMUnit


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def ref_lstm_unit(c_prev, x, cont, c_diff=None, h_diff=None):
    """Caffe's LSTMUnitLayer loops (float64): forward ``(c, h)`` and, given top diffs, its
    backward ``(c_prev_diff, x_diff)`` with Caffe's activation-space formulas."""
    n_len, hidden = c_prev.shape[1:]
    c, h = np.empty((n_len, hidden)), np.empty((n_len, hidden))
    dc_prev, dx = np.empty((n_len, hidden)), np.empty((n_len, 4 * hidden))
    for n in range(n_len):
        for d in range(hidden):
            a = x[0, n, [d, hidden + d, 2 * hidden + d, 3 * hidden + d]].astype(np.float64)
            i, o, g = _sigmoid(a[0]), _sigmoid(a[2]), np.tanh(a[3])
            f = 0.0 if cont[0, n] == 0 else cont[0, n] * _sigmoid(a[1])
            c[n, d] = f * c_prev[0, n, d] + i * g
            h[n, d] = o * np.tanh(c[n, d])
            if c_diff is None:
                continue
            tanh_c = np.tanh(c[n, d])
            c_term = c_diff[0, n, d] + h_diff[0, n, d] * o * (1 - tanh_c * tanh_c)
            dc_prev[n, d] = c_term * f
            acts = (i, f, o, g)
            dacts = (c_term * g, c_term * c_prev[0, n, d], h_diff[0, n, d] * tanh_c, c_term * i)
            for k in range(3):
                dx[n, k * hidden + d] = dacts[k] * acts[k] * (1 - acts[k])
            dx[n, 3 * hidden + d] = dacts[3] * (1 - g * g)
    return c[None], h[None], dc_prev[None], dx[None]


def _inputs(n=3, hidden=4, seed=0):
    rng = np.random.default_rng(seed)
    c_prev = rng.standard_normal((1, n, hidden)).astype(np.float32)
    x = rng.standard_normal((1, n, 4 * hidden)).astype(np.float32)
    cont = np.array([[0.0, 1.0, 1.0][:n]], np.float32)
    return c_prev, x, cont


def test_forward_and_backward_match_caffe():
    c_prev, x, cont = _inputs()
    rng = np.random.default_rng(1)
    c_diff, h_diff = (rng.standard_normal(c_prev.shape).astype(np.float32) for _ in range(2))
    tc, tx = tf.constant(c_prev), tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch([tc, tx])
        c, h = CaffeLSTMUnit()([tc, tx, tf.constant(cont)])
        loss = tf.reduce_sum(c * c_diff) + tf.reduce_sum(h * h_diff)
    grads = tape.gradient(loss, [tc, tx])
    ref = ref_lstm_unit(c_prev, x, cont, c_diff, h_diff)
    for got, want in zip([c, h] + grads, ref):
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-6)
    # a sequence start (cont 0) forgets c_prev entirely
    assert not np.asarray(grads[0])[0, 0].any()


def test_shapes_and_errors():
    c, h = CaffeLSTMUnit()([keras.Input(batch_shape=(1, 5, 3)), keras.Input(batch_shape=(1, 5, 12)),
                            keras.Input(batch_shape=(1, 5))])
    assert c.shape == h.shape == (1, 5, 3)
    with pytest.raises(ValueError, match="4 x 3 gate inputs"):
        CaffeLSTMUnit()([keras.Input(batch_shape=(1, 5, 3)), keras.Input(batch_shape=(1, 5, 10)),
                         keras.Input(batch_shape=(1, 5))])


def test_save_load_and_config(roundtrip, config_roundtrip):
    ins = [keras.Input(batch_shape=(1, 3, 4)), keras.Input(batch_shape=(1, 3, 16)),
           keras.Input(batch_shape=(1, 3))]
    layer = CaffeLSTMUnit()
    roundtrip(keras.Model(ins, layer(ins)), list(_inputs()))
    config_roundtrip(layer)
