"""Caffe ``Datum`` records and image decoding as Caffe's OpenCV build decodes them.

A Datum (``channels=1 height=2 width=3 data=4 label=5 float_data=6 encoded=7``) holds either
raw uint8 pixels in C,H,W order (BGR for colour), ``float_data`` (used when ``data`` is
empty), or an encoded image file (``encoded``; convert_imageset leaves channels/height/width
at 0, the shape comes from the decoded image).

Two parsers give the same fields:

* :func:`parse_datum` -- protobuf in Python (upb): about 1.5 us for a JPEG Datum and 7-15 us
  for a raw 3x256x256 one, which is what the readers use (in the thread that walks the
  database);
* :func:`decode_datum` -- ``tf.io.decode_proto`` with our schema's descriptor, in the graph
  (for Datums that already live in tensors, e.g. TFRecord files): 9-15 us and 145-170 us for
  the same records even batched (``benchmarks/data_pipeline.py`` measures both).

Encoded images are decoded like ``cv::imdecode``/``cv::imread`` with one of three modes:

* ``"unchanged"`` (IMREAD_UNCHANGED, Caffe's default for encoded Datums): the file's own
  channels -- grey gives 1, colour 3 (B,G,R), alpha 4 (B,G,R,A; grey+alpha becomes G,G,G,A);
* ``"color"`` (IMREAD_COLOR: ``force_color``, ImageData ``is_color: true``): 3 channels B,G,R;
* ``"gray"`` (IMREAD_GRAYSCALE: ``force_gray``, ImageData ``is_color: false``): 1 channel,
  converted inside the decoder (libpng's ``rgb_to_gray``, libjpeg's Y channel) -- which
  ``decode_png(channels=1)``/``decode_jpeg(channels=1)`` also do, bit for bit.

JPEG is decoded with ``dct_method='INTEGER_ACCURATE'`` (libjpeg's ISLOW IDCT, as OpenCV);
TF's default IDCT is off by up to 12 grey levels.  In the color and gray modes OpenCV also
applies the EXIF orientation of a JPEG; so do we.
"""

from __future__ import annotations

import functools
import struct

import numpy as np
from google.protobuf.message import DecodeError

from ...errors import CaffemodelError
from ...proto import caffe_pb2

__all__ = ["parse_datum", "record_fields", "datum_to_array", "decode_datum", "decode_image",
           "decode_image_numpy", "image_format", "orientation", "descriptor_source", "RAW",
           "ENCODED", "FLOAT", "MODES", "JPEG", "PNG", "OTHER"]

#: Record kinds as the readers pass them into the graph.
RAW, ENCODED, FLOAT = 0, 1, 2
MODES = ("unchanged", "color", "gray")

_FIELDS = ["channels", "height", "width", "data", "label", "float_data", "encoded"]


# --------------------------------------------------------------------------- Python parsing

def parse_datum(value, where: str = "<datum>") -> caffe_pb2.Datum:
    """A serialized Datum as a message; ``where`` (file and key) names it in errors."""
    try:
        datum = caffe_pb2.Datum.FromString(bytes(value))
    except DecodeError as exc:
        raise CaffemodelError(f"corrupt record, not a caffe.Datum ({exc})", where) from None
    return datum


def record_fields(datum: caffe_pb2.Datum, where: str = "<datum>") -> tuple[int, bytes, tuple, int]:
    """``(kind, payload, (c, h, w), label)`` of a Datum: raw pixels, encoded file bytes, or
    ``float_data`` as little-endian float32 bytes."""
    chw = (datum.channels, datum.height, datum.width)
    if datum.encoded:
        if not datum.data:
            raise CaffemodelError("encoded Datum without image bytes", where)
        return ENCODED, datum.data, chw, datum.label
    if datum.data:
        if len(datum.data) != chw[0] * chw[1] * chw[2]:
            raise CaffemodelError(f"Datum holds {len(datum.data)} bytes of data but channels x "
                                  f"height x width = {chw[0]} x {chw[1]} x {chw[2]}", where)
        return RAW, datum.data, chw, datum.label
    count = len(datum.float_data)
    if count == 0 or count != chw[0] * chw[1] * chw[2]:
        raise CaffemodelError(f"Datum holds {count} float_data values (and no data bytes) but "
                              f"channels x height x width = {chw[0]} x {chw[1]} x {chw[2]}", where)
    return FLOAT, np.asarray(datum.float_data, "<f4").tobytes(), chw, datum.label


