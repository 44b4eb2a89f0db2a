"""Writing .caffemodel / .binaryproto files as Caffe writes them, streaming the blobs.

:func:`write_caffemodel` streams blobs to a temporary file beside the target and renames it
into place, so a failure never leaves a half-written model; the bytes are Caffe's own for
the same net (fields in Caffe's order, packed float data before the shape).
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np
from google.protobuf.message import Message

from ..errors import NetError
from ..fileio import atomic_path
from . import caffe_pb2

_F4 = np.dtype("<f4")
_CHUNK = 1 << 18                                       # elements per converted write chunk


def write_caffemodel(path, layers, name: str = "",
                     net_param: caffe_pb2.NetParameter | None = None) -> None:
    """Write a V2 NetParameter: each layer's name, type and blobs (``shape`` + packed float).

    ``layers`` is an iterable of :class:`LayerBlobs` or ``(name, type, blobs)`` tuples, or a
    mapping ``name -> blobs``.  With ``net_param`` its layer definitions are written as they
    are and the blobs are filled in by layer name (an unmatched name is an error).  Blobs are
    streamed; the file appears under ``path`` only once complete.
    """
    header = caffe_pb2.NetParameter()
    if net_param is not None:
        if len(net_param.layers) and not len(net_param.layer):
            raise NetError("net_param uses the legacy V1 'layers' field; upgrade it first")
        header = _header(net_param)
    if name:
        header.name = name
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(header.SerializeToString())
        if net_param is None:
            for layer_name, kind, blobs in _entries(layers):
                definition = caffe_pb2.LayerParameter(name=layer_name)
                if kind:
                    definition.type = kind
                _write_layer(f, definition, blobs)
            return
        by_name = {layer_name: blobs for layer_name, _, blobs in _entries(layers)}
        unknown = sorted(set(by_name) - {layer.name for layer in net_param.layer})
        if unknown:
            raise NetError("net_param has no layer named " + ", ".join(map(repr, unknown))
                           + " to hold their weights")
        for layer in net_param.layer:
            blobs = by_name.get(layer.name)
            if blobs is None:
                blobs = [blob_array(b) for b in layer.blobs]
            _write_layer(f, layer, blobs)


def write_net(path, net: caffe_pb2.NetParameter, raw_blobs: Sequence) -> None:
    """Write ``net`` (current ``layer`` format) as a binary caffemodel whose blobs are
    ``raw_blobs``: serialized BlobProtos (bytes or memoryviews), one per blob of ``net``'s
    layers in order, copied as they are -- ``net``'s own blobs are placeholders, as
    :func:`keras_caffe.proto.binary.read_net_skeleton` leaves them.  Streamed, and atomic;
    no message over protobuf's 2 GB limit is ever built."""
    counts = [len(layer.blobs) for layer in net.layer]
    if len(net.layers) or sum(counts) != len(raw_blobs):
        raise NetError(f"write_net needs a net in the current format and one serialized blob "
                       f"per blob of its layers ({sum(counts)}), got {len(raw_blobs)}")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(_header(net).SerializeToString())
        start = 0
        for layer, count in zip(net.layer, counts):
            _write_layer(f, layer, list(raw_blobs[start:start + count]))
            start += count


def write_blob(path, array, shape: bool = True) -> None:
    """Write one array as a .binaryproto BlobProto (4-D arrays also get num/channels/
    height/width, which older mean-file readers expect).  ``shape=False`` leaves out the
    ``shape`` field, as Caffe's ``compute_image_mean`` does (4-D arrays only)."""
    array = np.asarray(array)
    legacy = b""
    if array.ndim == 4:
        legacy = caffe_pb2.BlobProto(num=array.shape[0], channels=array.shape[1],
                                     height=array.shape[2], width=array.shape[3]) \
            .SerializeToString()
    elif not shape:
        raise ValueError(f"a blob without a shape field is 4-D, got shape {array.shape}")
    before, data, after, _ = _blob_parts(array)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(legacy + before)
        _write_data(f, data)
        f.write(after if shape else b"")


