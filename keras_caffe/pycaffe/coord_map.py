"""``caffe.coord_map``: how the spatial coordinates of one NetSpec top map onto another's, and
``crop`` to align a skip connection (the FCN family) with a Crop layer.

A map is ``(axis, scale, shift)``: output coordinate ``i * scale + shift`` comes from input
coordinate ``i``, from ``axis`` on (``None``: any axis, as for pointwise layers).  Scale and shift
are numpy arrays with one entry per spatial axis where the layer gives per-axis values.  The
rules and errors are Caffe's: maps compose through Convolution, Pooling, Im2col, Deconvolution,
Crop (its first bottom only) and the pass-through layers; tops with no path through such layers
raise RuntimeError; ``crop`` asserts a unit scale and a non-negative integer offset
(AssertionError, raised even under ``python -O``).
"""

from __future__ import annotations

import numpy as np

from .net_spec import Function, Top, layers as L

PASS_THROUGH_LAYERS = ["AbsVal", "BatchNorm", "Bias", "BNLL", "Dropout", "Eltwise", "ELU",
                       "Log", "LRN", "Exp", "MVN", "Power", "ReLU", "PReLU", "Scale", "Sigmoid",
                       "Split", "TanH", "Threshold"]

_LEGACY = ("pad_h", "pad_w", "kernel_h", "kernel_w", "stride_h", "stride_w")


class UndefinedMapException(Exception):
    """A layer whose output coordinates do not map onto its input's."""


class AxisMismatchException(Exception):
    """Two maps over different first axes cannot compose."""


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def conv_params(fn: Function):
    """(axis, stride, effective kernel extent, pad) of a Convolution/Deconvolution/Im2col
    (``convolution_param``, nested or flat) or Pooling (flat) layer."""
    params = fn.params.get("convolution_param", fn.params)
    _check(not set(_LEGACY) & (set(fn.params) | set(params)),
           f"{fn.type_name}: cropping does not support legacy _h/_w params")
    axis = params.get("axis", 1)
    if "kernel_size" not in params:
        raise UndefinedMapException(f"{fn.type_name} without kernel_size (e.g. global "
                                    "pooling) has no coordinate map")
    extent = np.array(params["kernel_size"], ndmin=1)
    dilation = np.array(params.get("dilation", 1), ndmin=1)
    return (axis, np.array(params.get("stride", 1), ndmin=1), (extent - 1) * dilation + 1,
            np.array(params.get("pad", 0), ndmin=1))


def crop_params(fn: Function):
    """(axis, offset) of a Crop layer, with Caffe's defaults (axis 2, offset 0)."""
    params = fn.params.get("crop_param", fn.params)
    return params.get("axis", 2), np.array(params.get("offset", 0), ndmin=1)


def coord_map(fn: Function):
    """The map of one layer, from its (first) bottom to its tops."""
    if fn.type_name in ("Convolution", "Pooling", "Im2col"):
        axis, stride, extent, pad = conv_params(fn)
        return axis, 1 / stride, (pad - (extent - 1) / 2) / stride
    if fn.type_name == "Deconvolution":
        axis, stride, extent, pad = conv_params(fn)
        return axis, stride, (extent - 1) / 2 - pad
    if fn.type_name in PASS_THROUGH_LAYERS:
        return None, 1, 0
    if fn.type_name == "Crop":
        axis, offset = crop_params(fn)
        return axis - 1, 1, -offset            # axis - 1: the last non-coordinate axis
    raise UndefinedMapException(f"{fn.type_name} has no coordinate map")


def compose(base_map, next_map):
    """``next_map`` after ``base_map``: scales multiply, the further shift is scaled."""
    ax1, a1, b1 = base_map
    ax2, a2, b2 = next_map
    if ax1 is None:
        ax = ax2
    elif ax2 is None or ax1 == ax2:
        ax = ax1
    else:
        raise AxisMismatchException(f"maps over axis {ax1} and axis {ax2} do not compose")
    return ax, a1 * a2, a1 * b2 + b1


def inverse(coord_map):
    """The map back, from output to input coordinates."""
    ax, a, b = coord_map
    return ax, 1 / a, -b / a


def _mappable_bottoms(top: Top):
    """The bottoms a walk may follow: all of them, but only a Crop's first (the second only
    gives the size)."""
    return top.fn.inputs[:1] if top.fn.type_name == "Crop" else top.fn.inputs


def coord_map_from_to(top_from: Top, top_to: Top):
    """The map from ``top_from``'s coordinates to ``top_to``'s, through their nearest common
    ancestor blob (RuntimeError when spatial layers do not connect them)."""
    for name, top in (("top_from", top_from), ("top_to", top_to)):
        if not isinstance(top, Top):
            raise TypeError(f"coord_map_from_to: {name} must be a Top, not "
                            f"{type(top).__name__}")
    from_maps = {top_from: (None, 1, 0)}
    frontier = [top_from]
    while frontier:
        top = frontier.pop()
        try:
            for bottom in _mappable_bottoms(top):
                from_maps[bottom] = compose(from_maps[top], coord_map(top.fn))
                frontier.append(bottom)
        except UndefinedMapException:
            pass
    to_maps = {top_to: (None, 1, 0)}
    frontier = [top_to]
    while frontier:
        top = frontier.pop()
        if top in from_maps:
            return compose(to_maps[top], inverse(from_maps[top]))
        try:
            for bottom in _mappable_bottoms(top):
                to_maps[bottom] = compose(to_maps[top], coord_map(top.fn))
                frontier.append(bottom)
        except UndefinedMapException:
            continue
    raise RuntimeError("Could not compute map between tops; are they connected by spatial "
                       f"layers? ({top_from.fn.type_name} top and {top_to.fn.type_name} top "
                       "share no ancestor reached through Convolution, Pooling, "
                       "Deconvolution, Crop or pointwise layers)")


def crop(top_from: Top, top_to: Top) -> Top:
    """A Crop layer cutting ``top_from`` to ``top_to``'s extent, its axis and offsets computed
    from the coordinate map between them."""
    ax, a, b = coord_map_from_to(top_from, top_to)
    _check(np.all(a == 1), f"scale mismatch on crop (a = {a})")
    _check(np.all(b <= 0), f"cannot crop negative offset (b = {b})")
    _check(np.all(np.round(b) == b), f"cannot crop noninteger offset (b = {b})")
    offsets = [int(v) for v in -np.round(np.array(b, ndmin=1))]
    # axis None: only pointwise layers between them, so nothing to cut (pycaffe fails on it)
    axis = 2 if ax is None else ax + 1      # + 1: the first cropped axis
    return L.Crop(top_from, top_to, crop_param=dict(axis=axis, offset=offsets))
