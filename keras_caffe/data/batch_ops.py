"""TensorFlow pieces of the batched DataTransformer: per-item checks that name the items they
reject (only when they do), counter-based random bits (splitmix64), crop windows."""

from __future__ import annotations

import numpy as np

class ItemNames:
    """Names of a batch's items made only when a check fails: ``describe`` (Python) turns
    item ids (an int64 tensor, one per item) into texts such as ``"db: record 7 (key ...)"``.
    Carrying a formatted name with every item through ``tf.data`` costs several percent of a
    pipeline's throughput; this costs nothing until an error is reported."""

    def __init__(self, describe, ids):
        self.describe, self.ids = describe, ids


def item_names(where, which):
    """String tensor naming the items selected by the bool vector ``which``; ``where`` is one
    name per item (strings), a single name for all, or an :class:`ItemNames`."""
    import tensorflow as tf

    if isinstance(where, ItemNames):
        describe = where.describe

        def names(ids):
            return np.asarray([describe(int(i)) for i in ids], object)

        return tf.numpy_function(names, [tf.boolean_mask(where.ids, which)], tf.string,
                                 stateful=False)
    where = tf.broadcast_to(tf.convert_to_tensor(where, tf.string), tf.shape(which))
    return tf.boolean_mask(where, which)


def assert_items(ok, message, where, chw, name="check", first=False):
    """Fail with ``message`` naming the items where ``ok`` (bool, one per item) is false and
    their C,H,W (after the batch's first item with ``first``); names are looked up only on
    failure.  Returns a tensor to depend on."""
    import tensorflow as tf

    def fail():
        bad = tf.logical_not(ok)
        head = [item_names(where, tf.equal(tf.range(tf.size(ok)), 0)), "with C,H,W",
                chw[0], ";"] if first else []
        report = tf.debugging.Assert(False, [message + ("" if first else ";")] + head + [
            "offending items:", item_names(where, bad), "with C,H,W",
            tf.boolean_mask(chw, bad)], summarize=3 * 1024, name=name)
        with tf.control_dependencies([report]):
            return tf.constant(False)

    return tf.cond(tf.reduce_all(ok), lambda: tf.constant(True), fail)


def per_item(flags, rank):
    import tensorflow as tf

    return tf.reshape(flags, [-1] + [1] * (rank - 1))


_MASK64 = (1 << 64) - 1


def splitmix64(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def splitmix64_tf(z):
    import tensorflow as tf

    def shift(v, n):
        return tf.bitwise.right_shift(v, tf.constant(n, tf.uint64))

    z = z + tf.constant(0x9E3779B97F4A7C15, tf.uint64)
    z = tf.bitwise.bitwise_xor(z, shift(z, 30)) * tf.constant(0xBF58476D1CE4E5B9, tf.uint64)
    z = tf.bitwise.bitwise_xor(z, shift(z, 27)) * tf.constant(0x94D049BB133111EB, tf.uint64)
    return tf.bitwise.bitwise_xor(z, shift(z, 31))


def windows(x, items, h_off, w_off, size, layout, jit):
    """Window ``b`` = the ``ch x cw`` window at ``(h_off[b], w_off[b])`` of image
    ``x[items[b]]`` (``x``: ``N x H x W x C`` or ``N x C x H x W``; ``items=None``: image
    ``b``).  Under XLA one gather of whole windows (far faster there than gathering rows,
    then columns); otherwise two ``tf.gather``s."""
    import tensorflow as tf

    ch, cw = size
    h_ax, w_ax = (1, 2) if layout == "HWC" else (2, 3)
    if not jit:
        if items is not None:
            x = tf.gather(x, items)
        x = tf.gather(x, h_off[:, None] + tf.range(ch)[None], axis=h_ax, batch_dims=1)
        return tf.gather(x, w_off[:, None] + tf.range(cw)[None], axis=w_ax, batch_dims=1)
    from tensorflow.compiler.tf2xla.python import xla
    from tensorflow.compiler.xla import xla_data_pb2

    zero = tf.zeros_like(h_off)
    starts = [tf.range(tf.shape(h_off)[0]) if items is None else items, zero, zero, zero]
    starts[h_ax], starts[w_ax] = h_off, w_off
    sizes = [1, ch, cw, x.shape[3]] if layout == "HWC" else [1, x.shape[1], ch, cw]
    if None in sizes:
        raise ValueError(f"the channel axis must have a static size, got shape {x.shape}")
    dims = xla_data_pb2.GatherDimensionNumbers()
    dims.offset_dims.extend([1, 2, 3])
    dims.collapsed_slice_dims.append(0)
    dims.start_index_map.extend([0, 1, 2, 3])
    dims.index_vector_dim = 1
    return xla.gather(x, tf.stack(starts, 1), dims, [int(d) for d in sizes],
                      indices_are_sorted=False)


def pad_to_multiple(x, layout, multiple):
    """Zero-pad H and W of a batch up to a multiple (no copy when already aligned)."""
    import tensorflow as tf

    shape = tf.shape(x)
    h_ax, w_ax = (1, 2) if layout == "HWC" else (2, 3)
    pad = [[0, 0]] * 4
    pad[h_ax] = [0, (-shape[h_ax]) % multiple]
    pad[w_ax] = [0, (-shape[w_ax]) % multiple]
    need = tf.logical_or(pad[h_ax][1] > 0, pad[w_ax][1] > 0)
    return tf.cond(need, lambda: tf.pad(x, tf.stack([tf.stack(p) for p in pad])), lambda: x)
