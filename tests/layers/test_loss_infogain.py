import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.layers import CaffeInfogainLoss
from tests.layers.losses import loss_and_grads


def ref_infogain(scores, labels, h, axis=1, ignore_label=None, normalization="valid"):
    """Caffe's InfogainLoss (internal softmax) loops: (loss, d loss / d scores)."""
    axis %= scores.ndim
    outer, k = int(np.prod(scores.shape[:axis])), scores.shape[axis]
    inner = int(np.prod(scores.shape[axis + 1:]))
    x = scores.astype(np.float64).reshape(outer, k, inner)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    prob = e / e.sum(axis=1, keepdims=True)
    h = h.astype(np.float64).reshape(k, k)
    label = labels.reshape(outer, inner).astype(np.int64)
    loss, count, grad = 0.0, 0, np.zeros_like(prob)
    for i in range(outer):
        for j in range(inner):
            y = label[i, j]
            if ignore_label is not None and y == ignore_label:
                continue
            for m in range(k):
                loss -= h[y, m] * np.log(max(prob[i, m, j], np.float32(1e-20)))
                grad[i, m, j] = prob[i, m, j] * h[y].sum() - h[y, m]
            count += 1
    norm = {"full": outer * inner, "valid": count, "batch_size": outer,
            "none": 1}[normalization]
    norm = max(1.0, norm)
    return loss / norm, (grad / norm).reshape(scores.shape)


def _data(shape, axis, seed, ignore_label=None):
    rng = np.random.RandomState(seed)
    scores = (rng.randn(*shape) * 2).astype(np.float32)
    axis %= len(shape)
    samples = shape[:axis] + shape[axis + 1:]
    labels = rng.randint(0, shape[axis], samples).astype(np.float32)
    if ignore_label is not None:
        labels[rng.rand(*samples) < 0.3] = ignore_label
    k = shape[axis]
    h = (rng.rand(k, k) + np.eye(k)).astype(np.float32)
    return scores, labels, h


@pytest.mark.parametrize("normalization", ["valid", "batch_size", "full", "none"])
@pytest.mark.parametrize("shape,axis", [((4, 5), 1), ((2, 3, 2, 2), 1), ((2, 2, 4), -1)])
def test_value_and_gradient_match_caffe_formulas(shape, axis, normalization):
    scores, labels, h = _data(shape, axis, 0, ignore_label=7)
    ref_loss, ref_grad = ref_infogain(scores, labels, h, axis, 7, normalization)
    kwargs = dict(axis=axis, ignore_label=7, normalization=normalization)
    for layer, inputs in ((CaffeInfogainLoss(infogain=h, **kwargs), [scores, labels]),
                          (CaffeInfogainLoss(**kwargs), [scores, labels, h])):
        loss, (grad,) = loss_and_grads(layer, inputs)
        assert loss.shape == ()
        np.testing.assert_allclose(loss, ref_loss, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-4, atol=1e-6)


def test_identity_h_is_softmax_loss_and_h_gets_no_gradient():
    scores, labels, _ = _data((3, 4), 1, 1)
    h = np.eye(4, dtype=np.float32).reshape(1, 1, 4, 4)  # Caffe's blob shape
    loss, (grad_x, grad_h) = loss_and_grads(CaffeInfogainLoss(), [scores, labels, h],
                                            wrt=(0, 2))
    p = np.exp(scores) / np.exp(scores).sum(1, keepdims=True)
    np.testing.assert_allclose(loss, -np.log(p[np.arange(3), labels.astype(int)]).mean(),
                               rtol=1e-5)
    assert grad_h is None or not np.any(grad_h)
    np.testing.assert_allclose(grad_x, ref_infogain(scores, labels, h)[1], rtol=1e-4)


def test_floor_changes_the_value_not_the_gradient():
    scores = np.array([[0.0, -100.0, 1.0]], np.float32)  # p[1] ~ 1e-44 < 1e-20
    labels = np.array([0.0], np.float32)
    h = np.array([[1.0, 0.5, 0.0], [0, 1, 0], [0, 0, 1]], np.float32)
    loss, (grad,) = loss_and_grads(CaffeInfogainLoss(infogain=h), [scores, labels])
    ref_loss, ref_grad = ref_infogain(scores, labels, h)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-6)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-5, atol=1e-7)


