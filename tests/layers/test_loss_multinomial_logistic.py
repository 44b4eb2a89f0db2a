import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.layers import CaffeMultinomialLogisticLoss
from tests.layers.losses import loss_and_grads


def ref_multinomial(probs, labels):
    """Caffe's MultinomialLogisticLoss: (loss, d loss / d probs) with kLOG_THRESHOLD."""
    num = probs.shape[0]
    p = probs.astype(np.float64).reshape(num, -1)
    label = labels.reshape(-1).astype(np.int64)
    loss, grad = 0.0, np.zeros_like(p)
    for i in range(num):
        prob = max(p[i, label[i]], np.float32(1e-20))
        loss -= np.log(prob)
        grad[i, label[i]] = -1 / num / prob
    return loss / num, grad.reshape(probs.shape)


def _data(shape, seed):
    rng = np.random.RandomState(seed)
    e = np.exp(rng.randn(*shape))
    probs = (e / e.reshape(shape[0], -1).sum(1).reshape((-1,) + (1,) * (len(shape) - 1)))
    labels = rng.randint(0, int(np.prod(shape[1:])), shape[0]).astype(np.float32)
    return probs.astype(np.float32), labels


@pytest.mark.parametrize("shape", [(4, 5), (3, 2, 2, 1)])
def test_value_and_gradient_match_caffe_formulas(shape):
    probs, labels = _data(shape, 0)
    loss, (grad,) = loss_and_grads(CaffeMultinomialLogisticLoss(), [probs, labels])
    ref_loss, ref_grad = ref_multinomial(probs, labels)
    assert loss.shape == ()
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5)


def test_floor_is_used_in_value_and_gradient():
    probs = np.array([[0.0, 1.0], [1e-30, 1.0], [0.5, 0.5]], np.float32)
    labels = np.zeros(3, np.float32)
    loss, (grad,) = loss_and_grads(CaffeMultinomialLogisticLoss(), [probs, labels])
    ref_loss, ref_grad = ref_multinomial(probs, labels)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5)  # -1/(N * 1e-20), not 0
    assert np.isfinite(grad).all()


def test_unknown_batch():
    p_in, y_in = keras.Input((None,)), keras.Input(())
    model = keras.Model([p_in, y_in], CaffeMultinomialLogisticLoss()([p_in, y_in]))
    assert model.output.shape == ()
    for n, k in ((1, 3), (4, 6)):
        probs, labels = _data((n, k), n)
        np.testing.assert_allclose(model([probs, labels]), ref_multinomial(probs, labels)[0],
                                   rtol=1e-5)


def test_save_load_and_config(roundtrip, config_roundtrip):
    p_in, y_in = keras.Input((5,)), keras.Input(())
    layer = CaffeMultinomialLogisticLoss()
    model = keras.Model([p_in, y_in], layer([p_in, y_in]))
    roundtrip(model, list(_data((3, 5), 0)))
    config_roundtrip(layer)


def test_errors():
    with pytest.raises(ValueError, match=r"\[probs, labels\]"):
        CaffeMultinomialLogisticLoss()(keras.Input((5,)))
    with pytest.raises(ValueError, match="one per sample"):
        CaffeMultinomialLogisticLoss()([keras.Input((5,)), keras.Input((5,))])


# Caffe's case: Softmax -> MultinomialLogisticLoss, gradient w.r.t. the logits.
def test_caffe_conformance(caffe_case, caffe_folder):
    inputs, outputs = caffe_case("multinomial_logistic_loss")
    grads = np.load(caffe_folder("multinomial_logistic_loss") / "grads.npz")
    logits = tf.constant(inputs["logits"])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        prob = keras.ops.softmax(logits, axis=1)
        loss = CaffeMultinomialLogisticLoss()([prob, inputs["label"]])
    np.testing.assert_allclose(prob, outputs["prob"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(loss, outputs["loss"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(tape.gradient(loss, logits), grads["diff/logits"],
                               rtol=1e-3, atol=1e-5)
