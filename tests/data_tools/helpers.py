"""Shared bits of the data-tool tests: a parser with the data commands, database readers."""

from __future__ import annotations

import argparse

import numpy as np

from keras_caffe.cli import compute_image_mean, convert_imageset
from keras_caffe.data.image_mean import iterate_db
from keras_caffe.proto import caffe_pb2


def run_cli(argv: list[str]) -> int:
    """Parse ``argv`` with the data subcommands (as keras-caffe's CLI does) and run it."""
    parser = argparse.ArgumentParser(prog="keras-caffe")
    sub = parser.add_subparsers(dest="command")
    convert_imageset.add_parser(sub)
    compute_image_mean.add_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


def records(db) -> list[tuple[bytes, bytes]]:
    """(key, serialized Datum) pairs in key order (LMDB or LevelDB, detected)."""
    return list(iterate_db(str(db)))


def datum(value: bytes) -> caffe_pb2.Datum:
    return caffe_pb2.Datum.FromString(value)


def write_png(path, bgr: np.ndarray) -> None:
    """Write an H x W x C BGR (or grey) uint8 array as PNG with TensorFlow."""
    import tensorflow as tf

    img = bgr[..., ::-1] if bgr.shape[-1] == 3 else bgr
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(np.ascontiguousarray(img)).numpy())


def pattern(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    """A smooth + noisy uint8 test image (BGR order by convention)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // max(w - 1, 1)), (y * 255 // max(h - 1, 1)),
                     ((x + y) * 7) % 256][:c] if c != 1 else [(x * 3 + y * 5) % 256], -1)
    noise = rng.integers(-20, 21, base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)
