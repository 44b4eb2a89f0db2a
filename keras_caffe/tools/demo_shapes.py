"""Drawn-shape images (circle, square, triangle, cross) for the bundled demo net.

Made procedurally so the project ships a real classification task without any download.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from ..fileio import atomic_path

CLASSES = ("circle", "square", "triangle", "cross")
SIZE = 28


def draw(kind: int, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """One grey image (H, W) in [0, 255] with a shape of class ``kind`` and some noise."""
    return draw_with_mask(kind, rng, size)[0]


def draw_with_mask(kind: int, rng: np.random.Generator,
                   size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """``draw``'s image (from the same draws of ``rng``) and the shape's boolean mask (H, W),
    for segmentation labels."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cy, cx = rng.uniform(size * 0.35, size * 0.65, 2)
    r = rng.uniform(size * 0.18, size * 0.32)
    angle = rng.uniform(0, np.pi / 2)
    dy, dx = yy - cy, xx - cx
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    if kind == 0:
        mask = dx ** 2 + dy ** 2 <= r ** 2
    elif kind == 1:
        mask = (np.abs(u) <= r * 0.8) & (np.abs(v) <= r * 0.8)
    elif kind == 2:
        mask = (v <= r * 0.6) & (v >= -r + 2 * np.abs(u) * 1.0)
    else:
        w = r * 0.28
        mask = ((np.abs(u) <= w) & (np.abs(v) <= r)) | ((np.abs(v) <= w) & (np.abs(u) <= r))
    fg, bg = rng.uniform(150, 255), rng.uniform(0, 80)
    img = np.where(mask, fg, bg) + rng.normal(0, 12, (size, size))
    return np.clip(img, 0, 255).astype(np.float32), mask


def make_batch(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images as a Caffe blob (N, 1, 28, 28) scaled to [0, 1], and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    images = np.stack([draw(int(k), rng) for k in labels])[:, None] / 255.0
    return images.astype(np.float32), labels.astype(np.int64)


def write_png(path: str, grey: np.ndarray) -> None:
    """An 8-bit greyscale PNG of an H,W array, written atomically; stdlib only, so the
    examples can save the images they draw without an imaging package."""
    grey = np.ascontiguousarray(np.clip(grey, 0, 255), dtype=np.uint8)
    height, width = grey.shape

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + row.tobytes() for row in grey)   # filter type 0 per row
    data = (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
