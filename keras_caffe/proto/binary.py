"""Binary .caffemodel / .binaryproto reading and writing, built for large files.

A VGG-16 caffemodel is ~550 MB.  Parsing it with protobuf holds the file and every
float as Python-visible copies, so :func:`read_weights` instead walks the protobuf
wire format over an ``mmap`` of the file and returns each blob as a read-only numpy
view of the mapped bytes (packed float data is already little-endian float32).
Only layer names, types and blobs are decoded; the rest of each layer is skipped.
:func:`write_caffemodel` (in :mod:`.binary_write`) streams blobs to a temporary file
beside the target and renames it into place, so a failure never leaves a half-written model.

Blob arrays keep Caffe's shape: ``shape`` when present, else the legacy
(num, channels, height, width) fields, so V1-era blobs come back 4-D (an
InnerProduct bias as (1, 1, 1, n)).
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, field

import numpy as np
from google.protobuf.message import DecodeError

from ..errors import CaffemodelError
from . import caffe_pb2
from .binary_write import _varint
from .binary_write import (blob_array, write_blob, write_caffemodel,  # noqa: F401  (re-exported)
                           write_net)
from .v1_types import V1_TYPE_NAMES

__all__ = ["LayerBlobs", "read_weights", "read_caffemodel", "read_net_skeleton", "read_blob",
           "write_caffemodel", "write_net", "write_blob", "V1_LAYER_TYPES"]


@dataclass
class LayerBlobs:
    """One layer's parameter blobs (float32, Caffe's shape, in Caffe's order)."""

    name: str
    type: str
    blobs: list[np.ndarray] = field(default_factory=list)


V1_LAYER_TYPES = {caffe_pb2.V1LayerParameter.LayerType.Value(k): v for k, v in V1_TYPE_NAMES.items()}

# V0 type strings (layers { layer { type: "conv" } }) -> current type strings.
_V0_TYPES = {
    "accuracy": "Accuracy", "bnll": "BNLL", "concat": "Concat", "conv": "Convolution",
    "data": "Data", "dropout": "Dropout", "euclidean_loss": "EuclideanLoss", "flatten": "Flatten",
    "hdf5_data": "HDF5Data", "hdf5_output": "HDF5Output", "im2col": "Im2col",
    "images": "ImageData", "infogain_loss": "InfogainLoss", "innerproduct": "InnerProduct",
    "lrn": "LRN", "multinomial_logistic_loss": "MultinomialLogisticLoss", "pool": "Pooling",
    "relu": "ReLU", "sigmoid": "Sigmoid", "softmax": "Softmax", "softmax_loss": "SoftmaxWithLoss",
    "split": "Split", "tanh": "TanH", "window_data": "WindowData",
}

_F4, _F8, _F2 = np.dtype("<f4"), np.dtype("<f8"), np.dtype("<f2")
_RAW_DTYPES = {caffe_pb2.FLOAT: _F4, caffe_pb2.DOUBLE: _F8, caffe_pb2.FLOAT16: _F2}
_TAG_FLOAT, _TAG_DOUBLE = (5 << 3) | 5, (8 << 3) | 1   # unpacked data / double_data
_SCAN = 1 << 20                                        # elements per unpacked-run scan
_PROTOBUF_LIMIT = 2 ** 31                              # bytes protobuf parses as one message


# --------------------------------------------------------------------------- reading

def read_weights(path) -> list[LayerBlobs]:
    """Every layer of a .caffemodel (current ``layer`` or legacy ``layers``), in file order.

    Blobs are read-only float32 views of the memory-mapped file where the file stores
    packed float32 (copy them to modify); other encodings are converted.
    """
    reader = _Reader(path)
    layers = []
    for num, wire, value in reader.fields(0, reader.size, "NetParameter"):
        if wire == 2 and num in (100, 2):
            layers.append(reader.layer(*value, legacy=num == 2))
    return layers


def read_caffemodel(path) -> caffe_pb2.NetParameter:
    """The whole NetParameter through protobuf (needs about twice the file in memory, and
    protobuf parses no message over 2 GB: :func:`read_net_skeleton` reads any size)."""
    reader = _Reader(path)
    if reader.size >= _PROTOBUF_LIMIT:   # protobuf would call it "corrupt": not tried
        read_weights(path)  # pinpoints the byte offset when the framing is broken
        raise CaffemodelError(f"the file is {reader.size} bytes, more than the 2 GB protobuf "
                              "parses as one message; read_weights and read_net_skeleton "
                              "read it", reader.path)
    net = caffe_pb2.NetParameter()
    try:
        net.ParseFromString(reader.buf)
    except DecodeError as exc:
        read_weights(path)  # pinpoints the byte offset when the framing is broken
        raise CaffemodelError(f"not a valid NetParameter ({exc})", reader.path) from None
    return net


