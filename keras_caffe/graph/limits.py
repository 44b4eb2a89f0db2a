"""Bounds on the counts a prototxt sets, so that a hostile value is an error and not a hang.

Every blob Caffe makes goes through ``Blob::Reshape``, which checks that no dimension is
negative and that it has at most ``kMaxBlobAxes`` (32) axes and at most ``INT_MAX`` elements
(``"blob size exceeds INT_MAX"``).  :func:`check_dims` applies the first rule to each shape a
prototxt gives and each top ``graph.shapes`` infers, :func:`check_blob` the other two to every
blob shape this package infers (each top, each parameter blob a type declares), before
anything is built or allocated; the memory projection (``graph.memory``) then bounds the
sum.  Counts that drive a loop rather than a shape are bounded where they are read, with
:func:`check_field`, by a bound that follows from Caffe's own rules for that field.
"""

from __future__ import annotations

import math

from ..errors import NetError

#: Caffe's ``kMaxBlobAxes``: the most axes a blob may have.
MAX_AXES = 32
#: Caffe's ``INT_MAX`` bound on the elements of one blob (``Blob::Reshape``).
MAX_COUNT = 2**31 - 1


def check_blob(shape, what: str, layer: str | None = None, path: str | None = None) -> None:
    """An error naming ``what`` (e.g. ``"top 'conv1'"``) unless ``shape`` is a blob Caffe
    could hold: at most :data:`MAX_AXES` axes and :data:`MAX_COUNT` elements.  Unknown
    (None) dimensions count as 1; shapes with a negative dimension are left to
    :func:`check_dims`."""
    if shape is None:
        return
    if len(shape) > MAX_AXES:
        raise NetError(f"{what} would have {len(shape)} axes; Caffe allows at most {MAX_AXES} "
                       "(kMaxBlobAxes)", layer=layer, path=path)
    dims = [1 if d is None else int(d) for d in shape]
    if any(d < 0 for d in dims):
        return
    count = math.prod(dims)
    if count > MAX_COUNT:
        raise NetError(f"{what} would have shape {_shown(shape)} = {count:,} elements; Caffe "
                       f"allows at most {MAX_COUNT:,} (INT_MAX) in one blob", layer=layer,
                       path=path)


def check_dims(shape, what: str, layer: str | None = None, path: str | None = None) -> None:
    """An error naming ``what`` unless every known dimension of ``shape`` is >= 0 (Caffe's
    ``CHECK_GE(shape[i], 0)`` in ``Blob::Reshape``)."""
    negative = [d for d in shape if d is not None and d < 0]
    if negative:
        raise NetError(f"{what} {tuple(shape)} has a negative dimension ({negative[0]}); "
                       "blob dimensions are >= 0", layer=layer, path=path)


def check_field(layer, field: str, value: int, bound: int, why: str) -> None:
    """An error naming the layer, ``field``, its ``value`` and ``bound`` when ``value`` is
    over ``bound``; ``why`` says where the bound comes from.  ``layer`` is a
    LayerParameter or a layer name."""
    if value > bound:
        name = getattr(layer, "name", layer)
        raise NetError(f"{field}: {value} is over its bound {bound} ({why})", layer=name)


def _shown(shape) -> str:
    return "x".join("?" if d is None else str(d) for d in shape)
