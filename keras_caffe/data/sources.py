"""Batch sources for a net's data layers, as Caffe's data layers produce batches.

A source yields dicts ``{top name: float32 array in Caffe's shape}``, one per
``net.forward()``, and can report and restore its position so that a resumed training
run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import abc
import os

import numpy as np

from ..errors import NetError


class BatchSource(abc.ABC):
    """One data layer's stream of batches."""

    def __init__(self, tops: list[str], batch_size: int):
        self.tops = list(tops)
        self.batch_size = int(batch_size)
        self.batches_read = 0

    @abc.abstractmethod
    def next_batch(self) -> dict[str, np.ndarray]:
        ...

    def next_feeds(self) -> dict:
        """The next batch as a model takes it: our internal layout (NHWC images), as arrays
        or (on the accelerator when there is one) tensors.  Same stream as :meth:`next_batch`."""
        from ..graph import layout

        return {k: layout.to_internal_array(v) for k, v in self.next_batch().items()}

    def shapes(self) -> dict[str, tuple]:
        """Caffe shapes of one batch (reads one batch and rewinds)."""
        position = self.state()
        batch = self.next_batch()
        self.restore(position)
        return {k: v.shape for k, v in batch.items()}

    def state(self) -> dict:
        return {"batches_read": self.batches_read}

    def restore(self, state: dict) -> None:
        self.seek(int(state["batches_read"]))

    @abc.abstractmethod
    def seek(self, batches_read: int) -> None:
        ...


#: Data layer types whose sources :func:`source_for` reads.
READ_TYPES = ("Data", "ImageData", "HDF5Data", "MemoryData", "DummyData")


def source_for(node, phase: int, seed: int | None = None) -> BatchSource:
    """The source of a data layer (paths resolve against the working directory, as in Caffe)."""
    from .hdf5 import HDF5Source

    tops = [t.name for t in node.tops]
    if node.type == "HDF5Data":
        p = node.param.hdf5_data_param
        return HDF5Source(p.source, tops, p.batch_size,
                          shuffle=p.shuffle, seed=seed, layer=node.name)
    from . import readers

    transform = node.param.transform_param
    if node.type == "Data":
        p = node.param.data_param
        return readers.DataSource(p.source, tops, p.batch_size, p.backend, transform, phase,
                                  seed, layer=node.name)
    if node.type == "ImageData":
        return readers.ImageDataSource(node.param.image_data_param, tops, transform, phase,
                                       seed, layer=node.name)
    if node.type == "MemoryData":
        p = node.param.memory_data_param
        return readers.MemoryDataSource(tops, p.batch_size, (p.channels, p.height, p.width),
                                        transform, phase, seed, layer=node.name)
    if node.type == "DummyData":
        p = node.param.dummy_data_param
        return readers.DummyDataSource(tops, readers.dummy_shapes(p, len(tops), node.name),
                                       list(p.data_filler), seed, layer=node.name)
    raise NetError(f"reading {node.type} layers is not supported yet (Data, ImageData, "
                   "HDF5Data, MemoryData and DummyData are); feed the net through its inputs "
                   "instead", layer=node.name)


def list_file_entries(path: str, layer: str | None = None) -> list[str]:
    """Whitespace-separated entries of a Caffe list file, as paths relative to the cwd."""
    if not os.path.isfile(path):
        raise NetError(f"list file '{path}' not found (Caffe reads it relative to the working "
                       f"directory, here {os.getcwd()})", layer=layer)
    with open(path) as f:
        entries = f.read().split()
    if not entries:
        raise NetError(f"list file '{path}' lists no files", layer=layer)
    return entries


def graph_sources(graph, phase: int, seed: int | None = None) -> dict[str, BatchSource]:
    """A source for each data layer of a resolved net, by layer key (Input layers are fed
    by the caller)."""
    return {node.key: source_for(node, phase, seed) for node in graph.input_layers
            if node.type != "Input"}


def batch_shapes(sources) -> dict[str, tuple]:
    """Caffe shapes of the tops of ``sources`` (one batch read and rewound)."""
    shapes = {}
    for source in sources.values():
        shapes.update(source.shapes())
    return shapes


def next_batches(sources) -> dict[str, np.ndarray]:
    """The next batch of every source, by top name (NCHW, as Caffe's data layers give)."""
    batch = {}
    for source in sources.values():
        batch.update(source.next_batch())
    return batch


def next_feeds(sources) -> dict:
    """The next batch of every source as the model takes it (see ``BatchSource.next_feeds``)."""
    feeds = {}
    for source in sources.values():
        feeds.update(source.next_feeds())
    return feeds
