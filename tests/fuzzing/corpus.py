"""The seed inputs: real Caffe files from ``../shared`` (read, never copied into the project)
and the data records the targets make themselves (:mod:`.datasets`)."""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from pathlib import Path

from tests.shared_paths import CONFORMANCE, ZOO

_SOLVER_FIELD = re.compile(r"^\s*(base_lr|lr_policy|solver_type|max_iter|train_net|test_iter)\s*:",
                           re.M)
#: A net fed by its inputs (Input layers, net-level input fields): one build_net builds alone.
_DEPLOY = re.compile(r'^\s*(input\s*:|input_shape|input_dim)|type:\s*"Input"', re.M)


@dataclasses.dataclass(frozen=True)
class Seed:
    name: str             # relative to ../shared, for reports
    path: Path

    @functools.cached_property
    def data(self) -> bytes:
        return self.path.read_bytes()

    @property
    def text(self) -> str:
        return self.data.decode("latin-1")


def _files(pattern: str) -> list[Path]:
    found = []
    for root in (ZOO, CONFORMANCE):
        if root.is_dir():
            found.extend(sorted(root.rglob(pattern)))
    return found


def _seed(path: Path) -> Seed:
    return Seed(os.path.relpath(path, CONFORMANCE.parent), path)


@functools.lru_cache(maxsize=None)
def prototxts() -> tuple[list[Seed], list[Seed]]:
    """(nets, solvers): every ``.prototxt`` of ../shared, a solver being one that sets a
    solver's fields."""
    nets, solvers = [], []
    for path in _files("*.prototxt"):
        seed = _seed(path)
        (solvers if _SOLVER_FIELD.search(seed.text) else nets).append(seed)
    return nets, solvers


def nets() -> list[Seed]:
    return prototxts()[0]


def solvers() -> list[Seed]:
    return prototxts()[1]


@functools.lru_cache(maxsize=None)
def deploy_nets() -> list[Seed]:
    """The nets that take their data from inputs (build_net builds them as they are)."""
    return [s for s in nets() if _DEPLOY.search(s.text)]


@functools.lru_cache(maxsize=None)
def caffemodels() -> list[Seed]:
    return [_seed(p) for p in _files("*.caffemodel")]


@functools.lru_cache(maxsize=None)
def binaryprotos() -> list[Seed]:
    return [_seed(p) for p in _files("*.binaryproto")]


def available() -> str | None:
    """None when ../shared holds seeds for every target, else what is missing."""
    missing = [what for what, found in (("net prototxts", nets()), ("solvers", solvers()),
                                        ("caffemodels", caffemodels())) if not found]
    return f"no {', '.join(missing)} under {CONFORMANCE.parent}" if missing else None
