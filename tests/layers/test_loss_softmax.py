import keras
import numpy as np
import pytest

from keras_caffe.layers import CaffeSoftmaxWithLoss
from tests.layers.losses import loss_and_grads


FLT_MIN = np.finfo(np.float32).tiny


def ref_softmax_loss(scores, labels, axis=1, ignore_label=None, normalization="valid",
                     class_weights=None):
    """Caffe's SoftmaxWithLoss Forward_cpu / Backward_cpu loops: (loss, d loss / d scores);
    with ``class_weights`` SegNet's (each position's term and its diff times w[label])."""
    axis %= scores.ndim
    outer, classes = int(np.prod(scores.shape[:axis])), scores.shape[axis]
    inner = int(np.prod(scores.shape[axis + 1:]))
    x = scores.astype(np.float64).reshape(outer, classes, inner)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True)
    label = labels.reshape(outer, inner).astype(np.int64)  # truncates toward zero
    loss, count, grad = 0.0, 0, prob.copy()
    for i in range(outer):
        for j in range(inner):
            if ignore_label is not None and label[i, j] == ignore_label:
                grad[i, :, j] = 0
                continue
            weight = 1.0 if class_weights is None else np.float32(class_weights[label[i, j]])
            loss -= np.log(max(prob[i, label[i, j], j], FLT_MIN)) * weight
            grad[i, label[i, j], j] -= 1
            grad[i, :, j] *= weight
            count += 1
    norm = {"full": outer * inner, "valid": count, "batch_size": outer,
            "none": 1}[normalization]
    norm = max(1.0, norm)
    return loss / norm, (grad / norm).reshape(scores.shape)


def _data(scores_shape, axis, seed, ignore_label=None):
    rng = np.random.RandomState(seed)
    scores = (rng.randn(*scores_shape) * 3).astype(np.float32)
    axis %= len(scores_shape)
    samples = scores_shape[:axis] + scores_shape[axis + 1:]
    labels = rng.randint(0, scores_shape[axis], samples).astype(np.float32)
    if ignore_label is not None:
        labels[rng.rand(*samples) < 0.3] = ignore_label
    return scores, labels


@pytest.mark.parametrize("normalization", ["valid", "batch_size", "full", "none"])
@pytest.mark.parametrize("shape,axis", [((5, 4), 1), ((2, 4, 3, 3), 1), ((2, 3, 4), -1),
                                        ((3, 2, 5), 0)])
def test_value_and_gradient_match_caffe_formulas(shape, axis, normalization):
    scores, labels = _data(shape, axis, 0, ignore_label=255)
    layer = CaffeSoftmaxWithLoss(axis=axis, ignore_label=255, normalization=normalization)
    loss, (grad,) = loss_and_grads(layer, [scores, labels])
    ref_loss, ref_grad = ref_softmax_loss(scores, labels, axis, 255, normalization)
    assert loss.shape == ()
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-6)


def test_segnet_class_weights():
    """SegNet's weight_by_label_freqs: value and gradient times class_weights[label], the
    valid count unchanged; the weights must match the classes."""
    weights = [0.25, 4.5, 1.0, 0.1]
    scores, labels = _data((2, 4, 3, 3), 1, 5, ignore_label=255)
    layer = CaffeSoftmaxWithLoss(ignore_label=255, class_weights=weights)
    loss, (grad,) = loss_and_grads(layer, [scores, labels])
    ref_loss, ref_grad = ref_softmax_loss(scores, labels, 1, 255, class_weights=weights)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-6)
    plain, _ = ref_softmax_loss(scores, labels, 1, 255)
    assert abs(ref_loss - plain) > 0.1 * abs(plain)
    assert layer.get_config()["class_weights"] == weights
    with pytest.raises(ValueError, match="4 class_weights for 5 classes"):
        CaffeSoftmaxWithLoss(class_weights=weights)([keras.Input(batch_shape=(2, 5)),
                                                     keras.Input(batch_shape=(2,))])


def test_labels_are_truncated_and_may_have_any_shape():
    scores, labels = _data((2, 4, 3, 3), 1, 1)
    fractional = labels + 0.75  # static_cast<int> truncates 2.75 to 2
    ref = ref_softmax_loss(scores, labels)[0]
    for shaped in (fractional.reshape(2, 1, 3, 3), fractional.reshape(-1)):
        np.testing.assert_allclose(CaffeSoftmaxWithLoss()([scores, shaped]), ref, rtol=1e-5)


