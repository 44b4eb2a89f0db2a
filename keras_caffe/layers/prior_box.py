"""SSD's PriorBox layer."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from keras_caffe.layers._utils import canonical_axes, check_bool, check_int_tuple, check_number


def _numbers(value, name, positive=True) -> tuple[float, ...]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = (value,)
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"`{name}` must be a sequence of numbers, got {name}={value!r}.")
    out = tuple(check_number(v, name) for v in value)
    if positive and any(v <= 0 for v in out):
        raise ValueError(f"`{name}` values must be > 0, got {name}={value!r}.")
    return out


def _pair(value, name):
    if value is None:
        return None
    pair = _numbers(value, name)
    if len(pair) != 2:
        raise ValueError(f"`{name}` must be (height, width), got {name}={value!r}.")
    return pair


def prior_aspect_ratios(aspect_ratios, flip: bool) -> list[float]:
    """SSD's list: 1 first, then each new ratio (and its inverse with `flip`), float32."""
    ratios = [1.0]
    for ar in aspect_ratios:
        ar = float(np.float32(ar))
        if any(abs(ar - r) < 1e-6 for r in ratios):
            continue
        ratios.append(ar)
        if flip:
            ratios.append(float(np.float32(1.0 / ar)))
    return ratios


def prior_box_sizes(min_sizes, max_sizes, aspect_ratios, flip: bool) -> list[tuple[float, float]]:
    """(width, height) of every prior of one cell, in SSD's order and float32 values.

    For each min size (SSD's ``PriorBoxLayer::Forward_cpu``): the square `min`, then (with
    max sizes) the square `sqrt(min * max)`, then one box per aspect ratio other than 1,
    of width `min * sqrt(ar)` and height `min / sqrt(ar)` -- sized from the min size,
    whether or not a max size is given. SSD stores min and max sizes in an int here, so
    fractional sizes are truncated."""
    ratios = prior_aspect_ratios(aspect_ratios, flip)
    f32 = np.float32
    boxes = []
    for s, min_size in enumerate(min_sizes):
        lo = int(min_size)
        boxes.append((float(f32(lo)), float(f32(lo))))
        if max_sizes:
            side = math.sqrt(lo * int(max_sizes[s]))
            boxes.append((float(f32(side)), float(f32(side))))
        for ar in ratios:
            if abs(ar - 1.0) < 1e-6:
                continue
            boxes.append((float(f32(lo * math.sqrt(ar))), float(f32(lo / math.sqrt(ar)))))
    return boxes


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffePriorBox(keras.layers.Layer):
    """SSD's `PriorBox` layer: default boxes for every cell of a feature map.

    `call([feature, image])` (or `call(feature)` when `img_size` is given) reads only
    the sizes of its inputs along `axes`. Cell `(h, w)` has centre
    `((w + offset) * step_w, (h + offset) * step_h)`, where the step defaults to
    `img / feature` (float32); each of its priors (see `prior_box_sizes`) gives
    `(xmin, ymin, xmax, ymax)` = centre -/+ half the box, divided by the image size.
    With `clip` they are clipped to [0, 1].

    The output has Caffe's shape `(1, 2, H * W * num_priors * 4)` (no batch axis: the
    priors are the same for every image): row 0 holds the boxes in (h, w, prior,
    coordinate) order, row 1 the variances (one value for all, or four, one per
    coordinate).

    Args:
        min_sizes: box sizes (> 0), one or more.
        max_sizes: none, or one per min size (each larger than it).
        aspect_ratios: extra aspect ratios; 1 is always used first, repeats are skipped.
        flip: also use `1 / ar` for each ratio, default True.
        clip: clip the boxes to [0, 1], default False.
        variances: one or four values > 0, default `(0.1,)`.
        img_size: `(height, width)` of the image, or None to read it from the second
            input.
        step: `(step_h, step_w)`, or None for `image / feature`.
        offset: cell centre offset, default 0.5.
        axes: internal (height, width) axes of both inputs, default `(1, 2)`.

    Example:

    >>> CaffePriorBox(min_sizes=(30,), img_size=(300, 300))(np.zeros((1, 5, 5, 8))).shape
    (1, 2, 100)
    """

    def __init__(self, min_sizes, max_sizes=(), aspect_ratios=(), flip=True, clip=False,
                 variances=(0.1,), img_size=None, step=None, offset=0.5, axes=(1, 2),
                 **kwargs):
        super().__init__(**kwargs)
        self.min_sizes = _numbers(min_sizes, "min_sizes")
        self.max_sizes = _numbers(max_sizes, "max_sizes")
        self.aspect_ratios = _numbers(aspect_ratios, "aspect_ratios")
        self.flip = check_bool(flip, "flip")
        self.clip = check_bool(clip, "clip")
        self.variances = _numbers(variances, "variances")
        self.img_size = _pair(img_size, "img_size")
        self.step = _pair(step, "step")
        self.offset = check_number(offset, "offset")
        self.axes = check_int_tuple(axes, "axes", unique=True)
        if not self.min_sizes:
            raise ValueError("`min_sizes` must hold at least one size.")
        if self.max_sizes:
            if len(self.max_sizes) != len(self.min_sizes):
                raise ValueError(f"`max_sizes` needs one value per min size, got "
                                 f"max_sizes={max_sizes!r} for min_sizes={min_sizes!r}.")
            if any(hi <= lo for lo, hi in zip(self.min_sizes, self.max_sizes)):
                raise ValueError(f"each max size must exceed its min size, got "
                                 f"min_sizes={min_sizes!r}, max_sizes={max_sizes!r}.")
        if len(self.variances) not in (1, 4):
            raise ValueError(f"`variances` must hold 1 or 4 values, got variances={variances!r}.")
        if len(self.axes) != 2:
            raise ValueError(f"`axes` must name the (height, width) axes, got axes={axes!r}.")
        self._boxes = prior_box_sizes(self.min_sizes, self.max_sizes, self.aspect_ratios,
                                      self.flip)

    @property
    def num_priors(self) -> int:
        return len(self._boxes)

    def _split(self, input_shape):
        two = (isinstance(input_shape, (list, tuple)) and len(input_shape) == 2
               and isinstance(input_shape[0], (list, tuple)))
        feature = tuple(input_shape[0]) if two else tuple(input_shape)
        if not two and self.img_size is None:
            raise ValueError("CaffePriorBox needs the image as a second input when `img_size` "
                             "is not given.")
        return feature, canonical_axes(self.axes, len(feature))

    def build(self, input_shape):
        self._split(input_shape)

    def call(self, inputs):
        two = isinstance(inputs, (list, tuple))
        feature = inputs[0] if two else inputs
        _, (ah, aw) = self._split([tuple(t.shape) for t in inputs] if two else tuple(feature.shape))
        f32, f64 = "float32", "float64"
        height, width = ops.shape(feature)[ah], ops.shape(feature)[aw]
        if self.img_size is not None:
            img_h, img_w = (ops.cast(v, f32) for v in self.img_size)
        else:
            image_shape = ops.shape(inputs[1])
            img_h, img_w = ops.cast(image_shape[ah], f32), ops.cast(image_shape[aw], f32)
        if self.step is not None:
            step_h, step_w = (ops.cast(v, f32) for v in self.step)
        else:
            step_h, step_w = img_h / ops.cast(height, f32), img_w / ops.cast(width, f32)
        # Centres in float32, box corners in float64 rounded once to float32, as SSD.
        cx = ops.cast((ops.cast(ops.arange(width), f32) + self.offset) * step_w, f64)
        cy = ops.cast((ops.cast(ops.arange(height), f32) + self.offset) * step_h, f64)
        half = np.asarray(self._boxes, np.float64) / 2.0
        half_w = ops.convert_to_tensor(half[:, 0])[None, None, :]
        half_h = ops.convert_to_tensor(half[:, 1])[None, None, :]
        img_w64, img_h64 = ops.cast(img_w, f64), ops.cast(img_h, f64)
        cx, cy = cx[None, :, None], cy[:, None, None]
        shape = (height, width, self.num_priors)
        corners = [(cx - half_w) / img_w64, (cy - half_h) / img_h64,
                   (cx + half_w) / img_w64, (cy + half_h) / img_h64]
        boxes = ops.stack([ops.broadcast_to(c, shape) for c in corners], axis=-1)
        boxes = ops.reshape(ops.cast(boxes, f32), (-1,))
        if self.clip:
            boxes = ops.clip(boxes, 0.0, 1.0)
        variances = ops.convert_to_tensor(np.asarray(self.variances, np.float32))
        if len(self.variances) == 1:
            variances = ops.broadcast_to(variances, ops.shape(boxes))
        else:
            variances = ops.reshape(ops.broadcast_to(variances, shape + (4,)), (-1,))
        return ops.reshape(ops.stack([boxes, variances], axis=0), (1, 2, -1))

    def compute_output_shape(self, input_shape):
        feature, (ah, aw) = self._split(input_shape)
        h, w = feature[ah], feature[aw]
        size = None if h is None or w is None else h * w * self.num_priors * 4
        return (1, 2, size)

    def get_config(self):
        config = super().get_config()
        config.update({
            "min_sizes": list(self.min_sizes),
            "max_sizes": list(self.max_sizes),
            "aspect_ratios": list(self.aspect_ratios),
            "flip": self.flip,
            "clip": self.clip,
            "variances": list(self.variances),
            "img_size": None if self.img_size is None else list(self.img_size),
            "step": None if self.step is None else list(self.step),
            "offset": self.offset,
            "axes": list(self.axes),
        })
        return config
