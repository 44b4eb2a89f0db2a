"""``keras-caffe extract-features``: Caffe's extract_features, checked against ``keras-caffe
forward --batches`` and ``caffe.Net`` on a self-made net fed by a Data layer, and read back
by the package's own Data / HDF5Data layers and by ``caffe.io.datum_to_array``."""

from __future__ import annotations

import struct

import lmdb
import numpy as np
import pytest

import keras_caffe
from keras_caffe import cli
from keras_caffe.fileio import move_into_place
from keras_caffe.proto import caffe_pb2
from keras_caffe.pycaffe import io as caffe_io
from keras_caffe.tools.features import feature_datum, output_paths
from tests.data.helpers import raw_datum, write_lmdb

BATCH, BATCHES, RECORDS = 4, 3, 10     # 12 items: the Data layer wraps around its 10 records

NET = """
name: "features"
layer { name: "data" type: "Data" top: "data" top: "label"
  data_param { source: "SOURCE" backend: LMDB batch_size: 4 }
  transform_param { scale: 0.00390625 } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "gaussian" std: 0.3 }
                      bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "ip1" type: "InnerProduct" bottom: "conv1" top: "ip1"
  inner_product_param { num_output: 5 weight_filler { type: "xavier" } } }
layer { name: "prob" type: "Softmax" bottom: "ip1" top: "prob" }
"""

READER = """
name: "reader"
layer { name: "feats" type: "Data" top: "feat" data_param { source: "SOURCE" backend: LMDB
                                                              batch_size: 4 } }
"""


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A net fed by an LMDB of 10 raw 3x8x8 images, its weights, and ``keras-caffe forward
    --batches 3``'s blobs (the reference)."""
    root = tmp_path_factory.mktemp("features")
    rng = np.random.default_rng(0)
    write_lmdb(root / "images", [(b"%08d" % i, raw_datum(rng.integers(0, 256, (3, 8, 8)), i % 3))
                                 for i in range(RECORDS)])
    net = root / "net.prototxt"
    net.write_text(NET.replace("SOURCE", str(root / "images")))
    weights = root / "w.caffemodel"
    keras_caffe.save_caffemodel(keras_caffe.open_net(net, data=True, seed=3).cnet, weights)
    assert cli.main(["forward", str(net), "--weights", str(weights), "--batches", str(BATCHES),
                     "--out", str(root / "ref.npz")]) == 0
    with np.load(root / "ref.npz") as ref:
        reference = {b: np.concatenate([ref[f"{b}/{k}"] for k in range(BATCHES)])
                     for b in ("conv1", "ip1", "prob", "label")}
    return root, net, weights, reference


def _records(path):
    env = lmdb.open(str(path), readonly=True, lock=False)
    with env.begin() as txn:
        records = list(txn.cursor())
    env.close()
    return records


def test_lmdb_per_blob_keys_and_datums_as_caffe_writes_them(made, capsys):
    root, net, weights, reference = made
    out = root / "feats.lmdb"
    assert cli.main(["extract-features", str(net), "--weights", str(weights), "--blobs",
                     "conv1,ip1", "--batches", str(BATCHES), "-o", str(out)]) == 0
    assert "wrote 12 features of blob conv1 (4x6x6 each)" in capsys.readouterr().err
    assert not out.exists()                               # one database per blob
    for blob, chw in (("conv1", (4, 6, 6)), ("ip1", (5, 1, 1))):
        records = _records(root / f"feats_{blob}.lmdb")
        assert [k for k, _ in records] == [b"%010d" % i for i in range(BATCH * BATCHES)]
        for i, (_, value) in enumerate(records):
            expected = reference[blob][i]
            # Caffe's bytes: channels, height, width, then float_data unpacked (field 6, wire
            # type 5: tag 0x35 before every float), no label
            head = b"".join(bytes([tag, d]) for tag, d in zip((0x08, 0x10, 0x18), chw))
            floats = b"".join(b"\x35" + struct.pack("<f", v) for v in expected.ravel())
            assert value == head + floats == feature_datum(expected)
            datum = caffe_pb2.Datum.FromString(value)
            assert not datum.HasField("label") and not datum.data
            np.testing.assert_array_equal(caffe_io.datum_to_array(datum),
                                          expected.reshape(chw))


def test_a_data_layer_reads_the_features_back(made):
    root, net, weights, reference = made
    assert cli.main(["extract-features", str(net), "--weights", str(weights), "--blobs",
                     "conv1", "--batches", str(BATCHES), "-o", str(root / "back_lmdb")]) == 0
    reader = root / "reader.prototxt"
    reader.write_text(READER.replace("SOURCE", str(root / "back_lmdb")))
    blobs = keras_caffe.forward_batches(reader, BATCHES)
    got = np.concatenate([blobs[f"feat/{k}"] for k in range(BATCHES)])
    np.testing.assert_array_equal(got, reference["conv1"])


