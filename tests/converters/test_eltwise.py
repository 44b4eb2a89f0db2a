"""Eltwise, Concat, Slice and Split converters.

Eltwise: stock Add / Multiply / Maximum when no coefficient differs from 1, CaffeEltwise
for SUM with coefficients.  Concat: one bottom passes through (no Keras layer), otherwise
Concatenate on any Caffe axis (legacy ``concat_dim`` too).  Slice: slice points, an equal
split, one top (pass-through), any axis (legacy ``slice_dim`` too).  Split: copies.  Each
against numpy on the NCHW blobs, plus the errors Caffe's checks stand for.
"""

import numpy as np
import pytest

import keras_caffe

from .nets import assert_close, build, keras_class, keras_classes, layer, net, randn, run

SHAPE = (2, 3, 4, 5)

# id: (eltwise_param body, bottom count, Keras class, numpy of the bottoms)
ELTWISE = {
    "sum_stock": ("", 2, "Add", lambda a, b: a + b),
    "sum_coeffs_all_one": ("operation: SUM coeff: 1 coeff: 1", 2, "Add", lambda a, b: a + b),
    "sum_coeffs": ("operation: SUM coeff: 0.5 coeff: -2", 2, "CaffeEltwise",
                   lambda a, b: 0.5 * a - 2 * b),
    "sum_three_coeffs": ("coeff: 1 coeff: -1 coeff: 0.25", 3, "CaffeEltwise",
                         lambda a, b, c: a - b + 0.25 * c),
    "prod": ("operation: PROD", 2, "Multiply", lambda a, b: a * b),
    "prod_three": ("operation: PROD", 3, "Multiply", lambda a, b, c: a * b * c),
    "max": ("operation: MAX", 2, "Maximum", np.maximum),
    "max_three": ("operation: MAX", 3, "Maximum", lambda a, b, c: np.maximum(np.maximum(a, b), c)),
}


def _bottoms(count, shape=SHAPE):
    return {f"x{i}": randn(*shape, seed=i) for i in range(count)}


@pytest.mark.parametrize("variant", ELTWISE)
def test_eltwise_matches_caffe(variant):
    body, count, cls, formula = ELTWISE[variant]
    inputs = _bottoms(count)
    cnet, out = run(net(inputs, layer("elt", "Eltwise", list(inputs), "elt",
                                      f"eltwise_param {{ {body} }}")), inputs)
    assert keras_class(cnet, "elt") == cls
    assert_close(out["elt"], formula(*[np.float64(v) for v in inputs.values()]))


@pytest.mark.parametrize("body, shapes, match", [
    ("operation: PROD coeff: 1 coeff: 2", [SHAPE, SHAPE], "only allowed with operation SUM"),
    ("coeff: 1 coeff: 2 coeff: 3", [SHAPE, SHAPE], "3 coeff values for 2 bottoms"),
    ("", [SHAPE, (2, 3, 4, 4)], "bottoms must have equal shapes"),
])
def test_bad_eltwise_is_a_net_error(body, shapes, match):
    inputs = {f"x{i}": randn(*s, seed=i) for i, s in enumerate(shapes)}
    text = net(inputs, layer("elt", "Eltwise", list(inputs), "elt",
                             f"eltwise_param {{ {body} }}"))
    with pytest.raises(keras_caffe.NetError, match=match):
        build(text, inputs)


# id: (shapes of the bottoms, concat_param body, Caffe axis)
CONCAT = {
    "channels_4d": ([(2, 3, 4, 5), (2, 2, 4, 5)], "", 1),
    "height_4d": ([(2, 3, 4, 5), (2, 3, 1, 5), (2, 3, 2, 5)], "axis: 2", 2),
    "width_negative_axis": ([(2, 3, 4, 5), (2, 3, 4, 2)], "axis: -1", 3),
    "batch_4d": ([(2, 3, 4, 5), (1, 3, 4, 5)], "axis: 0", 0),
    "legacy_concat_dim": ([(2, 3, 4, 5), (2, 3, 4, 5)], "concat_dim: 3", 3),
    "features_2d": ([(2, 3), (2, 4)], "", 1),
    "last_axis_3d": ([(2, 3, 4), (2, 3, 1)], "axis: 2", 2),
}


