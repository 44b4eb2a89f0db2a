import keras
import numpy as np
import pytest

from keras_caffe.layers import CaffeHingeLoss
from tests.layers.losses import loss_and_grads


def ref_hinge(scores, labels, norm="l1"):
    """Caffe's HingeLoss Forward_cpu / Backward_cpu: (loss, d loss / d scores)."""
    num = scores.shape[0]
    x = scores.astype(np.float64).reshape(num, -1).copy()
    label = labels.reshape(-1).astype(np.int64)
    for i in range(num):
        x[i, label[i]] *= -1
    margin = np.maximum(0.0, 1 + x)
    signed = margin.copy()
    for i in range(num):
        signed[i, label[i]] *= -1
    if norm == "l1":
        return margin.sum() / num, (np.sign(signed) / num).reshape(scores.shape)
    return (margin ** 2).sum() / num, (2 * signed / num).reshape(scores.shape)


def _data(shape, seed):
    rng = np.random.RandomState(seed)
    scores = (rng.randn(*shape) * 1.5).astype(np.float32)
    labels = rng.randint(0, int(np.prod(shape[1:])), shape[0]).astype(np.float32)
    return scores, labels


@pytest.mark.parametrize("norm", ["l1", "l2"])
@pytest.mark.parametrize("shape", [(4, 5), (3, 2, 2, 2)])
def test_value_and_gradient_match_caffe_formulas(shape, norm):
    scores, labels = _data(shape, 0)
    loss, (grad,) = loss_and_grads(CaffeHingeLoss(norm), [scores, labels + 0.5])
    ref_loss, ref_grad = ref_hinge(scores, labels, norm)
    assert loss.shape == ()
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-7)


def test_zero_margin_has_zero_gradient():
    scores = np.array([[1.0, -1.0, 0.0]], np.float32)  # margins 0, 0, 1
    loss, (grad,) = loss_and_grads(CaffeHingeLoss(), [scores, np.array([0.0], np.float32)])
    np.testing.assert_allclose(loss, 1.0)
    np.testing.assert_array_equal(grad, [[0.0, 0.0, 1.0]])


def test_unknown_batch_and_4d_labels():
    x_in, y_in = keras.Input((5,)), keras.Input((1, 1, 1))
    model = keras.Model([x_in, y_in], CaffeHingeLoss("L2")([x_in, y_in]))
    assert model.output.shape == ()
    for n in (1, 4):
        scores, labels = _data((n, 5), n)
        np.testing.assert_allclose(model([scores, labels.reshape(n, 1, 1, 1)]),
                                   ref_hinge(scores, labels, "l2")[0], rtol=1e-5)


def test_save_load_and_config(roundtrip, config_roundtrip):
    x_in, y_in = keras.Input((5,)), keras.Input(())
    layers = [CaffeHingeLoss(), CaffeHingeLoss("l2")]
    model = keras.Model([x_in, y_in], [layer([x_in, y_in]) for layer in layers])
    roundtrip(model, list(_data((3, 5), 0)))
    for layer in layers:
        config_roundtrip(layer)


def test_errors():
    with pytest.raises(ValueError, match="norm='l3'"):
        CaffeHingeLoss("l3")
    with pytest.raises(ValueError, match="one per sample"):
        CaffeHingeLoss()([keras.Input((5,)), keras.Input((2,))])


@pytest.mark.parametrize("case,norm", [("hinge_loss_l1", "l1"), ("hinge_loss_l2", "l2")])
def test_caffe_conformance(case, norm, caffe_case, caffe_folder):
    inputs, outputs = caffe_case(case)
    grads = np.load(caffe_folder(case) / "grads.npz")
    loss, (grad,) = loss_and_grads(CaffeHingeLoss(norm), [inputs["scores"], inputs["label"]])
    np.testing.assert_allclose(loss, outputs["loss"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad, grads["diff/scores"], rtol=1e-3, atol=1e-5)
