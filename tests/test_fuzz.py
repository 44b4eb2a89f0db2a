"""Seeded mutation fuzzing: only ``keras_caffe.CaffeError`` subclasses leave the readers
(``read_net``, ``resolve_net``, ``build_net``, ``read_weights``, the solver reader and
``check_solver``, Datum decoding, and the Data, HDF5Data and ImageData layers as ``open_net``
reads them), each call within a time limit and under a memory limit, and nothing outside the
campaign's folder changes.  A fixed, short campaign (the same inputs every run, ~20 s);
``python scripts/fuzz.py --minutes 10`` runs a long one (see ``tests/fuzzing``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.fuzzing import SELFTEST_NAMES, TARGET_NAMES, Campaign, run
from tests.fuzzing import corpus
from tests.shared_paths import SHARED, require

SEED = 14
#: Inputs per target: a few seconds each on a CI core (the data layers build a tf.data
#: pipeline per input, ~0.4 s).
COUNTS = {"read_net": 300, "resolve_net": 300, "build_net": 80, "read_weights": 300,
          "solver": 300, "datum": 300, "lmdb": 10, "hdf5": 30, "image_list": 10}
ROOT = Path(__file__).resolve().parents[1]


def _state(folder: Path, recursive: bool) -> dict:
    """Every file and folder under ``folder`` with its size and modification time."""
    found = {}
    for path in (folder.rglob("*") if recursive else folder.iterdir()):
        if "__pycache__" in path.parts or ".pytest_cache" in path.parts:
            continue
        stat = path.stat()
        found[os.fspath(path)] = (stat.st_size, stat.st_mtime_ns) if path.is_file() else None
    return found


def _outside(tmp: Path) -> dict:
    """What a campaign must leave alone: the seeds in ../shared and the repository's folders
    (the campaign works in ``tmp``)."""
    return {**_state(SHARED, True), **_state(ROOT, False), **_state(ROOT / "tests", False)}


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    require(SHARED / "conformance")
    require(SHARED / "zoo")
    missing = corpus.available()
    if missing:
        pytest.skip(missing)
    folder = tmp_path_factory.mktemp("fuzz")
    with Campaign(TARGET_NAMES, work=folder / "work", save=folder / "failures", limit=10,
                  memory="2G") as started:
        yield started


def test_the_counts_cover_every_target():
    assert sorted(COUNTS) == sorted(TARGET_NAMES)


@pytest.mark.parametrize("target", TARGET_NAMES)
def test_only_caffe_errors_leave_the_readers(target, campaign):
    before = _outside(campaign.work.parent)
    report = run([target], SEED, counts={target: COUNTS[target]}, campaign=campaign)
    assert report.tried[target] == COUNTS[target]
    assert report.failures == [], f"\n{report.describe()}"
    outcomes = report.outcomes[target]
    # Both outcomes occur: the mutations reach past the parsers, and the readers refuse.
    assert outcomes["ok"] > 0 and outcomes["refused"] > 0, dict(outcomes)
    assert outcomes["ok"] + outcomes["refused"] + outcomes["skip"] == COUNTS[target]
    assert _outside(campaign.work.parent) == before


def test_every_kind_of_failure_is_reported_with_its_input(tmp_path):
    """The campaign itself: an exception that is not a refusal, a Python hang (the child's
    SIGALRM), a hang in C code (the parent's watchdog), a crash and a memory bomb (the
    child's RLIMIT_DATA) are each a failure whose input is saved; refusals are not."""
    counts = {"_raise": 6, "_hang": 1, "_c_hang": 1, "_crash": 1, "_bomb": 1}
    report = run(SELFTEST_NAMES, 3, counts=counts, work=tmp_path / "work",
                 save=tmp_path / "saved", limit=0.5, grace=2, memory="1G")
    assert dict(report.tried) == counts
    kinds = {(f.target, f.kind, f.error) for f in report.failures}
    assert kinds == {("_raise", "exception", "ValueError"), ("_hang", "timeout", "CallTimeout"),
                     ("_c_hang", "hang", "watchdog"), ("_crash", "crash", "SIGSEGV"),
                     ("_bomb", "memory", "MemoryError")}
    raised = report.failures_of("_raise")
    assert report.outcomes["_raise"]["refused"] == counts["_raise"] - len(raised) > 0
    assert all("selftest value" in f.message for f in raised)
    for failure in report.failures:
        saved = Path(failure.saved)
        assert saved.parent.parent == tmp_path / "saved"
        text = (saved / "failure.txt").read_text()
        assert f"index: {failure.index}\n" in text and f"kind: {failure.kind}\n" in text
        value = float((saved / "input.txt").read_text())   # the input, as the target got it
        assert failure.mutation == f"value {value:.3f}"
    crash = report.failures_of("_crash")[0]
    assert "Fatal Python error: Segmentation fault" in crash.traceback   # faulthandler's
    assert "no answer within 3 s" in report.failures_of("_c_hang")[0].message
