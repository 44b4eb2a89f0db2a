"""Reduction, ArgMax and Accuracy converters.

Reduction: SUM / ASUM / SUMSQ / MEAN over every axis from ``axis`` on, times ``coeff``.
ArgMax: over an axis, or over each item's C*H*W values with Caffe's (N, 1 or 2, top_k)
top (indices, then values with ``out_max_val``); ties go to the larger index, as
std::greater on (value, index) pairs sorts them.  Accuracy: top-k where a score equal to the
true class's counts as better (so ties are wrong), ``ignore_label``, the per-class second top.
"""

import numpy as np
import pytest

from .nets import assert_close, keras_class, layer, net, randn, run

SHAPE = (2, 3, 4, 5)

REDUCE = {"SUM": np.sum, "ASUM": lambda x, axis: np.abs(x).sum(axis=axis),
          "SUMSQ": lambda x, axis: (x ** 2).sum(axis=axis), "MEAN": np.mean}


@pytest.mark.parametrize("op, axis, coeff", [("SUM", 0, 2.0), ("ASUM", 1, 1.0),
                                             ("SUMSQ", 2, 0.5), ("MEAN", -1, -0.5),
                                             ("MEAN", 1, 3.0)])
def test_reduction_over_trailing_axes(op, axis, coeff):
    inputs = {"data": randn(*SHAPE)}
    body = f"reduction_param {{ operation: {op} axis: {axis} coeff: {coeff} }}"
    cnet, out = run(net(inputs, layer("red", "Reduction", "data", "red", body)), inputs)
    assert keras_class(cnet, "red") == "CaffeReduction"
    start = axis % len(SHAPE)
    want = coeff * REDUCE[op](np.float64(inputs["data"]), axis=tuple(range(start, len(SHAPE))))
    assert_close(out["red"], want)


def _argmax_case(shape):
    x = randn(*shape)
    x.flat[1] = x.flat[3] = x.max() + 1  # a tie for first place
    return x


def _ranked(values, k):
    """Indices and values of the k largest, ties to the larger index."""
    order = sorted(range(len(values)), key=lambda i: (values[i], i), reverse=True)[:k]
    return order, [values[i] for i in order]


@pytest.mark.parametrize("shape, body", [
    (SHAPE, ""), (SHAPE, "out_max_val: true top_k: 2"), ((3, 6), "top_k: 3"),
    ((3, 6), "out_max_val: true"),
], ids=["4d_index", "4d_index_and_value_top2", "2d_top3", "2d_index_and_value"])
def test_argmax_over_each_item(shape, body):
    x = _argmax_case(shape)
    inputs = {"data": x}
    cnet, out = run(net(inputs, layer("arg", "ArgMax", "data", "arg",
                                      f"argmax_param {{ {body} }}")), inputs)
    assert keras_class(cnet, "arg") == "CaffeArgMax"
    k = int(body.split("top_k: ")[1]) if "top_k" in body else 1
    with_value = "out_max_val" in body
    want = np.zeros((shape[0], 2 if with_value else 1, k) + (1,) * (max(len(shape), 3) - 3))
    for n in range(shape[0]):
        idx, val = _ranked(list(np.float64(x[n]).ravel()), k)
        want[n, 0, :].flat[:] = idx
        if with_value:
            want[n, 1, :].flat[:] = val
    assert want[0, 0].flat[0] == 3  # the tie went to the larger index
    # Values in Caffe's order; the shape of 4-D tops is pinned (xfail) below.
    assert out["arg"].size == want.size
    assert_close(out["arg"].reshape(want.shape), want)


@pytest.mark.xfail(strict=True, reason=(
    "Caffe's ArgMaxLayer::Reshape gives the top max(rank, 3) axes, so a 4-D bottom without "
    "axis makes an (N, 1 or 2, top_k, 1) top; keras_caffe's shape rule returns 3 axes "
    "(N, 1 or 2, top_k), as Caffe's header comment (not its code) says"))
@pytest.mark.parametrize("body", ["", "out_max_val: true top_k: 2"],
                         ids=["index", "index_and_value_top2"])
