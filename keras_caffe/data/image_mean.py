"""Caffe's ``compute_image_mean``: the per-pixel mean of a Datum database, as a BlobProto.

Every record is decoded "natively" (``cv::imdecode(IMREAD_UNCHANGED)`` for encoded Datums:
the file's own channel count, BGR(A); see :mod:`keras_caffe.data.formats.datum`), summed per
element in float32 in database (key) order, and divided by the count in float32, exactly as
the C++ tool does, so the result is bit for bit Caffe's.  The mean is written as a BlobProto with the legacy ``num: 1``, ``channels``,
``height``, ``width`` and packed float ``data`` (C, H, W order), the bytes Caffe writes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile

import numpy as np
from google.protobuf.message import DecodeError

from ..errors import DataToolError
from ..proto import caffe_pb2
from ..proto.binary import write_blob
from .formats.datum import decode_image_numpy
from .formats.db import open_db
from .writers import BACKENDS

log = logging.getLogger("keras_caffe.data")

__all__ = ["compute_image_mean", "channel_means", "datum_array", "iterate_db"]


def compute_image_mean(db_path, mean_path=None, backend: str | None = None) -> np.ndarray:
    """The float32 C x H x W mean of the records of ``db_path``; also written to ``mean_path``
    (a .binaryproto) when given.  ``backend`` ('lmdb' or 'leveldb') is detected from the
    folder's files when not given.  Like Caffe, records must all hold as many values as the
    first (their shapes are not compared)."""
    db_path = os.fspath(db_path)
    total = None
    count = 0
    shape = None
    for key, value in iterate_db(db_path, backend):
        try:
            array = datum_array(value)
        except ValueError as exc:
            raise DataToolError(f"{db_path}: record {_key(key)}: {exc}") from None
        if total is None:
            shape = array.shape
            total = np.zeros(array.size, np.float32)
        elif array.size != total.size:
            raise DataToolError(f"{db_path}: record {_key(key)} holds {array.size} values "
                                f"({'x'.join(map(str, array.shape))}), the first record "
                                f"{total.size} ({'x'.join(map(str, shape))}); the mean needs "
                                "records of one size")
        total += array.reshape(-1)          # float32 += uint8/float32: Caffe's float sum
        count += 1
    if total is None:
        raise DataToolError(f"{db_path}: the database has no records")
    mean = (total / np.float32(count)).astype(np.float32).reshape(shape)
    if mean_path is not None:   # as Caffe's tool: a 1 x C x H x W blob, legacy fields only
        write_blob(mean_path, mean[None], shape=False)
    log.info("%d records; mean_value per channel: %s", count,
             ", ".join(f"{v:g}" for v in channel_means(mean)))
    return mean


def channel_means(mean: np.ndarray) -> list[float]:
    """The per-channel averages Caffe's tool logs (float32, summed in order)."""
    flat = mean.reshape(mean.shape[0], -1)
    sums = np.add.accumulate(flat, axis=1, dtype=np.float32)[:, -1]
    return [float(s / np.float32(flat.shape[1])) for s in sums]


def _key(key: bytes) -> str:
    return repr(key.decode("utf-8", "backslashreplace"))


# ------------------------------------------------------------------------------------ records

def datum_array(value: bytes) -> np.ndarray:
    """A serialized Datum as Caffe's ``DecodeDatumNative`` leaves it: C x H x W uint8 (raw
    bytes, or an encoded image decoded with its own channel count, BGR order), or float32
    for ``float_data``.  Raises ValueError for a record that is not a usable Datum."""
    try:
        datum = caffe_pb2.Datum.FromString(bytes(value))
    except DecodeError as exc:
        raise ValueError(f"not a caffe.Datum ({exc})") from None
    if datum.encoded:
        try:
            img = decode_image_numpy(datum.data, "unchanged")
        except ValueError as exc:
            raise ValueError(f"the encoded image does not decode ({exc})") from None
        return np.ascontiguousarray(img.transpose(2, 0, 1))
    shape = (datum.channels, datum.height, datum.width)
    size = shape[0] * shape[1] * shape[2]
    values = np.frombuffer(datum.data, np.uint8) if datum.data else \
        np.asarray(datum.float_data, np.float32)
    if values.size != size:
        what = "data bytes" if datum.data else "float_data values"
        raise ValueError(f"{values.size} {what} for channels x height x width "
                         f"{'x'.join(map(str, shape))}")
    return values.reshape(shape)


# ---------------------------------------------------------------------------------- databases

def detect_backend(db_path: str) -> str:
    if os.path.isfile(os.path.join(db_path, "data.mdb")) or os.path.isfile(db_path):
        return "lmdb"
    if os.path.isfile(os.path.join(db_path, "CURRENT")):
        return "leveldb"
    if not os.path.exists(db_path):
        raise DataToolError(f"database '{db_path}' not found")
    raise DataToolError(f"'{db_path}' is neither an LMDB (data.mdb) nor a LevelDB (CURRENT) "
                        "folder")


def iterate_db(db_path, backend: str | None = None):
    """(key, value) pairs of an LMDB or LevelDB in key order; opens nothing for writing
    (a LevelDB in a read-only folder is read from a temporary copy)."""
    db_path = os.fspath(db_path)
    backend = backend or detect_backend(db_path)
    if backend not in BACKENDS:
        raise DataToolError(f"unknown backend '{backend}' (use one of {', '.join(BACKENDS)})")
    if not os.path.exists(db_path):
        raise DataToolError(f"database '{db_path}' not found")
    # The readers' one opening path: LMDB allows one environment per file in a process, so
    # a second lmdb.open beside a live data source would fail.
    folder = _leveldb_folder(db_path) if backend == "leveldb" else contextlib.nullcontext(db_path)
    with folder as path:
        db = open_db(path, backend, allow_empty=True)
        try:
            yield from db.pairs()
        finally:
            db.close()


@contextlib.contextmanager
def _leveldb_folder(db_path: str):
    """LevelDB writes LOCK/LOG files even to read; use a copy when the folder is read-only."""
    if os.access(db_path, os.W_OK):
        yield db_path
        return
    tmp = tempfile.mkdtemp(prefix="keras_caffe_leveldb_")
    try:
        copy = os.path.join(tmp, "db")
        shutil.copytree(db_path, copy)
        os.chmod(copy, 0o755)
        for name in os.listdir(copy):
            os.chmod(os.path.join(copy, name), 0o644)
        yield copy
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
