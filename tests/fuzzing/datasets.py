"""Clean data inputs the data targets mutate: Datums (raw, float, PNG, JPEG), an LMDB of
them, HDF5 files and their list, image lists with their images, the data layers' nets.

Everything is a deterministic function of its arguments, so an input is rebuilt from the
campaign's seed and its index alone.
"""

from __future__ import annotations

import os
import struct
import zlib

import numpy as np

from keras_caffe.proto import caffe_pb2

from .workdir import outside_repository

DATA_NETS = {
    # Data over an LMDB: centre/random crop, mean values, mirror
    "lmdb_crop": 'name: "d" layer { name: "data" type: "Data" top: "data" top: "label"\n'
                 '  transform_param { crop_size: 6 mirror: true scale: 0.5\n'
                 '    mean_value: 104 mean_value: 117 mean_value: 123 }\n'
                 '  data_param { source: "db" batch_size: 4 backend: LMDB } }\n',
    # a mean image (binaryproto, full size) and force_color
    "lmdb_mean": 'name: "d" layer { name: "data" type: "Data" top: "data" top: "label"\n'
                 '  transform_param { mean_file: "mean.binaryproto" force_color: true }\n'
                 '  data_param { source: "db" batch_size: 3 backend: LMDB } }\n',
    "hdf5": 'name: "h" layer { name: "data" type: "HDF5Data" top: "data" top: "label"\n'
            '  hdf5_data_param { source: "list.txt" batch_size: 4 } }\n',
    "image": 'name: "i" layer { name: "data" type: "ImageData" top: "data" top: "label"\n'
             '  transform_param { crop_size: 5 mirror: true mean_value: 100 }\n'
             '  image_data_param { source: "list.txt" batch_size: 3 new_height: 7\n'
             '    new_width: 8 is_color: true } }\n',
}

SHAPE = (3, 8, 9)          # C, H, W of every raw record and image


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def image(name: str, channels: int = 3) -> np.ndarray:
    """An H x W x C uint8 image (BGR order does not matter to the fuzz)."""
    return _rng(name).integers(0, 256, SHAPE[1:] + (channels,), np.uint8)


def png(img: np.ndarray, bits: int = 8) -> bytes:
    """A PNG file of an H x W x C image (1 or 3 channels; 8 or 16 bits), written by hand."""
    h, w, c = img.shape
    kind = {1: 0, 3: 2}[c]
    pixels = img.astype(">u2") if bits == 16 else img
    raw = b"".join(b"\x00" + pixels[y].tobytes() for y in range(h))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + \
            struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", w, h, bits, kind, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def png_header(width: int, height: int) -> bytes:
    """A PNG claiming a huge size (a decoder's memory bomb), with valid CRCs."""
    small = png(image("bomb")[:1, :1])
    body = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    ihdr = struct.pack(">I", 13) + b"IHDR" + body + \
        struct.pack(">I", zlib.crc32(b"IHDR" + body) & 0xFFFFFFFF)
    return small[:8] + ihdr + small[8 + 25:]


def jpeg(img: np.ndarray) -> bytes:
    import tensorflow as tf

    return tf.io.encode_jpeg(img, quality=90).numpy()


def datum(kind: str, index: int = 0) -> bytes:
    """A serialized Datum: ``raw`` (3 x 8 x 9 uint8), ``float``, ``png`` or ``jpeg``."""
    img = image(f"datum{index}")
    if kind == "raw":
        chw = img.transpose(2, 0, 1)
        return caffe_pb2.Datum(channels=3, height=SHAPE[1], width=SHAPE[2], data=chw.tobytes(),
                               label=index % 3).SerializeToString()
    if kind == "float":
        d = caffe_pb2.Datum(channels=3, height=SHAPE[1], width=SHAPE[2], label=index % 3)
        d.float_data.extend((img.transpose(2, 0, 1).astype(np.float32) / 7).ravel().tolist())
        return d.SerializeToString()
    data = png(img) if kind == "png" else jpeg(img)
    return caffe_pb2.Datum(data=data, encoded=True, label=index % 3).SerializeToString()


DATUM_KINDS = ("raw", "float", "png", "jpeg")


def lmdb_records(kind: str, count: int = 7) -> list[tuple[bytes, bytes]]:
    """``count`` records of one kind (``encoded``: PNG and JPEG alternating)."""
    out = []
    for i in range(count):
        k = ("png", "jpeg")[i % 2] if kind == "encoded" else kind
        out.append((f"{i:08d}".encode(), datum(k, i)))
    return out


def write_lmdb(path, records) -> None:
    import lmdb

    env = lmdb.open(os.fspath(outside_repository(path, "an LMDB")), map_size=1 << 22,
                    subdir=True)
    try:
        with env.begin(write=True) as txn:
            for key, value in records:
                txn.put(key, value)
    finally:
        env.close()


def mean_blob() -> bytes:
    blob = caffe_pb2.BlobProto(num=1, channels=3, height=SHAPE[1], width=SHAPE[2])
    blob.data.extend((image("mean").transpose(2, 0, 1).astype(np.float32)).ravel().tolist())
    return blob.SerializeToString()


def hdf5_arrays(rows: int, name: str) -> dict[str, np.ndarray]:
    rng = _rng(name)
    return {"data": rng.standard_normal((rows, 2, 3, 4)).astype(np.float32),
            "label": rng.integers(0, 3, rows).astype(np.float32)}


def write_hdf5(path, arrays: dict, **options) -> None:
    """``arrays``: name -> array (or a callable that makes the item in an open h5py.File)."""
    import h5py

    with h5py.File(os.fspath(outside_repository(path, "an HDF5 file")), "w") as f:
        for name, value in arrays.items():
            if callable(value):
                value(f, name)
            else:
                f.create_dataset(name, data=value, **options)


def image_files() -> dict[str, bytes]:
    """The images of the clean image list: PNG colour, JPEG, grey PNG, 16-bit PNG."""
    return {"a.png": png(image("a")), "b.jpg": jpeg(image("b")),
            "c.png": png(image("c", 1)), "d.png": png(image("d"), bits=16)}


def image_list(names) -> str:
    return "".join(f"{n} {i % 3}\n" for i, n in enumerate(names))
