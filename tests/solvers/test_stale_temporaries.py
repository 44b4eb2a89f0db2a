"""When training starts (``keras-caffe train``, pycaffe's solvers) the temporaries that killed
runs' snapshot writes of this prefix left are removed, and nothing else is."""

from __future__ import annotations

import logging
import os
import time

import pytest

import keras_caffe.pycaffe as caffe
from keras_caffe import cli
from keras_caffe.solvers.snapshot import remove_stale_temporaries
from tests.solvers.crash_harness import setup, train_args
from tests.sentinel import tree_state
from tests.test_fileio import _dead_pid


def _leftovers(folder):
    """Stale temporaries of prefix snap/tiny in ``folder``/snap, and look-alikes that must stay
    (returned as the state of the folders they are in)."""
    dead, old = _dead_pid(), time.time() - 3600
    snap = folder / "snap"
    stale = [f".tiny_iter_1.caffemodel.{dead}.ab_d3fgh.tmp",
             f".tiny_iter_7.solverstate.{dead}.a1b2c3d4.tmp",
             f".tiny_iter_7.solverstate.json.{dead}.zzzzzzzz.tmp",
             ".tiny_iter_3.caffemodel.k2j3h4g5.tmp"]                      # no pid, an hour old
    keep = [f".tiny_iter_3.caffemodel.{os.getppid()}.abcdefgh.tmp",       # a live writer
            ".tiny_iter_4.caffemodel.qwertyui.tmp",                       # no pid, just made
            f".other_iter_1.caffemodel.{dead}.abcdefgh.tmp",              # another prefix
            f".tinyx_iter_1.caffemodel.{dead}.abcdefgh.tmp",
            f".tiny_iter_1.caffemodel.{dead}.abcdefgh.tmp.bak",
            f".tiny_iter_1.caffemodel.{dead}.abcdefg.tmp",
            f".tiny_iter_1.weights.{dead}.abcdefgh.tmp",
            "tiny_iter_99.caffemodel.tmp", "notes.tmp"]
    for name in stale + keep:
        (snap / name).write_bytes(b"left over")
        os.utime(snap / name, (old, old) if name != keep[1] else None)
    (snap / f".tiny_iter_8.caffemodel.{dead}.abcdefgh.tmp").mkdir()         # a folder
    (folder / f".tiny_iter_1.caffemodel.{dead}.abcdefgh.tmp").write_bytes(b"other folder")
    return stale, tree_state(snap), tree_state(folder)


def _kept(before: dict, after: dict, names) -> None:
    """Every entry of ``before`` but ``names`` is unchanged in ``after``."""
    for name, state in before.items():
        if name not in names and name != ".":
            assert after.get(name) == state, name


def test_train_removes_only_this_prefixs_stale_temporaries(tmp_path, monkeypatch, caplog):
    setup(tmp_path, 2)
    stale, snap_before, folder_before = _leftovers(tmp_path)
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING, logger="keras_caffe.train"):
        assert cli.main(train_args()) == 0
    left = set(os.listdir(tmp_path / "snap"))
    assert not left & set(stale)
    _kept(snap_before, tree_state(tmp_path / "snap"), stale)
    _kept(folder_before, tree_state(tmp_path), {"snap"} | {f"snap/{n}" for n in left | set(stale)})
    assert left - set(snap_before) == {f"tiny_iter_{n}.{ext}" for n in (1, 2) for ext in
                                       ("caffemodel", "solverstate", "solverstate.json")}
    messages = [r.getMessage() for r in caplog.records if "temporary" in r.getMessage()]
    assert messages == [f"removed 4 temporary file(s) that interrupted snapshots of 'snap/tiny' "
                        f"left: {', '.join(sorted(stale))}"]


def test_pycaffe_solvers_remove_them_when_they_start_stepping(tmp_path, monkeypatch):
    setup(tmp_path, 2)
    stale, snap_before, _ = _leftovers(tmp_path)
    monkeypatch.chdir(tmp_path)
    solver = caffe.SGDSolver("solver.prototxt")
    assert set(stale) <= set(os.listdir(tmp_path / "snap"))   # nothing yet: not started
    solver.step(1)
    assert not set(os.listdir(tmp_path / "snap")) & set(stale)
    _kept(snap_before, tree_state(tmp_path / "snap"), stale)


@pytest.mark.parametrize("prefix", ["snap/", "tiny"])
def test_a_prefix_without_a_folder_or_without_a_name(tmp_path, monkeypatch, prefix):
    dead = _dead_pid()
    folder, base = (tmp_path / "snap", "") if prefix.endswith("/") else (tmp_path, "tiny")
    folder.mkdir(exist_ok=True)
    stale = folder / f".{base}_iter_5.caffemodel.{dead}.abcdefgh.tmp"
    other = folder / f".x{base}_iter_5.caffemodel.{dead}.abcdefgh.tmp"
    stale.write_bytes(b"")
    other.write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert remove_stale_temporaries(prefix) == [os.path.join(os.path.dirname(prefix) or ".",
                                                             stale.name)]
    assert not stale.exists() and other.exists()
