"""Class labels outside the range of the layer reading them stop training (and ``forward
--batches``, ``test``, pycaffe's data layers) with one error naming the layer, the value, the
class count and the record; ``ignore_label`` is respected; labels in range change nothing."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import keras_caffe
from keras_caffe import cli
from keras_caffe.graph.labels import IndexCheck
from tests.data.helpers import raw_datum, write_lmdb
from tests.sentinel import refused

LMDB_NET = """
name: "lmdb_net"
layer { name: "data" type: "Data" top: "data" top: "label"
  data_param { source: "train_lmdb" backend: LMDB batch_size: 4 } }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
  inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
"""

HDF5_NET = """
name: "hdf5_net"
layer { name: "data" type: "HDF5Data" top: "data" top: "label"
  hdf5_data_param { source: "list.txt" batch_size: 5 } }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
  inner_product_param { num_output: 10 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" %s }
layer { name: "acc" type: "Accuracy" bottom: "fc" bottom: "label" top: "acc" %s }
"""

SOLVER = """
net: "net.prototxt"
base_lr: 0.01
lr_policy: "fixed"
max_iter: 4
display: 1
snapshot: 0
snapshot_prefix: "snap"
random_seed: 1
"""


def _lmdb(tmp, labels):
    rng = np.random.default_rng(0)
    write_lmdb(tmp / "train_lmdb", [(b"%08d" % i, raw_datum(rng.integers(0, 255, (1, 4, 4)), l))
                                    for i, l in enumerate(labels)])
    (tmp / "net.prototxt").write_text(LMDB_NET)
    (tmp / "solver.prototxt").write_text(SOLVER)


def _hdf5(tmp, labels, ignore=None):
    """Two files of 10 rows each; ``labels`` gives all 20."""
    rng = np.random.default_rng(1)
    for k in range(2):
        with h5py.File(tmp / f"part{k}.h5", "w") as f:
            f["data"] = rng.standard_normal((10, 2, 3, 3)).astype(np.float32)
            f["label"] = np.asarray(labels[10 * k:10 * k + 10], np.float32)
    (tmp / "list.txt").write_text("part0.h5\npart1.h5\n")
    loss = f"loss_param {{ ignore_label: {ignore} }}" if ignore is not None else ""
    acc = f"accuracy_param {{ ignore_label: {ignore} }}" if ignore is not None else ""
    (tmp / "net.prototxt").write_text(HDF5_NET % (loss, acc))
    (tmp / "solver.prototxt").write_text(SOLVER)


def _fails(tmp, capsys, argv) -> str:
    """Run ``keras-caffe ARGV``: one error, no snapshot, nothing else written; the message."""
    return refused(argv, tmp, capsys)


def test_an_lmdb_label_out_of_range_stops_training_naming_the_record(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _lmdb(tmp_path, [0, 1, 2, 0, 1, 7, 2, 0])
    message = _fails(tmp_path, capsys, ["train", "--solver", "solver.prototxt"])
    assert message == ("layer 'loss': label 7 in blob 'label' is out of range: this "
                       "SoftmaxWithLoss layer reads 3 classes (0 to 2); read by data layer 'data' "
                       "from LMDB train_lmdb: record 5 (key '00000005')")


def test_an_hdf5_label_out_of_range_stops_training_naming_file_and_row(tmp_path, monkeypatch,
                                                                       capsys):
    monkeypatch.chdir(tmp_path)
    labels = [i % 10 for i in range(20)]
    labels[13] = 12
    _hdf5(tmp_path, labels)
    message = _fails(tmp_path, capsys, ["train", "--solver", "solver.prototxt"])
    assert message == ("layer 'loss': label 12 in blob 'label' is out of range: this "
                       "SoftmaxWithLoss layer reads 10 classes (0 to 9); read by data layer "
                       "'data' from HDF5 file 'part1.h5', row 3")


def test_ignore_label_is_respected_and_other_values_still_checked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    labels = [i % 10 for i in range(20)]
    labels[4] = labels[15] = 255
    _hdf5(tmp_path, labels, ignore=255)
    assert cli.main(["train", "--solver", "solver.prototxt"]) == 0
    assert (tmp_path / "snap_iter_4.caffemodel").is_file()
    labels[7] = -1
    _hdf5(tmp_path, labels, ignore=255)
    message = _fails(tmp_path, capsys, ["train", "--solver", "solver.prototxt"])
    assert message.startswith("layer 'loss': label -1 in blob 'label' is out of range: this "
                              "SoftmaxWithLoss layer reads 10 classes (0 to 9, or ignore_label "
                              "255); read by data layer 'data' from HDF5 file 'part0.h5', row 7")


def test_labels_in_range_train_as_before(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _hdf5(tmp_path, [i % 10 for i in range(20)])
    opened = keras_caffe.open_net("net.prototxt", phase="train", data=True)
    checks = opened.sources["data"].index_checks
    assert [(c.layer, c.count, c.ignore) for c in checks] == [("loss", 10, None), ("acc", 10, None)]
    assert cli.main(["train", "--solver", "solver.prototxt"]) == 0
    assert (tmp_path / "snap_iter_4.solverstate").is_file()


def test_forward_batches_test_and_pycaffe_refuse_the_label_too(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _lmdb(tmp_path, [0, 1, 2, 9])
    keras_caffe.save_caffemodel(keras_caffe.build_net("net.prototxt", phase="train",
                                                      input_shapes={"data": (4, 1, 4, 4),
                                                                    "label": (4,)}),
                                tmp_path / "w.caffemodel")
    record = "read by data layer 'data' from LMDB train_lmdb: record 3 (key '00000003')"
    assert _fails(tmp_path, capsys, ["forward", "net.prototxt", "--batches", "1", "--phase",
                                     "train", "--out", "out.npz"]).endswith(record)
    assert _fails(tmp_path, capsys, ["test", "--model", "net.prototxt", "--weights",
                                     "w.caffemodel", "--iterations", "1"]).endswith(record)
    import keras_caffe.pycaffe as caffe

    net = caffe.Net("net.prototxt", caffe.TRAIN)
    with pytest.raises(keras_caffe.LabelError, match="label 9 in blob 'label'.*record 3"):
        net.forward()


def test_index_check_truncates_as_caffe_and_sees_nan():
    check = IndexCheck("label", "loss", "SoftmaxWithLoss", 3, ignore=None)
    assert check.first_bad(np.array([0, 2.9, -0.5, 1])) is None     # static_cast<int>: 2, 0
    assert check.first_bad(np.array([[0, 1], [3, 1]])) == (1, 3.0)
    item, value = check.first_bad(np.array([0, np.nan, 1]))
    assert item == 1 and np.isnan(value)
    spatial = np.zeros((2, 1, 4, 4), np.float32)
    spatial[1, 0, 2, 3] = 5
    assert IndexCheck("label", "loss", "SoftmaxWithLoss", 3, ignore=5).first_bad(spatial) is None
    assert check.first_bad(spatial) == (1, 5.0)
