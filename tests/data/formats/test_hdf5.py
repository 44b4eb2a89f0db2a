"""HDF5Data sources whose files disagree on the shape of their items (Caffe shapes the blobs
by the first file): one message naming the file, the list and both shapes, from every command
that reads the source; nothing written."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from keras_caffe.proto import caffe_pb2
from tests.sentinel import refused

NET = """
layer { name: "d" type: "HDF5Data" top: "x" top: "y" hdf5_data_param { source: "list.txt" batch_size: 3 } }
layer { name: "f" type: "InnerProduct" bottom: "x" top: "z" inner_product_param { num_output: 3 } }
layer { name: "l" type: "SoftmaxWithLoss" bottom: "z" bottom: "y" top: "loss" }
"""


def _files(folder, shapes):
    """One HDF5 file per ``(x item shape, y item shape)``, listed in list.txt."""
    names = []
    for k, (x, y) in enumerate(shapes):
        names.append(f"part{k}.h5")
        with h5py.File(folder / names[-1], "w") as f:
            f["x"] = np.zeros((2,) + x, np.float32)
            f["y"] = np.zeros((2,) + y, np.float32)
    (folder / "list.txt").write_text("\n".join(names) + "\n")
    (folder / "net.prototxt").write_text(NET)


COMMANDS = {
    "forward": ["forward", "net.prototxt", "--batches", "1", "--out", "out.npz",
                "--phase", "train"],
    "test": ["test", "--model", "net.prototxt", "--weights", "w.caffemodel", "--allow-missing",
             "--iterations", "1", "--phase", "train"],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("shapes, message", [
    ([((3,), ()), ((5,), ())],
     "HDF5 file 'part1.h5' (listed in 'list.txt'): dataset 'x' holds items of shape (5,), "
     "but 'part0.h5' holds items of shape (3,)"),
    ([((2, 2), ()), ((2, 2), ()), ((2, 2), (1,))],
     "HDF5 file 'part2.h5' (listed in 'list.txt'): dataset 'y' holds items of shape (1,), "
     "but 'part0.h5' holds items of shape ()"),
], ids=["data", "label_in_third_file"])
def test_files_with_items_of_different_shapes_are_refused(tmp_path, monkeypatch, capsys,
                                                           command, shapes, message):
    monkeypatch.chdir(tmp_path)
    _files(tmp_path, shapes)
    (tmp_path / "w.caffemodel").write_bytes(caffe_pb2.NetParameter().SerializeToString())
    assert refused(COMMANDS[command], tmp_path, capsys) == (
        f"layer 'd': {message}; every file must hold items of one shape")
