"""Atomic file writing: a crash mid-write never leaves a half file under the final name."""

from __future__ import annotations

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_path(path, suffix: str = ""):
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    ``suffix`` ends the temporary name, for writers that insist on an extension."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp" + suffix,
                               dir=directory)
    os.close(fd)
    os.chmod(tmp, default_mode(0o666))  # mkstemp makes 0600; keep what a plain open() gives
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def move_into_place(tmp, path, replace: bool = False) -> None:
    """Rename the finished file or folder ``tmp`` to ``path``.  An existing ``path`` is an
    error (FileExistsError) unless ``replace``: then it is renamed aside, ``tmp`` renamed in,
    and the old one deleted, so ``path`` is always either the old or the new one, never a mix
    (a folder cannot be swapped in one rename: for a moment ``path`` does not exist)."""
    import shutil

    tmp, path = os.fspath(tmp), os.fspath(path)
    if not os.path.lexists(path):
        os.rename(tmp, path)
        return
    if not replace:
        raise FileExistsError(f"'{path}' already exists")
    old = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".", suffix=".old",
                           dir=os.path.dirname(os.path.abspath(path)))
    aside = os.path.join(old, "old")
    os.rename(path, aside)
    try:
        os.rename(tmp, path)
    except BaseException:
        os.rename(aside, path)
        shutil.rmtree(old, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)


def save_npz(path, arrays: dict) -> None:
    """``numpy.savez`` written atomically (and without numpy appending '.npz' to the name)."""
    import numpy as np

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def default_mode(base: int) -> int:
    """``base`` less the process umask: the mode open()/mkdir() would have given."""
    mask = os.umask(0o022)
    os.umask(mask)
    return base & ~mask
