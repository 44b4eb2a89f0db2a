"""Files named on the command line that are missing, folders, or of another format: one
``keras-caffe CMD: error:`` line naming the file (``CMD: ...`` and status 2 for an option's
file numpy cannot read), never a traceback, nothing written."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from keras_caffe import cli
from tests.model.nets import SMALL_CONVNET
from tests.sentinel import refused, tree_state


@pytest.fixture
def work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(SMALL_CONVNET)
    (tmp_path / "folder").mkdir()
    return tmp_path


@pytest.mark.parametrize("argv, message", [
    (["info", "folder"], "folder: Is a directory"),
    (["info", "net.prototxt", "--weights", "folder"], "folder: Is a directory"),
    (["convert", "net.prototxt", "--weights", "folder", "-o", "m.keras"],
     "folder: Is a directory"),
    (["train", "--solver", "folder"], "folder: Is a directory"),
    (["upgrade", "folder", "-o", "new.prototxt"], "folder: Is a directory"),
    (["info", "gone.prototxt"], "gone.prototxt: No such file or directory"),
    (["info", "net.prototxt", "--weights", "gone.caffemodel"],
     "gone.caffemodel: No such file or directory"),
    (["upgrade", "net.prototxt", "-o", "folder"],
     "folder: is a folder; give the name of a file to write"),
    (["upgrade", "net.prototxt", "-o", "gone/new.prototxt"],
     "gone/new.prototxt: cannot write it: the folder 'gone' does not exist"),
    (["convert", "net.prototxt", "-o", "gone/m.keras"],
     "gone/m.keras: cannot write it: the folder 'gone' does not exist"),
], ids=["net", "weights", "convert_weights", "solver", "upgrade", "missing_net",
        "missing_weights", "output_is_a_folder", "upgrade_output_folder_missing",
        "convert_output_folder_missing"])
def test_a_path_that_is_not_the_file_asked_for_is_one_message(work, capsys, argv, message):
    assert refused(argv, work, capsys) == message


def _npz(path, kind):
    if kind == "not_a_zip":
        path.write_bytes(b"PK\x03\x04 not a zip")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "npy":
        with open(path, "wb") as f:
            np.save(f, np.zeros((2, 3, 12, 10), np.float32))
    elif kind == "pickle":
        path.write_bytes(pickle.dumps({"data": 1}))
    elif kind == "objects":
        np.savez(path, data=np.array([{"a": 1}], dtype=object))
    elif kind == "strings":
        np.savez(path, data=np.array(["a", "b"]))


@pytest.mark.parametrize("kind, problem", [
    ("not_a_zip", "not an .npz archive of numeric arrays (File is not a zip file)"),
    ("empty", "not an .npz archive of numeric arrays (No data left in file)"),
    ("npy", "a single .npy array, not an .npz archive of arrays by blob name"),
    ("pickle", "pickled Python objects, which are never loaded"),
    ("objects", "not an .npz archive of numeric arrays (Object arrays cannot be loaded when "
                "allow_pickle=False)"),
    ("strings", "'data' is not an array of numbers"),
])
@pytest.mark.parametrize("command", ["forward", "verify"])
def test_an_inputs_file_numpy_cannot_read_is_a_usage_error(work, capsys, kind, problem,
                                                           command):
    _npz(work / "in.npz", kind)
    np.savez(work / "ref.npz", prob=np.zeros((2, 5), np.float32))
    argv = [command, "net.prototxt", "--inputs", "in.npz"] + (
        ["--out", "out.npz"] if command == "forward" else ["--reference", "ref.npz"])
    before = tree_state(work)
    capsys.readouterr()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err == f"keras-caffe {command}: --inputs 'in.npz': {problem}\n"
    assert tree_state(work) == before
