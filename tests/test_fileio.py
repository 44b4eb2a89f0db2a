"""keras_caffe.fileio: atomic writes keep an existing file's mode, never replace a read-only
file, can refuse to replace anything; temporaries carry their writer's pid, and only the
stale ones of the names asked for are found."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

from keras_caffe.errors import OutputError
from keras_caffe.fileio import atomic_path, default_mode, stale_temporaries


def _write(path, data: bytes, **kwargs):
    with atomic_path(path, **kwargs) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
        return tmp


def test_temporary_name_carries_the_pid_and_a_new_file_gets_opens_mode(tmp_path):
    tmp = _write(tmp_path / "a.bin", b"new")
    assert re.fullmatch(rf"\.a\.bin\.{os.getpid()}\.[a-z0-9_]{{8}}\.tmp", os.path.basename(tmp))
    assert (tmp_path / "a.bin").read_bytes() == b"new"
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == default_mode(0o666)
    assert sorted(os.listdir(tmp_path)) == ["a.bin"]


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o755, 0o200])
def test_a_replaced_file_keeps_its_mode(tmp_path, mode):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    path.chmod(mode)
    _write(path, b"new")
    assert path.stat().st_mode & 0o777 == mode
    path.chmod(0o600)
    assert path.read_bytes() == b"new"


def test_a_read_only_file_is_never_replaced(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    path.chmod(0o444)
    with pytest.raises(OutputError, match=rf"^'{path}' is read-only \(mode 0444\); keras-caffe "
                                          "never replaces a read-only file"):
        _write(path, b"new")
    assert path.read_bytes() == b"old" and path.stat().st_mode & 0o777 == 0o444
    assert sorted(os.listdir(tmp_path)) == ["a.bin"]


def test_a_file_made_read_only_while_writing_is_not_replaced(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    with pytest.raises(OutputError, match="read-only"):
        with atomic_path(path) as tmp:
            open(tmp, "wb").close()
            path.chmod(0o400)
    assert path.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["a.bin"]


def test_replace_false_refuses_an_existing_file_even_one_that_appears_meanwhile(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"old")
    with pytest.raises(FileExistsError, match="already exists"):
        _write(path, b"new", replace=False)
    assert path.read_bytes() == b"old"
    other = tmp_path / "b.bin"
    with pytest.raises(FileExistsError):
        with atomic_path(other, replace=False) as tmp:
            open(tmp, "wb").close()
            other.write_bytes(b"someone else's")
    assert other.read_bytes() == b"someone else's"
    assert sorted(os.listdir(tmp_path)) == ["a.bin", "b.bin"]
    _write(tmp_path / "c.bin", b"new", replace=False)
    assert (tmp_path / "c.bin").read_bytes() == b"new"


@pytest.mark.parametrize("target, error, message", [
    ("gone/out.bin", FileNotFoundError, "cannot write it: the folder '{d}/gone' does not exist"),
    ("file/out.bin", NotADirectoryError, "cannot write it: '{d}/file' is not a folder"),
    ("folder", IsADirectoryError, "is a folder; give the name of a file to write"),
])
def test_a_target_that_cannot_be_a_file_is_named_not_its_temporary(tmp_path, target, error,
                                                                    message):
    (tmp_path / "file").write_bytes(b"kept")
    (tmp_path / "folder").mkdir()
    with pytest.raises(error) as err:
        _write(tmp_path / target, b"new")
    assert (err.value.filename, err.value.strerror) == (str(tmp_path / target),
                                                         message.format(d=tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["file", "folder"]
    assert not os.listdir(tmp_path / "folder")
    assert (tmp_path / "file").read_bytes() == b"kept"


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_are_those_of_gone_writers_and_the_names_asked_for(tmp_path):
    dead, alive = _dead_pid(), os.getppid()
    old = time.time() - 3600
    final = r"net_iter_\d+\.(?:caffemodel|solverstate)"
    files = {   # name: (age in seconds ago, stale?)
        f".net_iter_10.caffemodel.{dead}.ab_d3fgh.tmp": (0, True),
        f".net_iter_2.solverstate.{dead}.12345678.tmp": (0, True),
        ".net_iter_3.caffemodel.k2j3h4g5.tmp": (3600, True),          # no pid, old
        ".net_iter_4.caffemodel.qwertyui.tmp": (0, False),            # no pid, recent
        f".net_iter_5.caffemodel.{alive}.abcdefgh.tmp": (3600, False),  # live writer
        f".net_iter_6.caffemodel.{os.getpid()}.abcdefgh.tmp": (3600, False),   # this process
        f".net_iter_7.caffemodel.{dead}.abcdefgh.tmp.h5": (0, False),  # another suffix
        f".net_iter_8.caffemodel.{dead}.abcdefg.tmp": (0, False),      # 7 random characters
        f".net_iter_x.caffemodel.{dead}.abcdefgh.tmp": (0, False),
        f".nets_iter_1.caffemodel.{dead}.abcdefgh.tmp": (0, False),
        f".net_iter_1.weights.{dead}.abcdefgh.tmp": (0, False),
        f"net_iter_1.caffemodel.{dead}.abcdefgh.tmp": (0, False),      # no leading dot
        "net_iter_1.caffemodel": (3600, False),
        "notes.tmp": (3600, False),
    }
    for name, (age, _) in files.items():
        (tmp_path / name).write_bytes(b"x")
        if age:
            os.utime(tmp_path / name, (old, old))
    (tmp_path / f".net_iter_9.caffemodel.{dead}.abcdefgh.tmp").mkdir()   # a folder
    (tmp_path / f".net_iter_11.caffemodel.{dead}.abcdefgh.tmp").symlink_to("notes.tmp")
    found = stale_temporaries(tmp_path, final)
    assert sorted(os.path.basename(p) for p in found) == sorted(
        name for name, (_, stale) in files.items() if stale)
    assert all(os.path.dirname(p) == str(tmp_path) for p in found)
    assert [os.path.basename(p) for p in stale_temporaries(tmp_path, final, ".h5")] == [
        f".net_iter_7.caffemodel.{dead}.abcdefgh.tmp.h5"]
    assert stale_temporaries(tmp_path / "missing", final) == []
