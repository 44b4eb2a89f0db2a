"""Loss converters: SoftmaxWithLoss, SigmoidCrossEntropyLoss, EuclideanLoss, HingeLoss,
MultinomialLogisticLoss, ContrastiveLoss and InfogainLoss.

Each top against the loss Caffe's Forward_cpu computes, with the normalization read from
the prototxt (``normalization``, else the legacy ``normalize``, else the type's default:
VALID, and BATCH_SIZE for SigmoidCrossEntropyLoss; the normalizer is at least 1) and
``ignore_label``.  InfogainLoss takes H as a third bottom or from ``source``, and may
return its softmax as a second top.  The bottom gradient of a weighted loss is checked
against the closed form (loss_weight scales the objective, not the top).
"""

import numpy as np
import pytest

import keras_caffe
from keras_caffe.proto.binary import write_blob

from . import caffe_ref as ref
from .nets import assert_close, build, keras_class, layer, net, randn, run

FLT_MIN = float(np.finfo(np.float32).tiny)


def _labels(shape, classes, seed=1, ignore=None):
    labels = np.random.default_rng(seed).integers(0, classes, size=shape).astype(np.float32)
    if ignore is not None:
        labels.flat[::3] = ignore
    return labels


def _normalizer(mode, valid, total, outer):
    return max(1.0, {"VALID": valid, "FULL": total, "BATCH_SIZE": outer, "NONE": 1}[mode])


def _softmax_loss(scores, labels, axis, mode, ignore):
    prob = ref.softmax(scores, axis)
    p = np.moveaxis(prob, axis, -1).reshape(-1, scores.shape[axis])
    lab = labels.ravel().astype(int)
    keep = lab != ignore if ignore is not None else np.ones(len(lab), bool)
    loss = -np.log(np.maximum(p[keep, lab[keep]], FLT_MIN)).sum()
    outer = int(np.prod(scores.shape[:axis]))
    return loss / _normalizer(mode, keep.sum(), lab.size, outer), prob, keep


# id: (scores shape, axis, loss_param body, normalization, ignore label)
SOFTMAX = {
    "valid_default_ignore": ((2, 4, 3, 2), 1, "ignore_label: 2", "VALID", 2),
    "full_ignore": ((2, 4, 3, 2), 1, "ignore_label: 0 normalization: FULL", "FULL", 0),
    "batch_size": ((2, 4, 3, 2), 1, "normalization: BATCH_SIZE", "BATCH_SIZE", None),
    "none": ((3, 5), 1, "normalization: NONE", "NONE", None),
    "legacy_normalize_false": ((2, 4, 3, 2), 1, "normalize: false", "BATCH_SIZE", None),
    "legacy_normalize_true_ignore": ((3, 5), 1, "normalize: true ignore_label: 4", "VALID", 4),
    "axis_2": ((2, 3, 4), 2, "", "VALID", None),
}


def _softmax_case(variant, header="", weight=""):
    shape, axis, body, mode, ignore = SOFTMAX[variant]
    scores = randn(*shape, scale=2.0)
    label_shape = shape[:axis] + shape[axis + 1:]
    labels = _labels(label_shape, shape[axis], ignore=ignore)
    inputs = {"scores": scores, "labels": labels}
    extra = f"softmax_param {{ axis: {axis} }} loss_param {{ {body} }} {weight}"
    text = net(inputs, layer("loss", "SoftmaxWithLoss", ["scores", "labels"], "loss", extra),
               header=header)
    return text, inputs, _softmax_loss(scores, labels, axis, mode, ignore)


@pytest.mark.parametrize("variant", SOFTMAX)
def test_softmax_with_loss_normalizes_like_caffe(variant):
    text, inputs, (want, _, _) = _softmax_case(variant)
    cnet, out = run(text, inputs)
    assert keras_class(cnet, "loss") == "CaffeSoftmaxWithLoss"
    assert_close(out["loss"], want)


