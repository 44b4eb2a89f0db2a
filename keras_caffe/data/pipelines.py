"""Caffe's data layers as ``tf.data`` pipelines, batch for batch as Caffe produces them.

Item ``j`` of batch ``k`` is record ``(k * batch_size + j) mod N`` (plus ImageData's
shuffle/rand_skip): the stream wraps to the first record in the middle of a batch, with no
padding and no short batch.  A Python thread walks the database or list a chunk ahead and
parses Datums (a few microseconds a record); decoding, resizing and the transform run in the
graph, in parallel and in order (``num_parallel_calls=AUTOTUNE, deterministic=True``), and
the batches are prefetched.

Each dataset yields ``(data, label)`` (or only ``data`` with ``labels=False``): ``data`` is
float32 ``N x C x H x W`` (Caffe's layout; ``layout="NHWC"`` gives ``N x H x W x C`` without
the transpose), ``label`` float32 ``(N,)``.  All items of a batch must have the shape of its
first item (records of different sizes can share a batch only through a crop), as in Caffe.
With ``deferred=True`` the host stops after decoding and drawing the crops: ``data`` is the
decoded batch and its placement, and ``dataset.finish(data)`` does the arithmetic wherever
it is called (see :func:`lmdb_dataset`).

Speed (``benchmarks/data_pipeline.py``): what costs throughput beyond the decoding itself is
per-item work in the graph (each tf.data component and small op costs about a percent) and
the float32 pass, which writes four bytes per pixel: hence one int64 vector of facts per
item, names of items looked up only when a check fails, and the deferred mode.

>>> ds = lmdb_dataset("examples/mnist/mnist_train_lmdb", 64,          # doctest: +SKIP
...                   transform={"scale": 0.00390625}, phase="train", seed=1)
"""

from __future__ import annotations

import functools
import os
import re
import weakref
from typing import Callable

import numpy as np

from ..errors import CaffemodelError, NetError
from .datum import (ENCODED, FLOAT, RAW, decode_image, image_format, orientation, parse_datum,
                    record_fields)
from .db import KeyValueDB, open_db
from .resize import opencv_linear_u8_tf
from .transform import DataTransformer, ItemNames, assert_items

__all__ = ["lmdb_dataset", "leveldb_dataset", "db_dataset", "image_data_dataset",
           "hdf5_dataset", "memory_data", "dummy_data", "read_image_list"]

CHUNK = 64  # records per hand-over from the Python reader to the graph


def _start_fn(start) -> Callable[[], int]:
    return start if callable(start) else (lambda: int(start))


def _layouts(layout: str) -> str:
    if layout not in ("NCHW", "NHWC"):
        raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")
    return layout[1:]


def _transformer(transform, phase, seed, layer) -> DataTransformer:
    if isinstance(transform, DataTransformer):
        return transform
    return DataTransformer(transform, phase, seed, layer)


def _options():
    import tensorflow as tf

    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = True
    return options


# Per-item facts travel as one int64 vector beside the image: the reader's row for the item
# with the decoded image's shape appended (every extra tf.data component, and every small op
# in the per-item function, costs about a percent of the throughput).

def _with_shape(meta, image):
    import tensorflow as tf

    return tf.concat([meta, tf.shape(image, out_type=tf.int64)], 0)


def _swap_flags(encoded, chw, mode: str):
    """Which items' channels are still R,G,B after decoding (see :func:`.datum.decode_image`):
    encoded colour images (IMREAD_COLOR, or IMREAD_UNCHANGED with 3 channels)."""
    import tensorflow as tf

    if mode == "gray":
        return tf.zeros_like(encoded)
    return tf.logical_and(encoded, tf.constant(True) if mode == "color" else
                          tf.equal(chw[:, 0], 3))