def test_argmax_top_of_a_4d_bottom_has_four_axes(body):
    inputs = {"data": _argmax_case(SHAPE)}
    cnet, out = run(net(inputs, layer("arg", "ArgMax", "data", "arg",
                                      f"argmax_param {{ {body} }}")), inputs)
    k = 2 if body else 1
    assert out["arg"].shape == (2, 2 if body else 1, k, 1)


@pytest.mark.parametrize("body", ["axis: 1 top_k: 2", "axis: 1 top_k: 2 out_max_val: true",
                                  "axis: -1"], ids=["indices", "values", "last_axis"])
def test_argmax_along_an_axis(body):
    x = randn(*SHAPE)
    inputs = {"data": x}
    cnet, out = run(net(inputs, layer("arg", "ArgMax", "data", "arg",
                                      f"argmax_param {{ {body} }}")), inputs)
    axis = int(body.split("axis: ")[1].split()[0]) % 4
    k = int(body.split("top_k: ")[1].split()[0]) if "top_k" in body else 1
    order = np.flip(np.argsort(x, axis=axis, kind="stable"), axis=axis)
    order = np.take(order, np.arange(k), axis=axis)
    want = np.take_along_axis(x, order, axis=axis) if "out_max_val" in body else order
    assert_close(out["arg"], want)


def _accuracy(scores, labels, k, ignore, classes, axis=1):
    right = np.zeros(classes)
    seen = np.zeros(classes)
    s = np.moveaxis(scores, axis, -1).reshape(-1, classes)
    hits = count = 0
    for row, label in zip(s, labels.ravel().astype(int)):
        if label == ignore:
            continue
        seen[label] += 1
        count += 1
        if (row >= row[label]).sum() - 1 < k:  # classes scoring >= the true one, besides it
            hits += 1
            right[label] += 1
    per_class = np.where(seen > 0, right / np.maximum(seen, 1), 0)
    return hits / count if count else 0.0, per_class


# id: (scores shape, accuracy_param body, top_k, ignore label, per-class top)
ACCURACY = {
    "top1_ties_are_wrong": ((6, 4), "", 1, None, False),
    "top2": ((6, 4), "top_k: 2", 2, None, False),
    "ignore_label": ((6, 4), "ignore_label: 3", 1, 3, False),
    "per_class_top": ((6, 4), "", 1, None, True),
    "spatial_4d_top2_per_class": ((2, 4, 2, 3), "top_k: 2 ignore_label: 0", 2, 0, True),
    "axis_2_3d": ((2, 3, 4), "axis: 2", 1, None, False),
}


@pytest.mark.parametrize("variant", ACCURACY)
def test_accuracy_counts_like_caffe(variant):
    shape, body, k, ignore, per_class = ACCURACY[variant]
    axis = int(body.split("axis: ")[1]) if "axis" in body else 1
    scores = np.round(randn(*shape), 1)  # coarse values, so ties happen
    if axis != 1:
        label_shape = shape[:axis]
    else:
        label_shape = (shape[0],) if len(shape) == 2 else (shape[0], 1) + shape[2:]
    labels = np.random.default_rng(2).integers(0, shape[1], size=label_shape).astype(np.float32)
    labels.flat[0] = 0
    rows = np.moveaxis(scores, axis, -1).reshape(-1, shape[axis])  # a copy
    rows[0, :2] = rows[0].max() + 1  # item 0: its true class 0 ties with class 1 for first
    rows[1, int(labels.flat[1])] = rows[1].max() + 1  # item 1: a clear hit
    scores = np.ascontiguousarray(np.moveaxis(
        rows.reshape(np.moveaxis(scores, axis, -1).shape), -1, axis))
    inputs = {"scores": scores, "labels": labels}
    tops = ["acc", "per_class"] if per_class else ["acc"]
    cnet, out = run(net(inputs, layer("acc", "Accuracy", ["scores", "labels"], tops,
                                      f"accuracy_param {{ {body} }}")), inputs)
    assert keras_class(cnet, "acc") == "CaffeAccuracy"
    want, classes = _accuracy(np.float64(scores), labels, k, ignore, shape[axis], axis)
    assert 0 < want < 1
    assert_close(out["acc"], want)
    if per_class:
        assert_close(out["per_class"], classes)
