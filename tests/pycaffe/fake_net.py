"""Test helpers for the pycaffe io/Classifier/Detector tests: a fake Net with a known
forward function (the tests build their classes from the mixins and :class:`FakeNet`), and
a PNG writer that needs neither PIL nor TensorFlow.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

def score(x):
    """(N, C): each channel's sum weighted by position (1, 2, ... in row order), so a crop
    taken from elsewhere or mirrored scores differently."""
    h, w = x.shape[2:]
    weights = np.arange(1, h * w + 1, dtype=np.float64).reshape(h, w)
    return np.einsum("nchw,hw->nc", x.astype(np.float64), weights).astype(np.float32)


class FakeBlob:
    def __init__(self, shape):
        self.data = np.zeros(shape, dtype=np.float32)


class FakeNet:
    """pycaffe's Net as far as Classifier and Detector use it: input ``data`` of
    ``input_shape``, output ``score`` = :func:`score` of the batch.  Keeps its constructor
    arguments and every batch it was fed."""

    input_shape = (1, 3, 6, 6)

    def __init__(self, model_file, pretrained_file, phase):
        self.init_args = (model_file, pretrained_file, phase)
        self.inputs = ["data"]
        self.outputs = ["score"]
        self.blobs = {"data": FakeBlob(self.input_shape)}
        self.batches = []

    def forward_all(self, **kwargs):
        assert list(kwargs) == ["data"], kwargs
        batch = kwargs["data"]
        assert batch.shape[1:] == self.input_shape[1:] and batch.dtype == np.float32
        self.batches.append(batch.copy())
        return {"score": score(batch)}


def write_png(path, pixels):
    """Write H,W (grey) or H,W,C (2 grey+alpha, 3 RGB, 4 RGBA) uint8/uint16 pixels as a PNG."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    h, w, c = pixels.shape
    size = pixels.dtype.itemsize
    rows = pixels.astype(f">u{size}").reshape(h, w * c)
    raw = b"".join(b"\x00" + row.tobytes() for row in rows)    # filter 0 on every row

    def chunk(tag, body):
        return (struct.pack(">I", len(body)) + tag + body
                + struct.pack(">I", zlib.crc32(tag + body)))

    header = struct.pack(">IIBBBBB", w, h, 8 * size, {1: 0, 2: 4, 3: 2, 4: 6}[c], 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