def _finish_batches(ds, batch_size: int, transformer: DataTransformer, layout: str,
                    out_layout: str, labels: bool, what: str, jit: bool, columns, describe,
                    deferred: bool):
    """Batch decoded items ``(image, meta)`` (zero-padded to the largest), check that they
    agree with the batch's first item (Caffe sizes a batch by it: same channels, and without a
    crop the same size), and transform the batch (``deferred``: all but the arithmetic, see
    :func:`lmdb_dataset`).  ``columns(meta)`` gives ``(index, swap, chw, label, ids)`` of a
    batch; ``describe(id)`` names an item in errors.  Returns the prefetched dataset."""
    import tensorflow as tf

    ds = ds.padded_batch(batch_size, drop_remainder=True)
    crop = transformer.crop[0] > 0

    @tf.autograph.experimental.do_not_convert
    def finish(images, meta):
        index, swap, chw, label, ids = columns(meta)
        chw, label = tf.cast(chw, tf.int32), tf.cast(label, tf.float32)
        where = ItemNames(describe, ids)
        same = tf.reduce_all(tf.equal(chw[:, :1], chw[:1, :1]) if crop else
                             tf.equal(chw, chw[:1]), axis=1)
        ok = assert_items(same, f"{what}: every item of a batch must have the "
                          f"{'channels' if crop else 'shape'} of its first item (Caffe sizes a "
                          "batch by its first item" +
                          ("" if crop else "; records of different sizes need a crop") +
                          "); first item", where, chw, "batch_check", first=True)
        with tf.control_dependencies([ok]):
            images = tf.identity(images)
        data = transformer.transform_batch(images, chw, index, layout, out_layout, swap, where,
                                           jit, deferred)
        if deferred:
            data = dict(zip(("images", "placement"), data))
        return (data, label) if labels else data

    ds = ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.prefetch(tf.data.AUTOTUNE).with_options(_options())
    if deferred:   # one traced call: eager, its dozen small ops would cost 20 us per image
        ds.finish = tf.function(functools.partial(_finish_values, transformer, layout,
                                                  out_layout, jit),
                                autograph=False, reduce_retracing=True)
    return ds


def _finish_values(transformer, layout, out_layout, jit, raw):
    return transformer.finish_batch(raw["images"], raw["placement"], layout, out_layout, jit)


def _read_ahead(chunks):
    """Items of the Python reader's chunks.  The reader runs a chunk ahead in its own thread:
    called inline, its few hundred microseconds per chunk stall the parallel decoders that wait
    for the next item (about 8% of the throughput on two cores)."""
    return chunks.prefetch(2).unbatch()


# --------------------------------------------------------------------------- Data (LMDB, LevelDB)

# Decode branches of a Data-layer item, chosen in Python.
_RAW, _FLOAT, _JPEG, _PNG, _OTHER = range(5)


def _datum_chunks(db: KeyValueDB, start_item: int, oriented: bool, chunk: int = CHUNK):
    """Python side of a Data-layer pipeline: parsed records, ``chunk`` at a time: payloads and
    an int64 row per record (index, route, decode branch, EXIF orientation, C, H, W, label),
    where the route is the branch, or -1 for a JPEG to be turned by its EXIF orientation."""
    g = start_item
    payloads, rows = [], []
    for position, key, value in db.records(start_item):
        try:
            kind, payload, chw, label = record_fields(parse_datum(value))
        except CaffemodelError:   # again, naming the record
            where = db.describe(position, key)
            record_fields(parse_datum(value, where), where)
            raise
        turn = 1
        if kind == ENCODED:
            branch = _JPEG + image_format(payload)
            if oriented:
                turn = orientation(payload)
        else:
            branch = _RAW if kind == RAW else _FLOAT
        payloads.append(payload)
        rows.append((g, branch if turn == 1 else -1, branch, turn, chw[0], chw[1], chw[2],
                     label))
        g += 1
        if len(rows) == chunk:
            yield np.asarray(payloads, object), np.asarray(rows, np.int64)
            payloads, rows = [], []


def _item_format(db: KeyValueDB) -> tuple[str, str, int]:
    """Layout and dtype the items travel in, and the decode branch of the database's first
    record: raw and float Datums stay C,H,W (float32 for float_data), encoded images H,W,C
    uint8."""
    key, value = db.get(0)
    where = db.describe(0, key)
    kind, payload = record_fields(parse_datum(value, where), where)[:2]
    branch = _JPEG + image_format(payload) if kind == ENCODED else _RAW if kind == RAW else _FLOAT
    return ("HWC" if kind == ENCODED else "CHW"), ("float32" if kind == FLOAT else "uint8"), \
        branch


