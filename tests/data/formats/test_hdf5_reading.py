"""HDF5 files that cannot be read as they claim to be (found by the fuzz test): a corrupt or
truncated file, and a small file declaring a dataset of terabytes, are one NetError naming
the file (and the dataset) before anything is allocated."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from keras_caffe.data.formats.hdf5 import read_datasets
from keras_caffe.data.sources import HDF5Source
from keras_caffe.errors import MemoryLimitError, NetError
from keras_caffe.graph import memory
from tests.sentinel import refused, tree_state

NET = ('layer { name: "d" type: "HDF5Data" top: "data" top: "label" '
       'hdf5_data_param { source: "list.txt" batch_size: 2 } }\n')


def _good(path) -> bytes:
    with h5py.File(path, "w") as f:
        f["data"] = np.arange(8, dtype=np.float32).reshape(4, 2)
        f["label"] = np.zeros(4, np.float32)
    return path.read_bytes()


@pytest.mark.parametrize("damage, reason", [
    ("heap", "Unable to synchronously check link existence (bad local heap signature)"),
    ("truncated", "Unable to synchronously open file (truncated file: eof = 1048"),
])
def test_a_corrupt_file_is_one_error_naming_it(tmp_path, monkeypatch, damage, reason):
    monkeypatch.chdir(tmp_path)
    raw = _good(tmp_path / "a.h5")
    assert read_datasets("a.h5", ["data", "label"])["data"][3].tolist() == [6.0, 7.0]
    if damage == "heap":   # the group's local heap loses its signature
        at = raw.index(b"HEAP")
        bad = raw[:at] + b"XXXX" + raw[at + 4:]
    else:
        bad = raw[:len(raw) // 2]
    (tmp_path / "a.h5").write_bytes(bad)
    with pytest.raises(NetError) as err:
        read_datasets("a.h5", ["data", "label"])
    assert str(err.value).startswith(f"cannot read HDF5 file 'a.h5': {reason}")
    assert str(err.value).endswith("(a corrupt or truncated file?)")


def test_forward_over_a_corrupt_file_is_refused_and_writes_nothing(tmp_path, monkeypatch,
                                                                    capsys):
    monkeypatch.chdir(tmp_path)
    raw = _good(tmp_path / "a.h5")
    at = raw.index(b"HEAP")
    (tmp_path / "a.h5").write_bytes(raw[:at] + b"XXXX" + raw[at + 4:])
    (tmp_path / "list.txt").write_text("a.h5\n")
    (tmp_path / "net.prototxt").write_text(NET)
    message = refused(["forward", "net.prototxt", "--batches", "1", "--out", "out.npz"],
                      tmp_path, capsys)
    assert message.startswith("layer 'd': cannot read HDF5 file 'a.h5': ")
    assert "bad local heap signature" in message
    assert not (tmp_path / "out.npz").exists()


def _declared(path, shape) -> None:
    """A file of a few KB whose dataset 'data' claims ``shape`` (never written)."""
    with h5py.File(path, "w") as f:
        f.create_dataset("data", shape=shape, dtype="f4", chunks=tuple(min(d, 1024) for d in shape))
        f["label"] = np.zeros(shape[0] if shape[0] < 100 else 4, np.float32)


def test_a_dataset_over_int_max_values_is_refused_unread(tmp_path):
    _declared(tmp_path / "big.h5", (2**31, 2**20))
    assert (tmp_path / "big.h5").stat().st_size < 100_000
    before = tree_state(tmp_path)
    with pytest.raises(NetError) as err:
        read_datasets(str(tmp_path / "big.h5"), ["data", "label"])
    assert str(err.value) == (
        f"HDF5 file '{tmp_path / 'big.h5'}': dataset 'data' would have shape "
        "2147483648x1048576 = 2,251,799,813,685,248 elements; Caffe allows at most "
        "2,147,483,647 (INT_MAX) in one blob")
    assert tree_state(tmp_path) == before


def test_a_dataset_over_the_memory_limit_is_refused_unread(tmp_path):
    _declared(tmp_path / "big.h5", (2**26, 4))    # 1 GiB of float32, under INT_MAX values
    with memory.default_limit("256M"), pytest.raises(MemoryLimitError) as err:
        read_datasets(str(tmp_path / "big.h5"), ["data", "label"])
    assert (err.value.needed, err.value.limit) == (2**30, 2**28)
    assert str(err.value).startswith(
        f"HDF5 file '{tmp_path / 'big.h5'}': dataset 'data' of shape (67108864, 4) would take "
        "1.0 GiB to read as float32, over the memory limit of 256.0 MiB (--max-memory / "
        "max_memory); ")


def test_the_memory_limit_bounds_every_file_of_a_list_together(tmp_path, monkeypatch):
    """The source holds every file of its list: a file named again and again adds up, and is
    refused at the one that would pass the limit (each alone is well under it)."""
    monkeypatch.chdir(tmp_path)
    with h5py.File("a.h5", "w") as f:
        f["data"] = np.zeros((2**16, 1), np.float32)   # 256 KiB
        f["label"] = np.zeros(2**16, np.float32)       # 256 KiB
    (tmp_path / "list.txt").write_text("a.h5\n" * 5)
    with memory.default_limit("2M"):
        with pytest.raises(MemoryLimitError) as err:
            HDF5Source("list.txt", ["data", "label"], 2)
        (tmp_path / "list.txt").write_text("a.h5\n" * 4)
        assert HDF5Source("list.txt", ["data", "label"], 2).total == 4 * 2**16   # 2 MiB
    assert (err.value.needed, err.value.limit) == (2**21 + 2**18, 2**21)
    assert str(err.value).startswith(
        "HDF5 file 'a.h5': dataset 'data' of shape (65536, 1) would take 256.0 KiB "
        "to read as float32 besides the 2.0 MiB of the datasets read before, over the memory "
        "limit of 2.0 MiB (--max-memory / max_memory); ")
