"""``keras-caffe train`` on a train_val whose TRAIN net reads an LMDB of images (made with our
convert-imageset) and whose TEST net reads HDF5 (made with write_hdf5_list)."""

from __future__ import annotations

import json

import numpy as np
import tensorflow as tf

from keras_caffe import cli
from keras_caffe.data.writers import write_hdf5_list
from keras_caffe.tools.demo_shapes import make_batch

NET = """
name: "shapes_train_val"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
  transform_param { scale: 0.00390625 mirror: true crop_size: 24 }
  data_param { source: "train_lmdb" batch_size: 16 backend: LMDB } }
layer { name: "data" type: "HDF5Data" top: "data" top: "label" include { phase: TEST }
  hdf5_data_param { source: "test.txt" batch_size: 20 } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 8 kernel_size: 5 weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool1" top: "ip1"
  inner_product_param { num_output: 4 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip1" bottom: "label" top: "loss" }
layer { name: "accuracy" type: "Accuracy" bottom: "ip1" bottom: "label" top: "accuracy" include { phase: TEST } }
"""

SOLVER = """
net: "train_val.prototxt"
test_iter: 3 test_interval: 100 test_initialization: false
base_lr: 0.05 momentum: 0.9 weight_decay: 0.0005 lr_policy: "fixed"
display: 50 max_iter: 200 snapshot: 0 snapshot_prefix: "shapes" random_seed: 5
"""


def test_train_reads_lmdb_for_train_and_hdf5_for_test(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    images, labels = make_batch(64, seed=11)
    (tmp_path / "img").mkdir()
    lines = []
    for i, (image, label) in enumerate(zip(images, labels)):
        grey = np.round(image[0] * 255).astype(np.uint8)[..., None]
        (tmp_path / "img" / f"{i}.png").write_bytes(tf.io.encode_png(grey).numpy())
        lines.append(f"{i}.png {label}")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    assert cli.main(["convert-imageset", "img/", "list.txt", "train_lmdb", "--gray"]) == 0
    test_x, test_y = make_batch(60, seed=12)
    crop = test_x[:, :, 2:26, 2:26]  # what a TEST centre crop of 24 would give
    write_hdf5_list(str(tmp_path / "test"), {"data": crop, "label": test_y.astype(np.float32)})
    (tmp_path / "train_val.prototxt").write_text(NET)
    (tmp_path / "solver.prototxt").write_text(SOLVER)
    assert cli.main(["train", "--solver", "solver.prototxt", "--log", "log.jsonl"]) == 0
    records = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    train = [r for r in records if "lr" in r]
    tests = [r for r in records if "test_net" in r]
    assert len(train) == 200
    assert np.mean([r["loss"] for r in train[-10:]]) < np.mean([r["loss"] for r in train[:10]])
    assert [t["iteration"] for t in tests] == [100, 200]
    assert tests[-1]["outputs"]["accuracy"] > 0.35  # 4 classes: chance is 0.25
    assert (tmp_path / "shapes_iter_200.caffemodel").is_file()
