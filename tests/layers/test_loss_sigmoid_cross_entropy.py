import keras
import numpy as np
import pytest

from keras_caffe.layers import CaffeSigmoidCrossEntropyLoss
from tests.layers.losses import loss_and_grads


def ref_sigmoid_ce(x, t, ignore_label=None, normalization="batch_size"):
    """Caffe's SigmoidCrossEntropyLoss loops: (loss, d loss / d x)."""
    xs, ts = x.astype(np.float64).ravel(), t.astype(np.float64).ravel()
    loss, count = 0.0, 0
    grad = 1 / (1 + np.exp(-xs)) - ts
    for i, (xi, ti) in enumerate(zip(xs, ts)):
        if ignore_label is not None and int(ti) == ignore_label:
            grad[i] = 0
            continue
        s = float(xi >= 0)
        loss -= xi * (ti - s) - np.log(1 + np.exp(xi - 2 * xi * s))
        count += 1
    outer = x.shape[0]
    norm = {"full": x.size, "valid": count, "batch_size": outer, "none": 1}[normalization]
    norm = max(1.0, norm)
    return loss / norm, (grad / norm).reshape(x.shape)


def _data(shape, seed, ignore_label=None):
    rng = np.random.RandomState(seed)
    x = (rng.randn(*shape) * 4).astype(np.float32)
    t = rng.rand(*shape).astype(np.float32)
    if ignore_label is not None:
        t[rng.rand(*shape) < 0.3] = ignore_label
    return x, t


@pytest.mark.parametrize("normalization", ["batch_size", "valid", "full", "none"])
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 2, 2)])
def test_value_and_gradient_match_caffe_formulas(shape, normalization):
    x, t = _data(shape, 0, ignore_label=-1)
    layer = CaffeSigmoidCrossEntropyLoss(ignore_label=-1, normalization=normalization)
    loss, (grad,) = loss_and_grads(layer, [x, t])
    ref_loss, ref_grad = ref_sigmoid_ce(x, t, -1, normalization)
    assert loss.shape == ()
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-6)


def test_default_divides_by_batch_size_and_handles_large_and_zero_inputs():
    x = np.array([[0.0, 100.0, -100.0, 30.0]], np.float32)
    t = np.array([[0.3, 0.0, 1.0, 1.0]], np.float32)
    loss, (grad,) = loss_and_grads(CaffeSigmoidCrossEntropyLoss(), [x, t])
    ref_loss, ref_grad = ref_sigmoid_ce(x, t)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-7)  # sigmoid(0) - t at 0


def test_ignore_compares_the_truncated_target():
    x = np.array([[1.0, -2.0, 0.5]], np.float32)
    t = np.array([[-1.0, -0.5, -1.9]], np.float32)  # int(): -1, 0, -1
    layer = CaffeSigmoidCrossEntropyLoss(ignore_label=-1, normalization="valid")
    loss, (grad,) = loss_and_grads(layer, [x, t])
    ref_loss, ref_grad = ref_sigmoid_ce(x, t, -1, "valid")
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-6)
    assert grad[0, 0] == 0 and grad[0, 2] == 0 and grad[0, 1] != 0


def test_all_ignored_gives_zero():
    x, _ = _data((2, 3), 1)
    layer = CaffeSigmoidCrossEntropyLoss(ignore_label=-1, normalization="valid")
    loss, (grad,) = loss_and_grads(layer, [x, np.full_like(x, -1)])
    assert float(loss) == 0.0 and not np.any(grad)


def test_unknown_batch_and_other_target_shape():
    x_in, t_in = keras.Input((3, None)), keras.Input((None,))
    layer = CaffeSigmoidCrossEntropyLoss(normalization="full")
    model = keras.Model([x_in, t_in], layer([x_in, t_in]))
    assert model.output.shape == ()
    for seed, shape in enumerate([(2, 3, 4), (5, 3, 1)]):
        x, t = _data(shape, seed)
        np.testing.assert_allclose(model([x, t.reshape(shape[0], -1)]),
                                   ref_sigmoid_ce(x, t, None, "full")[0], rtol=1e-5)


def test_save_load_and_config(roundtrip, config_roundtrip):
    x_in, t_in = keras.Input((4,)), keras.Input((4,))
    layers = [CaffeSigmoidCrossEntropyLoss(),
              CaffeSigmoidCrossEntropyLoss(ignore_label=-1, normalization="VALID")]
    model = keras.Model([x_in, t_in], [layer([x_in, t_in]) for layer in layers])
    roundtrip(model, list(_data((3, 4), 2, ignore_label=-1)))
    for layer in layers:
        config_roundtrip(layer)


def test_errors():
    with pytest.raises(ValueError, match="normalization=None"):
        CaffeSigmoidCrossEntropyLoss(normalization=None)
    with pytest.raises(ValueError, match=r"\[x, targets\]"):
        CaffeSigmoidCrossEntropyLoss()([keras.Input((4,))] * 3)
    with pytest.raises(ValueError, match="expected 12"):
        CaffeSigmoidCrossEntropyLoss()([keras.Input(batch_shape=(3, 4)),
                                        keras.Input(batch_shape=(3, 5))])


_CASES = {
    # neither normalization nor normalize in the prototxt: Caffe divides by N
    "sigmoid_ce_loss": {},
    "sigmoid_ce_loss_valid": {"ignore_label": -1, "normalization": "valid"},
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_caffe_conformance(case, caffe_case, caffe_folder):
    inputs, outputs = caffe_case(case)
    grads = np.load(caffe_folder(case) / "grads.npz")
    loss, (grad,) = loss_and_grads(CaffeSigmoidCrossEntropyLoss(**_CASES[case]),
                                   [inputs["logits"], inputs["target"]])
    np.testing.assert_allclose(loss, outputs["loss"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad, grads["diff/logits"], rtol=1e-3, atol=1e-5)