@pytest.mark.parametrize("variant", ["valid_default_ignore", "full_ignore", "axis_2"])
def test_softmax_with_loss_gradient_is_weighted_prob_minus_onehot(variant):
    text, inputs, (loss, prob, keep) = _softmax_case(variant, "force_backward: true",
                                                     "loss_weight: 2.5")
    shape, axis, _, mode, _ = SOFTMAX[variant]
    out = keras_caffe.forward(text, inputs, backward=True)
    assert_close(out["loss"], loss)  # the top is the unweighted loss
    grad = np.moveaxis(prob, axis, -1).reshape(-1, shape[axis]).copy()
    grad[np.arange(len(grad)), inputs["labels"].ravel().astype(int)] -= 1
    grad[~keep] = 0
    outer = int(np.prod(shape[:axis]))
    grad *= 2.5 / _normalizer(mode, keep.sum(), keep.size, outer)
    moved = grad.reshape(np.moveaxis(prob, axis, -1).shape)
    assert_close(out["diff/scores"], np.moveaxis(moved, -1, axis), atol=1e-6)


def test_softmax_with_loss_prob_top_is_a_net_error():
    inputs = {"scores": randn(3, 4), "labels": _labels((3,), 4)}
    text = net(inputs, layer("loss", "SoftmaxWithLoss", ["scores", "labels"], ["loss", "prob"]))
    with pytest.raises(keras_caffe.NetError, match="second .prob. top is not supported"):
        build(text, inputs)


@pytest.mark.parametrize("body, mode, ignore", [
    ("", "BATCH_SIZE", None), ("normalization: VALID ignore_label: -1", "VALID", -1),
    ("normalization: FULL ignore_label: 1", "FULL", 1), ("normalize: true", "VALID", None),
], ids=["default_batch_size", "valid_ignore", "full_ignore", "legacy_normalize_true"])
def test_sigmoid_cross_entropy_loss(body, mode, ignore):
    x = randn(2, 3, 2, 2, scale=3.0)
    targets = _labels(x.shape, 2)
    if ignore is not None:
        targets.flat[::4] = ignore
    inputs = {"x": x, "targets": targets}
    cnet, out = run(net(inputs, layer("loss", "SigmoidCrossEntropyLoss", ["x", "targets"], "loss",
                                      f"loss_param {{ {body} }}")), inputs)
    assert keras_class(cnet, "loss") == "CaffeSigmoidCrossEntropyLoss"
    xs, t = np.float64(x).ravel(), np.float64(targets).ravel()
    keep = t.astype(int) != ignore if ignore is not None else np.ones(t.size, bool)
    pos = (xs >= 0).astype(float)
    terms = -(xs * (t - pos) - np.log1p(np.exp(xs - 2 * xs * pos)))
    want = terms[keep].sum() / _normalizer(mode, keep.sum(), t.size, 2)
    assert_close(out["loss"], want)


@pytest.mark.parametrize("shape", [(2, 3, 2, 2), (4, 3)])
def test_euclidean_loss_is_half_mean_squared_per_item(shape):
    inputs = {"a": randn(*shape), "b": randn(*shape, seed=1)}
    cnet, out = run(net(inputs, layer("loss", "EuclideanLoss", ["a", "b"], "loss")), inputs)
    assert keras_class(cnet, "loss") == "CaffeEuclideanLoss"
    assert_close(out["loss"], ((np.float64(inputs["a"]) - inputs["b"]) ** 2).sum() / 2 / shape[0])


@pytest.mark.parametrize("norm", ["L1", "L2"])
def test_hinge_loss(norm):
    scores = randn(4, 5, scale=1.5)
    labels = _labels((4,), 5)
    inputs = {"scores": scores, "labels": labels}
    cnet, out = run(net(inputs, layer("loss", "HingeLoss", ["scores", "labels"], "loss",
                                      f"hinge_loss_param {{ norm: {norm} }}")), inputs)
    assert keras_class(cnet, "loss") == "CaffeHingeLoss"
    signed = np.float64(scores).copy()
    signed[np.arange(4), labels.astype(int)] *= -1
    margins = np.maximum(0, 1 + signed)
    assert_close(out["loss"], (margins if norm == "L1" else margins ** 2).sum() / 4)


def test_multinomial_logistic_loss_clips_zero_probabilities():
    probs = ref.softmax(randn(4, 3)).astype(np.float32)
    labels = np.array([0, 2, 1, 1], np.float32)
    probs[1, 2] = 0.0  # log(max(p, 1e-20))
    inputs = {"probs": probs, "labels": labels}
    cnet, out = run(net(inputs, layer("loss", "MultinomialLogisticLoss", ["probs", "labels"],
                                      "loss")), inputs)
    assert keras_class(cnet, "loss") == "CaffeMultinomialLogisticLoss"
    picked = np.maximum(np.float64(probs)[np.arange(4), labels.astype(int)], 1e-20)
    assert_close(out["loss"], -np.log(picked).sum() / 4)