def read_net_skeleton(path) -> tuple[caffe_pb2.NetParameter, list[memoryview]]:
    """A caffemodel's NetParameter with every blob left empty, and each blob's serialized
    BlobProto in file order (views of the mapped file).  Rewriting a model through these
    (:func:`~keras_caffe.proto.binary_write.write_net`, after an upgrade) never holds its
    floats, whatever its size: protobuf only ever parses the small skeleton."""
    reader = _Reader(path)
    blobs: list[memoryview] = []
    skeleton = bytearray()
    pos = 0
    while pos < reader.size:
        num, wire, value, end = reader.field(pos, reader.size, "NetParameter")
        if wire == 2 and num in (100, 2):   # a layer (V1: layers); keep its definition only
            body = reader.without_blobs(*value, legacy=num == 2, blobs=blobs)
            skeleton += _varint((num << 3) | 2) + _varint(len(body)) + body
        else:
            skeleton += reader.buf[pos:end]
        pos = end
    net = caffe_pb2.NetParameter()
    try:
        net.ParseFromString(bytes(skeleton))
    except DecodeError as exc:
        raise CaffemodelError(f"not a valid NetParameter ({exc})", reader.path) from None
    return net, blobs


def read_blob(path) -> np.ndarray:
    """The array of a .binaryproto BlobProto (e.g. a mean file, legacy 1x3xHxW)."""
    reader = _Reader(path)
    return reader.blob(0, reader.size, "BlobProto")


