"""A snapshot prefix that cannot be written is refused when training starts (Caffe's
``CheckSnapshotWritePermissions``), not at the first snapshot after minutes of training: one
message naming the solver file and what is wrong, nothing trained, nothing written."""

from __future__ import annotations

import pytest

from tests.model.test_train import _setup
from tests.sentinel import refused


@pytest.fixture
def work(tmp_path, monkeypatch):
    _setup(tmp_path, 4)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _solver(work, replace: dict) -> None:
    text = (work / "solver.prototxt").read_text()
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    (work / "solver.prototxt").write_text(text)


def _message(prefix, problem):
    return (f"solver.prototxt: cannot write snapshots to snapshot_prefix '{prefix}': {problem} "
            "(Caffe: 'Cannot write to snapshot prefix'); create the folder, or set "
            "snapshot_prefix (--snapshot-prefix)")


@pytest.mark.parametrize("prefix, problem", [
    ("train.h5/tiny", "'train.h5' is a file, not a folder"),
    ("train.h5/deeper/tiny", "'train.h5' is a file, not a folder"),
    ("nodir/tiny", "the folder 'nodir' does not exist"),
])
def test_a_prefix_that_cannot_be_written_is_refused_at_start(work, capsys, prefix, problem):
    _solver(work, {'snap/tiny': prefix})
    assert refused(["train", "--solver", "solver.prototxt"], work, capsys) == \
        _message(prefix, problem)


def test_the_command_line_prefix_is_checked_too(work, capsys):
    assert refused(["train", "--solver", "solver.prototxt", "--snapshot-prefix", "gone/run"],
                   work, capsys) == _message("gone/run", "the folder 'gone' does not exist")


def test_the_final_snapshot_is_checked_without_periodic_snapshots(work, capsys):
    """snapshot: 0 still snapshots after training (snapshot_after_train defaults to true)."""
    _solver(work, {"snapshot: 10": "snapshot: 0", "snap/tiny": "nodir/tiny"})
    assert refused(["train", "--solver", "solver.prototxt"], work, capsys) == \
        _message("nodir/tiny", "the folder 'nodir' does not exist")
