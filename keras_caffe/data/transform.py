"""Caffe's DataTransformer (``transform_param``) as TensorFlow ops, bit-exact in float32.

For every output pixel, Caffe computes in float32::

    out[c, y, x'] = (img[c, h_off + y, w_off + x] - mean[c, h_off + y, w_off + x]) * scale

where ``x' = crop_w - 1 - x`` when the image is mirrored, else ``x``.  The mean is either the
full-size ``mean_file`` image (indexed at the crop position: mean before crop) or
``mean_value`` (one value for every channel, or one per channel); never both.

* crop (``crop_size``, square): TEST takes the centre, ``h_off = (H - crop) // 2``; TRAIN draws
  ``h_off`` in ``[0, H - crop]`` and ``w_off`` in ``[0, W - crop]`` uniformly per image.
* mirror: a horizontal flip with probability 1/2 per image, in TRAIN *and* TEST.
* force_color / force_gray: how encoded Datums are decoded (see :mod:`.datum`).

Random choices are a counter-based hash (splitmix64) of ``(seed, item index)``: a fixed seed
gives the same crops and flips for the same item of the stream, however the stream is
resumed.  The transform works on whole (zero-padded) batches
(:meth:`DataTransformer.transform_batch`), optionally as two XLA kernels -- crop windows,
channel order and mirror on the pixels, then layout and ``(x - mean) * scale`` in float32 --
which is several times cheaper than per-image TF ops and gives the same numbers; calling the
transformer on one image runs the same code on a batch of one.

>>> t = DataTransformer({"crop_size": 2, "mean_value": [1.0], "scale": 0.5})
>>> t(np.arange(9, dtype=np.uint8).reshape(1, 3, 3), 0, layout="CHW").numpy().tolist()
[[[-0.5, 0.0], [1.0, 1.5]]]
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import CaffemodelError, NetError, layer_named
from ..graph.limits import check_blob
from ..graph.phase import parse_phase
from ..proto import caffe_pb2
from ..proto.binary import read_blob
from .batch_ops import (ItemNames, assert_items, item_names, pad_to_multiple, per_item,
                        splitmix64, splitmix64_tf, windows)

__all__ = ["DataTransformer", "ItemNames", "as_transform_param", "item_names",
           "assert_items", "phase_number"]

_UNSUPPORTED = ("resize_param", "noise_param", "emit_constraint", "distort_param", "expand_param")


def phase_number(phase) -> int:
    """``"train"``/``"test"``/``caffe_pb2.TRAIN``/``caffe_pb2.TEST`` -> Caffe's phase number."""
    return parse_phase(phase)


def as_transform_param(transform) -> caffe_pb2.TransformationParameter:
    """A TransformationParameter from a message, a dict of its fields, or None."""
    if transform is None:
        return caffe_pb2.TransformationParameter()
    if isinstance(transform, caffe_pb2.TransformationParameter):
        return transform
    if isinstance(transform, dict):
        param = caffe_pb2.TransformationParameter()
        for name, value in transform.items():
            field = param.DESCRIPTOR.fields_by_name.get(name)
            if field is None:
                raise ValueError(f"transform_param has no field {name!r}")
            if name == "mean_value":
                values = value if isinstance(value, (list, tuple, np.ndarray)) else [value]
                getattr(param, name).extend(float(v) for v in values)
            else:
                setattr(param, name, value)
        return param
    raise TypeError(f"transform must be a TransformationParameter, a dict or None, "
                    f"got {type(transform).__name__}")


