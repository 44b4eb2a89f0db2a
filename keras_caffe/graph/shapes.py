"""Caffe's blob shapes, by Caffe's own formulas, through each type's declared shape function.

A type's shape function (``graph.types``, declared where the type is converted or read)
maps ``(layer, bottom_shapes)`` to its top shapes: Caffe-ordered tuples (NCHW), ``None``
where a dimension is unknown.  :func:`infer_shapes` walks a NetGraph with them;
:func:`input_shapes` settles the shapes of the blobs that input and data layers make.
Types without a shape function (a user's converter) get their shapes from the built Keras
graph instead.
"""

from __future__ import annotations

import math
from typing import Callable, Mapping

from ..errors import NetError, layer_named
from . import types
from .limits import check_blob, check_dims
from .net import Blob, NetGraph

Shape = tuple


def blob_shape(shape_msg, field: str = "shape") -> Shape:
    """A BlobShape message as a tuple; a negative dimension is an error naming ``field``
    (Caffe: ``CHECK_GE(shape[i], 0)`` in ``Blob::Reshape``)."""
    shape = tuple(int(d) for d in shape_msg.dim)
    check_dims(shape, field)
    return shape


def same(layer, bottoms) -> list[Shape]:
    """Every top has the first bottom's shape (element-wise layers, in place or not)."""
    return [bottoms[0]] * max(1, len(layer.top))


def rank4(layer, shape) -> Shape:
    """``shape``, or an error when the layer needs a 4-D (N,C,H,W) bottom."""
    if len(shape) != 4:
        raise NetError(f"needs a 4-D (N,C,H,W) bottom, got shape {tuple(shape)}", layer=layer.name)
    return shape


def known(shape) -> bool:
    return shape is not None and all(d is not None for d in shape)


def legacy_dim(shape, axis: int):
    """Caffe's ``Blob::LegacyShape``: axis ``axis`` (0..3: num, channels, height, width) of a
    blob, 1 past its last axis."""
    return shape[axis] if axis < len(shape) else 1


def known_count(shape) -> int | None:
    """The number of values in ``shape`` (a part of one, e.g. the axes from ``axis`` on),
    or None when a dimension is unknown."""
    return None if None in shape else math.prod(shape)


def check_arity(node, path=None) -> None:
    """An error unless the layer has as many bottoms and tops as its type takes."""
    spec = types.get(node.type)
    problem = spec.arity_error(len(node.bottoms), len(node.tops)) if spec else None
    if problem:
        raise NetError(problem, layer=node.name, path=path)


def node_shapes(node, bottom_shapes: list[Shape], path=None) -> list[Shape] | None:
    """Caffe's shapes of a layer's tops, or None when its type has no shape function."""
    spec = types.get(node.type)
    fn = spec.shape if spec is not None else None
    if spec is not None and spec.built(node.param):
        check_arity(node, path)
    if fn is None:
        return None
    try:
        with layer_named(node.name, path):
            tops = fn(node.param, list(bottom_shapes))
    except NetError:
        raise
    except (IndexError, ValueError, ZeroDivisionError) as exc:
        raise NetError(f"cannot infer its output shape from bottoms {list(bottom_shapes)}: {exc}",
                       layer=node.name, path=path) from exc
    if tops is None:
        return None
    for top, shape in zip(node.tops, tops):
        if shape is not None:
            check_dims(shape, f"top '{top.name}' would have shape", node.name, path)
    if len(tops) < len(node.tops):
        raise NetError(f"has {len(node.tops)} tops but type {node.type} makes {len(tops)}",
                       layer=node.name, path=path)
    tops = [None if t is None else tuple(t) for t in tops[:len(node.tops)]]
    for top, shape in zip(node.tops, tops):
        check_blob(shape, f"top '{top.name}'", node.name, path)
    return tops


