"""convert_imageset on images made here: list parsing, Datum layout, encoding rules, errors."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.data import writers
from keras_caffe.data.image_mean import datum_array
from keras_caffe.data.formats.resize import opencv_linear_u8
from keras_caffe.data.writers import DataToolError, convert_imageset, parse_image_list, read_image
from tests.data_tools.helpers import datum, pattern, records, run_cli, write_png

SIZES = [(12, 16), (9, 7), (20, 11)]


@pytest.fixture()
def imageset(tmp_path, monkeypatch):
    """images/a.png, images/b c.png (a space), images/d.png (grey) and their list."""
    monkeypatch.chdir(tmp_path)
    names = ["a.png", "b c.png", "d.png"]
    images = {}
    for i, (name, (h, w)) in enumerate(zip(names, SIZES)):
        img = pattern(h, w, 1 if name == "d.png" else 3, seed=i)
        write_png(tmp_path / "images" / name, img)
        images[name] = img
    (tmp_path / "list.txt").write_text("a.png 3\nb c.png -1\nd.png 7\n")
    return images


def _datums(db):
    return [(k, datum(v)) for k, v in records(db)]


def test_raw_datums_are_bgr_chw_with_shape_and_encoded_false(imageset):
    summary = convert_imageset("images/", "list.txt", "db")
    assert summary.written == 3 and summary.shape == (3, 12, 16)
    got = _datums("db")
    assert [k for k, _ in got] == [b"00000000_a.png", b"00000001_b c.png", b"00000002_d.png"]
    assert [d.label for _, d in got] == [3, -1, 7]
    for (_, d), (name, img) in zip(got, imageset.items()):
        bgr = np.repeat(img, 3, -1) if img.shape[-1] == 1 else img   # IMREAD_COLOR
        assert (d.channels, d.height, d.width) == (3,) + img.shape[:2]
        assert d.HasField("encoded") and not d.encoded
        np.testing.assert_array_equal(datum_array(d.SerializeToString()), bgr.transpose(2, 0, 1))


def test_gray_reads_with_the_decoders_grey_conversion(imageset, tmp_path):
    convert_imageset("images/", "list.txt", "db", gray=True)
    for (_, d), name in zip(_datums("db"), imageset):
        expected = tf.io.decode_png((tmp_path / "images" / name).read_bytes(), channels=1).numpy()
        assert d.channels == 1
        np.testing.assert_array_equal(datum_array(d.SerializeToString())[0], expected[..., 0])


def test_resize_is_opencv_linear_before_storing(imageset):
    convert_imageset("images/", "list.txt", "db", resize_height=10, resize_width=8)
    for (_, d), img in zip(_datums("db"), imageset.values()):
        bgr = np.repeat(img, 3, -1) if img.shape[-1] == 1 else img
        expected = opencv_linear_u8(bgr, 10, 8).transpose(2, 0, 1)
        np.testing.assert_array_equal(datum_array(d.SerializeToString()), expected)


def test_encoded_png_keeps_the_file_bytes_unless_resized(imageset, tmp_path):
    convert_imageset("images/", "list.txt", "db", encoded=True, encode_type="png")
    for (_, d), name in zip(_datums("db"), imageset):
        assert d.encoded and not d.HasField("channels")
        assert d.data == (tmp_path / "images" / name).read_bytes()
    convert_imageset("images/", "list.txt", "db2", encoded=True, resize_height=6, resize_width=5)
    for (_, d), img in zip(_datums("db2"), imageset.values()):
        bgr = np.repeat(img, 3, -1) if img.shape[-1] == 1 else img
        assert d.data.startswith(b"\x89PNG")          # re-encoded in the file's own format
        np.testing.assert_array_equal(datum_array(d.SerializeToString()),
                                      opencv_linear_u8(bgr, 6, 5).transpose(2, 0, 1))


def test_gray_encoded_stores_the_original_colour_file_like_caffe(imageset, tmp_path):
    # Caffe's test (channels == 3) == is_color always holds after cv::imread, so --gray
    # does not force a re-encode: the colour PNG's bytes are stored as they are.
    convert_imageset("images/", "list.txt", "db", gray=True, encoded=True)
    first = _datums("db")[0][1]
    assert first.data == (tmp_path / "images" / "a.png").read_bytes()
    assert datum_array(first.SerializeToString()).shape[0] == 3


def test_encode_type_alone_implies_encoded_and_jpeg_is_reencoded(imageset):
    convert_imageset("images/", "list.txt", "db", encode_type="jpg")
    got = _datums("db")
    assert all(d.encoded for _, d in got)
    first = got[0][1].data
    assert first.startswith(b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01")
    decoded = datum_array(got[0][1].SerializeToString())
    assert decoded.shape == (3, 12, 16)
    assert np.abs(decoded.astype(int) - imageset["a.png"].transpose(2, 0, 1)).mean() < 8
    grey = datum_array(got[2][1].SerializeToString())       # d.png: grey source, colour read
    assert grey.shape == (3, 20, 11)


def test_list_lines_split_at_the_last_space_and_blank_lines_keep_their_index(tmp_path):
    (tmp_path / "l.txt").write_bytes(b"x y.png 4\r\n\n  \nz.png +2\n")
    entries = parse_image_list(tmp_path / "l.txt")
    assert entries[1] is None and entries[2] is None
    assert [(e.line, e.path, e.label) for e in entries if e] == [(1, "x y.png", 4), (4, "z.png", 2)]


@pytest.mark.parametrize("line,message", [
    ("a.png\t3", "separated by a space"),
    ("a.png three", "bad label 'three'"),
    ("a.png 3x", "bad label '3x'"),
    (" 3", "empty image path"),
    ("a.png 99999999999", "int32"),
])
def test_bad_list_lines_name_the_file_and_line(tmp_path, line, message):
    (tmp_path / "l.txt").write_text(f"ok.png 1\n{line}\n")
    with pytest.raises(DataToolError, match=message) as info:
        parse_image_list(tmp_path / "l.txt")
    assert "l.txt:2:" in str(info.value)


def test_missing_images_are_all_reported_and_no_database_is_left(imageset, tmp_path):
    (tmp_path / "list.txt").write_text("a.png 1\nnope.png 2\nb c.png 3\ngone.png 4\n")
    with pytest.raises(DataToolError) as info:
        convert_imageset("images/", "list.txt", "db")
    text = str(info.value)
    assert "2 image(s) not found" in text and "line 2: 'images/nope.png'" in text
    assert "line 4: 'images/gone.png'" in text
    assert sorted(os.listdir(tmp_path)) == ["images", "list.txt"]


def test_unreadable_image_stops_with_its_line_and_leaves_nothing(imageset, tmp_path):
    (tmp_path / "images" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    (tmp_path / "list.txt").write_text("a.png 1\nbad.png 2\n")
    with pytest.raises(DataToolError, match=r"list.txt:2: cannot read 'images/bad.png'"):
        convert_imageset("images/", "list.txt", "db")
    assert sorted(os.listdir(tmp_path)) == ["images", "list.txt"]


def test_skip_unreadable_skips_like_caffe_and_keeps_key_indices(imageset, tmp_path):
    (tmp_path / "images" / "bad.png").write_bytes(b"not an image")
    (tmp_path / "list.txt").write_text("bad.png 1\nmissing.png 2\nd.png 3\n")
    summary = convert_imageset("images/", "list.txt", "db", skip_unreadable=True)
    assert summary.written == 1 and [s[0] for s in summary.skipped] == [1, 2]
    assert [k for k, _ in records("db")] == [b"00000002_d.png"]


def test_existing_target_is_refused(imageset, tmp_path):
    (tmp_path / "db").mkdir()
    with pytest.raises(DataToolError, match="already exists"):
        convert_imageset("images/", "list.txt", "db")


def test_check_size_names_the_odd_image(imageset):
    with pytest.raises(DataToolError, match=r"list.txt:2: 'images/b c.png' is 3x9x7, the first "
                                            r"image was 3x12x16"):
        convert_imageset("images/", "list.txt", "db", check_size=True)
    convert_imageset("images/", "list.txt", "db", check_size=True, resize_height=5,
                     resize_width=5)


def test_shuffle_is_repeatable_with_a_seed_and_keys_follow_the_new_order(imageset, tmp_path):
    names = [f"s{i}.png" for i in range(12)]
    for i, name in enumerate(names):
        write_png(tmp_path / "images" / name, pattern(4, 5, seed=i))
    (tmp_path / "list.txt").write_text("".join(f"{n} {i}\n" for i, n in enumerate(names)))
    convert_imageset("images/", "list.txt", "db1", shuffle=True, seed=5)
    convert_imageset("images/", "list.txt", "db2", shuffle=True, seed=5)
    one = records("db1")
    assert one == records("db2")
    paths = [k[9:].decode() for k, _ in one]
    assert sorted(paths) == sorted(names) and paths != names
    assert [k[:8] for k, _ in one] == [b"%08d" % i for i in range(12)]
    assert [datum(v).label for _, v in one] == [names.index(p) for p in paths]


def test_leveldb_backend(imageset, tmp_path):
    assert run_cli(["convert-imageset", "--backend=leveldb", "images/", "list.txt", "ldb/"]) == 0
    assert (tmp_path / "ldb" / "CURRENT").is_file()
    convert_imageset("images/", "list.txt", "mdb")
    assert records("ldb") == records("mdb")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_lmdb_map_grows_when_full(imageset, tmp_path, monkeypatch):
    monkeypatch.setattr(writers._LmdbWriter, "INITIAL_MAP_SIZE", 32 << 10)
    write_png(tmp_path / "images" / "big.png", pattern(120, 100, seed=9))
    (tmp_path / "list.txt").write_text("".join(f"big.png {i}\n" for i in range(8)))
    assert convert_imageset("images/", "list.txt", "db").written == 8
    assert len(records("db")) == 8


def test_jpeg_exif_orientation_is_applied_like_opencv(tmp_path):
    img = pattern(6, 10, seed=3)
    jpeg = tf.io.encode_jpeg(img[..., ::-1], quality=100).numpy()
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01" + b"\x01\x12\x00\x03\x00\x00\x00\x01" \
        + b"\x00\x06\x00\x00" + b"\x00\x00\x00\x00"
    app1 = b"\xff\xe1" + (len(tiff) + 8).to_bytes(2, "big") + b"Exif\x00\x00" + tiff
    rotated = jpeg[:2] + app1 + jpeg[2:]
    plain = read_image(None, data=jpeg)
    turned = read_image(None, data=rotated)
    assert plain.shape == (6, 10, 3) and turned.shape == (10, 6, 3)
    np.testing.assert_array_equal(turned, np.flip(plain.transpose(1, 0, 2), 1))  # 90 deg cw


def test_cli_takes_caffes_flag_spellings(imageset, tmp_path, capsys):
    assert run_cli(["convert-imageset", "--encode_type=png", "--resize-height=8",
                    "--resize_width=6", "images/", "list.txt", "db"]) == 0
    assert "wrote 3 records" in capsys.readouterr().err
    assert datum_array(records("db")[0][1]).shape == (3, 8, 6)
    assert run_cli(["compute-image-mean", "db", "mean.binaryproto"]) == 0
    out = capsys.readouterr().out
    assert out.count("mean_value channel") == 3