def datum_to_array(datum, force_color: bool = False, force_gray: bool = False,
                   where: str = "<datum>") -> np.ndarray:
    """The C,H,W array Caffe's DataTransformer receives for a Datum (uint8 BGR for pixels,
    float32 for ``float_data``); ``datum`` may be a message or its serialized bytes.
    ``force_color``/``force_gray`` act only on encoded Datums, as in Caffe."""
    if not isinstance(datum, caffe_pb2.Datum):
        datum = parse_datum(datum, where)
    kind, payload, chw, _ = record_fields(datum, where)
    if kind == ENCODED:
        mode = "color" if force_color else "gray" if force_gray else "unchanged"
        try:
            img = decode_image_numpy(payload, mode)
        except ValueError as exc:
            raise CaffemodelError(f"cannot decode the encoded image: {exc}", where) from None
        return np.ascontiguousarray(img.transpose(2, 0, 1))
    dtype = np.dtype(np.uint8 if kind == RAW else "<f4")
    return np.frombuffer(payload, dtype).reshape(chw).astype(dtype.newbyteorder("="))


# --------------------------------------------------------------------------- in-graph parsing

@functools.lru_cache(maxsize=1)
def descriptor_source() -> bytes:
    """``descriptor_source`` for ``tf.io.decode_proto``: our caffe.proto as a serialized
    FileDescriptorSet."""
    from google.protobuf import descriptor_pb2

    files = descriptor_pb2.FileDescriptorSet()
    caffe_pb2.DESCRIPTOR.CopyToProto(files.file.add())
    return b"bytes://" + files.SerializeToString()


def decode_datum(serialized):
    """In-graph Datum parsing of a scalar or batch of serialized Datums: a dict of
    ``channels``, ``height``, ``width``, ``label`` (int32), ``data`` (string), ``encoded``
    (bool) with the input's shape, and ``float_data`` (float32, a trailing axis padded with
    zeros to the longest record, plus ``float_count``)."""
    import tensorflow as tf

    serialized = tf.convert_to_tensor(serialized, tf.string)
    types = [tf.int32, tf.int32, tf.int32, tf.string, tf.int32, tf.float32, tf.bool]
    sizes, values = tf.io.decode_proto(serialized, "caffe.Datum", _FIELDS, types,
                                       descriptor_source=descriptor_source())
    out = {}
    defaults = {"channels": 0, "height": 0, "width": 0, "data": "", "label": 0,
                "encoded": False}
    for i, name in enumerate(_FIELDS):
        if name == "float_data":
            out[name] = values[i]
            out["float_count"] = sizes[..., i]
            continue
        # Optional fields: one value when present, none when absent.
        padded = tf.concat([values[i], tf.fill(tf.concat([tf.shape(values[i])[:-1], [1]], 0),
                                                tf.constant(defaults[name], types[i]))], -1)
        out[name] = padded[..., 0]
    return out


#: Encoded formats: how ``record_format`` and the graph tell them apart.
JPEG, PNG, OTHER = 0, 1, 2


def image_format(data: bytes) -> int:
    """JPEG, PNG or OTHER (BMP, GIF, ...: ``tf.io.decode_image``) from the file's magic bytes."""
    if data[:3] == b"\xff\xd8\xff":
        return JPEG
    return PNG if data[:4] == b"\x89PNG" else OTHER


