"""Caffe's data layers and data formats, with Caffe's numbers.

The package reads bottom up: file formats (:mod:`.formats`: Datum, LMDB/LevelDB, HDF5, list
files, OpenCV's resize), the DataTransformer (:mod:`.transform`), ``tf.data`` pipelines
(:mod:`.pipelines`), the batch sources of a net's data layers (:mod:`.sources`, one module per
data layer type), and on top the public dataset helpers, the writers of Caffe's data tools
and the HDF5Output sink.

* :func:`source_for` -- the batch source of a net's data layer (Data on LMDB/LevelDB, ImageData,
  HDF5Data, MemoryData, DummyData, WindowData): ``next_batch()`` gives ``{top: float32
  array}`` in Caffe's shapes, ``state()``/``restore()``/``seek()`` resume exactly.
* ``tf.data`` pipelines usable on their own: :func:`lmdb_dataset`, :func:`leveldb_dataset`,
  :func:`image_data_dataset`, :func:`hdf5_dataset`, :func:`memory_data`, :func:`dummy_data`.
* The pieces: :class:`DataTransformer` (``transform_param``), Datum parsing and OpenCV-exact
  image decoding (:mod:`.formats.datum`), OpenCV's uint8 INTER_LINEAR resize
  (:mod:`.formats.resize`).
"""

from . import hdf5_output  # noqa: F401  (declares the HDF5Output sink)
from .datasets import (dummy_data, hdf5_dataset, image_data_dataset, leveldb_dataset,
                       lmdb_dataset, memory_data)
from .formats.datum import (datum_to_array, decode_datum, decode_image, decode_image_numpy,
                            parse_datum)
from .formats.lists import read_image_list
from .formats.resize import opencv_linear_u8, opencv_linear_u8_tf
from .formats.windows import read_window_file
from .sources import (BatchSource, DataSource, DummyDataSource, HDF5Source, ImageDataSource,
                      MemoryDataSource, WindowDataSource, source_for)
from .transform import DataTransformer

__all__ = [
    "BatchSource", "source_for", "DataSource", "ImageDataSource", "HDF5Source",
    "MemoryDataSource", "DummyDataSource", "WindowDataSource",
    "lmdb_dataset", "leveldb_dataset", "image_data_dataset", "hdf5_dataset", "memory_data",
    "dummy_data", "read_image_list", "read_window_file",
    "DataTransformer", "parse_datum", "datum_to_array", "decode_datum", "decode_image",
    "decode_image_numpy", "opencv_linear_u8", "opencv_linear_u8_tf",
]
