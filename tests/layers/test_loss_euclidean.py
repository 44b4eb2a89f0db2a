import functools

import keras
import numpy as np
import pytest

from keras_caffe.layers import CaffeEuclideanLoss
from tests.layers.losses import loss_and_grads


both_grads = functools.partial(loss_and_grads, wrt=(0, 1))   # both inputs


def ref_euclidean(a, b):
    """Caffe's EuclideanLoss: (loss, d/da, d/db); b is read in a's element order."""
    diff = a.astype(np.float64) - b.astype(np.float64).reshape(a.shape)
    num = a.shape[0]
    return (diff ** 2).sum() / num / 2, diff / num, (-diff / num).reshape(b.shape)


def _x(shape, seed):
    return np.random.RandomState(seed).randn(*shape).astype(np.float32)


@pytest.mark.parametrize("a_shape,b_shape", [((3, 2, 2), (3, 2, 2)), ((4, 6), (4, 2, 3)),
                                             ((2, 3, 4, 5), (2, 60))])
def test_value_and_gradients_match_caffe_formulas(a_shape, b_shape):
    a, b = _x(a_shape, 0), _x(b_shape, 1)
    loss, (grad_a, grad_b) = both_grads(CaffeEuclideanLoss(), [a, b])
    ref_loss, ref_a, ref_b = ref_euclidean(a, b)
    assert loss.shape == ()
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    np.testing.assert_allclose(grad_a, ref_a, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad_b, ref_b, rtol=1e-5, atol=1e-7)


def test_unknown_batch():
    a_in, b_in = keras.Input((None, 2)), keras.Input((None, 2))
    model = keras.Model([a_in, b_in], CaffeEuclideanLoss()([a_in, b_in]))
    assert model.output.shape == ()
    for n in (1, 4):
        a, b = _x((n, 3, 2), n), _x((n, 3, 2), n + 10)
        np.testing.assert_allclose(model([a, b]), ref_euclidean(a, b)[0], rtol=1e-5)


def test_save_load_and_config(roundtrip, config_roundtrip):
    a_in, b_in = keras.Input((2, 2)), keras.Input((4,))
    layer = CaffeEuclideanLoss()
    model = keras.Model([a_in, b_in], layer([a_in, b_in]))
    roundtrip(model, [_x((3, 2, 2), 0), _x((3, 4), 1)])
    config_roundtrip(layer)


def test_errors():
    with pytest.raises(ValueError, match=r"\[a, b\]"):
        CaffeEuclideanLoss()(keras.Input((4,)))
    with pytest.raises(ValueError, match="expected 12"):
        CaffeEuclideanLoss()([keras.Input(batch_shape=(3, 4)),
                              keras.Input(batch_shape=(3, 5))])


def test_caffe_conformance(caffe_case, caffe_folder):
    inputs, outputs = caffe_case("euclidean_loss")
    grads = np.load(caffe_folder("euclidean_loss") / "grads.npz")
    loss, (grad_a, grad_b) = both_grads(CaffeEuclideanLoss(),
                                            [inputs["pred"], inputs["target"]])
    np.testing.assert_allclose(loss, outputs["loss"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad_a, grads["diff/pred"], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(grad_b, grads["diff/target"], rtol=1e-3, atol=1e-5)