@pytest.mark.parametrize("legacy", [False, True])
def test_contrastive_loss_margin_rule(legacy):
    a, b = randn(6, 3), randn(6, 3, seed=1, scale=0.6)
    similar = np.array([1, 0, 1, 0, 0, 0], np.float32)
    inputs = {"a": a, "b": b, "similar": similar}
    body = f"contrastive_loss_param {{ margin: 2.5 legacy_version: {str(legacy).lower()} }}"
    cnet, out = run(net(inputs, layer("loss", "ContrastiveLoss", ["a", "b", "similar"], "loss",
                                      body)), inputs)
    assert keras_class(cnet, "loss") == "CaffeContrastiveLoss"
    d2 = ((np.float64(a) - b) ** 2).sum(axis=1)
    apart = np.maximum(2.5 - d2, 0) if legacy else np.maximum(2.5 - np.sqrt(d2), 0) ** 2
    per_item = np.where(similar > 0, d2, apart)
    assert 0 < apart[similar == 0].sum()  # some dissimilar pairs are inside the margin
    assert_close(out["loss"], per_item.sum() / 2 / 6)


def _infogain(scores, labels, h, mode, ignore):
    prob = ref.softmax(scores, 1)
    p = np.moveaxis(prob, 1, -1).reshape(-1, scores.shape[1])
    lab = labels.ravel().astype(int)
    keep = lab != ignore if ignore is not None else np.ones(lab.size, bool)
    logs = np.log(np.maximum(p[keep], FLT_MIN))
    loss = -(h[lab[keep]] * logs).sum()
    return loss / _normalizer(mode, keep.sum(), lab.size, scores.shape[0]), prob


H = np.array([[1.0, 0.2, 0.0], [0.1, 2.0, 0.3], [0.0, 0.5, 1.5]], np.float32)


@pytest.mark.parametrize("source, tops, body, mode, ignore", [
    (False, 1, "loss_param { ignore_label: 1 }", "VALID", 1),
    (True, 1, "loss_param { normalization: BATCH_SIZE }", "BATCH_SIZE", None),
    (False, 2, "loss_param { normalization: FULL ignore_label: 0 }", "FULL", 0),
    (True, 2, "", "VALID", None),
], ids=["matrix_bottom_ignore", "source_batch_size", "matrix_bottom_prob_top_full",
        "source_prob_top"])
def test_infogain_loss(source, tops, body, mode, ignore, tmp_path):
    scores = randn(2, 3, 2, 2, scale=2.0)
    labels = _labels((2, 1, 2, 2), 3, ignore=ignore)
    inputs = {"scores": scores, "labels": labels}
    if source:
        write_blob(tmp_path / "H.binaryproto", H.reshape(1, 1, 3, 3))
        body += f' infogain_loss_param {{ source: "{tmp_path / "H.binaryproto"}" }}'
    else:
        inputs["H"] = H
    top_names = ["loss", "prob"][:tops]
    cnet, out = run(net(inputs, layer("loss", "InfogainLoss", list(inputs), top_names, body)),
                    inputs)
    assert keras_class(cnet, "loss") == "CaffeInfogainLoss"
    want, prob = _infogain(scores, labels, np.float64(H), mode, ignore)
    assert_close(out["loss"], want)
    if tops == 2:
        assert_close(out["prob"], prob)


@pytest.mark.parametrize("body, match", [
    ("", "needs the infogain matrix"),
    ('infogain_loss_param { source: "/nonexistent/H.binaryproto" }', "not found"),
    ('loss_param { normalize: true } infogain_loss_param { source: "x" }', "normalize"),
])
def test_bad_infogain_loss_is_a_net_error(body, match):
    inputs = {"scores": randn(2, 3), "labels": _labels((2,), 3)}
    text = net(inputs, layer("loss", "InfogainLoss", ["scores", "labels"], "loss", body))
    with pytest.raises(keras_caffe.NetError, match=match):
        build(text, inputs)
