"""Caffe's data transform, baked in front of an exported net.

With preprocessing the exported signature takes, for one input blob, raw images as Caffe's
readers produce them: ``N,H,W,C`` (one ``H,W,C`` picture per row -- OpenCV's order, *not*
the blob's ``C,H,W``), channels in **BGR** order (``rgb=True`` takes RGB and swaps them),
``uint8`` or ``float32`` pixel values (0..255).  The signature computes what Caffe's
``DataTransformer`` does in the TEST phase::

    x = image[:, h_off:h_off+crop_h, w_off:w_off+crop_w, :]   # centre crop, if crop_size
    x = (x - mean) * scale       # mean: per channel (mean_value) or per pixel (mean_file,
                                 #       cropped at the same offsets)

with ``h_off = (H - crop_h) // 2`` (likewise ``w_off``), then runs the net.  ``mirror`` is
random in Caffe and is not applied; SSD's ``resize_param`` is refused (resize first).
Images are the mean file's size when there is one (Caffe requires it), any size of at least
the crop with a crop, else the net input's size.  (pycaffe's ``caffe.io.load_image`` gives
RGB in [0, 1]: multiply by 255 and pass ``rgb=True``.)

The settings come from the ``transform_param`` of the net's data layer (``Data``,
``ImageData``, ...; the one the phase keeps), and any field given in :class:`Preprocess`
replaces that field; a deploy net without a data layer takes them all from
:class:`Preprocess` (the CLI's ``--mean-value``, ``--mean-file``, ``--scale``,
``--crop-size``).
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np

from ..graph import layout, types
from ..proto.binary import read_blob
from .common import ExportError

log = logging.getLogger(__name__)

IMAGE_DTYPES = ("float32", "uint8")


@dataclasses.dataclass(frozen=True)
class Preprocess:
    """What to bake in front of the net; ``None`` fields come from the data layer.

    ``blob``: the input blob the images feed (default: the data layer's first top, or the
    net's only 4-D input).  ``mean_value``: one value, or one per channel (BGR).
    ``mean_file``: a ``.binaryproto`` mean (``1,C,H,W``).  ``scale``: multiplies after the
    mean.  ``crop_size``: an int or ``(h, w)``, centre crop.  ``rgb``: images come in RGB.
    ``image_dtype``: ``"float32"`` or ``"uint8"``."""

    blob: str | None = None
    mean_value: tuple | None = None
    mean_file: str | None = None
    scale: float | None = None
    crop_size: int | tuple | None = None
    rgb: bool = False
    image_dtype: str = "float32"


@dataclasses.dataclass
class Transform:
    """A resolved preprocessing step, ready to trace."""

    blob: str
    channels: int
    crop: tuple[int, int] | None
    mean: np.ndarray | None      # (C,) or (H, W, C), float32
    scale: float
    rgb: bool
    image_dtype: str
    image_shape: tuple           # (None, H, W, C) of the raw images; None where free
    source: str                  # where the settings came from, for the manifest

    def __call__(self, image):
        """Raw ``N,H,W,C`` images -> the blob in our internal (``N,H,W,C``) layout."""
        import tensorflow as tf

        x = tf.cast(image, tf.float32)
        if self.rgb:
            x = tf.reverse(x, axis=[-1])
        mean = None if self.mean is None else tf.constant(self.mean, tf.float32)
        if self.crop is not None:
            ch, cw = self.crop
            shape = tf.shape(x)
            h_off, w_off = (shape[1] - ch) // 2, (shape[2] - cw) // 2
            x = x[:, h_off:h_off + ch, w_off:w_off + cw, :]
            # A reshape gives the crop its static size (tf.ensure_shape has no TFLite op).
            x = tf.reshape(x, [-1, ch, cw, self.channels])
            if mean is not None and self.mean.ndim == 3:
                mean = mean[h_off:h_off + ch, w_off:w_off + cw, :]
        if mean is not None:
            x = x - mean
        if self.scale != 1.0:
            x = x * tf.constant(self.scale, tf.float32)
        return x

    def describe(self) -> dict:
        return {
            "blob": self.blob, "image_layout": "NHWC",
            "channel_order": "RGB" if self.rgb else "BGR", "image_dtype": self.image_dtype,
            "image_shape": list(self.image_shape),
            "crop": list(self.crop) if self.crop else None,
            "mean": None if self.mean is None else (
                self.mean.tolist() if self.mean.ndim == 1 else f"per pixel {self.mean.shape}"),
            "scale": self.scale,
            "formula": "((image[centre crop] - mean) * scale), channels BGR",
            "source": self.source,
        }


def resolve(cnet, options: Preprocess | bool) -> Transform:
    """Combine the net's ``transform_param`` with ``options`` into a :class:`Transform`."""
    opts = options if isinstance(options, Preprocess) else Preprocess()
    if opts.image_dtype not in IMAGE_DTYPES:
        raise ExportError(f"image_dtype must be one of {IMAGE_DTYPES}, got {opts.image_dtype!r}")
    node = _data_layer(cnet)
    param = node.param.transform_param if node is not None else None
    blob = opts.blob or (node.tops[0].name if node is not None else _only_image_input(cnet))
    if blob not in cnet.inputs:
        raise ExportError(f"cannot preprocess '{blob}': it is not an input blob of the net "
                          f"(its inputs: {list(cnet.inputs)})")
    caffe_shape = _caffe_input_shape(cnet, blob)
    if len(caffe_shape) != 4:
        raise ExportError(f"cannot preprocess '{blob}': images feed 4-D blobs (N,C,H,W), and "
                          f"it has shape {tuple(caffe_shape)}")
    channels = caffe_shape[1]
    if opts.rgb and channels != 3:
        raise ExportError(f"rgb=True swaps 3 channels, and '{blob}' has {channels}")
    given = any(v is not None for v in (opts.mean_value, opts.mean_file, opts.scale,
                                         opts.crop_size))
    if param is None and not given and not opts.rgb:
        raise ExportError("the net has no data layer with a transform_param to bake in; give "
                          "the transform (--mean-value / --mean-file / --scale / --crop-size)")
    if param is not None:
        _check_supported(node)

    mean_value = opts.mean_value
    mean_file = opts.mean_file
    if mean_value is None and mean_file is None and param is not None:
        mean_value = tuple(param.mean_value) or None
        mean_file = param.mean_file or None
    if mean_value is not None and mean_file is not None:
        raise ExportError("give mean_value or mean_file, not both (Caffe refuses both too)")
    scale = float(opts.scale if opts.scale is not None else (param.scale if param is not None
                                                             else 1.0))
    crop = _crop(opts.crop_size, param)

    mean = None
    image_hw = [caffe_shape[2], caffe_shape[3]] if crop is None else [None, None]
    if mean_value is not None:
        values = [float(v) for v in np.ravel(mean_value)]
        if len(values) not in (1, channels):
            raise ExportError(f"mean_value has {len(values)} values; '{blob}' has {channels} "
                              "channels (give 1 or one per channel)")
        mean = np.asarray(values * channels if len(values) == 1 else values, np.float32)
    elif mean_file is not None:
        mean = _read_mean(mean_file, channels, cnet.graph.path)
        image_hw = list(mean.shape[:2])  # Caffe requires images of the mean's size
        if crop is not None and (crop[0] > image_hw[0] or crop[1] > image_hw[1]):
            raise ExportError(f"crop {crop} is larger than the mean file's {tuple(image_hw)}")
    if crop is None and mean is not None and mean.ndim == 3:
        net_hw = caffe_shape[2:]
        if any(n is not None and n != m for n, m in zip(net_hw, image_hw)):
            raise ExportError(f"the mean file is {tuple(image_hw)} and '{blob}' is "
                              f"{tuple(net_hw)} without a crop")
    if crop is not None:
        net_hw = caffe_shape[2:]
        if any(n is not None and n != c for n, c in zip(net_hw, crop)):
            raise ExportError(f"crop {crop} does not give '{blob}' its size {tuple(net_hw)}")
    source = (f"transform_param of layer '{node.name}'" if param is not None else "options")
    if param is not None and given:
        source += " with options"
    return Transform(blob, channels, crop, mean, scale, opts.rgb, opts.image_dtype,
                     (None, *image_hw, channels), source)


def _data_layer(cnet):
    for node in cnet.graph.input_layers:
        if node.param.HasField("transform_param"):
            return node
    return None


def _only_image_input(cnet) -> str:
    four_d = [n for n in cnet.inputs if len(_caffe_input_shape(cnet, n)) == 4]
    if len(four_d) != 1:
        raise ExportError("say which input blob the images feed (Preprocess(blob=...), "
                          f"--preprocess-blob); 4-D inputs: {four_d}")
    return four_d[0]


def _caffe_input_shape(cnet, name: str) -> tuple:
    shape = tuple(cnet.inputs[name].shape)
    return shape if cnet.input_layout == "NCHW" else layout.to_caffe_shape(shape)


def _crop(crop_size, param) -> tuple[int, int] | None:
    if crop_size is not None:
        h, w = (crop_size, crop_size) if np.ndim(crop_size) == 0 else tuple(crop_size)
    elif param is not None and (param.crop_h or param.crop_w):
        h, w = param.crop_h or param.crop_size, param.crop_w or param.crop_size
    elif param is not None and param.crop_size:
        h = w = param.crop_size
    else:
        return None
    if int(h) <= 0 or int(w) <= 0:
        return None
    return int(h), int(w)


def _check_supported(node) -> None:
    param, layer = node.param.transform_param, node.name
    if param.HasField("resize_param"):
        raise ExportError(f"layer '{layer}': transform_param.resize_param (SSD) is not baked in; "
                          "resize the images yourself and give the transform as options")
    if param.mirror:
        log.warning("layer '%s': transform_param.mirror is random in Caffe and is not exported",
                    layer)
    for field in ("noise_param", "distort_param", "expand_param"):
        if param.HasField(field):
            log.warning("layer '%s': transform_param.%s (a training augmentation) is not "
                        "exported", layer, field)
    reader = types.get(node.type).reader
    resized = getattr(reader, "resized_to", lambda _: None)(node.param)
    if resized:
        log.warning("layer '%s': %s resizes images to %dx%d before the transform; "
                    "resize them yourself before feeding the export", layer, node.type, *resized)


def _read_mean(path: str, channels: int, net_path: str | None) -> np.ndarray:
    """A binaryproto mean as an ``H,W,C`` float32 array.  Caffe reads the path relative to
    the working directory; the prototxt's folder is tried next."""
    candidates = [path]
    if net_path and not os.path.isabs(path):
        candidates.append(os.path.join(os.path.dirname(os.path.abspath(net_path)), path))
    found = next((p for p in candidates if os.path.isfile(p)), None)
    if found is None:
        raise ExportError(f"mean file '{path}' not found (looked in: {', '.join(candidates)})")
    blob = np.asarray(read_blob(found), np.float32)
    if blob.ndim == 4 and blob.shape[0] == 1:
        blob = blob[0]
    if blob.ndim != 3:
        raise ExportError(f"mean file '{found}' holds a blob of shape {blob.shape}; want "
                          "1,C,H,W or C,H,W")
    if blob.shape[0] != channels:
        raise ExportError(f"mean file '{found}' has {blob.shape[0]} channels, the net's input "
                          f"{channels}")
    return layout.to_internal_array(blob[None])[0]
