"""Which diffs Caffe computes in a backward pass: ``Net::Init``'s ``layer_need_backward`` and
``bottom_need_backward``, from the net, its loss tops and which layers learn.

A layer needs backward when a bottom it propagates into needs it or it has parameters to
learn; a layer that feeds no loss is then skipped.  With ``force_backward`` every layer runs
backward into every bottom it allows (not into the bottoms its type declares ``labels``:
Caffe's ``AllowForceBackward``), and ``propagate_down: false`` always stops a bottom.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

from . import types
from .net import NetGraph


@dataclasses.dataclass
class BackwardPlan:
    layer_needs: dict          # node key -> bool
    bottom_needs: dict         # node key -> [bool per bottom]
    input_needs: dict          # input blob name -> bool (a consumer propagates into it)


def backward_plan(graph: NetGraph, loss_blobs, learns: Callable) -> BackwardPlan:
    """Caffe's plan for ``graph`` whose objective is the set of blobs ``loss_blobs`` (the
    net's outputs when empty); ``learns(node)`` says whether a layer has trainable blobs."""
    force = graph.param.force_backward
    blob_needs: dict = {}
    layer_needs, bottom_needs = {}, {}
    compute = [n for n in graph.layers if not types.is_source(n.param)]
    for node in compute:
        propagate = list(node.param.propagate_down) or [True] * len(node.bottoms)
        needs = [bool(blob_needs.get(b)) and bool(p) for b, p in zip(node.bottoms, propagate)]
        need = any(needs) or learns(node)
        layer_needs[node.key], bottom_needs[node.key] = need, needs
        for top in node.tops:
            blob_needs[top] = need
    loss_blobs = set(loss_blobs) or set(graph.outputs)
    under_loss: set = set()
    for node in reversed(compute):
        if any(t in loss_blobs or t in under_loss for t in node.tops):
            under_loss.update(node.bottoms)
        else:
            layer_needs[node.key] = False
            bottom_needs[node.key] = [False] * len(node.bottoms)
    if force:
        for node in compute:
            spec = types.get(node.type)
            labels = set(spec.labels) if spec is not None else set()
            propagate = list(node.param.propagate_down) or [True] * len(node.bottoms)
            layer_needs[node.key] = True
            bottom_needs[node.key] = [bool(p) and i not in labels for i, p in enumerate(propagate)]
    inputs = {}
    for node in compute:
        for b, need in zip(node.bottoms, bottom_needs[node.key]):
            producer = graph.producer.get(b)
            if producer is not None and types.is_source(producer.param):
                inputs[b.name] = inputs.get(b.name, False) or need
    return BackwardPlan(layer_needs, bottom_needs, inputs)