class _Reader:
    """Protobuf wire-format walker over a memory-mapped file; errors carry byte offsets."""

    def __init__(self, path):
        self.path = os.fspath(path)
        with open(self.path, "rb") as f:
            self.size = os.fstat(f.fileno()).st_size
            if self.size == 0:
                raise CaffemodelError("the file is empty; expected a binary Caffe message",
                                      self.path)
            self.buf = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))

    # -- errors
    def fail(self, pos: int, expected: str, where: str, end: int) -> CaffemodelError:
        """Something needed more bytes than the file or the enclosing message has."""
        limit = "the file ends" if end >= self.size else f"{where} ends"
        return self._error(f"corrupt or truncated at byte {pos}: expected {expected} in "
                           f"{where}, but {limit} at byte {end}")

    def corrupt(self, pos: int, problem: str, where: str) -> CaffemodelError:
        return self._error(f"corrupt at byte {pos}: {problem} in {where}")

    def _error(self, message: str) -> CaffemodelError:
        head = bytes(self.buf[:64])
        if all(32 <= b < 127 or b in (9, 10, 13) for b in head):
            message += " (the file looks like text: is it a prototxt?)"
        return CaffemodelError(message, self.path)

    # -- primitives
    def varint(self, pos: int, end: int, where: str) -> tuple[int, int]:
        buf, value, shift, start = self.buf, 0, 0, pos
        while True:
            if pos >= end:
                raise self.fail(start, "a varint", where, end)
            byte = buf[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value, pos
            shift += 7
            if shift >= 70:
                raise self.corrupt(start, "a varint longer than 10 bytes", where)

    def field(self, pos: int, end: int, where: str):
        """Decode the field at ``pos``: (number, wire type, value, next offset); value is
        an int for varints, (begin, end) for length-delimited fields, else an offset."""
        tag_pos = pos
        key, pos = self.varint(pos, end, where)
        num, wire = key >> 3, key & 7
        if num == 0:
            raise self.corrupt(tag_pos, "field number 0", where)
        if wire == 0:
            value, pos = self.varint(pos, end, where)
            return num, wire, value, pos
        if wire == 2:
            length, pos = self.varint(pos, end, where)
            if pos + length > end:
                raise self.fail(pos, f"{length} bytes of field {num}", where, end)
            return num, wire, (pos, pos + length), pos + length
        if wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > end:
                raise self.fail(pos, f"{width} bytes of field {num}", where, end)
            return num, wire, pos, pos + width
        raise self.corrupt(tag_pos, f"unsupported wire type {wire} (field {num})", where)

    def fields(self, start: int, end: int, where: str):
        """Yield (number, wire type, value) for each field in [start, end)."""
        pos = start
        while pos < end:
            num, wire, value, pos = self.field(pos, end, where)
            yield num, wire, value

    def text(self, span: tuple[int, int]) -> str:
        return bytes(self.buf[span[0]:span[1]]).decode("utf-8", "replace")

    # -- messages
    def layer(self, start: int, end: int, legacy: bool) -> LayerBlobs:
        """LayerParameter (name 1, type 2, blobs 7) or V1LayerParameter (name 4, enum
        type 5, blobs 6, nested V0 layer 1 with name 1, type 2, blobs 50)."""
        name, kind, spans, v0 = "", "", [], None
        name_no, type_no, blob_no = (4, 5, 6) if legacy else (1, 2, 7)
        where = f"layer at byte {start}"
        for num, wire, value in self.fields(start, end, where):
            if num == name_no and wire == 2:
                name = self.text(value)
            elif num == type_no and legacy and wire == 0:
                kind = V1_LAYER_TYPES.get(value, f"V1LayerType({value})")
            elif num == type_no and not legacy and wire == 2:
                kind = self.text(value)
            elif num == blob_no and wire == 2:
                spans.append(value)
            elif legacy and num == 1 and wire == 2:
                v0 = value
        if v0 is not None:
            v0_name, v0_type, v0_spans = self._v0(*v0)
            name, spans = name or v0_name, spans or v0_spans
            kind = kind or _V0_TYPES.get(v0_type, v0_type)
        blobs = [self.blob(a, b, f"blob {i} of layer '{name}'") for i, (a, b) in enumerate(spans)]
        return LayerBlobs(name, kind, blobs)

    def without_blobs(self, start: int, end: int, legacy: bool, blobs: list,
                      v0: bool = False) -> bytes:
        """A layer's bytes with each blob (LayerParameter 7, V1 6, V0 50) replaced by an
        empty one; the blobs' own bytes are appended to ``blobs``."""
        blob_no = 50 if v0 else 6 if legacy else 7
        out = bytearray()
        pos = start
        where = f"{'V0 ' if v0 else ''}layer at byte {start}"
        while pos < end:
            num, wire, value, after = self.field(pos, end, where)
            if wire == 2 and num == blob_no:
                blobs.append(self.buf[value[0]:value[1]])
                out += _varint((num << 3) | 2) + b"\x00"
            elif wire == 2 and legacy and not v0 and num == 1:   # V1's nested V0 layer
                body = self.without_blobs(*value, legacy=True, blobs=blobs, v0=True)
                out += _varint((num << 3) | 2) + _varint(len(body)) + body
            else:
                out += self.buf[pos:after]
            pos = after
        return bytes(out)

    def _v0(self, start: int, end: int):
        name, kind, spans = "", "", []
        for num, wire, value in self.fields(start, end, f"V0 layer at byte {start}"):
            if wire == 2 and num == 1:
                name = self.text(value)
            elif wire == 2 and num == 2:
                kind = self.text(value)
            elif wire == 2 and num == 50:
                spans.append(value)
        return name, kind, spans

    def blob(self, start: int, end: int, where: str) -> np.ndarray:
        """BlobProto -> float32 array in Caffe's shape."""
        buf = self.buf
        dims, legacy = None, {}
        floats, doubles, raw, raw_type = [], [], [], None
        pos = start
        while pos < end:
            if buf[pos] == _TAG_FLOAT:      # unpacked float data: a run of tag + 4 bytes
                arr, pos = self._unpacked(pos, end, _F4, where)
                floats.append(arr)
                continue
            if buf[pos] == _TAG_DOUBLE:
                arr, pos = self._unpacked(pos, end, _F8, where)
                doubles.append(arr)
                continue
            num, wire, value, pos = self.field(pos, end, where)
            if num in (1, 2, 3, 4) and wire == 0:
                legacy[num] = _signed(value)
            elif num == 7 and wire == 2:
                dims = (dims or []) + self._dims(*value, where)
            elif num == 5 and wire == 2:
                floats.append(self._packed(value, _F4, where))
            elif num == 8 and wire == 2:
                doubles.append(self._packed(value, _F8, where))
            elif num == 12 and wire == 2:
                raw.append(value)
            elif num == 10 and wire == 0:
                raw_type = value
        if dims is not None:
            shape = tuple(dims)
        elif legacy:
            shape = tuple(legacy.get(i, 0) for i in (1, 2, 3, 4))
        else:
            shape = ()
        if any(d < 0 for d in shape):
            raise CaffemodelError(f"{where} (byte {start}): negative dimension in shape {shape}",
                                  self.path)
        count = int(np.prod(shape, dtype=np.int64))
        if raw:
            data = self._raw(raw, raw_type, count, where, start)
        elif doubles:
            data = _join(doubles).astype(np.float32)
        else:
            data = _join(floats) if floats else np.zeros(0, np.float32)
        if data.size != count:
            raise CaffemodelError(f"{where} (byte {start}): {data.size} values for shape "
                                  f"{shape}, which holds {count}", self.path)
        return data.astype(np.float32, copy=False).reshape(shape)

    def _dims(self, start: int, end: int, where: str) -> list[int]:
        dims = []
        for num, wire, value in self.fields(start, end, f"shape of {where}"):
            if num == 1 and wire == 0:
                dims.append(_signed(value))
            elif num == 1 and wire == 2:
                pos, stop = value
                while pos < stop:
                    dim, pos = self.varint(pos, stop, f"shape of {where}")
                    dims.append(_signed(dim))
        return dims

    def _packed(self, span: tuple[int, int], dtype: np.dtype, where: str) -> np.ndarray:
        start, stop = span
        if (stop - start) % dtype.itemsize:
            raise self.corrupt(start, f"{stop - start} bytes of packed {dtype.name} data", where)
        return np.frombuffer(self.buf, dtype, (stop - start) // dtype.itemsize, start)

    def _unpacked(self, pos: int, end: int, dtype: np.dtype, where: str):
        """A run of one-byte tags each followed by one value, gathered without a Python
        loop per element (writers that ignore [packed = true] produce this)."""
        stride, tag, count = dtype.itemsize + 1, self.buf[pos], 0
        while True:
            window = min(_SCAN, (end - pos) // stride - count)
            if window <= 0:
                break
            first = pos + count * stride
            tags = np.frombuffer(self.buf, np.uint8, window * stride, first)[::stride]
            mismatch = np.flatnonzero(tags != tag)
            count += int(mismatch[0]) if mismatch.size else window
            if mismatch.size:
                break
        if count == 0:
            raise self.fail(pos + 1, f"{dtype.itemsize} bytes of a value", where, end)
        view = np.ndarray((count,), dtype, buffer=self.buf, offset=pos + 1, strides=(stride,))
        return view.copy(), pos + count * stride

    def _raw(self, spans, raw_type, count: int, where: str, start: int) -> np.ndarray:
        data = b"".join(bytes(self.buf[a:b]) for a, b in spans) if len(spans) > 1 else None
        size = sum(b - a for a, b in spans)
        dtype = _RAW_DTYPES.get(raw_type) if raw_type is not None else \
            {2 * count: _F2, 4 * count: _F4, 8 * count: _F8}.get(size)
        if dtype is None or size % dtype.itemsize:
            raise CaffemodelError(f"{where} (byte {start}): raw_data of {size} bytes with type "
                                  f"{raw_type} does not fit {count} values", self.path)
        if data is None:
            return np.frombuffer(self.buf, dtype, size // dtype.itemsize, spans[0][0]) \
                .astype(np.float32, copy=False)
        return np.frombuffer(data, dtype).astype(np.float32)


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _join(parts: list[np.ndarray]) -> np.ndarray:
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def release_pages(array: np.ndarray) -> None:
    """Let the kernel drop the mapped file pages behind a blob once it has been copied.

    Blobs from :func:`read_weights` are views of the mapped file, and each page read stays
    resident; after a layer's weights are assigned their pages are not needed (they would be
    read from disk again if touched).  A no-op for arrays not backed by a mapped file."""
    base = array
    while base is not None and not isinstance(base, memoryview):
        base = getattr(base, "base", None)
    if base is None or not isinstance(base.obj, mmap.mmap) or not hasattr(mmap, "MADV_DONTNEED"):
        return
    start = np.frombuffer(base, np.uint8).ctypes.data
    offset = array.__array_interface__["data"][0] - start
    page = mmap.PAGESIZE
    begin = offset // page * page
    length = offset + array.nbytes - begin
    if length > 0:
        try:
            base.obj.madvise(mmap.MADV_DONTNEED, begin, length)
        except (OSError, ValueError):
            pass
