"""write_hdf5_list: HDF5 files with datasets named after tops, and the list HDF5Data reads."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from keras_caffe.data.writers import DataToolError, write_hdf5_list


def test_split_files_and_list_are_read_back_in_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    data = np.arange(7 * 2 * 3, dtype=np.float32).reshape(7, 2, 3)
    label = np.arange(7, dtype=np.int32)
    files = write_hdf5_list("out/train", {"data": data, "label": label}, rows_per_file=3,
                            compression="gzip")
    assert files == ["out/train_000.h5", "out/train_001.h5", "out/train_002.h5"]
    assert (tmp_path / "out" / "train.txt").read_text().split() == files
    rows = []
    for f in files:
        with h5py.File(f) as h:
            assert h["label"].dtype == np.int32 and h["data"].compression == "gzip"
            rows.append((h["data"][...], h["label"][...]))
    np.testing.assert_array_equal(np.concatenate([r[0] for r in rows]), data)
    np.testing.assert_array_equal(np.concatenate([r[1] for r in rows]), label)


def test_one_file_by_default_and_the_hdf5data_source_reads_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float64)
    files = write_hdf5_list("d", {"x": x, "y": np.arange(5)}, list_path="list.txt")
    assert files == ["d.h5"] and (tmp_path / "list.txt").read_text() == "d.h5\n"
    from keras_caffe.data.sources import HDF5Source

    source = HDF5Source("list.txt", ["x", "y"], batch_size=4)
    first, second = source.next_batch(), source.next_batch()
    np.testing.assert_array_equal(first["x"], x[:4].astype(np.float32))
    np.testing.assert_array_equal(second["y"], [4, 0, 1, 2])


@pytest.mark.parametrize("arrays,message", [
    ({}, "at least one"),
    ({"a": np.zeros(3), "b": np.zeros(4)}, "different numbers of rows"),
    ({"a": np.array(1.0)}, "row axis"),
    ({"a": np.array(["x"])}, "numeric"),
])
def test_bad_arrays_are_refused(tmp_path, arrays, message):
    with pytest.raises(DataToolError, match=message):
        write_hdf5_list(tmp_path / "p", arrays)


def test_paths_with_spaces_are_refused(tmp_path):
    with pytest.raises(DataToolError, match="whitespace"):
        write_hdf5_list(tmp_path / "a b", {"a": np.zeros(2)})
