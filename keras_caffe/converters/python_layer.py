"""``type: "Python"`` layers.

A prototxt names a Python module and class (``python_param { module layer param_str }``).
The class is found in ``keras_caffe.register_python_layer``'s registry, or, only where the
build allows it (``allow_python_layers=True``; ``caffe.Net`` does, as pycaffe), by importing
the module.  A pycaffe-style ``caffe.Layer`` subclass runs as Caffe runs it
(``layers.CaffePythonLayer``); any other factory must return a Keras layer (it is called
with ``param_str`` and ``name``, and with ``phase`` and ``n_tops`` where its signature names
them).  Either sees its bottoms in Caffe's axis order (NCHW), as the original Python layer
did.  py-faster-rcnn's ``rpn.proposal_layer.ProposalLayer`` is registered built in
(``converters.rcnn``).  A Python layer
without bottoms is a data layer: it feeds the net as its source (``data/sources``).
"""

from __future__ import annotations

import inspect

from ..graph import layout
from ..layers.python_layer import (CaffePythonLayer, is_caffe_layer_class,
                                   python_layer_bound, python_layer_factory, start_layer)
from .registry import register
from .shape import caffe_ordered


def _data_if_bottomless(layer) -> str | None:
    return None if len(layer.bottom) else "data"


def _registered_most(layer, bottoms, phase):
    """What a registered Python layer's ``most`` says its tops reach (None without one)."""
    bound = python_layer_bound(layer.python_param)
    return None if bound is None else bound(layer.python_param.param_str, phase, bottoms)


@register("Python", bottoms=(0, None), tops=(0, None), free_spatial=False,
          source=_data_if_bottomless, most=_registered_most)
def python_layer(ctx, *xs):
    p = ctx.param.python_param
    try:
        factory = python_layer_factory(p, ctx.options.allow_python_layers)
    except LookupError as exc:
        raise ctx.error(str(exc)) from exc.__cause__
    if is_caffe_layer_class(factory):
        # One instance per net, with its own phase and shapes; another phase's model of the
        # same net shares its blobs' variables (the pool's entry for this layer).
        impl = start_layer(factory, ctx.param, ctx.phase, ctx.bottom_shapes)[0]
        pool, key = ctx.options.layer_pool, ("python", ctx.node.key)
        shared = pool.get(key) if pool is not None else None
        layer = CaffePythonLayer(p.module, p.layer, p.param_str, ctx.phase, ctx.bottom_shapes,
                                 len(ctx.node.tops), impl=impl, name=ctx.keras_name,
                                 shared_weights=shared.blob_weights if shared else None)
        if pool is not None:
            pool.setdefault(key, layer)
        # Caffe never fills a Python layer's blobs: they keep what its setup() made.
        layer = ctx.add(layer, holds_params=True, own_init=True, pooled=False)
    else:
        layer = ctx.add(factory(param_str=p.param_str, name=ctx.keras_name,
                                **_context_arguments(factory, ctx)),
                        holds_params=True, own_init=True)
    inputs = caffe_ordered(ctx, xs)
    out = layer(inputs if len(inputs) != 1 else inputs[0])
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    return [layout.from_caffe_order(o, ctx.helper_name(f"out{i}_from_caffe")) for i, o in enumerate(outs)]


def _context_arguments(factory, ctx) -> dict:
    """The build's phase (0 TRAIN, 1 TEST) and the layer's number of tops, for a factory
    whose signature names ``phase`` / ``n_tops``."""
    try:
        names = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return {}
    given = {"phase": ctx.phase, "n_tops": len(ctx.node.tops)}
    return {k: v for k, v in given.items() if k in names}
