"""Drawn-shape images (circle, square, triangle, cross) for the bundled demo net.

Made procedurally so the project ships a real classification task without any download.
"""

from __future__ import annotations

import numpy as np

CLASSES = ("circle", "square", "triangle", "cross")
SIZE = 28


def draw(kind: int, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """One grey image (H, W) in [0, 255] with a shape of class ``kind`` and some noise."""
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
    return np.clip(img, 0, 255).astype(np.float32)


def make_batch(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` images as a Caffe blob (N, 1, 28, 28) scaled to [0, 1], and their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    images = np.stack([draw(int(k), rng) for k in labels])[:, None] / 255.0
    return images.astype(np.float32), labels.astype(np.int64)
