"""``caffe.Net``'s HDF5Output layers write only where the process's write policy
(``caffe.set_output_policy``, ``keras-caffe python --output-dir/--allow-outside-writes/
--overwrite``) or the Net's ``writes=`` allows: unlike real Caffe, never outside the working
directory by default, never over a file the script did not write."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

import keras_caffe
import keras_caffe.pycaffe as caffe
from keras_caffe import WritePolicy, cli
from keras_caffe.pycaffe.settings import settings
from tests.sentinel import make_sentinel, tree_state

NET = """name: "sink"
input: "data" input_shape { dim: 2 dim: 3 }
input: "label" input_shape { dim: 2 }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param { num_output: 4 weight_filler { type: "constant" value: 0.5 } } }
layer { name: "save" type: "HDF5Output" bottom: "ip" bottom: "label"
  hdf5_output_param { file_name: "%s" } }
"""

SCRIPT = """import sys
import numpy as np
import caffe
net = caffe.Net(sys.argv[1], caffe.TEST)
net.blobs["data"].data[...] = 1
net.blobs["label"].data[...] = 3
net.forward()
"""


@pytest.fixture
def work(tmp_path, monkeypatch):
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    monkeypatch.setattr(settings, "writes", WritePolicy())   # this test's process policy
    outside = tmp_path / "outside"
    return tmp_path / "work", outside, make_sentinel(outside)


def _net(file_name, **kwargs):
    with open("net.prototxt", "w") as f:
        f.write(NET % file_name)
    net = caffe.Net("net.prototxt", caffe.TEST, **kwargs)
    net.blobs["data"].data[...] = 1
    net.blobs["label"].data[...] = [1, 2]
    return net


def _rows(path) -> list:
    with h5py.File(path, "r") as f:
        return f["label"][:, 0, 0, 0].tolist()


def test_outside_the_working_directory_is_refused_unless_allowed(work):
    folder, outside, before = work
    with pytest.raises(keras_caffe.OutputError,
                       match=r"^layer 'save': HDF5Output file_name '\.\./outside/x\.h5' resolves "
                             r"to .*--allow-outside-writes \(allow_outside_writes=True\)$"):
        _net("../outside/x.h5").forward()
    assert tree_state(outside) == before
    net = _net("../outside/x.h5", writes=WritePolicy(allow_outside_writes=True))
    net.forward()
    net.forward()   # the same run: appended
    assert _rows(outside / "x.h5") == [1, 2, 1, 2]
    caffe.set_output_policy(allow_outside_writes=True)
    assert settings.writes == WritePolicy(allow_outside_writes=True)
    net = _net(str(outside / "y.h5"))
    net.forward()
    assert _rows(outside / "y.h5") == [1, 2]
    assert {k: v for k, v in tree_state(outside).items() if k not in (".", "x.h5", "y.h5")} == \
        {k: v for k, v in before.items() if k != "."}


def test_a_file_the_script_did_not_write_is_kept_unless_overwrite(work):
    folder, outside, before = work
    (folder / "out.h5").write_bytes(b"from before")
    with pytest.raises(keras_caffe.OutputError, match="already exists and this run did not "
                                                      "create it; pass --overwrite"):
        _net("out.h5").forward()
    assert (folder / "out.h5").read_bytes() == b"from before"
    caffe.set_output_policy(overwrite=True)
    first = _net("out.h5")
    first.forward()
    assert _rows(folder / "out.h5") == [1, 2]
    caffe.set_output_policy()
    second = _net("out.h5")   # a file this script wrote: replaced, as Caffe's new Net does
    second.blobs["label"].data[...] = [5, 6]
    second.forward()
    assert _rows(folder / "out.h5") == [5, 6]


def test_reshaping_keeps_writing_the_same_file(work):
    folder, _, _ = work
    net = _net("out.h5")
    net.forward()
    net.blobs["data"].reshape(3, 3)
    net.blobs["label"].reshape(3)
    net.blobs["data"].data[...] = 1
    net.blobs["label"].data[...] = [7, 8, 9]
    net.forward()
    assert _rows(folder / "out.h5") == [1, 2, 7, 8, 9]


def test_keras_caffe_python_sets_the_policy_for_the_script(work, capsys):
    folder, outside, before = work
    (folder / "script.py").write_text(SCRIPT)
    (folder / "net.prototxt").write_text(NET % "../outside/z.h5")
    assert cli.main(["python", "script.py", "net.prototxt"]) == 1
    assert "HDF5Output file_name '../outside/z.h5'" in capsys.readouterr().err
    assert tree_state(outside) == before
    (folder / "net.prototxt").write_text(NET % "z.h5")
    assert cli.main(["python", "--output-dir", "results", "script.py", "net.prototxt"]) == 0
    assert _rows(folder / "results" / "z.h5") == [3, 3] and not (folder / "z.h5").exists()
    assert cli.main(["python", "--output-dir", "results", "script.py", "net.prototxt"]) == 1
    assert "already exists" in capsys.readouterr().err
    (folder / "net.prototxt").write_text(NET % "../outside/keep.h5")
    assert cli.main(["python", "--allow-outside-writes", "--overwrite", "script.py",
                     "net.prototxt"]) == 0
    assert _rows(outside / "keep.h5") == [3, 3]
    assert os.stat(outside / "keep.h5").st_mode == before["keep.h5"][0]   # its mode kept
