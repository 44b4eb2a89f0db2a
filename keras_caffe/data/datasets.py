"""Caffe's data layers as ``tf.data`` datasets: the public helpers.

:func:`lmdb_dataset`, :func:`leveldb_dataset` and :func:`image_data_dataset` are the
pipelines of :mod:`.pipelines`; :func:`hdf5_dataset`, :func:`memory_data` and
:func:`dummy_data` stream the batches of the corresponding sources.
"""

from __future__ import annotations

import os

import numpy as np

from .pipelines import image_data_dataset, leveldb_dataset, lmdb_dataset
from .pipelines.batches import start_fn
from .sources.dummy_data import DummyDataSource
from .sources.hdf5_data import HDF5Source
from .sources.memory_data import MemoryDataSource

__all__ = ["lmdb_dataset", "leveldb_dataset", "image_data_dataset", "hdf5_dataset", "memory_data",
           "dummy_data"]


def _source_dataset(source, start_batch=0):
    """A BatchSource's batches as a dataset of dicts ``{top: float32 array}``."""
    import tensorflow as tf

    start = start_fn(start_batch)
    shapes = source.shapes()

    def batches():
        source.seek(start())
        while True:
            yield source.next_batch()

    spec = {t: tf.TensorSpec(shapes[t], tf.float32) for t in source.tops}
    return tf.data.Dataset.from_generator(batches, output_signature=spec) \
        .prefetch(tf.data.AUTOTUNE)


def hdf5_dataset(list_file, tops, batch_size: int, shuffle: bool = False, seed=None, *,
                 start_batch: int = 0):
    """Caffe's HDF5Data layer as a dataset of ``{top: float32 batch}`` dicts (datasets named
    after the tops, files in list order, batches spanning files, wrapping mid-batch)."""
    return _source_dataset(HDF5Source(os.fspath(list_file), list(tops), batch_size, shuffle,
                                      seed), start_batch)


def memory_data(data, labels, batch_size: int, *, start_batch: int = 0):
    """Caffe's MemoryData layer fed with arrays (``Reset``/pycaffe's ``set_input_arrays``):
    ``(data, label)`` batches of ``batch_size`` consecutive rows, cycling; the number of
    rows must be a multiple of ``batch_size`` (as Caffe requires)."""
    data = np.asarray(data, np.float32)
    source = MemoryDataSource(["data", "label"], batch_size, data.shape[1:])
    source.set_input_arrays(data, labels)
    ds = _source_dataset(source, start_batch)
    return ds.map(lambda d: (d["data"], d["label"]))


def dummy_data(shapes, fillers=None, tops=None, seed: int = 0, *, start_batch: int = 0):
    """Caffe's DummyData layer: ``{top: batch}`` dicts of blobs of the given Caffe ``shapes``
    (one per top, or one for all), filled by ``fillers`` (FillerParameter messages or dicts;
    none = constant 0, one for all, or one per top).  Constant tops are the same in every
    batch; random ones are drawn anew for each batch from ``seed``."""
    shapes = [tuple(s) for s in shapes]
    tops = list(tops) if tops is not None else [f"data{i}" if i else "data"
                                                for i in range(len(shapes))]
    return _source_dataset(DummyDataSource(tops, shapes, fillers, seed), start_batch)
