"""Data, ImageData, MemoryData, DummyData and HDF5 readers on fixtures made in tmp_path."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.api import resolve_net
from keras_caffe.data import (dummy_data, hdf5_dataset, image_data_dataset, lmdb_dataset,
                              memory_data, source_for)
from keras_caffe.errors import CaffeError, NetError
from keras_caffe.proto import caffe_pb2
from tests.data.helpers import (caffe_transform, encoded_datum, float_datum, images, png_of_bgr,
                                raw_datum, write_lmdb)

RNG = np.random.default_rng(0)
MEAN = [104.0, 117.0, 123.0]


def node_of(layer: str, phase: str = "test"):
    (node,) = resolve_net(f"name: 'n' layer {{ {layer} }}", phase).input_layers
    return node


def data_layer(source="db", batch=4, transform="", backend="LMDB", tops=("data", "label")):
    top = " ".join(f'top: "{t}"' for t in tops)
    return (f'name: "data" type: "Data" {top} transform_param {{ {transform} }} '
            f'data_param {{ source: "{source}" batch_size: {batch} backend: {backend} }}')


@pytest.fixture
def raw_db(tmp_path, monkeypatch):
    """11 raw Datums of varied sizes under keys rec_0..rec_10 (byte order: rec_0, rec_1,
    rec_10, rec_2, ...); label i for rec_i."""
    monkeypatch.chdir(tmp_path)
    imgs = images(11, RNG, sizes=((8, 9), (10, 12), (9, 8)))
    write_lmdb(tmp_path / "db", [(f"rec_{i}".encode(), raw_datum(img, i))
                                 for i, img in enumerate(imgs)])
    order = sorted(range(11), key=lambda i: f"rec_{i}".encode())
    return [imgs[i] for i in order], order


def test_key_order_wraparound_and_values(raw_db):
    imgs, order = raw_db
    source = source_for(node_of(data_layer(
        transform=f"crop_size: 6 scale: 0.5 mean_value: {MEAN[0]} mean_value: {MEAN[1]} "
                  f"mean_value: {MEAN[2]}")), caffe_pb2.TEST)
    for k in range(6):   # 24 items: wraps twice, mid-batch
        batch = source.next_batch()
        assert batch["data"].shape == (4, 3, 6, 6) and batch["label"].dtype == np.float32
        for j in range(4):
            r = (k * 4 + j) % 11
            assert batch["label"][j] == order[r]
            np.testing.assert_array_equal(batch["data"][j], caffe_transform(
                imgs[r], scale=0.5, mean=MEAN, crop=6))
    assert source.state()["batches_read"] == 6


def test_float_and_png_records(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    values = [RNG.normal(0, 10, (2, 3, 4)).astype(np.float32) for _ in range(3)]
    write_lmdb(tmp_path / "f", [(b"%d" % i, float_datum(v, i)) for i, v in enumerate(values)])
    batch = source_for(node_of(data_layer("f", 2, "scale: 0.1")), caffe_pb2.TEST).next_batch()
    np.testing.assert_array_equal(batch["data"], np.stack(values[:2]) * np.float32(0.1))
    bgr = [RNG.integers(0, 256, (7, 9, 3), np.uint8) for _ in range(3)]
    write_lmdb(tmp_path / "p", [(b"%d" % i, encoded_datum(png_of_bgr(b), i))
                                for i, b in enumerate(bgr)])
    batch = source_for(node_of(data_layer("p", 3, "mean_value: 3")), caffe_pb2.TEST).next_batch()
    for got, b in zip(batch["data"], bgr):
        np.testing.assert_array_equal(got, caffe_transform(b.transpose(2, 0, 1), mean=[3.0] * 3))
    grey = source_for(node_of(data_layer("p", 3, "force_gray: true")), caffe_pb2.TEST)
    assert grey.shapes() == {"data": (3, 1, 7, 9), "label": (3,)}
    np.testing.assert_array_equal(grey.next_batch()["data"][0, 0],
                                  tf.io.decode_png(png_of_bgr(bgr[0]), channels=1)[..., 0])


def test_database_mixing_record_kinds(tmp_path, monkeypatch):
    """Records unlike the first (PNG among JPEGs, raw pixels among encoded ones) take the
    general decoder and give the same values as when read alone."""
    from tests.data.helpers import jpeg_of_bgr

    monkeypatch.chdir(tmp_path)
    bgr = [RNG.integers(0, 256, (6, 7, 3), np.uint8) for _ in range(5)]
    jpeg = [jpeg_of_bgr(b) for b in bgr]
    records = [encoded_datum(jpeg[0], 0), encoded_datum(png_of_bgr(bgr[1]), 1),
               raw_datum(bgr[2].transpose(2, 0, 1), 2), encoded_datum(jpeg[3], 3),
               encoded_datum(png_of_bgr(bgr[4]), 4)]
    write_lmdb(tmp_path / "mixed", [(b"%d" % i, r) for i, r in enumerate(records)])
    expected = [tf.io.decode_jpeg(jpeg[0], dct_method="INTEGER_ACCURATE").numpy()[..., ::-1],
                bgr[1], bgr[2],
                tf.io.decode_jpeg(jpeg[3], dct_method="INTEGER_ACCURATE").numpy()[..., ::-1],
                bgr[4]]
    source = source_for(node_of(data_layer("mixed", 5, "scale: 0.5")), caffe_pb2.TEST)
    batch = source.next_batch()
    assert batch["label"].tolist() == [0, 1, 2, 3, 4]
    for got, want in zip(batch["data"], expected):
        np.testing.assert_array_equal(got, caffe_transform(want.transpose(2, 0, 1), scale=0.5))


def test_exact_resume_with_random_crops(raw_db):
    layer = node_of(data_layer(transform="crop_size: 7 mirror: true"), "train")
    source = source_for(layer, caffe_pb2.TRAIN, seed=None)   # a seed is drawn and recorded
    assert source.shapes() == {"data": (4, 3, 7, 7), "label": (4,)}
    batches = [source.next_batch() for _ in range(6)]
    saved = source.state()
    state = {"batches_read": 2, "seed": saved["seed"]}
    resumed = source_for(layer, caffe_pb2.TRAIN, seed=12345)
    resumed.restore(state)
    for k in range(2, 6):
        got = resumed.next_batch()
        np.testing.assert_array_equal(got["data"], batches[k]["data"])
        np.testing.assert_array_equal(got["label"], batches[k]["label"])
    resumed.seek(1)
    np.testing.assert_array_equal(resumed.next_batch()["data"], batches[1]["data"])
    assert resumed.state() == {"batches_read": 2, "seed": saved["seed"]}
    other = source_for(layer, caffe_pb2.TRAIN, seed=saved["seed"] + 1)
    assert not all(np.array_equal(other.next_batch()["data"], b["data"]) for b in batches[:3])


def test_single_top_and_standalone_datasets(raw_db):
    imgs, order = raw_db
    only = source_for(node_of(data_layer(transform="crop_size: 8", tops=("data",))),
                      caffe_pb2.TEST)
    assert list(only.next_batch()) == ["data"]
    ds = lmdb_dataset("db", 4, {"crop_size": 8}, start_batch=2)
    data, label = next(iter(ds))
    assert label.numpy().tolist() == [order[(8 + j) % 11] for j in range(4)]
    nhwc = next(iter(lmdb_dataset("db", 4, {"crop_size": 8}, start_batch=2, layout="NHWC",
                                  labels=False)))
    np.testing.assert_array_equal(nhwc.numpy(), data.numpy().transpose(0, 2, 3, 1))
    deferred = lmdb_dataset("db", 4, {"crop_size": 8}, start_batch=2, deferred=True)
    raw, label2 = next(iter(deferred))
    assert raw["images"].dtype == tf.uint8 and raw["placement"].shape == (4, 4)
    np.testing.assert_array_equal(deferred.finish(raw).numpy(), data.numpy())
    np.testing.assert_array_equal(label2.numpy(), label.numpy())


@pytest.mark.parametrize("defer", [True, False])
@pytest.mark.parametrize("transform", ["crop_size: 7 mirror: true scale: 0.5 mean_value: 3",
                                       'crop_size: 6 mirror: true mean_file: "mean.binaryproto"',
                                       "mirror: true"])
def test_feeds_are_the_batches_in_the_internal_layout(tmp_path, monkeypatch, transform, defer):
    """``next_feeds`` (deferred: the host decodes, the rest runs where the model runs) gives
    exactly ``next_batch`` in NHWC, in TRAIN with random crops and mirrors, for encoded and
    raw records, and both share one position in the stream."""
    from keras_caffe.proto.binary import write_blob
    from tests.data.helpers import jpeg_of_bgr

    monkeypatch.chdir(tmp_path)
    write_blob(tmp_path / "mean.binaryproto", RNG.uniform(0, 255, (1, 3, 9, 10)).astype("f4"))
    bgr = [RNG.integers(0, 256, (9, 10, 3), np.uint8) for _ in range(7)]
    write_lmdb(tmp_path / "jpg", [(b"%d" % i, encoded_datum(jpeg_of_bgr(b), i))
                                  for i, b in enumerate(bgr)])
    write_lmdb(tmp_path / "raw", [(b"%d" % i, raw_datum(b.transpose(2, 0, 1), i))
                                  for i, b in enumerate(bgr)])
    for db in ("jpg", "raw"):
        layer = node_of(data_layer(db, 3, transform), "train")
        caffe = source_for(layer, caffe_pb2.TRAIN, seed=5)
        mixed = source_for(layer, caffe_pb2.TRAIN, seed=5)
        mixed.defer = defer
        for k in range(5):   # wraps mid-batch; alternate the two kinds of reads
            want = caffe.next_batch()
            if k % 2:
                got = mixed.next_batch()
            else:
                feeds = mixed.next_feeds()
                got = {"data": np.asarray(feeds["data"]).transpose(0, 3, 1, 2),
                       "label": np.asarray(feeds["label"])}
                assert feeds["data"].dtype == tf.float32
            np.testing.assert_array_equal(got["data"], want["data"])
            np.testing.assert_array_equal(got["label"], want["label"])


def test_data_errors(raw_db, tmp_path):
    with pytest.raises(NetError, match="'nowhere' not found.*working directory"):
        source_for(node_of(data_layer("nowhere")), caffe_pb2.TEST)
    (tmp_path / "notdb").mkdir()
    with pytest.raises(NetError, match="no data.mdb"):
        source_for(node_of(data_layer("notdb")), caffe_pb2.TEST)
    write_lmdb(tmp_path / "empty", [])
    with pytest.raises(NetError, match="empty"):
        source_for(node_of(data_layer("empty")), caffe_pb2.TEST)
    # varied sizes without a crop: the batch's items must share the first item's shape
    with pytest.raises(NetError, match=r"first item.*rec_1"):
        source_for(node_of(data_layer()), caffe_pb2.TEST).next_batch()
    # a mean of the wrong shape names the mean file and the records
    from keras_caffe.proto.binary import write_blob
    write_blob(tmp_path / "mean.binaryproto", np.zeros((1, 3, 8, 9), np.float32))
    bad_mean = source_for(node_of(data_layer(
        transform='mean_file: "mean.binaryproto" crop_size: 8')), caffe_pb2.TEST)
    with pytest.raises(NetError, match=r"mean_file 'mean.binaryproto' is 3 x 8 x 9.*rec_1"):
        bad_mean.next_batch()
    with pytest.raises(NetError, match="both mean_file"):
        source_for(node_of(data_layer(transform='mean_file: "mean.binaryproto" mean_value: 1')),
                   caffe_pb2.TEST)
    # a corrupt record is named by file and key
    write_lmdb(tmp_path / "corrupt", [(b"a", raw_datum(np.zeros((1, 2, 2)), 0)),
                                      (b"b", b"\x0a\xff\xff\xff")])
    source = source_for(node_of(data_layer("corrupt", 2)), caffe_pb2.TEST)
    with pytest.raises(CaffeError, match=r"corrupt: record 1 \(key 'b'\).*not a caffe.Datum"):
        source.next_batch()


def test_leveldb_matches_lmdb(raw_db, tmp_path):
    plyvel = pytest.importorskip("plyvel")
    imgs, order = raw_db
    db = plyvel.DB(str(tmp_path / "ldb"), create_if_missing=True)
    for i, img in enumerate(imgs):
        db.put(f"rec_{order[i]}".encode(), raw_datum(img, order[i]))
    db.close()
    t = "crop_size: 7 scale: 0.25"
    a = source_for(node_of(data_layer("ldb", transform=t, backend="LEVELDB")), caffe_pb2.TEST)
    b = source_for(node_of(data_layer("db", transform=t)), caffe_pb2.TEST)
    for _ in range(4):
        x, y = a.next_batch(), b.next_batch()
        np.testing.assert_array_equal(x["data"], y["data"])
        np.testing.assert_array_equal(x["label"], y["label"])


# --------------------------------------------------------------------------- ImageData

@pytest.fixture
def image_list(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "imgs" / "a b").mkdir(parents=True)
    bgr = [RNG.integers(0, 256, (6 + i, 9 - i, 3), np.uint8) for i in range(5)]
    names = ["a b/x 0.png", "a b/y.png", "z.png", "w w.png", "q.png"]
    for name, img in zip(names, bgr):
        (tmp_path / "imgs" / name).write_bytes(png_of_bgr(img))
    labels = ["3", "-2", "+7", "5\r", "11junk"]   # atoi of the text after the LAST space
    (tmp_path / "list.txt").write_text("".join(f"{n} {l}\n" for n, l in zip(names, labels)))
    return bgr, [3, -2, 7, 5, 11]


def image_layer(batch=2, extra="", transform=""):
    return (f'name: "img" type: "ImageData" top: "data" top: "label" '
            f'transform_param {{ {transform} }} image_data_param {{ source: "list.txt" '
            f'root_folder: "imgs/" batch_size: {batch} {extra} }}')


def test_image_data_list_parsing_resize_and_wrap(image_list):
    from keras_caffe.data.formats.resize import opencv_linear_u8

    bgr, labels = image_list
    source = source_for(node_of(image_layer(2, "new_height: 5 new_width: 7",
                                            "scale: 0.5 mean_value: 9")), caffe_pb2.TEST)
    seen = []
    for k in range(4):
        batch = source.next_batch()
        for j in range(2):
            i = (2 * k + j) % 5
            seen.append(batch["label"][j])
            expected = caffe_transform(opencv_linear_u8(bgr[i], 5, 7).transpose(2, 0, 1),
                                       scale=0.5, mean=[9.0] * 3)
            np.testing.assert_array_equal(batch["data"][j], expected)
    assert seen == [labels[i % 5] for i in range(8)]
    gray = next(iter(image_data_dataset("list.txt", 1, "imgs/", is_color=False)))[0]
    np.testing.assert_array_equal(gray[0, 0], tf.io.decode_png(png_of_bgr(bgr[0]), 1)[..., 0])


def test_image_data_shuffle_is_seeded_and_resumable(image_list):
    _, labels = image_list
    layer = node_of(image_layer(3, "shuffle: true", "crop_size: 3 mirror: true"), "train")
    source = source_for(layer, caffe_pb2.TRAIN, seed=3)
    batches = [source.next_batch() for _ in range(5)]
    order = np.concatenate([b["label"] for b in batches]).tolist()
    assert sorted(order[:5]) == sorted(labels) and sorted(order[5:10]) == sorted(labels)
    assert order[:5] != order[5:10] or order[:5] != labels   # reshuffled each pass
    again = source_for(layer, caffe_pb2.TRAIN, seed=3)
    again.restore(source.state() | {"batches_read": 3})
    np.testing.assert_array_equal(again.next_batch()["data"], batches[3]["data"])
    again.defer = True
    feeds = again.next_feeds()   # deferred: the transform finished where the model runs
    np.testing.assert_array_equal(np.asarray(feeds["data"]).transpose(0, 3, 1, 2),
                                  batches[4]["data"])
    np.testing.assert_array_equal(feeds["label"], batches[4]["label"])


def test_image_data_errors(image_list, tmp_path):
    (tmp_path / "imgs" / "q.png").unlink()
    source = source_for(node_of(image_layer(5)), caffe_pb2.TEST)
    with pytest.raises(NetError, match=r"list.txt:5: could not load 'imgs/q.png'"):
        source.next_batch()
    (tmp_path / "list.txt").write_text("a.png 1\n\nb.png 2\n")
    with pytest.raises(NetError, match="list.txt:2: empty image name"):
        source_for(node_of(image_layer()), caffe_pb2.TEST)
    with pytest.raises(NetError, match="'missing.txt' not found"):
        image_data_dataset("missing.txt")
    with pytest.raises(NetError, match="new_height and new_width"):
        image_data_dataset("list.txt", new_height=3)


@pytest.mark.parametrize("batch", [1, 3])
def test_image_data_missing_file_whose_name_is_not_utf8(image_list, tmp_path, batch):
    """TF reports a missing file by name, and raises UnicodeDecodeError instead of its error
    when the name is not UTF-8 (found by the fuzz test): still the one error naming the
    list line."""
    (tmp_path / "list.txt").write_bytes(b"z.png 0\n\xff 1\n")
    source = source_for(node_of(image_layer(batch, transform="crop_size: 3")), caffe_pb2.TEST)
    if batch == 1:
        source.next_batch()   # z.png
    with pytest.raises(NetError) as err:
        source.next_batch()
    assert str(err.value) == (f"layer 'img': list.txt:2: could not load 'imgs/\\xff': no such "
                              f"file (paths are root_folder + name, relative to {tmp_path})")


@pytest.mark.parametrize("color, shown", [("true", "3x2147483647x8"), ("false", "1x8x2147483647")])
def test_image_data_resize_over_a_blob_is_refused_before_reading(image_list, color, shown):
    """Each image is resized to new_height x new_width before the crop (so the top can be
    small): a size over Caffe's blob bound is refused when the source is made (the fuzz test
    found it running for minutes)."""
    h, w = ("2147483647", "8") if color == "true" else ("8", "2147483647")
    layer = image_layer(2, f"new_height: {h} new_width: {w} is_color: {color}", "crop_size: 3")
    with pytest.raises(NetError) as err:
        source_for(node_of(layer), caffe_pb2.TEST)
    count = f"{int(h) * int(w) * (3 if color == 'true' else 1):,}"
    assert str(err.value) == (f"layer 'img': an image resized to new_height x new_width would "
                              f"have shape {shown} = {count} elements; Caffe allows at most "
                              "2,147,483,647 (INT_MAX) in one blob")


# ------------------------------------------------------------ MemoryData, DummyData, HDF5

def test_memory_data():
    node = node_of('name: "m" type: "MemoryData" top: "data" top: "label" '
                   'memory_data_param { batch_size: 2 channels: 1 height: 2 width: 3 }')
    source = source_for(node, caffe_pb2.TEST)
    assert source.shapes() == {"data": (2, 1, 2, 3), "label": (2,)}
    with pytest.raises(NetError, match="set_input_arrays"):
        source.next_batch()
    data = RNG.normal(size=(4, 1, 2, 3)).astype(np.float32)
    with pytest.raises(NetError, match="multiple of the batch size"):
        source.set_input_arrays(data[:3], np.arange(3))
    source.set_input_arrays(data, np.arange(4))
    got = [source.next_batch() for _ in range(3)]
    np.testing.assert_array_equal(got[2]["data"], data[:2])
    assert got[1]["label"].tolist() == [2.0, 3.0]
    d, l = next(iter(memory_data(data, np.arange(4), 2, start_batch=1)))
    np.testing.assert_array_equal(d, data[2:])


def test_dummy_data():
    node = node_of('name: "d" type: "DummyData" top: "a" top: "b" dummy_data_param { '
                   'shape { dim: 2 dim: 3 } shape { dim: 4 } '
                   'data_filler { type: "constant" value: 1.5 } '
                   'data_filler { type: "uniform" min: -1 max: 1 } }')
    source = source_for(node, caffe_pb2.TEST, seed=5)
    assert source.shapes() == {"a": (2, 3), "b": (4,)}
    first, second = source.next_batch(), source.next_batch()
    assert (first["a"] == 1.5).all() and (second["a"] == 1.5).all()
    assert not np.array_equal(first["b"], second["b"]) and (np.abs(first["b"]) <= 1).all()
    source.seek(1)
    np.testing.assert_array_equal(source.next_batch()["b"], second["b"])
    legacy = source_for(node_of('name: "d" type: "DummyData" top: "x" dummy_data_param { '
                                'num: 2 channels: 3 height: 4 width: 5 }'), caffe_pb2.TEST)
    assert (legacy.next_batch()["x"] == 0).all() and legacy.shapes()["x"] == (2, 3, 4, 5)
    batch = next(iter(dummy_data([(2, 2)], [{"type": "gaussian", "std": 2.0}], seed=1)))
    assert batch["data"].shape == (2, 2)


def test_hdf5_dataset(tmp_path, monkeypatch):
    h5py = pytest.importorskip("h5py")
    monkeypatch.chdir(tmp_path)
    with h5py.File("a.h5", "w") as f:
        f["data"] = np.arange(12, dtype=np.float32).reshape(3, 4)
        f["label"] = np.arange(3, dtype=np.int32)
    (tmp_path / "list.txt").write_text("a.h5\n")
    batches = iter(hdf5_dataset("list.txt", ["data", "label"], 2))
    next(batches)
    second = next(batches)
    assert second["label"].numpy().tolist() == [2.0, 0.0]   # wraps mid-batch


def test_unsupported_layer_type():
    node = node_of('name: "w" type: "AnnotatedData" top: "data"')
    with pytest.raises(NetError, match="AnnotatedData layers is not supported"):
        source_for(node, caffe_pb2.TEST)
