"""``keras-caffe plot-filters``: a layer's learned filters as one image, as Caffe's
00-classification notebook draws them with ``vis_square``.

The weights are read straight from the caffemodel (:func:`keras_caffe.read_weights` maps the
file and returns each blob as a view, so a layer of a VGG-sized net is drawn in a moment); no
model is built, and the net prototxt is only parsed, for its layer names and types.

What is drawn, for the layer's first blob:

* Convolution / Deconvolution and every layer whose weights are 4-D ``(N, C, kh, kw)``: with
  ``C == 3`` one colour tile per filter (``kh x kw x 3``; Caffe models take BGR, so the
  channels are flipped to RGB unless ``channel_order="rgb"`` says the model takes RGB);
  otherwise one grey tile per filter and input channel (``N * C`` tiles, filter by filter),
  as the notebooks do for ``conv2``;
* InnerProduct ``(N, D)`` when each row is an image: ``D = k * k`` gives grey ``k x k`` tiles,
  ``D = 3 * k * k`` colour ones (the row read as C,H,W, the order Caffe flattens a bottom in);
  other sizes are refused, as a row of a flattened feature map is no picture.

The notebook's own picture shows conv1 without the BGR flip (its red and blue are swapped).
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..api import read_net, read_weights
from ..errors import CaffemodelError, NetError, PlotError, WeightError
from ..fileio import atomic_path
from ..proto.text import source_path

__all__ = ["vis_square", "filter_tiles", "layer_weights", "plot_filters", "write_image",
           "CHANNEL_ORDERS"]

CHANNEL_ORDERS = ("bgr", "rgb")
PLOT_EXTRA = "pip install 'keras-caffe[plot]'"


def vis_square(data, padding: int = 1) -> np.ndarray:
    """The notebooks' ``vis_square`` without the plotting: ``data`` (n, h, w) or (n, h, w, 3)
    normalised together to [0, 1] (all zeros when constant), each tile followed by
    ``padding`` rows and columns of ones (white), tiled row by row into a square of
    ``ceil(sqrt(n))`` tiles a side (missing tiles white).  Returns the float64 grid of shape
    ``(side * (h + padding), side * (w + padding))`` (``+ (3,)`` in colour)."""
    data = np.asarray(data, np.float64)
    if data.ndim not in (3, 4) or (data.ndim == 4 and data.shape[3] != 3) or not data.size:
        raise ValueError(f"vis_square takes (n, h, w) or (n, h, w, 3) data, got {data.shape}")
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    low, high = data.min(), data.max()
    data = (data - low) / (high - low) if high > low else np.zeros_like(data)
    n = int(math.ceil(math.sqrt(data.shape[0])))
    pad = ((0, n ** 2 - data.shape[0]), (0, padding), (0, padding)) + ((0, 0),) * (data.ndim - 3)
    data = np.pad(data, pad, mode="constant", constant_values=1)
    data = data.reshape((n, n) + data.shape[1:])
    data = data.transpose((0, 2, 1, 3) + tuple(range(4, data.ndim)))
    return data.reshape((n * data.shape[1], n * data.shape[3]) + data.shape[4:])


def filter_tiles(weights: np.ndarray, layer_type: str, channel_order: str = "bgr",
                 name: str | None = None) -> np.ndarray:
    """The tiles ``vis_square`` draws for a layer's weight blob: (n, h, w) grey or (n, h, w, 3)
    RGB (see the module's docstring)."""
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(f"channel_order must be one of {CHANNEL_ORDERS}, got {channel_order!r}")
    w = np.asarray(weights, np.float32)
    if layer_type == "InnerProduct":
        w = w.reshape(w.shape[-2:]) if w.ndim == 4 and w.shape[:2] == (1, 1) else w  # V1 blobs
        if w.ndim != 2:
            raise NetError(f"InnerProduct weights of shape {w.shape} are not N x D", layer=name)
        side = math.isqrt(w.shape[1])
        colour = math.isqrt(w.shape[1] // 3)
        if side * side == w.shape[1]:
            w = w.reshape(w.shape[0], 1, side, side)
        elif w.shape[1] % 3 == 0 and 3 * colour * colour == w.shape[1]:
            w = w.reshape(w.shape[0], 3, colour, colour)
        else:
            raise NetError(f"InnerProduct rows of {w.shape[1]} values are no image (plot-filters "
                           "draws rows of k*k or 3*k*k values)", layer=name)
    if w.ndim != 4:
        raise NetError(f"{layer_type} weights of shape {'x'.join(map(str, w.shape))} are not "
                       "filters (N x C x kh x kw)", layer=name)
    if w.shape[1] == 3:
        rgb = w.transpose(0, 2, 3, 1)
        return rgb[..., ::-1] if channel_order == "bgr" else rgb
    return w.reshape((-1,) + w.shape[2:])


def layer_weights(net, weights, layer: str) -> tuple[str, np.ndarray]:
    """``(type, first blob)`` of ``layer``: its type from the net (any phase), its blob from
    the caffemodel.  An unknown layer, or one without blobs, is an error listing the layers
    of the net that have weights."""
    if not os.path.isfile(weights):
        raise CaffemodelError("weights file not found", os.fspath(weights))
    param = read_net(net)
    types = {}
    for lp in param.layer:
        types.setdefault(lp.name, lp.type)
    stored = {}
    for lb in read_weights(weights):
        if lb.blobs:
            stored[lb.name] = lb.blobs   # a name given twice: the last copy, as Caffe loads it
    with_weights = [f"{n} ({t})" for n, t in types.items() if n in stored]
    listed = ", ".join(with_weights) or "none"
    if layer not in types:
        raise NetError(f"no layer '{layer}' in the net; layers with weights: {listed}",
                       path=source_path(net))
    if layer not in stored:
        raise WeightError(f"no weights in {os.fspath(weights)}; layers with weights: {listed}",
                          layer=layer)
    return types[layer], stored[layer][0]


def plot_filters(net, weights, layer: str, out, padding: int = 1, channel_order: str = "bgr",
                 zoom: int = 1) -> tuple[int, ...]:
    """Draw ``layer``'s filters into the image ``out`` (see :func:`write_image`); returns the
    image's shape (height, width[, 3])."""
    layer_type, blob = layer_weights(net, weights, layer)
    grid = vis_square(filter_tiles(blob, layer_type, channel_order, name=layer), padding)
    return write_image(grid, out, zoom)


def write_image(grid: np.ndarray, out, zoom: int = 1) -> tuple[int, ...]:
    """Write a [0, 1] grid (grey H,W or RGB H,W,3), each pixel ``zoom`` x ``zoom``, as 8-bit
    values ``round(255 * v)`` in the format ``out``'s extension names (PNG by default; any
    format matplotlib writes), atomically.  Needs matplotlib (the ``plot`` extra)."""
    try:
        from matplotlib import image
    except ImportError as exc:
        if not (exc.name or "matplotlib").startswith("matplotlib"):
            raise
        raise PlotError(f"plot-filters needs matplotlib: {PLOT_EXTRA}") from None
    if zoom < 1:
        raise ValueError(f"zoom must be >= 1, got {zoom}")
    pixels = np.round(np.clip(grid, 0, 1) * 255).astype(np.uint8)
    pixels = pixels.repeat(zoom, axis=0).repeat(zoom, axis=1)
    rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)
    ext = os.path.splitext(os.fspath(out))[1].lstrip(".").lower() or "png"
    with atomic_path(out, suffix="." + ext) as tmp:
        image.imsave(tmp, rgb, format=ext)
    return pixels.shape

