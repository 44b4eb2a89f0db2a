"""Images for the classifier: file bytes decoded as ``caffe.io.load_image`` reads files (with
the web demo's EXIF turn and a size guard), and ``classify``'s inputs -- image files,
folders of them and ``.npy`` arrays, as ``python/classify.py`` takes them."""

from __future__ import annotations

import io
import os
import re

import numpy as np
import tensorflow as tf

from ..data.formats.datum import orientation
from ..pycaffe import io as caffe_io
from ..tools import demo_shapes
from .classification import ClassifyError

__all__ = ["decode_image", "image_size", "read_inputs", "png_bytes", "sample_images",
           "IMAGE_EXTENSIONS", "SAMPLE_SEED"]

#: What a folder's images are (the web demo's ALLOWED_IMAGE_EXTENSIONS).
IMAGE_EXTENSIONS = ("png", "bmp", "jpg", "jpe", "jpeg", "gif")
#: Seed of the sample drawings (the bundled net classifies each one right).
SAMPLE_SEED = 2


def png_bytes(image: np.ndarray) -> bytes:
    """An H,W,K image in [0, 1] (K = 1 or 3) as an 8-bit PNG file's bytes."""
    return tf.io.encode_png(np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)).numpy()


def sample_images(seed: int = SAMPLE_SEED) -> dict[str, bytes]:
    """One drawn shape per class of the bundled ShapesNet, as PNG bytes by class name."""
    rng = np.random.default_rng(seed)
    return {name: png_bytes(demo_shapes.draw(k, rng)[..., None] / 255.0)
            for k, name in enumerate(demo_shapes.CLASSES)}


def image_size(data: bytes) -> tuple[int, int] | None:
    """(height, width) from a PNG, GIF, BMP or JPEG header, None when unknown."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        return h, w
    if data[:4] == b"GIF8" and len(data) >= 10:
        return int.from_bytes(data[8:10], "little"), int.from_bytes(data[6:8], "little")
    if data[:2] == b"BM" and len(data) >= 26:
        w = int.from_bytes(data[18:22], "little", signed=True)
        h = int.from_bytes(data[22:26], "little", signed=True)
        return abs(h), abs(w)
    pos = 2
    while data[:2] == b"\xff\xd8" and pos + 9 <= len(data) and data[pos] == 0xFF:
        marker, length = data[pos + 1], int.from_bytes(data[pos + 2:pos + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return (int.from_bytes(data[pos + 5:pos + 7], "big"),
                    int.from_bytes(data[pos + 7:pos + 9], "big"))
        pos += 2 + length
    return None


_EXIF_TURNS = {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
               5: lambda a: a.transpose(1, 0, 2), 6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
               7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
               8: lambda a: a.transpose(1, 0, 2)[::-1]}


def decode_image(data: bytes, name: str, color: bool = True, exif: bool = False,
                 max_pixels: int | None = None) -> np.ndarray:
    """An image file's bytes as ``caffe.io.load_image`` reads the file (H,W,K float32 in
    [0, 1]); ``exif``: turn a JPEG by its EXIF orientation first, as the web demo's
    ``exifutil`` does; ``max_pixels``: refuse larger images before decoding them."""
    if not data:
        raise ClassifyError(f"{name}: the file is empty")
    size = image_size(data)
    if max_pixels is not None and size is not None and size[0] * size[1] > max_pixels:
        raise ClassifyError(f"{name}: the image is {size[1]}x{size[0]} pixels; at most "
                            f"{max_pixels:,} pixels are taken")
    try:
        img = caffe_io.load_image(io.BytesIO(data), color=color)
    except ValueError as exc:                   # TF's message, less its function name
        reason = re.sub(r"\{\{.*?\}\}\s*", "", str(exc))
        raise ClassifyError(f"{name}: not an image that can be read ({reason})") from None
    if exif and orientation(data) in _EXIF_TURNS:
        img = np.ascontiguousarray(_EXIF_TURNS[orientation(data)](img))
    return img


def _npy_images(path: str, channels: int) -> list[np.ndarray]:
    """A ``.npy`` of one H,W,K image or N of them; N,C,H,W arrays (Caffe's layout) are
    recognised by C matching the net's channels where K does not, and turned to N,H,W,C."""
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise ClassifyError(f"{path}: not a .npy array ({exc})") from None
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or not np.issubdtype(arr.dtype, np.number):
        raise ClassifyError(f"{path}: expected images as an H,W,K or N,H,W,K array "
                            f"(or N,C,H,W), got {arr.dtype} {arr.shape}")
    if arr.shape[-1] not in (1, channels) and arr.shape[1] in (1, channels):
        arr = arr.transpose(0, 2, 3, 1)
    if arr.shape[-1] not in (1, channels):
        raise ClassifyError(f"{path}: images of shape {arr.shape[1:]} have neither 1 nor "
                            f"{channels} channels first or last")
    return [np.asarray(a, dtype=np.float32) for a in arr]


def _folder(path: str, ext: str | None) -> list[str]:
    exts = (ext.lower().lstrip("."),) if ext else IMAGE_EXTENSIONS
    files = sorted(os.path.join(path, f) for f in os.listdir(path)
                   if f.rsplit(".", 1)[-1].lower() in exts and "." in f)
    if not files:
        raise ClassifyError(f"{path}: no images in the folder (looked for "
                            f"{', '.join('*.' + e for e in exts)})")
    return files


def read_inputs(paths, channels: int, ext: str | None = None, max_pixels=None):
    """``(name, H,W,K image)`` for each input: an image file, a folder (its files with an
    image extension, or ``ext``, sorted) or a ``.npy`` array (``name[i]`` per image); grey
    when the net has one channel."""
    for path in paths:
        if os.path.isdir(path):
            for f in _folder(path, ext):
                yield f, _file(f, channels, max_pixels)
        elif path.endswith(".npy"):
            if not os.path.isfile(path):
                raise ClassifyError(f"{path}: no such file")
            for i, img in enumerate(_npy_images(path, channels)):
                yield f"{path}[{i}]", img
        else:
            yield path, _file(path, channels, max_pixels)


def _file(path: str, channels: int, max_pixels) -> np.ndarray:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise ClassifyError(f"{path}: no such file or folder") from None
    except OSError as exc:
        raise ClassifyError(f"{path}: cannot be read ({exc.strerror})") from None
    return decode_image(data, path, color=channels != 1, max_pixels=max_pixels)
