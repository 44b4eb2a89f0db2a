"""Mutated data inputs: Datums, an LMDB of them with its net (and mean file), HDF5 files
with their list and net, an image list with its images and net.

Each ``*_case(rng, case, mutate)`` writes the input's files into ``case`` (with ``args.json``
naming the phase) and returns what it changed; ``mutate=False`` writes the clean input.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from . import datasets, mutate_binary, mutate_text

_NET_EDITS = ("number", "delete_tokens", "duplicate_tokens", "swap_fields", "byte_set",
              "truncate", "move_block")


def _phase(rng: random.Random, case: Path) -> str:
    phase = rng.choice(("test", "train"))
    (case / "args.json").write_text(json.dumps({"phase": phase}))
    return phase


def _net(rng: random.Random, case: Path, key: str, mutate: bool) -> str:
    text = datasets.DATA_NETS[key]
    what = ""
    if mutate:
        text, what = mutate_text.mutate(text, rng, only=_NET_EDITS)
    (case / "net.prototxt").write_bytes(text.encode("latin-1"))
    return what


def datum(rng: random.Random) -> tuple[bytes, str]:
    """A mutated serialized Datum: the message's bytes, or (for an encoded one) the image
    file inside a well-formed Datum."""
    kind = rng.choice(datasets.DATUM_KINDS)
    value = datasets.datum(kind, rng.randrange(5))
    if kind in ("png", "jpeg") and rng.random() < 0.35:
        message = datasets.caffe_pb2.Datum.FromString(value)
        if rng.random() < 0.15 and kind == "png":
            data, what = datasets.png_header(rng.choice((65535, 2**20, 2**31 - 1)),
                                             rng.choice((65535, 2**20, 2**31 - 1))), \
                "a PNG header claiming a huge image"
        else:
            data, what = mutate_binary.mutate(message.data, rng, protobuf=False)
        message.data = data
        return message.SerializeToString(), f"{kind} Datum, image file: {what}"
    if rng.random() < 0.15:   # fields of a well-formed Datum set to extremes
        message = datasets.caffe_pb2.Datum.FromString(value)
        field = rng.choice(("channels", "height", "width", "label"))
        number = rng.choice((0, -1, 1, 2**31 - 1, -2**31, 65536))
        setattr(message, field, number)
        if rng.random() < 0.3:
            message.encoded = not message.encoded
        return message.SerializeToString(), \
            f"{kind} Datum, {field} = {number}, encoded = {message.encoded}"
    value, what = mutate_binary.mutate(value, rng)
    return value, f"{kind} Datum: {what}"


# --------------------------------------------------------------------------- LMDB

def lmdb_case(rng: random.Random, case: Path, mutate: bool = True) -> str:
    kind = rng.choice(("raw", "float", "encoded")) if mutate else "raw"
    records = datasets.lmdb_records(kind)
    roll = rng.random() if mutate else 1.0
    net = "lmdb_mean" if 0.85 <= roll < 1.0 or (mutate and rng.random() < 0.3) else "lmdb_crop"
    mean = datasets.mean_blob()
    parts = [f"{kind} records, net {net}, phase {_phase(rng, case)}"]
    if roll < 0.45:
        for _ in range(rng.choice((1, 1, 1, 2))):
            i = rng.randrange(len(records))
            value, what = datum(rng) if rng.random() < 0.3 else \
                mutate_binary.mutate(records[i][1], rng)
            records[i] = (records[i][0], value)
            parts.append(f"record {i}: {what}")
    elif roll < 0.55:
        edit = rng.choice(("empty", "junk", "other shape", "nothing"))
        if edit == "empty":
            records = []
        elif edit == "junk":
            i = rng.randrange(len(records))
            junk = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 7, 300))))
            records[i] = (records[i][0], junk)
        elif edit == "other shape":
            i = rng.randrange(1, len(records))
            img = np.zeros((rng.choice((1, 3, 4)), rng.choice((1, 5, 30)),
                            rng.choice((1, 6, 40))), np.uint8)
            records[i] = (records[i][0], datasets.caffe_pb2.Datum(
                channels=img.shape[0], height=img.shape[1], width=img.shape[2],
                data=img.tobytes()).SerializeToString())
        else:
            records[0] = (records[0][0], b"")
        parts.append(f"database: {edit}")
    elif roll < 0.85:
        parts.append(f"net: {_net(rng, case, net, True)}")
    elif roll < 1.0:
        mean, what = mutate_binary.mutate(mean, rng)
        parts.append(f"mean file: {what}")
    if not (case / "net.prototxt").exists():
        _net(rng, case, net, False)
    datasets.write_lmdb(case / "db", records)
    (case / "mean.binaryproto").write_bytes(mean)
    return "; ".join(parts)


# --------------------------------------------------------------------------- HDF5

def _hdf5_edit(rng: random.Random, arrays: dict) -> str:
    """Change the datasets of one file the way a wrong or hostile file would differ."""
    name = rng.choice(("data", "label"))
    edit = rng.choice(("drop", "rename", "rows", "item shape", "strings", "complex", "bool",
                       "scalar", "no rows", "group", "nan", "many axes", "huge", "int64",
                       "one axis"))
    rows = len(arrays["data"])
    if edit == "drop":
        del arrays[name]
    elif edit == "rename":
        arrays[name + "_x"] = arrays.pop(name)
    elif edit == "rows":
        arrays[name] = arrays[name][:rng.randrange(rows)]
    elif edit == "item shape":
        arrays["data"] = np.zeros((rows, 3, 2, 4), np.float32)
    elif edit == "strings":
        arrays[name] = np.array([b"x"] * rows)
    elif edit == "complex":
        arrays[name] = arrays[name].astype(np.complex64)
    elif edit == "bool":
        arrays[name] = arrays[name] > 0
    elif edit == "scalar":
        arrays[name] = np.float32(1)
    elif edit == "no rows":
        arrays = {k: v[:0] for k, v in arrays.items()}
    elif edit == "group":
        arrays[name] = lambda f, n: f.create_group(n)
    elif edit == "nan":
        arrays[name] = np.full_like(arrays[name], rng.choice((np.nan, np.inf)))
    elif edit == "many axes":
        arrays["data"] = np.zeros((rows,) + (1,) * rng.choice((5, 31)), np.float32)
    elif edit == "huge":   # declared, never written: a small file that reads as gigabytes
        shape = rng.choice(((rows, 2**31), (2**31, 2**20), (2**40, 1), (2**28, 1), (rows, 2**26)))
        arrays[name] = lambda f, n: f.create_dataset(n, shape=shape, dtype="f4",
                                                     chunks=(1, min(1024, shape[1])))
    elif edit == "int64":
        arrays[name] = np.full(arrays[name].shape, 2**62, np.int64)
    else:
        arrays[name] = np.zeros((rows,), np.float32)
    return f"{edit} ({name})"


def hdf5_case(rng: random.Random, case: Path, mutate: bool = True) -> str:
    files = {"a.h5": datasets.hdf5_arrays(5, "a"), "b.h5": datasets.hdf5_arrays(3, "b")}
    listing = "a.h5\nb.h5\n"
    parts = [f"phase {_phase(rng, case)}"]
    roll = rng.random() if mutate else 1.0
    blind = None
    if roll < 0.35:
        which = rng.choice(sorted(files))
        parts.append(f"{which}: {_hdf5_edit(rng, files[which])}")
    elif roll < 0.5:
        blind = rng.choice(sorted(files))
    elif roll < 0.75:
        listing, what = mutate_text.mutate(listing, rng, only=("bit_flip", "byte_set",
                                                               "truncate", "delete_tokens",
                                                               "duplicate_tokens"))
        if rng.random() < 0.2:
            listing = rng.choice((".\n", "/\n", "a.h5 " * 2000, "net.prototxt\n", "db\n"))
            what = f"lists {listing[:20]!r}"
        parts.append(f"list: {what}")
    net_what = _net(rng, case, "hdf5", mutate and 0.75 <= roll)
    if net_what:
        parts.append(f"net: {net_what}")
    for name, arrays in files.items():
        datasets.write_hdf5(case / name, arrays)
    if blind is not None:
        data, what = mutate_binary.mutate((case / blind).read_bytes(), rng, protobuf=False)
        (case / blind).write_bytes(data)
        parts.append(f"{blind} bytes: {what}")
    (case / "list.txt").write_bytes(listing.encode("latin-1"))
    return "; ".join(parts)


# --------------------------------------------------------------------------- images

def image_case(rng: random.Random, case: Path, mutate: bool = True) -> str:
    images = datasets.image_files()
    names = sorted(images)
    listing = datasets.image_list(names)
    parts = [f"phase {_phase(rng, case)}"]
    roll = rng.random() if mutate else 1.0
    if roll < 0.3:
        listing, what = mutate_text.mutate(listing, rng, only=(
            "bit_flip", "byte_set", "truncate", "delete_tokens", "duplicate_tokens", "number",
            "swap_fields"))
        parts.append(f"list: {what}")
    elif roll < 0.6:
        name = rng.choice(names)
        images[name], what = mutate_binary.mutate(images[name], rng, protobuf=False)
        parts.append(f"{name}: {what}")
    elif roll < 0.7:
        name = rng.choice(names)
        edit = rng.choice(("missing", "directory", "empty", "huge header", "1x1", "text"))
        if edit == "missing":
            del images[name]
        elif edit == "directory":
            del images[name]
            (case / name).mkdir()
        elif edit == "empty":
            images[name] = b""
        elif edit == "huge header":
            images[name] = datasets.png_header(rng.choice((65535, 2**20, 2**31 - 1)), 65535)
        elif edit == "1x1":
            images[name] = datasets.png(datasets.image(name)[:1, :1])
        else:
            images[name] = b"name: 'not an image'\n"
        parts.append(f"{name}: {edit}")
    net_what = _net(rng, case, "image", mutate and roll >= 0.7)
    if net_what:
        parts.append(f"net: {net_what}")
    for name, data in images.items():
        (case / name).write_bytes(data)
    (case / "list.txt").write_bytes(listing.encode("latin-1"))
    return "; ".join(parts)