def orientation(data: bytes) -> int:
    """The EXIF orientation OpenCV applies to a JPEG in IMREAD_COLOR/GRAYSCALE (1 = none)."""
    if data[:3] != b"\xff\xd8\xff" or data.find(b"Exif\x00\x00", 0, 1 << 16) < 0:
        return 1
    return int(_exif_orientation(data))


def _sniff(data):
    """In-graph :func:`image_format`."""
    import tensorflow as tf

    head = tf.strings.substr(data, 0, 4)
    return tf.where(tf.equal(tf.strings.substr(head, 0, 3), b"\xff\xd8\xff"), JPEG,
                    tf.where(tf.equal(head, b"\x89PNG"), PNG, OTHER))


def _exif_orientation(data: bytes) -> np.int32:
    """EXIF orientation (1..8) of a JPEG's APP1 segment, 1 when absent or unreadable."""
    data = bytes(data)
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker, length = data[pos + 1], struct.unpack(">H", data[pos + 2:pos + 4])[0]
        if marker == 0xE1 and data[pos + 4:pos + 10] == b"Exif\x00\x00":
            tiff = data[pos + 10:pos + 2 + length]
            if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
                return np.int32(1)
            end = "<" if tiff[:2] == b"II" else ">"
            ifd = struct.unpack(end + "I", tiff[4:8])[0]
            if ifd + 2 > len(tiff):
                return np.int32(1)
            for i in range(struct.unpack(end + "H", tiff[ifd:ifd + 2])[0]):
                entry = tiff[ifd + 2 + 12 * i: ifd + 14 + 12 * i]
                if len(entry) < 12:
                    break
                if struct.unpack(end + "H", entry[:2])[0] == 0x0112:
                    value = struct.unpack(end + "H", entry[8:10])[0]
                    return np.int32(value if 1 <= value <= 8 else 1)
            return np.int32(1)
        if marker in (0xD8, 0xDA) or length < 2:   # start of scan: no EXIF before it
            break
        pos += 2 + length
    return np.int32(1)


def _may_have_exif(data):
    """Cheap in-graph test for an EXIF APP1 segment first or right after a JFIF APP0."""
    import tensorflow as tf

    size = tf.strings.length(data)

    def part(pos, n):   # substr fails for positions beyond the end: clamp them
        return tf.strings.substr(data, tf.minimum(pos, size), n)

    app0 = tf.equal(part(2, 2), b"\xff\xe0")
    length = tf.cast(tf.io.decode_raw(part(4, 2), tf.uint8), tf.int32)
    length = tf.pad(length, [[0, 2 - tf.size(length)]])
    pos = tf.where(app0, 4 + length[0] * 256 + length[1], 2)
    return tf.logical_and(tf.equal(part(pos, 2), b"\xff\xe1"),
                          tf.equal(part(pos + 4, 6), b"Exif\x00\x00"))


def _orient(img, orientation):
    """OpenCV's ExifTransform for orientation 1..8 (H,W,C image)."""
    import tensorflow as tf

    t = lambda x: tf.transpose(x, [1, 0, 2])  # noqa: E731
    branches = [lambda: img,                                   # 1: as stored
                lambda: tf.reverse(img, [1]),                  # 2: flip horizontally
                lambda: tf.reverse(img, [0, 1]),               # 3: rotate 180
                lambda: tf.reverse(img, [0]),                  # 4: flip vertically
                lambda: t(img),                                # 5: transpose
                lambda: tf.reverse(t(img), [1]),               # 6: transpose, flip h
                lambda: tf.reverse(t(img), [0, 1]),            # 7: transpose, flip both
                lambda: tf.reverse(t(img), [0])]               # 8: transpose, flip v
    return tf.switch_case(orientation - 1, branches)


