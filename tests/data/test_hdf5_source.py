"""HDF5Data's batches are picked by array operations: the same items, in the same order, as
Caffe's per-item loop (files in list order, batches spanning files, wrapping mid-batch, a
reshuffle at every wrap with ``shuffle``), at no Python cost per item."""

from __future__ import annotations

import sys
import time

import h5py
import numpy as np
import pytest

from keras_caffe.data.sources.hdf5_data import HDF5Source

ROWS = (3, 1, 4)   # rows of the three files


@pytest.fixture
def h5_list(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start = 0
    for i, n in enumerate(ROWS):
        with h5py.File(f"f{i}.h5", "w") as f:
            f["data"] = np.arange(start, start + n, dtype=np.float32)[:, None] * [1, -1]
            f["label"] = np.arange(start, start + n, dtype=np.float32)
        start += n
    (tmp_path / "list.txt").write_text("".join(f"f{i}.h5\n" for i in range(len(ROWS))))
    return "list.txt"


def caffe_loop(files_rows, batch_size, batches, shuffle, seed):
    """The labels of ``batches`` batches as Caffe's HDF5DataLayer picks them, one item at a
    time (and as this package did before, with a Python list of (file, row) pairs)."""
    rng = np.random.default_rng(seed)

    def order():
        files = list(range(len(files_rows)))
        if shuffle:
            rng.shuffle(files)
        out = []
        for i in files:
            rows = np.arange(files_rows[i])
            if shuffle:
                rng.shuffle(rows)
            out.extend((i, int(r)) for r in rows)
        return out

    starts = np.cumsum((0,) + files_rows[:-1])
    current, total, labels = order(), sum(files_rows), []
    for k in range(batches * batch_size):
        position = k % total
        if position == 0 and k > 0 and shuffle:
            current = order()
        i, row = current[position]
        labels.append(float(starts[i] + row))
    return np.array(labels).reshape(batches, batch_size)


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("batch_size", [1, 3, 5, 8, 19])
def test_same_items_as_caffes_loop(h5_list, shuffle, batch_size):
    source = HDF5Source(h5_list, ["data", "label"], batch_size, shuffle=shuffle, seed=7)
    expected = caffe_loop(ROWS, batch_size, 6, shuffle, 7)
    for b in range(6):
        batch = source.next_batch()
        np.testing.assert_array_equal(batch["label"], expected[b])
        np.testing.assert_array_equal(batch["data"], expected[b][:, None] * [1, -1])
        assert batch["data"].dtype == np.float32
    source.seek(4)   # a resume replays the reshuffles before it
    np.testing.assert_array_equal(source.next_batch()["label"], expected[4])


def test_describe_item_names_file_and_row(h5_list):
    source = HDF5Source(h5_list, ["data", "label"], 5)
    source.next_batch()
    source.next_batch()   # items 5..9: f2 rows 1..3, then f0 rows 0..1
    assert [source.describe_item(1, i) for i in (0, 3)] == [
        "HDF5 file 'f2.h5', row 1", "HDF5 file 'f0.h5', row 0"]


def test_shapes_come_from_the_files_without_reading_a_batch(h5_list):
    source = HDF5Source(h5_list, ["data", "label"], 2_000_000_000)
    assert source.shapes() == {"data": (2_000_000_000, 2), "label": (2_000_000_000,)}
    assert source.batches_read == 0


def _python_lines(call):
    """``call()`` and the number of lines of Python it ran (numpy's loops run none)."""
    count, outer = 0, sys.gettrace()

    def trace(frame, event, arg):
        nonlocal count
        count += event == "line"
        return trace

    sys.settrace(trace)
    try:
        result = call()
    finally:
        sys.settrace(outer)
    return result, count


def test_a_large_batch_costs_no_python_work_per_item(h5_list):
    source = HDF5Source(h5_list, ["data", "label"], 2_000_000)
    start = time.perf_counter()
    labels = source.next_batch()["label"]
    # (the former per-item loop took about 0.6 s here: the bound only catches far worse)
    assert time.perf_counter() - start < 5
    np.testing.assert_array_equal(labels[:10], [0, 1, 2, 3, 4, 5, 6, 7, 0, 1])
    assert labels[-1] == (2_000_000 - 1) % 8
    # What tells per-item work: the Python lines a batch runs do not grow with its size.
    lines = []
    for batch_size in (16, 160_000):   # both start at item 0 and span the three files
        source = HDF5Source(h5_list, ["data", "label"], batch_size)
        batch, count = _python_lines(source.next_batch)
        assert batch["label"][-1] == (batch_size - 1) % 8
        lines.append(count)
    assert lines[0] == lines[1] < 200, lines
