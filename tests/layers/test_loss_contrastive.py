import functools

import keras
import numpy as np
import pytest

from keras_caffe.layers import CaffeContrastiveLoss
from tests.layers.losses import loss_and_grads


both_grads = functools.partial(loss_and_grads, wrt=(0, 1))   # both inputs


def ref_contrastive(a, b, sim, margin=1.0, legacy=False):
    """Caffe's ContrastiveLoss Forward_cpu / Backward_cpu: (loss, d/da, d/db)."""
    num = a.shape[0]
    diff = (a.astype(np.float64) - b.astype(np.float64)).reshape(num, -1)
    loss, grad = 0.0, np.zeros_like(diff)
    for i in range(num):
        d2 = (diff[i] ** 2).sum()
        if int(sim.reshape(-1)[i]):
            loss += d2
            grad[i] = diff[i] / num
            continue
        if legacy:
            loss += max(margin - d2, 0.0)
            mdist, beta = margin - d2, -1.0 / num
        else:
            d = np.sqrt(d2)
            loss += max(margin - d, 0.0) ** 2
            mdist = margin - d
            beta = -1.0 / num * mdist / (d + 1e-4)
        grad[i] = beta * diff[i] if mdist > 0 else 0.0
    return loss / num / 2, grad.reshape(a.shape), -grad.reshape(b.shape)


def _data(shape, seed):
    rng = np.random.RandomState(seed)
    a = (rng.randn(*shape) * 0.4).astype(np.float32)
    b = (rng.randn(*shape) * 0.4).astype(np.float32)
    sim = rng.randint(0, 2, shape[0]).astype(np.float32)
    return a, b, sim


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("shape,margin", [((6, 3), 1.0), ((5, 4, 1, 1), 2.0), ((8, 2), 0.3)])
def test_value_and_gradients_match_caffe_formulas(shape, margin, legacy):
    a, b, sim = _data(shape, 0)
    layer = CaffeContrastiveLoss(margin=margin, legacy_version=legacy)
    loss, (grad_a, grad_b) = both_grads(layer, [a, b, sim])
    ref_loss, ref_a, ref_b = ref_contrastive(a, b, sim, margin, legacy)
    assert loss.shape == ()
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grad_a, ref_a, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(grad_b, ref_b, rtol=1e-4, atol=1e-7)


def test_equal_dissimilar_pair_and_truncated_flags():
    a = np.array([[0.5, 0.5], [0.1, 0.2], [0.3, 0.0]], np.float32)
    b = np.array([[0.5, 0.5], [0.0, 0.0], [0.0, 0.0]], np.float32)
    sim = np.array([0.0, 0.7, 1.2], np.float32)  # int(): dissimilar, dissimilar, similar
    loss, (grad_a, grad_b) = both_grads(CaffeContrastiveLoss(), [a, b, sim])
    ref_loss, ref_a, ref_b = ref_contrastive(a, b, sim)
    assert np.isfinite(grad_a).all()  # d = 0: Caffe's d + 1e-4 keeps it finite (here 0)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(grad_a, ref_a, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(grad_b, ref_b, rtol=1e-5, atol=1e-8)


def test_unknown_batch():
    a_in, b_in, s_in = keras.Input((3,)), keras.Input((3,)), keras.Input(())
    model = keras.Model([a_in, b_in, s_in], CaffeContrastiveLoss(1.5)([a_in, b_in, s_in]))
    assert model.output.shape == ()
    for n in (1, 5):
        a, b, sim = _data((n, 3), n)
        np.testing.assert_allclose(model([a, b, sim]), ref_contrastive(a, b, sim, 1.5)[0],
                                   rtol=1e-5)


def test_save_load_and_config(roundtrip, config_roundtrip):
    a_in, b_in, s_in = keras.Input((3,)), keras.Input((3,)), keras.Input(())
    layers = [CaffeContrastiveLoss(), CaffeContrastiveLoss(0.5, legacy_version=True)]
    model = keras.Model([a_in, b_in, s_in], [layer([a_in, b_in, s_in]) for layer in layers])
    roundtrip(model, list(_data((4, 3), 1)))
    for layer in layers:
        config_roundtrip(layer)


def test_errors():
    with pytest.raises(ValueError, match="margin='1'"):
        CaffeContrastiveLoss(margin="1")
    with pytest.raises(ValueError, match="legacy_version=None"):
        CaffeContrastiveLoss(legacy_version=None)
    with pytest.raises(ValueError, match=r"\[a, b, similar\]"):
        CaffeContrastiveLoss()([keras.Input((3,)), keras.Input((3,))])
    with pytest.raises(ValueError, match="one flag per pair"):
        CaffeContrastiveLoss()([keras.Input((3,)), keras.Input((3,)), keras.Input((2,))])


@pytest.mark.parametrize("case,legacy", [("contrastive_loss", False),
                                         ("contrastive_loss_legacy", True)])
def test_caffe_conformance(case, legacy, caffe_case, caffe_folder):
    inputs, outputs = caffe_case(case)
    grads = np.load(caffe_folder(case) / "grads.npz")
    loss, (grad_a, grad_b) = both_grads(CaffeContrastiveLoss(1.0, legacy),
                                            [inputs["a"], inputs["b"], inputs["sim"]])
    np.testing.assert_allclose(loss, outputs["loss"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad_a, grads["diff/a"], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(grad_b, grads["diff/b"], rtol=1e-3, atol=1e-5)