def test_return_prob_and_unknown_dims():
    _, _, h = _data((2, 3, 2, 2), 1, 0)
    x_in, y_in = keras.Input((3, None, None)), keras.Input((None, None))
    layer = CaffeInfogainLoss(infogain=h, normalization="batch_size", return_prob=True)
    loss, prob = layer([x_in, y_in])
    assert loss.shape == () and prob.shape == (None, 3, None, None)
    model = keras.Model([x_in, y_in], [loss, prob])
    for seed, shape in enumerate([(2, 3, 2, 2), (3, 3, 1, 4)]):
        scores, labels, _ = _data(shape, 1, seed)
        out_loss, out_prob = model([scores, labels])
        np.testing.assert_allclose(out_loss, ref_infogain(scores, labels, h, 1, None,
                                                          "batch_size")[0], rtol=1e-5)
        e = np.exp(scores - scores.max(1, keepdims=True))
        np.testing.assert_allclose(out_prob, e / e.sum(1, keepdims=True), rtol=1e-5,
                                   atol=1e-7)


def test_save_load_and_config(roundtrip, config_roundtrip):
    scores, labels, h = _data((3, 4), 1, 2, ignore_label=-1)
    x_in, y_in, h_in = keras.Input((4,)), keras.Input(()), keras.Input(batch_shape=(4, 4))
    given = CaffeInfogainLoss(infogain=h, ignore_label=-1, return_prob=True)
    as_input = CaffeInfogainLoss(normalization="none")
    loss, prob = given([x_in, y_in])
    model = keras.Model([x_in, y_in, h_in], [loss, prob, as_input([x_in, y_in, h_in])])
    roundtrip(model, [scores, labels, h])
    for layer in (given, as_input):
        config_roundtrip(layer)
    np.testing.assert_array_equal(np.asarray(given.get_config()["infogain"], np.float32), h)


def test_errors():
    with pytest.raises(ValueError, match="K\\*K values"):
        CaffeInfogainLoss(infogain=np.ones((2, 3)))
    with pytest.raises(ValueError, match="numeric array"):
        CaffeInfogainLoss(infogain="H.binaryproto")
    with pytest.raises(ValueError, match="return_prob=1"):
        CaffeInfogainLoss(return_prob=1)
    with pytest.raises(ValueError, match="infogain unset"):
        CaffeInfogainLoss()([keras.Input((4,)), keras.Input(())])
    with pytest.raises(ValueError, match="infogain set"):
        CaffeInfogainLoss(infogain=np.eye(4))([keras.Input((4,)), keras.Input(()),
                                               keras.Input((4, 4))])
    with pytest.raises(ValueError, match="expected 16"):
        CaffeInfogainLoss(infogain=np.eye(3))([keras.Input((4,)), keras.Input(())])
    with pytest.raises(ValueError, match="expected 6"):
        CaffeInfogainLoss(infogain=np.eye(4))([keras.Input(batch_shape=(2, 4, 3)),
                                               keras.Input(batch_shape=(2, 4))])


def test_caffe_conformance_h_from_binaryproto(caffe_case, caffe_folder):
    from keras_caffe.proto.binary import read_blob

    folder = caffe_folder("infogain_loss")
    inputs, outputs = caffe_case("infogain_loss")
    grads = np.load(folder / "grads.npz")
    h = read_blob(folder / "H.binaryproto")  # (1, 1, 5, 5)
    logits = tf.constant(inputs["logits"])
    with tf.GradientTape() as tape:
        tape.watch(logits)
        loss, prob = CaffeInfogainLoss(infogain=h, return_prob=True)([logits, inputs["label"]])
    np.testing.assert_allclose(loss, outputs["loss"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(prob, outputs["prob"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(tape.gradient(loss, logits), grads["diff/logits"],
                               rtol=1e-3, atol=1e-5)


# InnerProduct fc (blobs W (5, 6), b (5,)) -> InfogainLoss with H as a third bottom;
# Caffe reports the fc parameter gradients.
def test_caffe_conformance_h_as_bottom(caffe_case, caffe_blobs, caffe_folder):
    inputs, outputs = caffe_case("infogain_loss_bottom_h")
    grads = np.load(caffe_folder("infogain_loss_bottom_h") / "grads.npz")
    weight, bias = (tf.Variable(b) for b in caffe_blobs("infogain_loss_bottom_h")["fc"])
    with tf.GradientTape() as tape:
        fc = tf.matmul(inputs["data"], weight, transpose_b=True) + bias
        loss = CaffeInfogainLoss()([fc, inputs["label"], inputs["H"]])
    grad_w, grad_b = tape.gradient(loss, [weight, bias])
    np.testing.assert_allclose(fc, outputs["fc"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(loss, outputs["loss"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grad_w, grads["param/fc/0"], rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(grad_b, grads["param/fc/1"], rtol=1e-3, atol=1e-5)
