"""compute_image_mean on databases made here, and the native decode it relies on."""

from __future__ import annotations

import lmdb
import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.data.image_mean import compute_image_mean
from keras_caffe.data.writers import DataToolError
from keras_caffe.proto import caffe_pb2
from keras_caffe.proto.binary import read_blob


def _lmdb(path, values):
    env = lmdb.open(str(path), map_size=1 << 24)
    with env.begin(write=True) as txn:
        for i, v in enumerate(values):
            txn.put(b"k%03d" % i, v)
    env.close()


def test_mean_is_the_float32_sum_divided_by_the_count(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (3, 4, 5), dtype=np.uint8) for _ in range(7)]
    _lmdb(tmp_path / "db", [caffe_pb2.Datum(channels=3, height=4, width=5, data=a.tobytes(),
                                            label=i).SerializeToString()
                            for i, a in enumerate(images)])
    mean = compute_image_mean(tmp_path / "db", tmp_path / "m.binaryproto")
    total = np.zeros((3, 4, 5), np.float32)
    for a in images:
        total += a
    np.testing.assert_array_equal(mean, total / np.float32(7))
    blob = caffe_pb2.BlobProto.FromString((tmp_path / "m.binaryproto").read_bytes())
    assert (blob.num, blob.channels, blob.height, blob.width) == (1, 3, 4, 5)
    assert not blob.HasField("shape")
    np.testing.assert_array_equal(read_blob(tmp_path / "m.binaryproto"), mean[None])


def test_encoded_records_are_decoded_natively(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4, 1) * 20
    png = tf.io.encode_png(grey).numpy()
    _lmdb(tmp_path / "db", [caffe_pb2.Datum(data=png, encoded=True).SerializeToString()] * 2)
    np.testing.assert_array_equal(compute_image_mean(tmp_path / "db"), grey.transpose(2, 0, 1))


def test_colour_and_alpha_records_keep_their_channels_in_bgr_order(tmp_path):
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 7
    png = tf.io.encode_png(rgba).numpy()
    _lmdb(tmp_path / "db", [caffe_pb2.Datum(data=png, encoded=True).SerializeToString()])
    mean = compute_image_mean(tmp_path / "db")
    assert mean.shape == (4, 2, 3) and mean[:, 0, 0].tolist() == [0, 0, 200, 7]


def test_mean_file_parses_as_caffes_blobproto(tmp_path):
    from keras_caffe.proto.binary import write_blob

    mean = np.arange(6, dtype=np.float32).reshape(1, 2, 3) / 3
    write_blob(tmp_path / "mean.binaryproto", mean[None], shape=False)
    written = (tmp_path / "mean.binaryproto").read_bytes()
    blob = caffe_pb2.BlobProto.FromString(written)
    assert list(blob.data) == mean.ravel().tolist()
    assert blob.SerializeToString() == written
    assert not blob.HasField("shape") and (blob.num, blob.channels, blob.height) == (1, 1, 2)


def test_errors_name_the_database(tmp_path):
    with pytest.raises(DataToolError, match="not found"):
        compute_image_mean(tmp_path / "nothing")
    _lmdb(tmp_path / "empty", [])
    with pytest.raises(DataToolError, match="no records"):
        compute_image_mean(tmp_path / "empty")
    _lmdb(tmp_path / "junk", [caffe_pb2.Datum(data=b"xx", encoded=True).SerializeToString()])
    with pytest.raises(DataToolError, match=r"junk: record 'k000'"):
        compute_image_mean(tmp_path / "junk")