def test_hdf5_one_dataset_per_blob_read_back_by_hdf5data(made):
    import h5py

    root, net, weights, reference = made
    out = root / "feats.h5"
    assert cli.main(["extract-features", str(net), "--weights", str(weights), "--blobs",
                     "conv1,ip1", "--batches", str(BATCHES), "-o", str(out), "--backend",
                     "hdf5"]) == 0
    with h5py.File(out, "r") as f:
        assert sorted(f) == ["conv1", "ip1"]
        assert f["conv1"].shape == (12, 4, 6, 6) and f["ip1"].shape == (12, 5)
        assert f["conv1"].dtype == np.float32
        for blob in ("conv1", "ip1"):
            np.testing.assert_array_equal(f[blob][...], reference[blob])
    (root / "list.txt").write_text(f"{out}\n")
    reader = root / "h5reader.prototxt"
    reader.write_text('layer { name: "d" type: "HDF5Data" top: "conv1" top: "ip1" '
                      f'hdf5_data_param {{ source: "{root / "list.txt"}" batch_size: 4 }} }}')
    blobs = keras_caffe.forward_batches(reader, BATCHES)
    for blob in ("conv1", "ip1"):
        got = np.concatenate([blobs[f"{blob}/{k}"] for k in range(BATCHES)])
        np.testing.assert_array_equal(got, reference[blob])


def test_caffe_positional_form_to_leveldb_matches_caffe_net(made):
    import plyvel

    import keras_caffe.pycaffe as caffe

    root, net, weights, _ = made
    out = root / "prob_leveldb"
    assert cli.main(["extract-features", str(weights), str(net), "prob,label",
                     f"{out},{root / 'label_leveldb'}", "2", "leveldb", "CPU"]) == 0
    caffe_net = caffe.Net(str(net), str(weights), caffe.TEST)
    expected = []
    for _ in range(2):
        expected.append(caffe_net.forward()["prob"].copy())
    db = plyvel.DB(str(out))
    records = list(db.iterator())
    db.close()
    assert [k for k, _ in records] == [b"%010d" % i for i in range(8)]
    got = np.stack([caffe_io.datum_to_array(caffe_pb2.Datum.FromString(v)) for _, v in records])
    np.testing.assert_allclose(got.reshape(8, 5), np.concatenate(expected), rtol=1e-6, atol=1e-7)
    db = plyvel.DB(str(root / "label_leveldb"))
    labels = [caffe_pb2.Datum.FromString(v) for _, v in db.iterator()]
    db.close()
    assert [(d.channels, d.height, d.width) for d in labels] == [(1, 1, 1)] * 8
    assert [d.float_data[0] for d in labels] == [i % 3 for i in range(8)]


def test_an_existing_output_is_kept_unless_force(made, capsys):
    root, net, weights, reference = made
    out = root / "old_lmdb"
    out.mkdir()
    (out / "keep").write_text("old")
    argv = ["extract-features", str(net), "--weights", str(weights), "--blobs", "ip1",
            "--batches", "1", "-o", str(out)]
    assert cli.main(argv) == 1
    err = capsys.readouterr().err
    assert "already exist" in err and "--force" in err and len(err.strip().splitlines()) == 1
    assert (out / "keep").read_text() == "old"
    assert cli.main(argv + ["--force"]) == 0
    assert not (out / "keep").exists()
    assert len(_records(out)) == BATCH
    assert sorted(p.name for p in root.iterdir() if p.name.startswith(".old_lmdb")) == []


@pytest.mark.parametrize("args, message", [
    (["--blobs", "fc7,conv1"], "unknown blob(s) fc7 in the TEST net; its blobs: data, label, "
                               "conv1, ip1, prob"),
    (["--weights", "missing.caffemodel"], "weights file 'missing.caffemodel' not found"),
    (["--backend", "rocksdb"], "unknown backend 'rocksdb': use one of lmdb, leveldb, hdf5"),
    (["-o", "a,b,c"], "2 blobs but 3 outputs"),
    (["--batches", "0"], "the number of batches must be positive"),
])
def test_errors_are_one_line_and_write_nothing(made, tmp_path, capsys, monkeypatch, args,
                                               message):
    root, net, weights, _ = made
    monkeypatch.chdir(tmp_path)
    options = {"--weights": str(weights), "--blobs": "conv1,ip1", "--batches": "1",
               "-o": "out", "--backend": "lmdb"}
    options.update(dict(zip(args[::2], args[1::2])))
    argv = ["extract-features", str(net)] + [x for kv in options.items() for x in kv]
    assert cli.main(argv) in (1, 2)
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_output_naming_rule():
    assert output_paths(["fc7", "prob"], ["feats.lmdb"], "lmdb") == ["feats_fc7.lmdb",
                                                                      "feats_prob.lmdb"]
    assert output_paths(["a/b"], ["dir/feats/"], "leveldb") == ["dir/feats"]
    assert output_paths(["a/b", "c"], ["dir/feats"], "leveldb") == ["dir/feats_a_b",
                                                                    "dir/feats_c"]
    assert output_paths(["fc7", "prob"], ["f.h5"], "hdf5") == ["f.h5", "f.h5"]
    assert output_paths(["fc7", "prob"], ["x", "y"], "lmdb") == ["x", "y"]


def test_move_into_place_swaps_a_file_or_folder_whole(tmp_path):
    (tmp_path / "new").write_text("new")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "x").write_text("old")
    with pytest.raises(FileExistsError):
        move_into_place(tmp_path / "new", tmp_path / "old")
    assert (tmp_path / "old" / "x").read_text() == "old"
    move_into_place(tmp_path / "new", tmp_path / "old", replace=True)
    assert (tmp_path / "old").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old"]
    (tmp_path / "d").mkdir()
    move_into_place(tmp_path / "d", tmp_path / "e")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e", "old"]
