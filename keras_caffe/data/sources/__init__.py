"""Batch sources for a net's data layers, one module per data layer type; importing the
package declares the types (``graph.types``) with their source classes."""

from . import input_layer, python_data, unread  # noqa: F401  (declare Input, Python data
#                                                    layers and the unread types)
from .base import (BatchSource, PipelineSource, SeededSource, batch_shapes, data_layer,
                   default_seed, next_batches, next_feeds, open_sources, source_for,
                   watch_indices)
from .data import DataSource
from .dummy_data import DummyDataSource, dummy_shapes
from .hdf5_data import HDF5Source
from .image_data import ImageDataSource
from .memory_data import MemoryDataSource
from .window_data import WindowDataSource

__all__ = ["BatchSource", "SeededSource", "PipelineSource", "DataSource", "ImageDataSource",
           "HDF5Source", "MemoryDataSource", "DummyDataSource", "WindowDataSource", "source_for",
           "open_sources", "batch_shapes", "next_batches", "next_feeds", "data_layer",
           "default_seed", "dummy_shapes", "watch_indices"]