class DataTransformer:
    """Caffe's ``DataTransformer`` for one data layer.

    Args:
        param: ``transform_param`` (message or dict of its fields; None = identity).
        phase: ``"train"`` or ``"test"`` (the crop is random only in TRAIN).
        seed: keys the random crops and flips.
        layer: layer name for error messages.

    Call it on one image (uint8 or float32, ``layout`` ``"HWC"`` or ``"CHW"``) with the item's
    index in the stream; it returns float32 in ``out_layout``.
    """

    def __init__(self, param=None, phase="test", seed: int = 0, layer: str | None = None):
        with layer_named(layer):
            self._setup(as_transform_param(param), phase, seed)

    def _setup(self, param, phase, seed):
        self.phase = phase_number(phase)
        self.seed = int(seed) & 0x7FFFFFFFFFFFFFFF
        for name in _UNSUPPORTED:
            if param.HasField(name):
                raise NetError(f"transform_param.{name} (an SSD extension) is not supported")
        self.scale = np.float32(param.scale)
        self.mirror = bool(param.mirror)
        crop = int(param.crop_size)
        self.crop = (crop, crop) if crop else (int(param.crop_h), int(param.crop_w))
        if (self.crop[0] > 0) != (self.crop[1] > 0):
            raise NetError(f"crop_h and crop_w must both be set, got {self.crop}")
        # the crop is each item's height and width: bounded as a blob, before any op is
        # made with it (a crop of 2^31 overflows TF's int32 sizes; 2^31-1 stalls XLA)
        check_blob(self.crop, "a crop (crop_size, or crop_h x crop_w)")
        self.force_color, self.force_gray = bool(param.force_color), bool(param.force_gray)
        if self.force_color and self.force_gray:
            raise NetError("transform_param sets both force_color and force_gray")
        self.mean_values = np.asarray(param.mean_value, np.float32)
        self.mean_file = param.mean_file if param.HasField("mean_file") else None
        if self.mean_file is not None and self.mean_values.size:
            raise NetError(f"transform_param sets both mean_file ('{self.mean_file}') and "
                           f"mean_value {self.mean_values.tolist()}; Caffe allows only one")
        self.mean = _read_mean(self.mean_file) if self.mean_file is not None else None
        self._kernels = {}

    @property
    def decode_mode(self) -> str:
        """How encoded Datums are decoded: ``"color"``, ``"gray"`` or ``"unchanged"``."""
        return "color" if self.force_color else "gray" if self.force_gray else "unchanged"

    def output_hw(self, height: int, width: int) -> tuple[int, int]:
        """Height and width of a transformed image of the given size."""
        return self.crop if self.crop[0] else (height, width)

    # ------------------------------------------------------------------ graph ops
    def random_bits(self, index, stream: int):
        """Counter-based random uint64 for items ``index`` (any shape; ``stream`` 0: mirror,
        1: crop row, 2: crop column): splitmix64 of the seed and the index."""
        import tensorflow as tf

        z = tf.bitwise.bitwise_xor(tf.constant(splitmix64(self.seed), tf.uint64),
                                   tf.cast(index, tf.uint64) * 4 + stream)
        return splitmix64_tf(z)

    def _uniform(self, index, stream: int, n):
        """Uniform ints in ``[0, n)`` for items ``index``."""
        import tensorflow as tf

        bits = tf.bitwise.right_shift(self.random_bits(index, stream), tf.constant(11, tf.uint64))
        return tf.cast(bits % tf.cast(n, tf.uint64), tf.int32)

    def offsets(self, index, height, width):
        """``(h_off, w_off, flip)`` of items ``index`` (vectors) with sizes ``height`` x
        ``width``: the centre crop in TEST, uniform crops in TRAIN; flip with probability 1/2
        when ``mirror``."""
        import tensorflow as tf

        ch, cw = self.crop
        if not ch:
            h_off = w_off = tf.zeros_like(tf.cast(index, tf.int32))
        elif self.phase == caffe_pb2.TRAIN:
            h_off = self._uniform(index, 1, height - ch + 1)
            w_off = self._uniform(index, 2, width - cw + 1)
        else:
            h_off, w_off = (height - ch) // 2, (width - cw) // 2
        flip = self._uniform(index, 0, 2) > 0 if self.mirror else \
            tf.zeros_like(tf.cast(index, tf.bool))
        return h_off, w_off, flip

    def checks(self, chw, where=""):
        """Checks of a batch of true image sizes ``chw`` (``B x 3``: C, H, W) against the crop
        and the mean; ``where`` names the items in the message (see :func:`item_names`)."""
        import tensorflow as tf

        c, h, w = chw[:, 0], chw[:, 1], chw[:, 2]

        def check(ok, message, name):
            return assert_items(ok, message, where, chw, name)

        ops = []
        ch, cw = self.crop
        if ch:
            ops.append(check(tf.logical_and(h >= ch, w >= cw),
                             f"an image is smaller than the crop {ch} x {cw}", "crop_check"))
        if self.mean is not None:
            mc, mh, mw = self.mean.shape
            ops.append(check(
                tf.reduce_all(tf.equal(chw, [[mc, mh, mw]]), axis=1),
                f"mean_file '{self.mean_file}' is {mc} x {mh} x {mw} (C x H x W) and every "
                "image must have that size (the mean is subtracted before the crop)",
                "mean_check"))
        elif self.mean_values.size > 1:
            n = self.mean_values.size
            ops.append(check(tf.equal(c, n), f"transform_param has {n} mean_values (give one, "
                             "or one per channel)", "mean_value_check"))
        return ops

    def transform_batch(self, images, chw, index, layout: str = "HWC",
                        out_layout: str = "CHW", swap=None, where="", jit: bool = False,
                        deferred: bool = False):
        """Transform a batch: ``images`` (``B x`` ``layout``, uint8 or float32; may be
        zero-padded beyond each item's true size ``chw`` (``B x 3``)), ``index`` (``B``, the
        items' positions in the stream, for the random choices), ``swap`` (``B`` bools:
        reverse the channel order first, for RGB decoders).  Returns float32
        ``B x`` ``out_layout``.  ``jit`` runs the arithmetic as XLA kernels (same numbers).

        With ``deferred`` it only checks the batch and draws the crops and flips: it returns
        ``(images, placement)``, the int32 ``B x 4`` ``(h_off, w_off, flip, swap)`` with which
        :meth:`finish_batch` does the rest -- typically on the accelerator, leaving the host
        nothing but decoding and a third of the bytes to transfer."""
        import tensorflow as tf

        _check_layout(layout)
        _check_layout(out_layout)
        images, chw = tf.convert_to_tensor(images), tf.convert_to_tensor(chw, tf.int32)
        with tf.control_dependencies(self.checks(chw, where)):
            h_off, w_off, flip = self.offsets(index, chw[:, 1], chw[:, 2])
        if deferred:
            swap = tf.zeros_like(flip) if swap is None else swap
            return images, tf.stack([h_off, w_off, tf.cast(flip, tf.int32),
                                     tf.cast(swap, tf.int32)], 1)
        return self._apply(images, (h_off, w_off, flip, swap), layout, out_layout, jit)

    def finish_batch(self, images, placement, layout: str = "HWC", out_layout: str = "CHW",
                     jit: bool = False):
        """The rest of a deferred :meth:`transform_batch`: crop windows, channel order,
        mirror and float32 ``(x - mean) * scale`` in ``out_layout``."""
        import tensorflow as tf

        _check_layout(layout)
        _check_layout(out_layout)
        p = tf.convert_to_tensor(placement, tf.int32)
        args = (p[:, 0], p[:, 1], tf.not_equal(p[:, 2], 0), tf.not_equal(p[:, 3], 0))
        return self._apply(tf.convert_to_tensor(images), args, layout, out_layout, jit)

    def _apply(self, images, args, layout, out_layout, jit):
        """The two kernels on a batch; ``args``: ``(h_off, w_off, flip, swap or None)``."""
        import tensorflow as tf

        c_ax = 3 if layout == "HWC" else 1
        if not jit or images.shape[c_ax] is not None:
            return self._run(images, args, layout, out_layout, jit)

        # XLA needs the channel count at trace time: one branch per common count.
        def branch(c):
            def run():
                shape = [None] * 4
                shape[c_ax] = c
                return self._run(tf.ensure_shape(images, shape), args, layout, out_layout, jit)
            return run

        if self.mean is not None:
            counts = [self.mean.shape[0]]
        elif self.mean_values.size > 1:
            counts = [self.mean_values.size]
        else:
            counts = [1, 2, 3, 4]
        channels = tf.shape(images)[c_ax]
        which = tf.reduce_sum(tf.where(tf.equal(channels, counts), tf.range(1, len(counts) + 1),
                                       0)) - 1
        which = tf.where(which < 0, len(counts), which)   # any other count: no XLA
        return tf.switch_case(which, [branch(c) for c in counts] + [
            lambda: self._run(images, args, layout, out_layout, False)])

    def _run(self, images, args, layout, out_layout, jit):
        if self.crop[0] and jit:
            images = pad_to_multiple(images, layout, 32)   # few shapes -> few XLA compiles
        h_off, w_off, flip, swap = args
        # Two kernels: XLA vectorizes the uint8 window/flip pass and the float pass far better
        # apart than fused (the fused NCHW kernel with a per-item flip runs ~40% slower).
        crops = self._kernel("pixels", layout, swap is not None, jit)(images, h_off, w_off, flip,
                                                                      swap)
        return self._kernel("values", (layout, out_layout), False, jit)(crops, h_off, w_off,
                                                                        flip, None)

    def _kernel(self, stage, layouts, swap, jit):
        import tensorflow as tf

        key = (stage, layouts, swap, jit)
        if key not in self._kernels:
            if stage == "pixels":
                def kernel(x, h_off, w_off, flip, swap_flags):
                    return self._pixels(x, h_off, w_off, flip, swap_flags, layouts, jit)
            else:
                def kernel(x, h_off, w_off, flip, _):
                    return self._values(x, h_off, w_off, flip, *layouts, jit)
            kernel = tf.autograph.experimental.do_not_convert(kernel)
            self._kernels[key] = tf.function(kernel, jit_compile=True, autograph=False) \
                if jit else kernel
        return self._kernels[key]

    def _pixels(self, x, h_off, w_off, flip, swap, layout, jit):
        """Crop windows, channel order and mirror, in the items' layout and dtype."""
        import tensorflow as tf

        ch, cw = self.crop
        c_ax, w_ax = (3, 2) if layout == "HWC" else (1, 3)
        if ch:
            x = windows(x, None, h_off, w_off, (ch, cw), layout, jit)
        if swap is not None:
            x = tf.where(per_item(swap, 4), tf.reverse(x, [c_ax]), x)
        if self.mirror:
            x = tf.where(per_item(flip, 4), tf.reverse(x, [w_ax]), x)
        return x

    def _values(self, x, h_off, w_off, flip, layout, out_layout, jit):
        """Layout, float32, ``(x - mean) * scale``."""
        import tensorflow as tf

        if layout != out_layout:
            x = tf.transpose(x, [0, 2, 3, 1] if out_layout == "HWC" else [0, 3, 1, 2])
        x = tf.cast(x, tf.float32)
        if self.mean is not None:
            x = x - self._mean_crops(h_off, w_off, flip, out_layout, jit)
        elif self.mean_values.size:
            mv = self.mean_values
            if mv.size > 1:
                mv = mv.reshape((-1,) if out_layout == "HWC" else (-1, 1, 1))
            x = x - tf.constant(mv if mv.size > 1 else mv[0], tf.float32)
        if self.scale != 1:
            x = x * tf.constant(self.scale, tf.float32)
        return x

    def _mean_crops(self, h_off, w_off, flip, out_layout, jit):
        """The mean at each item's crop position (mean before crop), mirrored with the item:
        windows of the mean and of its mirror image, picked by one gather."""
        import tensorflow as tf

        w_ax = 2 if out_layout == "CHW" else 1
        mean = self.mean if out_layout == "CHW" else self.mean.transpose(1, 2, 0)
        ch, cw = self.crop
        if ch and self.phase != caffe_pb2.TRAIN:
            # Every item has the mean's size (checked), so all take the centre window.
            mh, mw = self.mean.shape[1:]
            h0, w0 = (mh - ch) // 2, (mw - cw) // 2
            mean = mean[:, h0:h0 + ch, w0:w0 + cw] if out_layout == "CHW" else \
                mean[h0:h0 + ch, w0:w0 + cw]
            ch = 0
        if not self.mirror and not ch:
            return tf.constant(np.ascontiguousarray(mean))
        pair = tf.constant(np.ascontiguousarray(np.stack([mean, np.flip(mean, w_ax)])))
        pick = tf.cast(flip, tf.int32)
        if not ch:
            return tf.gather(pair, pick)
        # The mirrored window of the mirrored mean starts at W - w_off - cw.
        w_start = tf.where(flip, mean.shape[w_ax] - w_off - cw, w_off)
        return windows(pair, pick, h_off, w_start, (ch, cw), out_layout, jit)

    def __call__(self, image, index, layout: str = "HWC", out_layout: str = "CHW", where=""):
        """Transform one image (item ``index`` of the stream) to float32 ``out_layout``."""
        import tensorflow as tf

        image = tf.convert_to_tensor(image)
        shape = tf.shape(image)
        chw = tf.gather(shape, [0, 1, 2] if layout == "CHW" else [2, 0, 1])
        index = tf.reshape(tf.cast(index, tf.int64), [1])
        return self.transform_batch(image[None], chw[None], index, layout, out_layout,
                                    where=tf.reshape(where, [1]))[0]

    # ------------------------------------------------------------------ numpy
    def numpy(self, image, index: int = 0, layout: str = "HWC", out_layout: str = "CHW"):
        """The same transform eagerly, on a numpy image (returns numpy float32)."""
        return self(np.asarray(image), index, layout, out_layout).numpy()


def _check_layout(layout):
    if layout not in ("HWC", "CHW"):
        raise ValueError(f"layout must be 'HWC' or 'CHW', got {layout!r}")


def _read_mean(path: str) -> np.ndarray:
    """A mean.binaryproto as a float32 C x H x W array."""
    if not os.path.isfile(path):
        raise NetError(f"mean_file '{path}' not found (Caffe reads it relative to the working "
                       f"directory, here {os.getcwd()})")
    try:
        mean = np.asarray(read_blob(path), np.float32)
    except CaffemodelError:
        raise
    except Exception as exc:  # noqa: BLE001 - report any unreadable file the same way
        raise CaffemodelError(f"cannot read the mean file: {exc}", path) from None
    if mean.ndim == 4:
        mean = mean[0]
    if mean.ndim != 3 or mean.size == 0:
        raise CaffemodelError(f"a mean file must be a 1 x C x H x W blob, got shape "
                              f"{mean.shape}", path)
    return np.ascontiguousarray(mean)
