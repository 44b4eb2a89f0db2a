"""Datum parsing (Python and in-graph) and OpenCV-exact image decoding."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.data.formats.datum import (ENCODED, FLOAT, RAW, datum_to_array, decode_datum,
                                    decode_image, decode_image_numpy, orientation, parse_datum,
                                    record_fields)
from keras_caffe.errors import CaffemodelError
from keras_caffe.proto import caffe_pb2
from tests.data.helpers import (encoded_datum, float_datum, jpeg_of_bgr, png_of_bgr, raw_datum,
                                write_lmdb)
from tests.sentinel import refused

RNG = np.random.default_rng(0)
BGR = RNG.integers(0, 256, (6, 7, 3), np.uint8)


def test_raw_float_and_encoded_records():
    chw = BGR.transpose(2, 0, 1)
    kind, payload, shape, label = record_fields(parse_datum(raw_datum(chw, -1)))
    assert (kind, shape, label) == (RAW, (3, 6, 7), -1)
    np.testing.assert_array_equal(datum_to_array(raw_datum(chw)), chw)
    values = RNG.normal(0, 10, (2, 3, 4)).astype(np.float32)
    assert record_fields(parse_datum(float_datum(values)))[0] == FLOAT
    out = datum_to_array(float_datum(values))
    assert out.dtype == np.float32 and np.array_equal(out, values)
    kind, payload, shape, _ = record_fields(parse_datum(encoded_datum(png_of_bgr(BGR), 3)))
    assert (kind, shape) == (ENCODED, (0, 0, 0))


def test_corrupt_and_inconsistent_records_name_the_record():
    with pytest.raises(CaffemodelError, match="db: record 3.*not a caffe.Datum"):
        parse_datum(b"\x0a\xff\xff", "db: record 3")
    bad = caffe_pb2.Datum(channels=3, height=2, width=2, data=b"12345").SerializeToString()
    with pytest.raises(CaffemodelError, match="k7.*5 bytes.*3 x 2 x 2"):
        datum_to_array(bad, where="k7")
    with pytest.raises(CaffemodelError, match="float_data"):
        datum_to_array(caffe_pb2.Datum(channels=1, height=1, width=1).SerializeToString())
    with pytest.raises(CaffemodelError, match="cannot decode"):
        datum_to_array(encoded_datum(b"not an image"))


LMDB_NET = """
layer { name: "d" type: "Data" top: "x" top: "y" data_param { source: "db" backend: LMDB batch_size: 2 } }
layer { name: "f" type: "InnerProduct" bottom: "x" top: "z" inner_product_param { num_output: 3 } }
layer { name: "l" type: "SoftmaxWithLoss" bottom: "z" bottom: "y" top: "loss" }
"""


@pytest.mark.parametrize("command", [
    ["forward", "net.prototxt", "--batches", "2", "--out", "out.npz", "--phase", "train"],
    ["test", "--model", "net.prototxt", "--weights", "w.caffemodel", "--allow-missing",
     "--iterations", "2", "--phase", "train"],
], ids=["forward", "test"])
@pytest.mark.parametrize("bad", [0, 3], ids=["first_record", "later_record"])
def test_a_record_that_is_not_a_datum_is_one_line_naming_it(tmp_path, monkeypatch, capsys,
                                                            command, bad):
    """Read on the host (the first record, for the shapes) or inside the tf.data pipeline
    (a later one): the same one line, never the pipeline's embedded traceback."""
    monkeypatch.chdir(tmp_path)
    records = [(f"{k:08d}".encode(), raw_datum(BGR.transpose(2, 0, 1), k % 3)) for k in range(4)]
    records[bad] = (records[bad][0], b"\xff\xff\xffgarbage")
    write_lmdb(tmp_path / "db", records)
    (tmp_path / "net.prototxt").write_text(LMDB_NET)
    (tmp_path / "w.caffemodel").write_bytes(caffe_pb2.NetParameter().SerializeToString())
    what = (f"db: record {bad} (key '{bad:08d}'): corrupt record, not a caffe.Datum (Error "
            "parsing message with type 'caffe.Datum': Wire format was corrupt)")
    assert refused(command, tmp_path, capsys) == "layer 'd': " + what