@pytest.mark.parametrize("variant", CONCAT)
def test_concat_on_its_axis(variant):
    shapes, body, axis = CONCAT[variant]
    inputs = {f"x{i}": randn(*s, seed=i) for i, s in enumerate(shapes)}
    cnet, out = run(net(inputs, layer("cat", "Concat", list(inputs), "cat",
                                      f"concat_param {{ {body} }}")), inputs)
    assert keras_class(cnet, "cat") == "Concatenate"
    assert_close(out["cat"], np.concatenate(list(inputs.values()), axis=axis))


def test_concat_of_one_bottom_passes_it_through():
    inputs = {"x0": randn(*SHAPE)}
    cnet, out = run(net(inputs, layer("cat", "Concat", "x0", "cat", "concat_param { axis: 2 }"),
                        layer("relu", "ReLU", "cat", "relu")), inputs)
    assert "Concatenate" not in keras_classes(cnet)
    assert_close(out["cat"], inputs["x0"])
    assert_close(out["relu"], np.maximum(inputs["x0"], 0))


# id: (bottom shape, slice_param body, number of tops, Caffe axis, split indices)
SLICE = {
    "slice_points_channels": (SHAPE, "slice_point: 1 slice_point: 2", 3, 1, [1, 2]),
    "equal_split_height": (SHAPE, "axis: 2", 2, 2, [2]),
    "equal_split_three_width": ((2, 3, 4, 6), "axis: -1", 3, 3, [2, 4]),
    "legacy_slice_dim": (SHAPE, "slice_dim: 3 slice_point: 3", 2, 3, [3]),
    "batch": ((4, 3, 2, 2), "axis: 0 slice_point: 1", 2, 0, [1]),
    "features_2d": ((3, 7), "slice_point: 2 slice_point: 6", 3, 1, [2, 6]),
}


@pytest.mark.parametrize("variant", SLICE)
def test_slice_parts_on_its_axis(variant):
    shape, body, count, axis, points = SLICE[variant]
    inputs = {"data": randn(*shape)}
    tops = [f"part{i}" for i in range(count)]
    cnet, out = run(net(inputs, layer("slice", "Slice", "data", tops,
                                      f"slice_param {{ {body} }}")), inputs)
    assert keras_class(cnet, "slice") == "CaffeSlice"
    for top, want in zip(tops, np.split(inputs["data"], points, axis=axis)):
        assert_close(out[top], want)


def test_slice_with_one_top_passes_the_bottom_through():
    inputs = {"data": randn(*SHAPE)}
    cnet, out = run(net(inputs, layer("slice", "Slice", "data", "only",
                                      "slice_param { axis: 2 }")), inputs)
    assert "CaffeSlice" not in keras_classes(cnet)
    assert_close(out["only"], inputs["data"])


def test_unequal_slice_without_points_is_a_net_error():
    inputs = {"data": randn(*SHAPE)}
    text = net(inputs, layer("slice", "Slice", "data", ["a", "b"], "slice_param { axis: 1 }"))
    with pytest.raises(keras_caffe.NetError, match="does not split equally into 2 tops"):
        build(text, inputs)


def test_split_copies_its_bottom_to_every_top():
    inputs = {"data": randn(*SHAPE)}
    cnet, out = run(net(inputs, layer("split", "Split", "data", ["a", "b", "c"]),
                        layer("neg", "Power", "b", "neg", "power_param { scale: -1 }")), inputs)
    for top in ("a", "c"):
        assert_close(out[top], inputs["data"])
    assert_close(out["neg"], -inputs["data"])
