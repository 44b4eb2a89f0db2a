"""Where the fuzz writes: its own folders, never inside the repository.

A target's input is written into a case folder and the target runs with that folder as the
working directory (Caffe resolves an input's relative paths there: the Data layer's ``db``,
the files an HDF5 list names).  A case folder given by a relative path, or a target run from
the repository's root, would leave those files in the repository -- a stray LMDB ``db/``
once appeared in its root -- so every folder the fuzz writes into is checked here: the
campaign's work and save folders, the child's case folder, the replay's folder, and the
paths the data inputs' writers are given.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]


def outside_repository(path, what: str) -> Path:
    """``path`` made absolute; a ValueError when it lies inside the repository."""
    path = Path(path).resolve()
    if path == REPOSITORY or REPOSITORY in path.parents:
        raise ValueError(f"{what} '{path}' is inside the repository {REPOSITORY}; the fuzz "
                         "writes only outside it (give a folder elsewhere, e.g. under the "
                         "system's temporary folder)")
    return path


@contextlib.contextmanager
def inside(case):
    """Within the block the working directory is the case folder ``case`` (outside the
    repository), where a target reads its input; the one before is restored after."""
    case = outside_repository(case, "a case folder")
    here = os.getcwd()
    os.chdir(case)
    try:
        yield case
    finally:
        os.chdir(here)
