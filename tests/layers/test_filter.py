import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.layers import CaffeFilter


def ref_filter(xs, selector):
    """Caffe's forward: the samples whose selector value is non-zero, in order."""
    keep = [n for n, s in enumerate(np.ravel(selector)) if s != 0]
    return [x[keep] for x in xs]


@pytest.mark.parametrize("selector", [[1.0, 0.0, 2.0, -0.5], [0.0, 0.0, 0.0, 0.0],
                                      [0.25, 1.0, 1.0, 3.0]])
def test_keeps_the_selected_samples_of_every_input(selector):
    x_in, y_in, s_in = keras.Input((4, 5, 3)), keras.Input((2,)), keras.Input((1, 1, 1))
    out = CaffeFilter()([x_in, y_in, s_in])
    assert [o.shape for o in out] == [(None, 4, 5, 3), (None, 2)]
    model = keras.Model([x_in, y_in, s_in], out)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 4, 5, 3), np.float32), rng.standard_normal((4, 2), np.float32)
    sel = np.asarray(selector, np.float32).reshape(4, 1, 1, 1)
    for got, want in zip(model([x, y, sel]), ref_filter([x, y], sel)):
        np.testing.assert_array_equal(np.asarray(got), want)


def test_gradient_reaches_kept_samples_only():
    x = tf.constant(np.arange(8, dtype=np.float32).reshape(4, 2))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = CaffeFilter()([x, tf.constant([0.0, 3.0, 0.0, 1.0])])
        loss = tf.reduce_sum(y * tf.constant([[1.0, 2.0], [3.0, 4.0]]))
    grad = tf.convert_to_tensor(tape.gradient(loss, x))
    np.testing.assert_array_equal(grad, [[0, 0], [1, 2], [0, 0], [3, 4]])


def test_rejects_a_selector_with_more_than_one_value_per_sample():
    with pytest.raises(ValueError, match="one value per sample"):
        CaffeFilter()([keras.Input((3,)), keras.Input((2,))])


def test_save_load_and_config(roundtrip, config_roundtrip):
    x_in, s_in = keras.Input((3,)), keras.Input(batch_shape=(None,))
    layer = CaffeFilter()
    roundtrip(keras.Model([x_in, s_in], layer([x_in, s_in])),
              [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([0.0, 1.0], np.float32)])
    config_roundtrip(layer)
