"""Argument checks and small shape helpers shared by the custom layers.

Private: nothing here is a layer. Every check raises ``ValueError`` with a message
that quotes the offending value, so a bad Caffe parameter is easy to find.
"""

from __future__ import annotations

import numbers

import numpy as np
from keras import ops

# Caffe's FLT_MAX / FLT_MIN (float32), used where Caffe uses them literally.
FLT_MAX = float(np.finfo(np.float32).max)
FLT_MIN = float(np.finfo(np.float32).tiny)


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_number(value, name: str) -> float:
    if not is_number(value):
        raise ValueError(f"`{name}` must be a real number, got {name}={value!r}.")
    return float(value)


def check_choice(value, name: str, choices) -> str:
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(
            f"`{name}` must be one of {sorted(choices)}, got {name}={value!r}.")
    return value.lower()


def check_bool(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"`{name}` must be True or False, got {name}={value!r}.")
    return bool(value)


def check_pair(value, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints (h, w), each >= minimum."""
    if is_int(value):
        pair = (int(value), int(value))
    elif (isinstance(value, (tuple, list)) and len(value) == 2
          and all(is_int(v) for v in value)):
        pair = (int(value[0]), int(value[1]))
    else:
        raise ValueError(
            f"`{name}` must be an int or a pair of ints, got {name}={value!r}.")
    if min(pair) < minimum:
        raise ValueError(
            f"`{name}` values must be >= {minimum}, got {name}={value!r}.")
    return pair


def check_int(value, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    if not is_int(value):
        raise ValueError(f"`{name}` must be an int, got {name}={value!r}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}, got {name}={value!r}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"`{name}` must be <= {maximum}, got {name}={value!r}.")
    return int(value)


def check_int_tuple(value, name: str, minimum: int | None = None,
                    unique: bool = False) -> tuple[int, ...]:
    if is_int(value):
        value_t = (int(value),)
    elif isinstance(value, (tuple, list)) and all(is_int(v) for v in value):
        value_t = tuple(int(v) for v in value)
    else:
        raise ValueError(
            f"`{name}` must be a sequence of ints, got {name}={value!r}.")
    if minimum is not None and any(v < minimum for v in value_t):
        raise ValueError(
            f"`{name}` values must be >= {minimum}, got {name}={value!r}.")
    if unique and len(set(value_t)) != len(value_t):
        raise ValueError(f"`{name}` must not repeat an axis, got {name}={value!r}.")
    return value_t


def broadcast_add(x1, x2):
    """``x1 + x2`` with numpy's broadcasting.  ``keras.ops.add`` on TensorFlow treats an
    ``x2`` with one dimension above 1 that equals ``x1``'s axis 1 or last axis as a bias
    and adds it along that axis (``tf.nn.bias_add``) wherever the dimension sits: (3, 3) +
    (3, 1) then adds along the rows.  Subtracting the negation is exact and broadcasts as
    numpy does."""
    return ops.subtract(x1, ops.negative(x2))


def float32_divide(x1, x2):
    """``x1 / x2`` rounded to float32 as C's float division, also under XLA, whose
    simplifier turns a division by a constant into a multiplication by its reciprocal (one
    ulp off: 9 / 3 becomes 3.0000002, and its ``ceil`` 4).  Divided in float64, whose last
    ulp is far below float32's, then rounded."""
    return ops.cast(ops.divide(ops.cast(x1, "float64"), ops.cast(x2, "float64")), "float32")


def canonical_axis(axis: int, rank: int, name: str = "axis") -> int:
    if not -rank <= axis < rank:
        raise ValueError(
            f"`{name}`={axis!r} is out of range for an input of rank {rank}.")
    return axis % rank


def canonical_axes(axes, rank: int, name: str = "axes") -> tuple[int, ...]:
    out = tuple(canonical_axis(a, rank, name) for a in axes)
    if len(set(out)) != len(out):
        raise ValueError(
            f"`{name}`={tuple(axes)!r} names the same axis twice for an input of "
            f"rank {rank}.")
    return out


def broadcast_to_axes(param, axes: tuple[int, ...], rank: int):
    """Lay a tensor whose dims follow `axes` (in that order) out for broadcasting.

    `param` has one dim per entry of `axes` (canonical, any order); the result has
    rank `rank`, those dims at those axes and 1 everywhere else. Dims may be dynamic.
    """
    order = sorted(range(len(axes)), key=lambda i: axes[i])
    if order != list(range(len(axes))):
        param = ops.transpose(param, order)
    present = set(axes)
    for i in range(rank):
        if i not in present:
            param = ops.expand_dims(param, i)
    return param


def split_inputs(input_shape, learned: bool, layer: str):
    """(x_shape, param_shape_or_None) from a build() input shape, checking the form."""
    is_list = (isinstance(input_shape, (list, tuple)) and len(input_shape) > 0
               and isinstance(input_shape[0], (list, tuple)))
    if learned:
        if is_list:
            raise ValueError(
                f"{layer} with learned=True takes one input, got {len(input_shape)} "
                f"(shapes {[tuple(s) for s in input_shape]}); use learned=False for "
                "the two-input form.")
        return tuple(input_shape), None
    if not is_list or len(input_shape) != 2:
        raise ValueError(
            f"{layer} with learned=False takes two inputs [x, param], got "
            f"input_shape={input_shape!r}.")
    return tuple(input_shape[0]), tuple(input_shape[1])


def param_shape_for(x_shape, given_shape, axes, layer: str, need_static: bool):
    """The Caffe blob shape `x.shape[axes]` (in the order of `axes`).

    `given_shape` (the second input's shape, or None) must agree with it where both
    are known. With `need_static`, every dim must be known.
    """
    expected = [x_shape[a] for a in axes]
    if given_shape is not None:
        if len(given_shape) != len(axes):
            raise ValueError(
                f"{layer}: the second input has shape {tuple(given_shape)} but "
                f"axes={tuple(axes)!r} needs rank {len(axes)}.")
        for i, (e, g) in enumerate(zip(expected, given_shape)):
            if e is not None and g is not None and e != g:
                raise ValueError(
                    f"{layer}: the second input's shape {tuple(given_shape)} does not "
                    f"match the input's dims {tuple(expected)} at axes={tuple(axes)!r}.")
            if e is None:
                expected[i] = g
    if need_static and any(d is None for d in expected):
        raise ValueError(
            f"{layer}: the parameter shape at axes={tuple(axes)!r} must be known, got "
            f"{tuple(expected)} from input shape {tuple(x_shape)}.")
    return tuple(expected)
