"""A Caffe net as a graph of layers over versioned blobs.

Caffe lets a layer write a blob it reads (in-place) and lets one blob feed many layers
(Caffe inserts Split layers).  We give every write of a blob a new *version*: a layer
reads the latest version written before it in file order, which is exactly what Caffe's
``InsertSplits`` + in-place execution compute.  A blob "as Caffe shows it" after the
forward pass is its last version ("last producer wins").
"""

from __future__ import annotations

import dataclasses
import logging
from collections import defaultdict
from typing import NamedTuple

from ..errors import NetError
from ..proto import caffe_pb2
from . import types

log = logging.getLogger(__name__)

class Blob(NamedTuple):
    """One written version of a Caffe blob."""
    name: str
    version: int

    def __str__(self):
        return self.name if self.version == 0 else f"{self.name}@{self.version}"


@dataclasses.dataclass
class LayerNode:
    name: str
    type: str
    param: caffe_pb2.LayerParameter
    bottoms: list[Blob]
    tops: list[Blob]
    index: int  # position in the (filtered) prototxt
    key: str = ""  # unique name: the Caffe name, or name__<k> for a later layer of the same name

    def __post_init__(self):
        self.key = self.key or self.name

    @property
    def in_place(self) -> bool:
        return any(t.name in {b.name for b in self.bottoms} for t in self.tops)


@dataclasses.dataclass
class NetGraph:
    name: str
    layers: list[LayerNode]          # in execution order
    outputs: list[Blob]              # never consumed: Caffe's net outputs, sorted by name
    last: dict[str, Blob]            # blob name -> its final version
    consumers: dict[Blob, list[LayerNode]]
    producer: dict[Blob, LayerNode]
    param: caffe_pb2.NetParameter    # the filtered, upgraded net
    path: str | None = None

    @property
    def input_layers(self) -> list[LayerNode]:
        return [l for l in self.layers if types.is_source(l.param)]

    def layer(self, name: str) -> LayerNode:
        for node in self.layers:
            if node.name == name:
                return node
        raise KeyError(name)

    @property
    def blob_names(self) -> list[str]:
        """Every blob name in the order it first appears."""
        seen = dict.fromkeys(b.name for l in self.layers for b in l.tops)
        return list(seen)


def _layer_keys(net: caffe_pb2.NetParameter, path) -> list[str]:
    """Unique keys for the layers.  Caffe accepts two layers with one name (the zoo's
    mnist_autoencoder has two 'loss' layers); weights then go to the first, as Caffe's
    ``CopyTrainedLayersFrom`` finds the first layer of a name.  Later ones get ``name__<k>``."""
    keys, count = [], {}
    for i, layer in enumerate(net.layer):
        if not layer.name:
            raise NetError(f"layer #{i} (type {layer.type or '?'}) has no name", path=path)
        if not layer.type:
            raise NetError("has no type", layer=layer.name, path=path)
        if len(set(layer.top)) != len(layer.top):
            raise NetError(f"lists the same top twice: {list(layer.top)}", layer=layer.name, path=path)
        k = count.get(layer.name, 0)
        count[layer.name] = k + 1
        keys.append(layer.name if k == 0 else f"{layer.name}__{k + 1}")
        if k:
            log.warning("%s: two layers are named '%s'; weights by that name go to the first",
                        path or "net", layer.name)
    return keys


def resolve(net: caffe_pb2.NetParameter, path: str | None = None) -> NetGraph:
    """Turn an upgraded, phase-filtered NetParameter into a NetGraph.

    Layers run in file order, as in Caffe.  A bottom that no earlier layer writes is an
    error naming the layer (and, if a later layer writes it, that layer).
    """
    keys = _layer_keys(net, path)
    version: dict[str, int] = {}
    producer: dict[Blob, LayerNode] = {}
    consumers: dict[Blob, list[LayerNode]] = defaultdict(list)
    available: set[str] = set()
    later_writers = defaultdict(list)
    for layer in net.layer:
        for t in layer.top:
            later_writers[t].append(layer.name)

    nodes = []
    for index, layer in enumerate(net.layer):
        bottoms = []
        for b in layer.bottom:
            if b not in version:
                writers = [w for w in later_writers.get(b, []) if w != layer.name]
                hint = (f"; it is written only by later layer(s) {writers} (Caffe runs layers in "
                        "file order)") if writers else "; no layer produces it"
                raise NetError(f"unknown bottom blob '{b}'{hint}", layer=layer.name, path=path)
            bottoms.append(Blob(b, version[b]))
        tops = []
        bottom_names = list(layer.bottom)
        for t in layer.top:
            if t in version:
                if t not in bottom_names:
                    # Caffe allows re-writing a blob only in place; anything else is a bug in the net.
                    raise NetError(f"top '{t}' is already produced by layer "
                                   f"'{producer[Blob(t, version[t])].name}' and this layer is not "
                                   "in-place for it (Caffe requires top == bottom for re-use)",
                                   layer=layer.name, path=path)
                version[t] += 1
            else:
                version[t] = 0
            tops.append(Blob(t, version[t]))
        auto = not tops and types.is_loss(layer.type)
        if auto:
            tops = [Blob(f"(automatic) {keys[index]}", 0)]
        node = LayerNode(layer.name, layer.type, layer, bottoms, tops, index, keys[index])
        for b in bottoms:
            consumers[b].append(node)
            available.discard(b.name)
        for t in tops:
            producer[t] = node
            if not auto:
                available.add(t.name)
        nodes.append(node)

    last = {name: Blob(name, v) for name, v in version.items()}
    outputs = [last[name] for name in sorted(available)]
    return NetGraph(net.name, nodes, outputs, last, dict(consumers), producer, net, path)