def input_shapes(graph: NetGraph, given: Mapping[str, Shape] | None = None,
                 read: Callable | None = None, batch: int | None = None) -> dict[str, Shape]:
    """Caffe shapes of every blob an input or data layer makes, by top name.

    Each comes from ``given`` (by blob name; a None dimension stays free), else from the
    layer's shape function where the prototxt fixes it whole, else from ``read(node)`` (the
    shapes of one batch of the layer's source, by top name; None, or a message saying why,
    when it cannot be read),
    else the error says which dimensions the prototxt does fix.  The tops of one data layer
    share a batch size: a given top's, or else a known one's.
    ``batch`` replaces every batch size."""
    given = {k: tuple(None if d is None else int(d) for d in v) for k, v in (given or {}).items()}
    for name, shape in given.items():
        check_dims(shape, f"the input shape given for '{name}'")
    tops = [t.name for n in graph.input_layers for t in n.tops]
    unknown = sorted(set(given) - set(tops))
    if unknown:
        raise NetError(f"input shapes given for {unknown}, which are not input blobs of the net "
                       f"(its inputs: {tops})", path=graph.path)
    out: dict[str, Shape] = {}
    for node in graph.input_layers:
        names = [t.name for t in node.tops]
        own = [None] * len(names)
        why = ""   # why the source could not be read, where it says
        if not all(n in given for n in names):
            own = node_shapes(node, [], graph.path) or own
            if not all(known(s) for n, s in zip(names, own) if n not in given) and read:
                found = read(node)
                if isinstance(found, str):
                    found, why = None, f" ({found})"
                if found:
                    own = [found.get(n, s) for n, s in zip(names, own)]
        shapes = [given.get(n, s) for n, s in zip(names, own)]
        # A data layer's tops share one batch size: a given top's, else a known one's.
        batches = [s[0] for n, s in zip(names, shapes) if n in given and s and s[0]] or \
            [s[0] for s in shapes if s and known(s)]
        shared = types.source_of(node.param) == "data" and batches
        for name, shape in zip(names, shapes):
            if shared and name not in given and shape and known(shape[1:]):
                shape = (batches[0],) + tuple(shape[1:])
            if shape is None or (name not in given and not known(shape)):
                hint = "N,C,H,W"
                if shape:   # the dimensions the prototxt does fix
                    letters = "NCHW" if len(shape) == 4 else ["N"] + [f"D{i}" for i in
                                                                      range(1, len(shape))]
                    hint = ",".join(str(d) if d is not None else k
                                    for d, k in zip(shape, letters))
                how = "which is not read here" if read is None else \
                    f"which could not be read{why}"
                raise NetError(f"the shape of top '{name}' comes from the {node.type} layer's "
                               f"source, {how}; give it as --shape {name}={hint} (input_shapes="
                               f"{{'{name}': (...)}} in Python)", layer=node.name, path=graph.path)
            out[name] = tuple(shape)
    if batch is not None:
        out = {k: (batch,) + tuple(v[1:]) if v else v for k, v in out.items()}
    for node in graph.input_layers:
        for top in node.tops:
            check_blob(out[top.name], f"input blob '{top.name}'", node.name, graph.path)
    return out


def infer_shapes(graph: NetGraph, source_shapes: dict[str, Shape] | None = None,
                 strict: bool = True) -> dict[Blob, Shape]:
    """Shapes of every blob version.  ``source_shapes`` overrides or supplies the shapes of
    blobs made by input/data layers (by blob name).  A layer whose shapes cannot be inferred
    (no shape function, or an error) raises when ``strict``; otherwise its tops are left out
    (and so is everything after them)."""
    source_shapes = dict(source_shapes or {})
    shapes: dict[Blob, Shape] = {}
    for node in graph.layers:
        overrides = [source_shapes.get(t.name) for t in node.tops]
        if node.tops and all(s is not None for s in overrides) and not node.bottoms:
            for t, s in zip(node.tops, overrides):
                shapes[t] = tuple(s)
            continue
        tops = None
        if all(b in shapes for b in node.bottoms):
            try:
                tops = node_shapes(node, [shapes[b] for b in node.bottoms], graph.path)
            except NetError:
                if strict:
                    raise
            if tops is not None and types.is_source(node.param) and not all(map(known, tops)):
                tops = None
        if tops is None:
            if strict:
                spec = types.get(node.type)
                what = (f"no shape function for type '{node.type}'"
                        if spec is None or spec.shape is None else
                        "its output shapes are unknown: a data layer's shapes come from its "
                        "source; give them as input_shapes (by top name)")
                raise NetError(what, layer=node.name, path=graph.path)
            continue
        for t, s in zip(node.tops, tops):
            shapes[t] = s
    return shapes