def _header(net: caffe_pb2.NetParameter) -> caffe_pb2.NetParameter:
    """``net``'s fields but its layers (written one by one after it)."""
    header = caffe_pb2.NetParameter()
    for fd, value in net.ListFields():
        if fd.name not in ("layer", "layers"):
            _set(header, fd.name, value)
    return header


def _set(message, name: str, value) -> None:
    target = getattr(message, name)
    if hasattr(target, "extend"):
        target.extend(value)
    elif isinstance(value, Message):
        target.CopyFrom(value)
    else:
        setattr(message, name, value)


def blob_array(blob: caffe_pb2.BlobProto) -> np.ndarray:
    """An in-memory BlobProto (from net_param) as an array, via the streaming parser's rules."""
    data = np.asarray(blob.double_data if len(blob.double_data) else blob.data, np.float32)
    if blob.HasField("shape"):
        return data.reshape(tuple(blob.shape.dim))
    if any(blob.HasField(k) for k in ("num", "channels", "height", "width")):
        return data.reshape(blob.num, blob.channels, blob.height, blob.width)
    return data.reshape(())


def _entries(layers) -> Iterable[tuple[str, str, Sequence]]:
    """(name, type, blobs) from LayerBlobs-like objects, tuples, or a name -> blobs mapping."""
    if isinstance(layers, Mapping):
        return ((name, "", blobs) for name, blobs in layers.items())
    return ((item.name, getattr(item, "type", ""), item.blobs) if hasattr(item, "blobs")
            else tuple(item) for item in layers)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _blob_parts(blob) -> tuple[bytes, np.ndarray | bytes | memoryview, bytes, int]:
    """A BlobProto as (bytes before the float payload, the payload, bytes after it, total
    size), laid out as Caffe writes it: data (field 5, packed) before shape (field 7), and no
    shape at all for a scalar (which Caffe reads back as shape ()).  A serialized BlobProto
    (bytes, memoryview) is its own payload, written as it is."""
    if isinstance(blob, (bytes, memoryview)):
        return b"", blob, b"", len(blob)
    array = np.asarray(blob)
    shape = caffe_pb2.BlobShape(dim=array.shape).SerializeToString()
    before = b"\x2a" + _varint(4 * array.size) if array.size else b""
    after = b"\x3a" + _varint(len(shape)) + shape if array.ndim else b""
    return before, array, after, len(before) + 4 * array.size + len(after)


def _write_layer(f, definition: caffe_pb2.LayerParameter, blobs) -> None:
    """One NetParameter.layer entry; blobs go between fields 1-6 and 8+, where Caffe's own
    serializer puts them, and their data is streamed."""
    head, tail = caffe_pb2.LayerParameter(), caffe_pb2.LayerParameter()
    for fd, value in definition.ListFields():
        if fd.number != 7:
            _set(head if fd.number < 7 else tail, fd.name, value)
    head, tail = head.SerializeToString(), tail.SerializeToString()
    parts = [_blob_parts(b) for b in blobs]   # arrays, or serialized BlobProtos
    body = len(head) + len(tail) + sum(1 + len(_varint(n)) + n for *_, n in parts)
    f.write(b"\xa2\x06" + _varint(body) + head)            # NetParameter field 100
    for before, data, after, size in parts:
        f.write(b"\x3a" + _varint(size) + before)          # LayerParameter field 7
        _write_data(f, data)
        f.write(after)
    f.write(tail)


def _write_data(f, array) -> None:
    """Write ``array`` as little-endian float32 in C order, converting in small chunks (bytes
    as they are)."""
    if not isinstance(array, np.ndarray):
        f.write(array)
        return
    if array.size == 0:
        return
    if array.dtype == _F4 and array.flags.c_contiguous:
        f.write(memoryview(array.reshape(-1)).cast("B"))
        return
    if not np.can_cast(array.dtype, np.float32, "same_kind"):
        raise TypeError(f"cannot store {array.dtype} values as float32 blob data")
    it = np.nditer(array, flags=["external_loop", "buffered", "zerosize_ok"], order="C",
                   op_dtypes=[_F4], casting="same_kind", buffersize=_CHUNK)
    for chunk in it:
        f.write(chunk.tobytes())