def test_flt_min_floor_changes_the_value_not_the_gradient():
    scores = np.array([[0.0, -200.0, 1.0]], np.float32)  # p[1] underflows to 0
    labels = np.array([1.0], np.float32)
    loss, (grad,) = loss_and_grads(CaffeSoftmaxWithLoss(), [scores, labels])
    ref_loss, ref_grad = ref_softmax_loss(scores, labels)
    np.testing.assert_allclose(loss, -np.log(FLT_MIN), rtol=1e-6)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-7)  # p - onehot


@pytest.mark.parametrize("normalization", ["valid", "batch_size", "full", "none"])
def test_all_ignored_gives_zero_loss_and_gradient(normalization):
    scores = _data((3, 4), 1, 2)[0]
    labels = np.full((3,), -1, np.float32)
    layer = CaffeSoftmaxWithLoss(ignore_label=-1, normalization=normalization)
    loss, (grad,) = loss_and_grads(layer, [scores, labels])
    assert float(loss) == 0.0 and not np.any(grad)


def test_unknown_batch_and_spatial_dims():
    x_in, y_in = keras.Input((4, None, None)), keras.Input((1, None, None))
    layer = CaffeSoftmaxWithLoss(ignore_label=255, normalization="batch_size")
    model = keras.Model([x_in, y_in], layer([x_in, y_in]))
    assert model.output.shape == ()
    for seed, shape in enumerate([(2, 4, 3, 3), (3, 4, 2, 5)]):
        scores, labels = _data(shape, 1, seed, ignore_label=255)
        labels = labels[:, None]
        np.testing.assert_allclose(
            model([scores, labels]),
            ref_softmax_loss(scores, labels, 1, 255, "batch_size")[0], rtol=1e-5)


def test_save_load_and_config(roundtrip, config_roundtrip):
    x_in, y_in = keras.Input((5,)), keras.Input(())
    layers = [CaffeSoftmaxWithLoss(), CaffeSoftmaxWithLoss(-1, 3, "FULL")]
    model = keras.Model([x_in, y_in], [layer([x_in, y_in]) for layer in layers])
    roundtrip(model, list(_data((4, 5), 1, 3)))
    for layer in layers:
        config_roundtrip(layer)
    assert layers[1].get_config()["normalization"] == "full"


def test_errors():
    with pytest.raises(ValueError, match="normalization='mean'"):
        CaffeSoftmaxWithLoss(normalization="mean")
    with pytest.raises(ValueError, match="ignore_label=2.5"):
        CaffeSoftmaxWithLoss(ignore_label=2.5)
    with pytest.raises(ValueError, match=r"\[scores, labels\]"):
        CaffeSoftmaxWithLoss()(keras.Input((4,)))
    with pytest.raises(ValueError, match="expected 6"):
        CaffeSoftmaxWithLoss()([keras.Input(batch_shape=(2, 4, 3)),
                                keras.Input(batch_shape=(2, 4))])


_CASES = {
    "softmax_loss_plain": {},
    "softmax_loss_pixel": {},
    "softmax_loss_ignore": {"ignore_label": 2},
    "softmax_loss_norm_batch": {"ignore_label": 255, "normalization": "batch_size"},
    "softmax_loss_norm_full": {"ignore_label": 255, "normalization": "full"},
    "softmax_loss_norm_none": {"ignore_label": 255, "normalization": "none"},
    "softmax_loss_norm_valid": {"ignore_label": 255, "normalization": "valid"},
    # legacy `normalize: false` is BATCH_SIZE
    "softmax_loss_normalize_false": {"ignore_label": 255, "normalization": "batch_size"},
}


@pytest.mark.parametrize("case", sorted(_CASES))
def test_caffe_conformance(case, caffe_case, caffe_folder):
    inputs, outputs = caffe_case(case)
    grads = np.load(caffe_folder(case) / "grads.npz")
    loss, (grad,) = loss_and_grads(CaffeSoftmaxWithLoss(**_CASES[case]),
                                   [inputs["logits"], inputs["label"]])
    np.testing.assert_allclose(loss, outputs["loss"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad, grads["diff/logits"], rtol=1e-3, atol=1e-5)