def test_decode_proto_matches_python_parser():
    values = [raw_datum(BGR.transpose(2, 0, 1), 5), float_datum(np.ones((1, 2, 2)), -2),
              encoded_datum(png_of_bgr(BGR), 999)]
    fields = decode_datum(tf.constant(values))
    for i, value in enumerate(values):
        d = caffe_pb2.Datum.FromString(value)
        assert fields["channels"][i] == d.channels and fields["height"][i] == d.height
        assert fields["width"][i] == d.width and fields["label"][i] == d.label
        assert fields["data"][i].numpy() == d.data
        assert bool(fields["encoded"][i]) == d.encoded
        n = int(fields["float_count"][i])
        np.testing.assert_array_equal(fields["float_data"][i][:n], np.float32(d.float_data))
    one = decode_datum(values[0])   # a scalar works too
    assert int(one["label"]) == 5 and one["data"].shape == ()


def test_png_jpeg_colour_order_and_modes():
    png = png_of_bgr(BGR)
    np.testing.assert_array_equal(decode_image_numpy(png), BGR)             # BGR, not RGB
    np.testing.assert_array_equal(decode_image_numpy(png, "color"), BGR)
    grey = decode_image_numpy(png, "gray")                                  # libpng rgb_to_gray
    np.testing.assert_array_equal(grey, tf.io.decode_png(png, channels=1).numpy())
    jpg = jpeg_of_bgr(BGR)
    accurate = tf.io.decode_jpeg(jpg, dct_method="INTEGER_ACCURATE").numpy()[..., ::-1]
    np.testing.assert_array_equal(decode_image_numpy(jpg), accurate)
    g1 = png_of_bgr(BGR[..., :1])
    assert decode_image_numpy(g1).shape == (6, 7, 1)                        # IMREAD_UNCHANGED
    colour = decode_image_numpy(g1, "color")                                # IMREAD_COLOR
    assert colour.shape == (6, 7, 3) and (colour == BGR[..., :1]).all()
    np.testing.assert_array_equal(datum_to_array(encoded_datum(g1), force_color=True),
                                  colour.transpose(2, 0, 1))


def test_alpha_channels_follow_opencv():
    rgba = RNG.integers(0, 256, (4, 5, 4), np.uint8)
    bgra = decode_image_numpy(tf.io.encode_png(rgba).numpy())
    np.testing.assert_array_equal(bgra, rgba[..., [2, 1, 0, 3]])
    ga = RNG.integers(0, 256, (4, 5, 2), np.uint8)
    out = decode_image_numpy(tf.io.encode_png(ga).numpy())
    np.testing.assert_array_equal(out, ga[..., [0, 0, 0, 1]])               # G,G,G,A


def _with_exif(jpg: bytes, value: int) -> bytes:
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, value, 0) + b"\0" * 4
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\x00\x00" + tiff
    return jpg[:2] + app1 + jpg[2:]


@pytest.mark.parametrize("value", [1, 3, 6, 8])
def test_exif_orientation_applies_in_color_and_gray_modes(value):
    img = RNG.integers(0, 256, (16, 24, 3), np.uint8)
    jpg = _with_exif(jpeg_of_bgr(img, 95), value)
    assert orientation(jpg) == value
    plain = decode_image_numpy(jpg)                                         # UNCHANGED: as stored
    expected = {1: plain, 3: plain[::-1, ::-1], 6: plain.transpose(1, 0, 2)[:, ::-1],
                8: plain.transpose(1, 0, 2)[::-1]}[value]
    np.testing.assert_array_equal(decode_image_numpy(jpg, "color"), expected)
    in_graph = tf.function(lambda d: decode_image(d, "color"))(tf.constant(jpg)).numpy()
    np.testing.assert_array_equal(in_graph, expected)
    assert decode_image_numpy(jpg, "gray").shape[:2] == expected.shape[:2]


def test_undecodable_bytes():
    with pytest.raises(ValueError):
        decode_image_numpy(b"\x89PNG garbage")
