"""Inference folding: per-channel affine layers merged into the linear layer before them.

A Convolution (or InnerProduct) followed by BatchNorm with global statistics, Scale or Bias
computes ``a * (W x + c) + b`` per output channel, which is ``(a W) x + (a c + b)``: one
layer instead of three, and a convolution with a bias that TensorFlow fuses with the ReLU
after it.  What may fold is declared by each type's converter (``LayerType.affine`` and
``LayerType.absorb``); this module only finds chains and rewrites the net.  A chain folds
only where Caffe's view of the outputs cannot change: every intermediate top is read by the
next layer alone (Caffe's rule that only an in-place layer rewrites a blob keeps every other
layer off those blobs), and none of them shares parameters, weighs a loss or is asked for by
name (``keep``).  Outputs change only by
float rounding (the products are taken in float64).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Mapping

import numpy as np

from ..graph import types
from ..graph.net import Blob, LayerNode, NetGraph
from ..proto import caffe_pb2


@dataclasses.dataclass
class Folded:
    """A net with its affine layers folded: the NetParameter, the blobs by layer name, and
    ``{linear layer: [the layers folded into it]}``."""

    param: caffe_pb2.NetParameter
    blobs: dict[str, list[np.ndarray]]
    folds: dict[str, list[str]]


def fold_affine_layers(graph: NetGraph, blobs: Mapping[str, list], phase: int,
                       ranks: Mapping[Blob, int], keep: Iterable[str] = ()) -> Folded:
    """Fold every foldable chain of ``graph`` (resolved for ``phase``; ``blobs``: each
    parameter layer's blobs in Caffe's shapes, by layer key; ``ranks``: the rank of each
    blob version; ``keep``: blob names whose intermediate values must stay computable)."""
    keep = set(keep)
    replaced: dict[str, caffe_pb2.LayerParameter] = {}
    new_blobs = {key: list(value) for key, value in blobs.items()}
    removed: set[str] = set()
    folds: dict[str, list[str]] = {}
    for node in graph.layers:
        spec = types.get(node.type)
        if spec is None or spec.absorb is None or node.key in removed or not _plain(node) \
                or node.key not in blobs:
            continue
        layer, current, chain = node.param, list(blobs[node.key]), []
        while True:
            nxt = _next_affine(graph, node, chain, ranks, phase, new_blobs, keep)
            if nxt is None:
                break
            follower, (a, b) = nxt
            absorbed = spec.absorb(layer, current, a, b)
            if absorbed is None:
                break
            layer, current = absorbed
            chain.append(follower)
        if not chain:
            continue
        layer = _with_top(layer, chain[-1].tops[0].name)
        replaced[node.key], new_blobs[node.key] = layer, current
        for follower in chain:
            removed.add(follower.key)
            new_blobs.pop(follower.key, None)
        folds[node.name] = [f.name for f in chain]
    net = caffe_pb2.NetParameter()
    net.CopyFrom(graph.param)
    del net.layer[:]
    for node in graph.layers:
        if node.key not in removed:
            net.layer.add().CopyFrom(replaced.get(node.key, node.param))
    return Folded(net, new_blobs, folds)


def _plain(node: LayerNode) -> bool:
    """One bottom, one top, its own parameters, no loss weight, no propagate_down, and a
    name no other layer has (weights go by name)."""
    p = node.param
    return (len(node.bottoms) == 1 and len(node.tops) == 1 and node.key == node.name
            and not any(q.name for q in p.param) and not p.loss_weight
            and not p.propagate_down)


def _next_affine(graph, head, chain, ranks, phase, blobs, keep):
    """The affine layer that reads the chain's last top (and only it reads it), with its
    (a, b); None where the chain cannot grow."""
    last = chain[-1] if chain else head
    top = last.tops[0]
    readers = graph.consumers.get(top, [])
    if len(readers) != 1 or top.name in keep:
        return None
    follower = readers[0]
    spec = types.get(follower.type)
    if spec is None or spec.affine is None or not _plain(follower) \
            or follower.bottoms[0] != top or top not in ranks:
        return None
    coefficients = spec.affine(follower.param, blobs.get(follower.key, []), phase, ranks[top])
    return None if coefficients is None else (follower, coefficients)


def _with_top(layer, top: str) -> caffe_pb2.LayerParameter:
    out = caffe_pb2.LayerParameter()
    out.CopyFrom(layer)
    out.top[0] = top
    return out
