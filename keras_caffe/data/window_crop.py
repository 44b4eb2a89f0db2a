"""The crop of Caffe's WindowData layer: one window of an image, warped to the crop size.

``WindowDataLayer::load_batch`` crops each sampled window out of its (B,G,R, uint8) image
and writes it into a ``crop_size x crop_size`` square of the batch:

* **warp** (``context_pad`` 0): the window's pixels ``x1..x2, y1..y2`` (inclusive) are
  resized to the whole square with ``cv::resize(..., INTER_LINEAR)``.
* **context / square**: the window is grown about its centre by
  ``crop_size / (crop_size - 2 * context_pad)`` (``square``: first made square on its longer
  side), corners rounded half away from zero.  The part of the grown box inside the image
  is resized by the scale that would warp the whole grown box to the square, and placed
  where the grown box's outside part leaves room: the part beyond the image stays 0 (the
  mean, once the mean is subtracted).  All of it in float32, as Caffe's ``Dtype``.
* **mirror**: the resized pixels are flipped, and the left padding becomes the right one's.

Then ``out = (pixel - mean) * scale`` in float32 at the covered positions only, the mean
being ``mean_value`` per channel or the ``mean_file`` image at ``(mean_off + row, mean_off +
col)`` with ``mean_off = (mean_width - crop_size) / 2``.

pycaffe's ``Detector.crop`` (``python/caffe/detector.py``) grows windows the same way but is
not the same function: its windows are ``(ymin, xmin, ymax, xmax)`` with the maxima
exclusive in the plain crop and inclusive in the grown one, it clips the grown box to
``[0, H]`` instead of ``[0, H - 1]`` yet slices it exclusively (one row or column fewer
than the size it computes from when the box leaves the image), rounds half to even (numpy)
in float64, resizes float images with ``caffe.io.resize_image``, and has no square mode nor
mirror.  ``keras_caffe.pycaffe.Detector`` keeps pycaffe's numbers.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import NetError
from .formats.resize import opencv_linear_u8

__all__ = ["WindowGeometry", "window_geometry", "crop_window", "write_window", "c_round"]

_F = np.float32


def c_round(value) -> int:
    """C's ``round``: half away from zero (numpy's ``round`` goes to even)."""
    value = float(value)
    return int(np.copysign(np.floor(abs(value) + 0.5), value))


@dataclasses.dataclass(frozen=True)
class WindowGeometry:
    """Where a window's pixels go: ``roi`` = (x1, y1, x2, y2) of the image (inclusive) is
    resized to ``size`` = (height, width) and written at ``pad`` = (row, column) of the
    ``crop_size`` square (mirrored: after the flip)."""

    roi: tuple[int, int, int, int]
    size: tuple[int, int]
    pad: tuple[int, int]


def window_geometry(box, rows: int, cols: int, crop_size: int, context_pad: int = 0,
                    square: bool = False, mirror: bool = False) -> WindowGeometry:
    """The geometry ``WindowDataLayer::load_batch`` computes for window ``box`` = (x1, y1, x2,
    y2) of a ``rows x cols`` image.  Raises NetError (no file or layer named: the caller
    knows them) for a window that leaves nothing of the image to crop."""
    x1, y1, x2, y2 = (int(v) for v in box)
    size_h = size_w = crop_size
    pad_h = pad_w = 0
    if context_pad > 0 or square:
        context_scale = _F(crop_size) / _F(crop_size - 2 * context_pad)
        half_h = _F((y2 - y1 + 1) / 2.0)
        half_w = _F((x2 - x1 + 1) / 2.0)
        center_x = _F(x1) + half_w
        center_y = _F(y1) + half_h
        if square:
            if half_h > half_w:
                half_w = half_h
            else:
                half_h = half_w
        x1 = c_round(center_x - half_w * context_scale)
        x2 = c_round(center_x + half_w * context_scale)
        y1 = c_round(center_y - half_h * context_scale)
        y2 = c_round(center_y + half_h * context_scale)
        unclipped_h, unclipped_w = y2 - y1 + 1, x2 - x1 + 1
        pad_x1, pad_y1 = max(0, -x1), max(0, -y1)
        pad_x2, pad_y2 = max(0, x2 - cols + 1), max(0, y2 - rows + 1)
        x1, x2, y1, y2 = x1 + pad_x1, x2 - pad_x2, y1 + pad_y1, y2 - pad_y2
        if x1 > x2 or y1 > y2:
            raise NetError(f"the window, grown to x {x1 - pad_x1}..{x2 + pad_x2}, y "
                           f"{y1 - pad_y1}..{y2 + pad_y2} by context_pad (or made square), "
                           f"does not overlap the {cols} x {rows} (width x height) image "
                           "(Caffe's cv::Rect fails)")
        scale_x = _F(crop_size) / _F(unclipped_w)
        scale_y = _F(crop_size) / _F(unclipped_h)
        size_w = c_round(_F(x2 - x1 + 1) * scale_x)
        size_h = c_round(_F(y2 - y1 + 1) * scale_y)
        pad_x1, pad_x2 = c_round(_F(pad_x1) * scale_x), c_round(_F(pad_x2) * scale_x)
        pad_h = c_round(_F(pad_y1) * scale_y)
        pad_w = pad_x2 if mirror else pad_x1   # mirroring mirrors the padding too
        size_h = min(size_h, crop_size - pad_h)   # what rounding may push past the square
        size_w = min(size_w, crop_size - pad_w)
        if size_h <= 0 or size_w <= 0:
            raise NetError(f"the window leaves {max(size_h, 0)} x {max(size_w, 0)} pixels of "
                           f"the {crop_size} x {crop_size} crop to fill from the image (Caffe's "
                           "cv::resize fails)")
    else:
        if not (0 <= x1 <= x2 < cols and 0 <= y1 <= y2 < rows):
            raise NetError(f"the window x {x1}..{x2}, y {y1}..{y2} is not inside the {cols} x "
                           f"{rows} (width x height) image (Caffe's cv::Rect fails)")
    return WindowGeometry((x1, y1, x2, y2), (size_h, size_w), (pad_h, pad_w))


def crop_window(image: np.ndarray, geometry: WindowGeometry, mirror: bool) -> np.ndarray:
    """The window's pixels as Caffe writes them: the ``roi`` of an ``H x W x C`` uint8 image
    resized to ``size`` with OpenCV's INTER_LINEAR (bit-exact), flipped when ``mirror``."""
    x1, y1, x2, y2 = geometry.roi
    pixels = opencv_linear_u8(image[y1:y2 + 1, x1:x2 + 1], *geometry.size)
    return pixels[:, ::-1] if mirror else pixels


def write_window(out: np.ndarray, pixels: np.ndarray, geometry: WindowGeometry,
                 scale: np.float32, mean_values=None, mean=None, mean_off: int = 0) -> None:
    """Write ``(pixel - mean) * scale`` (float32) into ``out`` (``C x crop x crop``, zeros)
    at the geometry's place; ``mean``: the ``C x H x W`` mean file, read at ``mean_off``."""
    (h, w), (ph, pw) = geometry.size, geometry.pad
    values = pixels.transpose(2, 0, 1).astype(np.float32)
    if mean is not None:
        values -= mean[:, mean_off + ph:mean_off + ph + h, mean_off + pw:mean_off + pw + w]
    elif mean_values is not None:
        values -= np.asarray(mean_values, np.float32)[:, None, None]
    out[:, ph:ph + h, pw:pw + w] = values * np.float32(scale)