def db_dataset(db: KeyValueDB, batch_size: int, transformer: DataTransformer,
               start_batch=0, layout: str = "NCHW", labels: bool = True, jit: bool = True,
               deferred: bool = False):
    """The pipeline of a Data layer over an open database (see :func:`lmdb_dataset`).
    ``start_batch`` may be a callable, read each time an iterator starts."""
    import tensorflow as tf

    if batch_size <= 0:
        raise NetError(f"batch_size must be positive, got {batch_size}", layer=transformer.layer)
    out_layout = _layouts(layout)
    start = _start_fn(start_batch)
    mode = transformer.decode_mode
    item_layout, item_dtype, usual = _item_format(db)
    dtype = tf.as_dtype(item_dtype)
    spec = (tf.TensorSpec([None], tf.string), tf.TensorSpec([None, 8], tf.int64))
    # TF keeps from_generator's Python callable alive after the dataset is gone; it must not
    # hold the database (LMDB refuses a second open of an environment in one process).
    db_ref = weakref.ref(db)
    closed = (f"the {db.backend} database '{db.path}' of this pipeline was closed: keep the "
              "dataset (or its source) while iterating")

    def records():
        live = db_ref()
        if live is None:
            raise NetError(closed)
        return _datum_chunks(live, start() * batch_size, mode != "unchanged")

    def describe(index):
        live = db_ref()
        if live is None:
            return f"item {index}"
        position = index % len(live)
        return live.describe(position, live.get(position)[0])

    ds = _read_ahead(tf.data.Dataset.from_generator(records, output_signature=spec))

    def as_item(img, img_layout):
        if img_layout != item_layout:
            img = tf.transpose(img, [1, 2, 0] if item_layout == "HWC" else [2, 0, 1])
        return tf.cast(img, dtype)

    def decoder(kind, payload, c, h, w, g, turn=1):
        """The image of one record of a given decode branch (a Python int)."""
        if kind in (_RAW, _FLOAT):
            chw = tf.cast(tf.stack([c, h, w]), tf.int32)
        if kind == _RAW:
            return as_item(tf.reshape(tf.io.decode_raw(payload, tf.uint8), chw), "CHW")
        if kind == _FLOAT:
            img = tf.reshape(tf.io.decode_raw(payload, tf.float32, little_endian=True), chw)
            if item_dtype != "float32":
                ok = tf.debugging.Assert(False, [
                    f"{db.path}: record", g % len(db), "holds float_data but the database's "
                    "first record holds uint8 pixels; mixing the two is not supported"])
                with tf.control_dependencies([ok]):
                    img = tf.identity(img)
            return as_item(img, "CHW")
        img, _ = decode_image(payload, mode, bgr=False, fmt=kind - _JPEG, exif_orientation=turn)
        return as_item(img, "HWC")

    # Records unlike the first (rare: a database mixing PNG and JPEG files, or EXIF-rotated
    # JPEGs) are decoded by a separate function: inlined into the item function, its branches
    # would cost every record ~7% of the throughput.
    @tf.function(autograph=False, experimental_attributes={"_noinline": True})
    def any_record(branch, payload, c, h, w, g, turn):
        return tf.switch_case(branch, [functools.partial(decoder, kind, payload, c, h, w, g,
                                                         turn) for kind in range(5)])

    @tf.autograph.experimental.do_not_convert
    def item(payload, meta):
        g, route, branch, turn, c, h, w, _ = tf.unstack(meta)
        img = tf.cond(tf.equal(route, usual), lambda: decoder(usual, payload, c, h, w, g),
                      lambda: any_record(tf.cast(branch, tf.int32), payload, c, h, w, g,
                                         tf.cast(turn, tf.int32)))
        return img, _with_shape(meta, img)

    def columns(meta):
        shape = meta[:, 8:11]
        chw = shape if item_layout == "CHW" else tf.gather(shape, [2, 0, 1], axis=1)
        swap = _swap_flags(meta[:, 2] >= _JPEG, chw, mode)
        return meta[:, 0], swap, chw, meta[:, 7], meta[:, 0]

    ds = ds.map(item, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = _finish_batches(ds, batch_size, transformer, item_layout, out_layout, labels,
                         f"{db.backend} '{db.path}'", jit, columns, describe, deferred)
    ds._keras_caffe_db = db   # the database stays open while the dataset object lives
    return ds


def lmdb_dataset(path, batch_size: int, transform=None, phase="test", seed: int = 0, *,
                 start_batch: int = 0, layout: str = "NCHW", labels: bool = True,
                 jit: bool = True, deferred: bool = False):
    """Caffe's Data layer over an LMDB of Datums (raw, float or encoded) as a ``tf.data``
    pipeline of ``(data, label)`` batches.

    Args:
        path: the LMDB folder (``data_param.source``).
        batch_size: items per batch.
        transform: ``transform_param`` (message, dict of its fields, or a DataTransformer).
        phase: ``"train"`` (random crops) or ``"test"`` (centre crops).
        seed: keys the random crops and mirrors.
        start_batch: the first batch to produce (resume).
        layout: ``"NCHW"`` (Caffe's) or ``"NHWC"``.
        labels: also yield the labels.
        jit: run the batch arithmetic as XLA kernels (same numbers, much faster).
        deferred: leave the array work of the transform to the consumer: batches are then
            ``{"images": ..., "placement": ...}`` -- the decoded images as stored (uint8 but
            for float_data; H,W,C for encoded records, C,H,W for raw ones; zero-padded to the
            batch's largest) and each item's crop offsets, flip and RGB->BGR flag -- and the
            dataset's ``finish(batch)`` turns one into the same float32 values, e.g. inside
            the training step on the accelerator, so that the host only reads and decodes
            and sends a third of the bytes.
    """
    db = open_db(path, "lmdb")
    return db_dataset(db, batch_size, _transformer(transform, phase, seed, None), start_batch,
                      layout, labels, jit, deferred)


def leveldb_dataset(path, batch_size: int, transform=None, phase="test", seed: int = 0, *,
                    start_batch: int = 0, layout: str = "NCHW", labels: bool = True,
                    jit: bool = True, deferred: bool = False):
    """:func:`lmdb_dataset` for a LevelDB database (needs ``plyvel``, the ``leveldb`` extra;
    the folder must be writable)."""
    db = open_db(path, "leveldb")
    return db_dataset(db, batch_size, _transformer(transform, phase, seed, None), start_batch,
                      layout, labels, jit, deferred)


# --------------------------------------------------------------------------- ImageData

_ATOI = re.compile(rb"^[ \t\n\v\f\r]*([+-]?[0-9]+)")


def _atoi(text: bytes) -> int:
    m = _ATOI.match(text)
    if not m:
        return 0
    value = int(m.group(1))
    return (value + 2**31) % 2**32 - 2**31   # C int wrap-around


def read_image_list(list_file, root_folder="", layer: str | None = None):
    """ImageData's list: ``[(path, label, line number)]`` where ``path`` is
    ``root_folder + name`` (plain concatenation, as Caffe) and each line splits at its LAST
    space into name and label (``atoi``), so names may contain spaces."""
    list_file = os.fspath(list_file)
    if not os.path.isfile(list_file):
        raise NetError(f"image list '{list_file}' not found (Caffe reads it relative to the "
                       f"working directory, here {os.getcwd()})", layer=layer)
    with open(list_file, "rb") as f:
        lines = f.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()   # the newline that ends the last line
    root = os.fsencode(root_folder)
    entries = []
    for number, line in enumerate(lines, 1):
        cut = line.rfind(b" ")
        name, label = (line, _atoi(line)) if cut < 0 else (line[:cut], _atoi(line[cut + 1:]))
        if not name:
            raise NetError(f"{list_file}:{number}: empty image name in line {line!r} (Caffe "
                           "would fail to load it)", layer=layer)
        entries.append((root + name, label, number))
    if not entries:
        raise NetError(f"image list '{list_file}' is empty", layer=layer)
    return entries


def image_order(n: int, shuffle: bool, rand_skip: int, seed: int, start_item: int):
    """Endless ``(item index, entry index)`` of ImageData: shuffled per pass when
    ``shuffle`` (a fresh permutation each time the list is exhausted, as Caffe), starting
    ``rand_skip``-randomly into the first pass."""
    skip = 0
    if rand_skip:
        skip = int(np.random.default_rng([seed, 1]).integers(0, rand_skip))
        if skip >= n:
            raise NetError(f"rand_skip drew {skip}, not less than the {n} list entries")
    q = skip + start_item
    g = start_item
    while True:
        epoch, offset = divmod(q, n)
        order = np.random.default_rng([seed, 2, epoch]).permutation(n) if shuffle \
            else np.arange(n)
        for i in order[offset:]:
            yield g, int(i)
            g += 1
            q += 1


def image_data_dataset(list_file, batch_size: int = 1, root_folder: str = "",
                       new_height: int = 0, new_width: int = 0, is_color: bool = True,
                       shuffle: bool = False, rand_skip: int = 0, transform=None,
                       phase="test", seed: int = 0, *, start_batch=0, layout: str = "NCHW",
                       labels: bool = True, layer: str | None = None, jit: bool = True,
                       deferred: bool = False):
    """Caffe's ImageData layer as a ``tf.data`` pipeline of ``(data, label)`` batches.

    Images are read like ``cv::imread`` (``is_color``: B,G,R; else grey converted in the
    decoder), resized to ``new_height x new_width`` when both are set with OpenCV's exact
    uint8 INTER_LINEAR, then transformed.  Paths are ``root_folder + name``, relative to
    the working directory.
    """
    import tensorflow as tf

    if (new_height > 0) != (new_width > 0):
        raise NetError(f"new_height and new_width must both be set or both be 0, got "
                       f"{new_height} x {new_width}", layer=layer)
    if batch_size <= 0:
        raise NetError(f"batch_size must be positive, got {batch_size}", layer=layer)
    entries = read_image_list(list_file, root_folder, layer)
    transformer = _transformer(transform, phase, seed, layer)
    out_layout = _layouts(layout)
    start = _start_fn(start_batch)
    # Absolute paths: the pipeline reads ahead, and must not follow a later chdir.
    paths = np.asarray([os.path.abspath(e[0]) for e in entries], object)
    labels_np = np.asarray([e[1] for e in entries], np.int64)

    def describe(i):   # only when a check fails
        path, _, line = entries[i]
        return f"{os.fspath(list_file)}:{line}: '{path.decode('utf-8', 'backslashreplace')}'"

    def chunks():
        items, entries_ = [], []
        for g, i in image_order(len(entries), shuffle, rand_skip, transformer.seed,
                                start() * batch_size):
            items.append(g)
            entries_.append(i)
            if len(items) == CHUNK:
                idx = np.asarray(entries_)
                yield paths[idx], np.stack([np.asarray(items, np.int64), labels_np[idx],
                                            idx.astype(np.int64)], 1)
                items, entries_ = [], []

    spec = (tf.TensorSpec([None], tf.string), tf.TensorSpec([None, 3], tf.int64))
    ds = _read_ahead(tf.data.Dataset.from_generator(chunks, output_signature=spec))
    mode = "color" if is_color else "gray"

    @tf.autograph.experimental.do_not_convert
    def item(path, meta):
        img, _ = decode_image(tf.io.read_file(path), mode, bgr=False)
        if new_height > 0:
            img = opencv_linear_u8_tf(img, new_height, new_width)
        return img, _with_shape(meta, img)

    def columns(meta):
        chw = tf.gather(meta[:, 3:6], [2, 0, 1], axis=1)
        swap = _swap_flags(tf.ones_like(meta[:, 0], tf.bool), chw, mode)
        return meta[:, 0], swap, chw, meta[:, 1], meta[:, 2]

    ds = ds.map(item, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return _finish_batches(ds, batch_size, transformer, "HWC", out_layout, labels,
                           f"ImageData '{os.fspath(list_file)}'", jit, columns, describe,
                           deferred)


# --------------------------------------------------------------------------- HDF5, memory, dummy

def _source_dataset(source, start_batch=0):
    """A BatchSource's batches as a dataset of dicts ``{top: float32 array}``."""
    import tensorflow as tf

    start = _start_fn(start_batch)
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
    from .hdf5 import HDF5Source

    return _source_dataset(HDF5Source(os.fspath(list_file), list(tops), batch_size, shuffle,
                                      seed), start_batch)


def memory_data(data, labels, batch_size: int, *, start_batch: int = 0):
    """Caffe's MemoryData layer fed with arrays (``Reset``/pycaffe's ``set_input_arrays``):
    ``(data, label)`` batches of ``batch_size`` consecutive rows, cycling; the number of
    rows must be a multiple of ``batch_size`` (as Caffe requires)."""
    from .readers import MemoryDataSource

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
    from .readers import DummyDataSource

    shapes = [tuple(s) for s in shapes]
    tops = list(tops) if tops is not None else [f"data{i}" if i else "data"
                                                for i in range(len(shapes))]
    return _source_dataset(DummyDataSource(tops, shapes, fillers, seed), start_batch)
