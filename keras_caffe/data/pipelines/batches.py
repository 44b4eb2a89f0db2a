"""What every pipeline shares: batching with Caffe's checks, the transform, read-ahead."""

from __future__ import annotations

import functools
from typing import Callable

from ..transform import DataTransformer, ItemNames, assert_items

CHUNK = 64  # records per hand-over from the Python reader to the graph


def start_fn(start) -> Callable[[], int]:
    return start if callable(start) else (lambda: int(start))


def out_layout_of(layout: str) -> str:
    if layout not in ("NCHW", "NHWC"):
        raise ValueError(f"layout must be 'NCHW' or 'NHWC', got {layout!r}")
    return layout[1:]


def transformer_of(transform, phase, seed) -> DataTransformer:
    if isinstance(transform, DataTransformer):
        return transform
    return DataTransformer(transform, phase, seed)


def options():
    import tensorflow as tf

    options = tf.data.Options()
    options.deterministic = True
    options.autotune.enabled = True
    return options


# Per-item facts travel as one int64 vector beside the image: the reader's row for the item
# with the decoded image's shape appended (every extra tf.data component, and every small op
# in the per-item function, costs about a percent of the throughput).

def with_shape(meta, image):
    import tensorflow as tf

    return tf.concat([meta, tf.shape(image, out_type=tf.int64)], 0)


def swap_flags(encoded, chw, mode: str):
    """Which items' channels are still R,G,B after decoding (see :func:`.datum.decode_image`):
    encoded colour images (IMREAD_COLOR, or IMREAD_UNCHANGED with 3 channels)."""
    import tensorflow as tf

    if mode == "gray":
        return tf.zeros_like(encoded)
    return tf.logical_and(encoded, tf.constant(True) if mode == "color" else
                          tf.equal(chw[:, 0], 3))


def finish_batches(ds, batch_size: int, transformer: DataTransformer, layout: str,
                    out_layout: str, labels: bool, what: str, jit: bool, columns, describe,
                    deferred: bool):
    """Batch decoded items ``(image, meta)`` (zero-padded to the largest), check that they
    agree with the batch's first item (Caffe sizes a batch by it: same channels, and without a
    crop the same size), and transform the batch (``deferred``: all but the arithmetic, see
    :func:`~keras_caffe.data.pipelines.lmdb_dataset`).  ``columns(meta)`` gives
    ``(index, swap, chw, label, ids)`` of a batch; ``describe(id)`` names an item in errors.  Returns the prefetched dataset."""
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
    ds = ds.prefetch(tf.data.AUTOTUNE).with_options(options())
    if deferred:   # one traced call: eager, its dozen small ops would cost 20 us per image
        ds.finish = tf.function(functools.partial(_finish_values, transformer, layout,
                                                  out_layout, jit),
                                autograph=False, reduce_retracing=True)
    return ds


def _finish_values(transformer, layout, out_layout, jit, raw):
    return transformer.finish_batch(raw["images"], raw["placement"], layout, out_layout, jit)


def read_ahead(chunks):
    """Items of the Python reader's chunks.  The reader runs a chunk ahead in its own thread:
    called inline, its few hundred microseconds per chunk stall the parallel decoders that wait
    for the next item (about 8% of the throughput on two cores)."""
    return chunks.prefetch(2).unbatch()
