"""Caffe's ImageData layer as a tf.data pipeline."""

from __future__ import annotations

import os

import numpy as np

from ...errors import NetError, layer_named
from ..formats.datum import decode_image
from ..formats.lists import read_image_list
from ..formats.resize import opencv_linear_u8_tf
from .batches import (CHUNK, finish_batches, out_layout_of, read_ahead, start_fn, swap_flags,
                      transformer_of, with_shape)

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
    the working directory.  ``layer`` names the data layer in errors.
    """
    with layer_named(layer):
        return _image_data_dataset(
            list_file, batch_size, root_folder, new_height, new_width, is_color, shuffle,
            rand_skip, transform, phase, seed, start_batch, layout, labels, jit, deferred)


def _image_data_dataset(list_file, batch_size, root_folder, new_height, new_width, is_color,
                        shuffle, rand_skip, transform, phase, seed, start_batch, layout, labels,
                        jit, deferred):
    import tensorflow as tf

    if (new_height > 0) != (new_width > 0):
        raise NetError(f"new_height and new_width must both be set or both be 0, got "
                       f"{new_height} x {new_width}")
    if batch_size <= 0:
        raise NetError(f"batch_size must be positive, got {batch_size}")
    entries = read_image_list(list_file, root_folder)
    transformer = transformer_of(transform, phase, seed)
    out_layout = out_layout_of(layout)
    start = start_fn(start_batch)
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
    ds = read_ahead(tf.data.Dataset.from_generator(chunks, output_signature=spec))
    mode = "color" if is_color else "gray"

    @tf.autograph.experimental.do_not_convert
    def item(path, meta):
        img, _ = decode_image(tf.io.read_file(path), mode, bgr=False)
        if new_height > 0:
            img = opencv_linear_u8_tf(img, new_height, new_width)
        return img, with_shape(meta, img)

    def columns(meta):
        chw = tf.gather(meta[:, 3:6], [2, 0, 1], axis=1)
        swap = swap_flags(tf.ones_like(meta[:, 0], tf.bool), chw, mode)
        return meta[:, 0], swap, chw, meta[:, 1], meta[:, 2]

    ds = ds.map(item, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return finish_batches(ds, batch_size, transformer, "HWC", out_layout, labels,
                           f"ImageData '{os.fspath(list_file)}'", jit, columns, describe,
                           deferred)
