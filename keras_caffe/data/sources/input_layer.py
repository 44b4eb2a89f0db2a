"""Caffe's Input layer: blobs the caller feeds (``input_param`` gives their shapes)."""

from __future__ import annotations

from ...errors import NetError
from ...graph import types
from ...graph.shapes import blob_shape


def _input_shape(layer, bottoms):
    shapes = [blob_shape(s, "input_param.shape") for s in layer.input_param.shape]
    n = len(layer.top)
    if len(shapes) == 1 and n > 1:
        shapes = shapes * n
    if len(shapes) != n:
        raise NetError(f"input_param has {len(shapes)} shapes for {n} tops "
                       "(give one shape, or one per top)")
    return shapes


types.declare("Input", source="caller", bottoms=0, tops=(1, None), shape=_input_shape,
              module=__name__)
