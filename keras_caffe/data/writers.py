"""Write Caffe's data formats: ``convert_imageset`` databases and HDF5Data lists.

:func:`convert_imageset` does what Caffe's ``convert_imageset`` tool does, record for record:

* the list file is read line by line; each line is split at its LAST space (file names may
  contain spaces), the label is the integer after it; blank lines are skipped but keep their
  index; ``--shuffle`` shuffles the lines first;
* the key of line ``i`` (0-based, after shuffling) is ``%08d_<path as written in the list>``;
* the image at ``root + path`` (plain string concatenation, relative to the working directory)
  is decoded as ``cv::imread`` does: BGR (grey PNG/JPEG replicated), or with ``gray`` the
  decoder's own grey conversion (libpng's ``rgb_to_gray``, libjpeg's luma);
* with ``resize_height`` and ``resize_width`` both > 0 it is resized with OpenCV's uint8
  INTER_LINEAR (:func:`keras_caffe.data.resize.opencv_linear_u8`);
* raw Datums hold ``channels/height/width``, the pixels BGR in C,H,W order, the label and
  ``encoded: false``; encoded Datums hold only the bytes, the label and ``encoded: true``;
* with ``encoded`` the ORIGINAL FILE BYTES are stored when the file's extension already names
  the target format and no resize was asked for (Caffe's test
  ``(channels == 3) == is_color`` always holds after ``cv::imread``, so even ``gray`` stores
  the original, possibly colour, file then); otherwise the decoded (grey, resized) image is
  encoded again: PNG, or JPEG quality 95 with 4:2:0 chroma.  Our JPEG bytes are not
  OpenCV's; the decoded pixels are within a grey level or two.

Where Caffe logs and skips an unreadable image, we stop with an error that names the list
file and line, unless ``skip_unreadable`` (then the skipped line keeps its key index, as in
Caffe).  The database is built beside the target and renamed into place when complete.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile

import numpy as np

from ..errors import DataToolError
from ..fileio import atomic_path, default_mode, move_into_place
from ..proto import caffe_pb2
from .formats.datum import decode_image_numpy
from .formats.lists import ListEntry, parse_image_list
from .formats.resize import opencv_linear_u8

log = logging.getLogger("keras_caffe.data")

__all__ = ["DataToolError", "ListEntry", "ConvertSummary", "convert_imageset", "parse_image_list",
           "read_image", "encode_image", "write_hdf5_list", "new_db"]

BACKENDS = ("lmdb", "leveldb")
COMMIT_EVERY = 1000                      # records per transaction, as Caffe's tool
_ENCODERS = {"png": "png", "jpg": "jpg", "jpeg": "jpg"}
_JFIF = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"


@dataclasses.dataclass
class ConvertSummary:
    db_path: str
    written: int
    skipped: list = dataclasses.field(default_factory=list)  # (line, path, reason)
    shape: tuple | None = None       # (C, H, W) of the first image written


# ------------------------------------------------------------------------- decode and encode

def read_image(path, gray: bool = False, data: bytes | None = None) -> np.ndarray:
    """``cv::imread(path, gray ? IMREAD_GRAYSCALE : IMREAD_COLOR)``: an H x W x 3 BGR or
    H x W x 1 grey uint8 array, decoded by :func:`keras_caffe.data.datum.decode_image_numpy`
    (libpng / libjpeg-turbo settings that reproduce OpenCV bit for bit, grey from the decoder,
    a JPEG's EXIF orientation applied).  ``data``: the file's bytes, if already read.
    Raises ValueError for bytes no decoder takes."""
    if data is None:
        with open(path, "rb") as f:
            data = f.read()
    try:
        return decode_image_numpy(data, "gray" if gray else "color")
    except ValueError as exc:
        raise ValueError(f"not a readable image ({exc})") from None


def encode_image(img_bgr: np.ndarray, encoding: str) -> bytes:
    """``cv::imencode('.' + encoding, img)`` for png and jpg/jpeg (JPEG: quality 95, 4:2:0)."""
    import tensorflow as tf

    kind = _ENCODERS.get(encoding.lower())
    if kind is None:
        raise ValueError(f"cannot encode images as '{encoding}' (png, jpg and jpeg are supported)")
    img = img_bgr[..., ::-1] if img_bgr.shape[-1] == 3 else img_bgr
    img = np.ascontiguousarray(img)
    if kind == "png":
        return tf.io.encode_png(img).numpy()
    data = tf.io.encode_jpeg(img, quality=95, chroma_downsampling=True).numpy()
    if data.startswith(_JFIF):            # OpenCV's JFIF header: no density unit, 1:1
        data = data[:13] + b"\x00\x00\x01\x00\x01" + data[18:]
    return data


def _match_ext(filename: str, encoding: str) -> bool:
    """Caffe's matchExt: the file's extension (lower case) names the encoding."""
    ext = filename[filename.rfind(".") + 1:].lower()
    enc = encoding.lower()
    return ext == enc or (enc == "jpg" and ext == "jpeg")


# ----------------------------------------------------------------------------- the converter

def convert_imageset(root, list_path, db_path, *, resize_height: int = 0, resize_width: int = 0,
                     gray: bool = False, shuffle: bool = False, seed: int | None = None,
                     encoded: bool = False, encode_type: str = "", backend: str = "lmdb",
                     check_size: bool = False, skip_unreadable: bool = False,
                     workers: int | None = None) -> ConvertSummary:
    """Build an LMDB/LevelDB of Datums from an image list, as Caffe's ``convert_imageset``.

    ``root`` is prepended to every list path by plain string concatenation (keep its
    trailing ``/``).  ``encode_type`` alone implies ``encoded`` (as in Caffe); ``encoded``
    without it encodes each image in its own file's format.  ``check_size`` requires all
    images to decode to the same channels x height x width.  ``seed`` makes ``shuffle``
    repeatable (Caffe's order cannot be reproduced).  ``db_path`` must not exist yet.
    Returns a :class:`ConvertSummary`.
    """
    root, list_path, db_path = str(root), os.fspath(list_path), os.fspath(db_path)
    if backend not in BACKENDS:
        raise DataToolError(f"unknown backend '{backend}' (use one of {', '.join(BACKENDS)})")
    if encode_type and encode_type.lower() not in _ENCODERS:
        raise DataToolError(f"encode_type '{encode_type}': keras-caffe encodes png and jpg")
    if os.path.lexists(db_path):
        raise DataToolError(f"'{db_path}' already exists (convert_imageset creates a new "
                            "database; remove it first)")
    entries = parse_image_list(list_path)
    if shuffle:
        np.random.default_rng(seed).shuffle(entries)
    if not skip_unreadable:
        _check_present(root, list_path, entries)
    job = _Job(root, list_path, max(0, resize_height), max(0, resize_width), not gray,
               encode_type if encode_type else ("*" if encoded else ""), skip_unreadable)
    summary = ConvertSummary(db_path, 0)
    workers = workers or min(8, os.cpu_count() or 1)
    indexed = [(i, e) for i, e in enumerate(entries) if e is not None]
    with new_db(db_path, backend) as db, \
            concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
        for start in range(0, len(indexed), COMMIT_EVERY):
            chunk = indexed[start:start + COMMIT_EVERY]
            records = []
            for (index, entry), (value, shape) in zip(chunk, pool.map(job.record, chunk)):
                if value is None:
                    log.warning("%s:%d: skipped %s: %s", list_path, entry.line, entry.path, shape)
                    summary.skipped.append((entry.line, entry.path, shape))
                    continue
                if summary.shape is None:
                    summary.shape = shape
                elif check_size and shape != summary.shape:
                    raise DataToolError(f"{list_path}:{entry.line}: '{root + entry.path}' is "
                                        f"{_chw(shape)}, the first image was "
                                        f"{_chw(summary.shape)} (--check_size)")
                records.append((b"%08d_" % index + entry.raw_path, value))
            db.put_many(records)
            summary.written += len(records)
            if summary.written and len(indexed) > COMMIT_EVERY:
                log.info("processed %d files", summary.written)
    return summary


def _chw(shape) -> str:
    return "x".join(str(s) for s in shape)


def _check_present(root: str, list_path: str, entries) -> None:
    """Report every missing image at once, before any work."""
    missing = [e for e in entries if e is not None and not os.path.isfile(root + e.path)]
    if missing:
        shown = "; ".join(f"line {e.line}: '{root + e.path}'" for e in missing[:10])
        more = f" (and {len(missing) - 10} more)" if len(missing) > 10 else ""
        raise DataToolError(f"{list_path}: {len(missing)} image(s) not found (paths are root "
                            f"+ list path, relative to {os.getcwd()}): {shown}{more}")


@dataclasses.dataclass(frozen=True)
class _Job:
    root: str
    list_path: str
    height: int
    width: int
    is_color: bool
    encoding: str        # "" raw, "*" the file's own format, else the format
    skip: bool

    def record(self, item) -> tuple[bytes | None, object]:
        """(serialized Datum, (C, H, W)), or (None, reason) for a skipped image."""
        _, entry = item
        filename = self.root + entry.path
        try:
            with open(filename, "rb") as f:
                data = f.read()
            img = read_image(filename, gray=not self.is_color, data=data)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            if self.skip:
                return None, reason
            raise DataToolError(f"{self.list_path}:{entry.line}: cannot read '{filename}': "
                                f"{reason}") from None
        if self.height > 0 and self.width > 0:
            img = opencv_linear_u8(img, self.height, self.width)
        shape = (img.shape[2], img.shape[0], img.shape[1])
        if not self.encoding:
            datum = caffe_pb2.Datum(channels=shape[0], height=shape[1], width=shape[2],
                                    data=np.ascontiguousarray(img.transpose(2, 0, 1)).tobytes(),
                                    label=entry.label, encoded=False)
            return datum.SerializeToString(), shape
        encoding = self.encoding
        if encoding == "*":                           # guess from the file name, like Caffe
            dot = entry.path.rfind(".")
            if dot < 0:
                raise DataToolError(f"{self.list_path}:{entry.line}: cannot guess the encoding "
                                    f"of '{entry.path}' (no extension); give --encode_type")
            encoding = entry.path[dot + 1:].lower()
        if not (self.height or self.width) and _match_ext(filename, encoding):
            payload = data                            # Caffe's ReadFileToDatum
        else:
            try:
                payload = encode_image(img, encoding)
            except ValueError as exc:
                raise DataToolError(f"{self.list_path}:{entry.line}: '{filename}': {exc}") \
                    from None
        datum = caffe_pb2.Datum(data=payload, label=entry.label, encoded=True)
        return datum.SerializeToString(), shape


# ---------------------------------------------------------------------------------- databases

@contextlib.contextmanager
def new_db(db_path, backend: str, replace: bool = False):
    """A writer (``put_many([(key, value), ...])``) for a new LMDB/LevelDB database, built in a
    temporary folder beside ``db_path`` and renamed into place only when everything was
    written.  A database already at ``db_path`` is an error, unless ``replace``: then it is
    swapped for the new one only once that is complete."""
    db_path = os.fspath(db_path)
    target = os.path.abspath(db_path)                 # also drops a trailing '/'
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(target) + ".", suffix=".tmp",
                           dir=parent)
    try:
        writer = _LmdbWriter(tmp) if backend == "lmdb" else _LevelDbWriter(tmp)
        try:
            yield writer
        finally:
            writer.close()
        os.chmod(tmp, default_mode(0o777))              # the mode a plain mkdir gives
        try:
            move_into_place(tmp, target, replace)
        except FileExistsError:
            raise DataToolError(f"'{db_path}' appeared while it was being written; the new "
                                f"database was not moved over it") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class _LmdbWriter:
    INITIAL_MAP_SIZE = 64 << 20                      # doubled whenever a transaction fills it

    def __init__(self, path: str):
        import lmdb

        self._lmdb = lmdb
        self.map_size = self.INITIAL_MAP_SIZE
        self.env = lmdb.open(path, map_size=self.map_size, subdir=True, lock=True)

    def put_many(self, records) -> None:
        while True:                                   # grow the map when full, as Caffe does
            try:
                with self.env.begin(write=True) as txn:
                    for key, value in records:
                        txn.put(key, value)
                return
            except self._lmdb.MapFullError:
                self.map_size *= 2
                self.env.set_mapsize(self.map_size)

    def close(self) -> None:
        self.env.close()


class _LevelDbWriter:
    def __init__(self, path: str):
        plyvel = import_plyvel()
        # Caffe's options: 256 MB write buffer, 64 KB blocks, Snappy compression.
        self.db = plyvel.DB(path, create_if_missing=True, error_if_exists=False,
                            write_buffer_size=256 << 20, block_size=64 << 10, max_open_files=100)

    def put_many(self, records) -> None:
        with self.db.write_batch() as batch:
            for key, value in records:
                batch.put(key, value)

    def close(self) -> None:
        self.db.close()


def import_plyvel():
    try:
        import plyvel
    except ImportError:
        raise DataToolError("LevelDB databases need the 'plyvel' package: pip install "
                            "'keras-caffe[leveldb]' (or pip install plyvel)") from None
    return plyvel


# ---------------------------------------------------------------------------------- HDF5 lists

def write_hdf5_list(path_prefix, arrays: dict, rows_per_file: int | None = None,
                    list_path=None, compression: str | None = None) -> list[str]:
    """Write ``arrays`` (``{top name: array of N rows}``) as HDF5 files for Caffe's HDF5Data
    layer, plus the list file it reads.  Returns the list of .h5 paths.

    Each dataset is named after its top and keeps its dtype (Caffe converts every dataset to
    float32 when it reads).  With ``rows_per_file`` the rows are split over files
    ``<prefix>_000.h5, <prefix>_001.h5, ...``; otherwise one file ``<prefix>.h5``.  The list
    (default ``<prefix>.txt``) names the files exactly as built from ``path_prefix``: Caffe
    resolves them against its working directory, so give a prefix relative to where Caffe
    will run (or absolute).  ``compression='gzip'`` writes chunked, compressed datasets.
    """
    import h5py

    prefix = os.fspath(path_prefix)
    if not arrays:
        raise DataToolError("write_hdf5_list needs at least one array")
    data = {}
    for name, value in arrays.items():
        a = np.asarray(value)
        if a.ndim == 0 or a.dtype.kind not in "biuf":
            raise DataToolError(f"array '{name}' must be numeric with a row axis, got "
                                f"{a.dtype} of shape {a.shape}")
        data[str(name)] = a.astype(np.uint8) if a.dtype == bool else a
    rows = {name: len(a) for name, a in data.items()}
    if len(set(rows.values())) != 1:
        raise DataToolError(f"arrays have different numbers of rows: {rows}")
    total = next(iter(rows.values()))
    if total == 0:
        raise DataToolError("the arrays have no rows")
    per = total if rows_per_file is None else int(rows_per_file)
    if per <= 0:
        raise DataToolError(f"rows_per_file must be positive, got {rows_per_file}")
    count = -(-total // per)
    width = max(3, len(str(count - 1)))
    files = [prefix + ".h5"] if count == 1 and rows_per_file is None else \
        [f"{prefix}_{i:0{width}d}.h5" for i in range(count)]
    if any(ch.isspace() for f in files for ch in f):
        raise DataToolError(f"'{files[0]}': Caffe reads the list file as whitespace-separated "
                            "names, so the HDF5 paths cannot contain whitespace")
    list_path = prefix + ".txt" if list_path is None else os.fspath(list_path)
    parent = os.path.dirname(os.path.abspath(files[0]))
    os.makedirs(parent, exist_ok=True)
    for i, filename in enumerate(files):
        with atomic_path(filename, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
            for name, a in data.items():
                part = a[i * per:(i + 1) * per]
                f.create_dataset(name, data=part, compression=compression,
                                 chunks=True if compression else None)
    with atomic_path(list_path) as tmp, open(tmp, "w") as f:
        f.write("".join(filename + "\n" for filename in files))
    return files
