"""Passes over a resolved net, before it is converted."""

from __future__ import annotations

from .layout import normalize_axis
from .net import LayerNode, NetGraph


def batch_norm_scale_pairs(graph: NetGraph, ranks: dict) -> dict[str, LayerNode]:
    """BatchNorm layers that may be computed together with the Scale after them, as
    ``{BatchNorm key: Scale node}`` (``ranks``: the rank of each blob whose shape is known).

    Folding is invisible to Caffe's view of the net: the Scale is the only reader of the
    BatchNorm's top and writes the same blob (so the normalised value is never a final blob),
    scales per channel with its own blobs, and neither layer shares parameters or sets
    loss_weight / propagate_down."""
    pairs = {}
    for node in graph.layers:
        if node.type != "BatchNorm" or len(node.tops) != 1 or len(node.bottoms) != 1:
            continue
        rank = ranks.get(node.bottoms[0])
        readers = graph.consumers.get(node.tops[0], [])
        if rank is None or len(readers) != 1:
            continue
        scale = readers[0]
        p = scale.param.scale_param
        if (scale.type != "Scale" or len(scale.bottoms) != 1 or len(scale.tops) != 1
                or scale.tops[0].name != node.tops[0].name or p.num_axes != 1
                or not -rank <= p.axis < rank or normalize_axis(p.axis, rank) != 1):
            continue
        if any(layer.loss_weight or layer.propagate_down or any(q.name for q in layer.param)
               for layer in (node.param, scale.param)):
            continue
        pairs[node.key] = scale
    return pairs