def decode_image(data, mode: str = "unchanged", bgr: bool = True, fmt=None,
                 exif_orientation=None):
    """In-graph decode of image file bytes to ``H x W x C`` uint8 in OpenCV's channel order
    (see the module docstring for ``mode``).

    With ``bgr=False`` it returns ``(image, swap)`` instead, where a 3-channel image is still
    R,G,B when ``swap`` is true (the readers reverse channels in their fused batch pass).
    ``fmt`` (:func:`image_format`) and ``exif_orientation`` (:func:`orientation`) may be given
    when already known (a Python int or a tensor); otherwise they are found in the graph.
    """
    import tensorflow as tf

    img, swap = tf.autograph.experimental.do_not_convert(_decode_image)(
        data, mode, fmt, exif_orientation)
    if not bgr:
        return img, swap
    return tf.cond(swap, lambda: tf.reverse(img, [-1]), lambda: img)


def _decode_image(data, mode, fmt, exif_orientation):
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    channels = {"unchanged": 0, "color": 3, "gray": 1}[mode]
    decoders = [
        lambda: tf.io.decode_jpeg(data, channels=channels, dct_method="INTEGER_ACCURATE"),
        lambda: tf.io.decode_png(data, channels=channels),
        lambda: tf.io.decode_image(data, channels=channels, expand_animations=False),
    ]
    if isinstance(fmt, int):
        img = decoders[fmt]()
    else:
        img = tf.switch_case(_sniff(data) if fmt is None else fmt, decoders)
    img = tf.ensure_shape(img, [None, None, channels or None])
    if mode == "unchanged" and isinstance(fmt, int) and fmt == JPEG:
        # A JPEG decodes to grey or colour (CMYK files, which OpenCV converts to B,G,R, are
        # out of scope): no per-image channel switch (it costs ~5% of a pipeline's speed).
        return img, tf.equal(tf.shape(img)[-1], 3)
    if mode == "unchanged":
        c = tf.shape(img)[-1]
        # grey+alpha -> G,G,G,A and RGBA -> BGRA here; plain RGB is swapped later.
        img = tf.switch_case(tf.clip_by_value(c - 1, 0, 3), [
            lambda: img, lambda: tf.gather(img, [0, 0, 0, 1], axis=-1), lambda: img,
            lambda: tf.gather(img, [2, 1, 0, 3], axis=-1)])
        return img, tf.equal(c, 3)
    # IMREAD_COLOR / IMREAD_GRAYSCALE apply a JPEG's EXIF orientation (IMREAD_UNCHANGED does not).
    if exif_orientation is None:
        is_jpeg = tf.equal(_sniff(data), JPEG) if fmt is None else tf.equal(fmt, JPEG)
        exif = tf.logical_and(is_jpeg, _may_have_exif(data))
        exif_orientation = tf.cond(exif, lambda: tf.reshape(tf.numpy_function(
            _exif_orientation, [data], tf.int32, stateful=False), []), lambda: tf.constant(1))
    if not isinstance(exif_orientation, int):
        img = tf.cond(tf.equal(exif_orientation, 1), lambda: img,
                      lambda: _orient(img, exif_orientation))
    elif exif_orientation != 1:
        img = _orient(img, tf.constant(exif_orientation))
    return img, tf.constant(mode == "color")


@functools.lru_cache(maxsize=len(MODES))
def _eager_decoder(mode):
    import tensorflow as tf

    return tf.function(lambda d: decode_image(d, mode), autograph=False,
                       input_signature=[tf.TensorSpec([], tf.string)])


def decode_image_numpy(data: bytes, mode: str = "unchanged") -> np.ndarray:
    """:func:`decode_image` outside a graph: ``H x W x C`` uint8 numpy (raises ValueError
    for bytes that are not a readable image)."""
    import tensorflow as tf

    try:
        return _eager_decoder(mode)(tf.constant(bytes(data))).numpy()
    except tf.errors.OpError as exc:
        raise ValueError(exc.message.splitlines()[0]) from None
