"""HDF5Output: the sink that saves its bottoms after each forward pass."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

import keras_caffe

NET = """
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 2 dim: 2 } } }
layer { name: "label" type: "Input" top: "label" input_param { shape { dim: 2 } } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "out" type: "HDF5Output" bottom: "ip" bottom: "label"
  hdf5_output_param { file_name: "features.h5" } }
"""


def test_saves_caffes_datasets_and_appends_later_passes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "features.h5").write_bytes(b"an older file, replaced once the first pass is saved")
    cnet = keras_caffe.build_net(NET, seed=1)
    rng = np.random.default_rng(0)
    passes = []
    for k in range(3):
        x = rng.standard_normal((2, 3, 2, 2)).astype(np.float32)
        label = np.array([k, k + 0.5], np.float32)
        passes.append((keras_caffe.forward(cnet, {"data": x, "label": label})["ip"], label))
    cnet.sinks["out"].close()
    with h5py.File(tmp_path / "features.h5", "r") as f:
        assert sorted(f) == ["data", "label"]
        assert f["data"].shape == (6, 5, 1, 1) and f["label"].shape == (6, 1, 1, 1)
        assert f["data"].dtype == np.float32
        np.testing.assert_array_equal(f["data"][:, :, 0, 0], np.concatenate([p[0] for p in passes]))
        np.testing.assert_array_equal(f["label"][:, 0, 0, 0], np.concatenate([p[1] for p in passes]))


def test_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(keras_caffe.NetError, match="layer 'out'.*file_name is empty"):
        keras_caffe.build_net(NET.replace('file_name: "features.h5"', ""))
    cnet = keras_caffe.build_net(NET.replace("features.h5", "no/such/dir/f.h5"))
    with pytest.raises(keras_caffe.NetError, match="layer 'out'.*cannot write HDF5Output file"):
        keras_caffe.forward(cnet, {"data": np.zeros((2, 3, 2, 2), np.float32),
                                   "label": np.zeros(2, np.float32)})
