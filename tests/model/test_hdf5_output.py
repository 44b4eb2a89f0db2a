"""HDF5Output: the sink that saves its bottoms after each forward pass, only where the run's
WritePolicy lets it write (under the working or output directory, replacing nothing it did not
create unless asked, never a read-only file, never changing a file's mode)."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

import keras_caffe
from keras_caffe import WritePolicy
from tests.sentinel import make_sentinel, tree_state

NET = """
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 2 dim: 2 } } }
layer { name: "label" type: "Input" top: "label" input_param { shape { dim: 2 } } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "out" type: "HDF5Output" bottom: "ip" bottom: "label"
  hdf5_output_param { file_name: "features.h5" } }
"""
FEEDS = {"data": np.ones((2, 3, 2, 2), np.float32), "label": np.array([1, 2], np.float32)}


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A working directory beside a sentinel folder no run may touch."""
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    outside = tmp_path / "outside"
    return tmp_path / "work", outside, make_sentinel(outside)


def _net(file_name):
    return keras_caffe.build_net(NET.replace("features.h5", str(file_name)), seed=1)


def test_saves_caffes_datasets_and_appends_later_passes(work):
    folder, outside, before = work
    cnet = _net("features.h5")
    rng = np.random.default_rng(0)
    passes = []
    for k in range(3):   # one writer: later passes append to the file the first one made
        x = rng.standard_normal((2, 3, 2, 2)).astype(np.float32)
        label = np.array([k, k + 0.5], np.float32)
        passes.append((keras_caffe.forward(cnet, {"data": x, "label": label})["ip"], label))
    cnet.sinks["out"].close()
    with h5py.File(folder / "features.h5", "r") as f:
        assert sorted(f) == ["data", "label"]
        assert f["data"].shape == (6, 5, 1, 1) and f["label"].shape == (6, 1, 1, 1)
        assert f["data"].dtype == np.float32
        np.testing.assert_array_equal(f["data"][:, :, 0, 0], np.concatenate([p[0] for p in passes]))
        np.testing.assert_array_equal(f["label"][:, 0, 0, 0], np.concatenate([p[1] for p in passes]))
    assert sorted(os.listdir(folder)) == ["features.h5"]   # no temporary left
    assert tree_state(outside) == before


def test_an_existing_file_is_replaced_only_with_overwrite_and_keeps_its_mode(work):
    folder, outside, before = work
    old = folder / "features.h5"
    old.write_bytes(b"an older file")
    old.chmod(0o640)
    with pytest.raises(keras_caffe.OutputError) as err:
        keras_caffe.forward(_net("features.h5"), FEEDS)
    assert str(err.value) == (f"layer 'out': '{old}' already exists and this run did not create "
                              "it; pass --overwrite (overwrite=True) to replace it")
    assert old.read_bytes() == b"an older file" and sorted(os.listdir(folder)) == ["features.h5"]

    cnet = _net("features.h5")
    keras_caffe.forward(cnet, FEEDS, writes=WritePolicy(overwrite=True))
    cnet.sinks["out"].close()
    with h5py.File(old, "r") as f:
        np.testing.assert_array_equal(f["label"][:, 0, 0, 0], [1, 2])
    assert oct(old.stat().st_mode & 0o777) == oct(0o640)
    assert tree_state(outside) == before


def test_a_read_only_file_is_never_replaced(work):
    folder, outside, before = work
    old = folder / "features.h5"
    old.write_bytes(b"keep me")
    old.chmod(0o444)
    with pytest.raises(keras_caffe.OutputError,
                       match=r"^layer 'out': '.*features.h5' is read-only \(mode 0444\); "
                             "keras-caffe never replaces a read-only file"):
        keras_caffe.forward(_net("features.h5"), FEEDS, writes=WritePolicy(overwrite=True))
    assert old.read_bytes() == b"keep me" and old.stat().st_mode & 0o777 == 0o444
    assert sorted(os.listdir(folder)) == ["features.h5"]
    assert tree_state(outside) == before


@pytest.mark.parametrize("name", ["../outside/new.h5", "../outside/keep.h5", "ABSOLUTE",
                                  "sub/../../outside/sub/x.h5", "link/new.h5"])
def test_a_net_cannot_write_outside_the_working_directory(work, name):
    folder, outside, before = work
    (folder / "link").symlink_to(outside)   # a name inside that resolves outside
    if name == "ABSOLUTE":
        name = str(outside / "keep.h5")
    cnet = _net(name)
    with pytest.raises(keras_caffe.OutputError) as err:
        keras_caffe.forward(cnet, FEEDS, writes=WritePolicy(overwrite=True))
    message = str(err.value)
    assert message.startswith(f"layer 'out': HDF5Output file_name '{name}' ")
    assert ("is an absolute path" if name.startswith("/") else
            f"resolves to '{os.path.realpath(folder / name)}', outside") in message
    assert f"the working directory '{os.path.realpath(folder)}'" in message
    assert message.endswith("--allow-outside-writes (allow_outside_writes=True)")
    assert tree_state(outside) == before
    assert sorted(os.listdir(folder)) == ["link"]


def test_allow_outside_writes_opts_in(work):
    folder, outside, before = work
    cnet = _net("../outside/new.h5")
    keras_caffe.forward(cnet, FEEDS, writes=WritePolicy(allow_outside_writes=True))
    cnet.sinks["out"].close()
    with h5py.File(outside / "new.h5", "r") as f:
        assert f["data"].shape == (2, 5, 1, 1)
    after = tree_state(outside)
    del after["new.h5"]
    assert {k: v for k, v in after.items() if k != "."} == {k: v for k, v in before.items()
                                                           if k != "."}
    with pytest.raises(keras_caffe.OutputError, match="already exists"):   # still no overwrite
        keras_caffe.forward(_net("../outside/keep.h5"), FEEDS,
                            writes=WritePolicy(allow_outside_writes=True))
    assert tree_state(outside)["keep.h5"] == before["keep.h5"]


def test_output_dir_takes_the_names_and_confines_them(work, tmp_path):
    folder, outside, before = work
    out = tmp_path / "results"   # made on the first write
    cnet = _net("sub_features.h5")
    keras_caffe.forward(cnet, FEEDS, writes=WritePolicy(output_dir=str(out)))
    cnet.sinks["out"].close()
    assert sorted(os.listdir(out)) == ["sub_features.h5"] and os.listdir(folder) == []
    with pytest.raises(keras_caffe.OutputError,
                       match=rf"outside the output directory '{out}'"):
        keras_caffe.forward(_net("../work/x.h5"), FEEDS, writes=WritePolicy(output_dir=str(out)))
    assert os.listdir(folder) == [] and tree_state(outside) == before


def test_errors(work):
    with pytest.raises(keras_caffe.NetError, match="layer 'out'.*file_name is empty"):
        keras_caffe.build_net(NET.replace('file_name: "features.h5"', ""))
    cnet = _net("no/such/dir/f.h5")
    with pytest.raises(keras_caffe.NetError, match="layer 'out'.*cannot write HDF5Output file"):
        keras_caffe.forward(cnet, FEEDS)
    assert os.listdir(work[0]) == []
