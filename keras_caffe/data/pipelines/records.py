"""Caffe's Data layer over LMDB / LevelDB as a tf.data pipeline."""

from __future__ import annotations

import functools
import weakref

import numpy as np

from ...errors import CaffemodelError, NetError
from ..formats.datum import (ENCODED, FLOAT, RAW, decode_image, image_format, orientation,
                             parse_datum, record_fields)
from ..formats.db import KeyValueDB, open_db
from ..transform import DataTransformer
from .batches import (CHUNK, finish_batches, out_layout_of, read_ahead, start_fn, swap_flags,
                      transformer_of, with_shape)

# Decode branches of a Data-layer item, chosen in Python.
_RAW, _FLOAT, _JPEG, _PNG, _OTHER = range(5)


def _datum_chunks(db: KeyValueDB, start_item: int, oriented: bool, chunk: int = CHUNK,
                  step: int = 1):
    """Python side of a Data-layer pipeline: parsed records, ``chunk`` at a time: payloads and
    an int64 row per record (index, route, decode branch, EXIF orientation, C, H, W, label),
    where the route is the branch, or -1 for a JPEG to be turned by its EXIF orientation.
    The records are those at offsets ``start_item``, ``start_item + step``, ... of the
    database's endless walk, and the index is that offset (what keys the random crops)."""
    g = start_item
    payloads, rows = [], []
    for position, key, value in db.records(start_item, step):
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
        g += step
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
               deferred: bool = False, shard: tuple[int, int] = (0, 1)):
    """The pipeline of a Data layer over an open database (see :func:`lmdb_dataset`).
    ``start_batch`` may be a callable, read each time an iterator starts.

    ``shard=(rank, count)``: the share of worker ``rank`` of ``count`` reading the database
    together, as Caffe's data-parallel Data layers share it (``DataLayer::Skip``): offset
    ``o`` of the walk goes to worker ``o % count``, so item ``j`` of this worker's batch
    ``k`` is offset ``(k * batch_size + j) * count + rank``.  The workers' batches ``k`` are
    together the records of batch ``k`` of one reader with ``count * batch_size`` items, with
    the same crops and mirrors (they are keyed by the offset)."""
    import tensorflow as tf

    if batch_size <= 0:
        raise NetError(f"batch_size must be positive, got {batch_size}")
    rank, count = shard
    out_layout = out_layout_of(layout)
    start = start_fn(start_batch)
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
        return _datum_chunks(live, start() * batch_size * count + rank, mode != "unchanged",
                             step=count)

    def describe(index):
        live = db_ref()
        if live is None:
            return f"item {index}"
        position = index % len(live)
        return live.describe(position, live.get(position)[0])

    ds = read_ahead(tf.data.Dataset.from_generator(records, output_signature=spec))

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
        return img, with_shape(meta, img)

    def columns(meta):
        shape = meta[:, 8:11]
        chw = shape if item_layout == "CHW" else tf.gather(shape, [2, 0, 1], axis=1)
        swap = swap_flags(meta[:, 2] >= _JPEG, chw, mode)
        return meta[:, 0], swap, chw, meta[:, 7], meta[:, 0]

    ds = ds.map(item, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = finish_batches(ds, batch_size, transformer, item_layout, out_layout, labels,
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
    return db_dataset(db, batch_size, transformer_of(transform, phase, seed), start_batch,
                      layout, labels, jit, deferred)


def leveldb_dataset(path, batch_size: int, transform=None, phase="test", seed: int = 0, *,
                    start_batch: int = 0, layout: str = "NCHW", labels: bool = True,
                    jit: bool = True, deferred: bool = False):
    """:func:`lmdb_dataset` for a LevelDB database (needs ``plyvel``, the ``leveldb`` extra;
    the folder must be writable)."""
    db = open_db(path, "leveldb")
    return db_dataset(db, batch_size, transformer_of(transform, phase, seed), start_batch,
                      layout, labels, jit, deferred)
