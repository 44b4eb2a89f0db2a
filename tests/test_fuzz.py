"""Seeded mutation fuzzing: only ``keras_caffe.CaffeError`` subclasses leave the readers
(``read_net``, ``resolve_net``, ``build_net``, ``read_weights``, the solver reader and
``check_solver``, Datum decoding, and the Data, HDF5Data and ImageData layers as ``open_net``
reads them), each call within a time limit and under a memory limit, and nothing outside the
campaign's folder changes (nothing the fuzz writes, the replay included, can land in the
repository).  A fixed, short campaign (the same inputs every run, ~20 s);
``python scripts/fuzz.py --minutes 10`` runs a long one (see ``tests/fuzzing``).
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import pytest

from tests.fuzzing import SELFTEST_NAMES, TARGET_NAMES, Campaign, run
from tests.fuzzing import corpus
from tests.fuzzing.workdir import inside
from tests.sentinel import tree_state
from tests.shared_paths import SHARED, require

SEED = 14
#: Inputs per target: a few seconds each on a CI core (the data layers build a tf.data
#: pipeline per input, ~0.4 s).
COUNTS = {"read_net": 300, "resolve_net": 300, "build_net": 80, "read_weights": 300,
          "solver": 300, "datum": 300, "lmdb": 10, "hdf5": 30, "image_list": 10}
ROOT = Path(__file__).resolve().parents[1]


def _state(folder: Path) -> dict:
    """Every file and folder in ``folder`` with its size and modification time."""
    found = {}
    for path in folder.iterdir():
        if path.name in ("__pycache__", ".pytest_cache"):
            continue
        stat = path.stat()
        found[os.fspath(path)] = (stat.st_size, stat.st_mtime_ns) if path.is_file() else None
    return found


def _entries(folder: Path) -> set[str]:
    """Every file and folder under ``folder`` (Git's and Python's caches aside)."""
    found = set()
    for path, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in (".git", "__pycache__", ".pytest_cache")]
        found.update(os.path.join(path, name) for name in dirs + files)
    return found


def _outside() -> dict:
    """What a campaign (working in its own temporary folder) must leave alone: the seeds in
    ../shared, the files at the top of the repository and of tests/, and what the whole
    repository holds (a new entry anywhere, such as a stray LMDB ``db/``)."""
    return {"../shared": tree_state(SHARED), "top": _state(ROOT), "tests": _state(ROOT / "tests"),
            "entries": _entries(ROOT)}


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
    before = _outside()
    report = run([target], SEED, counts={target: COUNTS[target]}, campaign=campaign)
    assert report.tried[target] == COUNTS[target]
    assert report.failures == [], f"\n{report.describe()}"
    outcomes = report.outcomes[target]
    # Both outcomes occur: the mutations reach past the parsers, and the readers refuse.
    assert outcomes["ok"] > 0 and outcomes["refused"] > 0, dict(outcomes)
    assert outcomes["ok"] + outcomes["refused"] + outcomes["skip"] == COUNTS[target]
    assert _outside() == before


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


# --------------------------------------------------------------------------- the repository

def _fuzz_script():
    spec = importlib.util.spec_from_file_location("fuzz_script", ROOT / "scripts" / "fuzz.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_in_case():
    with inside("case"):
        pass


def test_nothing_the_fuzz_writes_can_land_in_the_repository(tmp_path, monkeypatch):
    """A stray LMDB ``db/`` once appeared in the repository's root: the lmdb target's clean
    database (``datasets.write_lmdb``) written with a path relative to the root.  Every
    folder the fuzz writes into or runs a target in is refused there, before anything is
    written."""
    from tests.fuzzing import datasets

    monkeypatch.chdir(ROOT)
    before = _entries(ROOT)
    refusals = {
        "an LMDB": lambda: datasets.write_lmdb("db", datasets.lmdb_records("raw")),
        "an HDF5 file": lambda: datasets.write_hdf5(ROOT / "tests" / "a.h5",
                                                    datasets.hdf5_arrays(2, "a")),
        "a case folder": _run_in_case,
        "the campaign's work folder": lambda: Campaign(["_raise"], work="work"),
        "the folder for failing inputs": lambda: Campaign(["_raise"], work=tmp_path / "w",
                                                          save="failures"),
    }
    for what, write in refusals.items():
        with pytest.raises(ValueError, match=f"^{what} '{re.escape(str(ROOT))}/.*' is inside "
                                             "the repository"):
            write()
    assert os.getcwd() == str(ROOT)
    assert _entries(ROOT) == before


def test_replay_makes_and_runs_its_input_in_its_own_folder(tmp_path, monkeypatch, capsys):
    """``scripts/fuzz.py --replay`` with a relative ``--save``: the input is made in
    SAVE/replay/TARGET-INDEX and read there (the target once looked for its arguments in a
    path relative to the folder it had moved into); a ``--save`` inside the repository is
    refused before anything is made."""
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    script = _fuzz_script()
    before = _entries(ROOT)
    monkeypatch.chdir(tmp_path)
    assert script.main(["--seed", str(SEED), "--replay", "lmdb:1", "--save", "saved"]) == 0
    out = capsys.readouterr().out
    case = tmp_path / "saved" / "replay" / "lmdb-000001"
    assert f"input: {case}\n" in out and "\nrefused in " in out and "Traceback" not in out
    assert (case / "db" / "data.mdb").is_file() and (case / "args.json").is_file()
    assert os.getcwd() == str(tmp_path)
    monkeypatch.chdir(ROOT)
    with pytest.raises(SystemExit):
        script.main(["--seed", str(SEED), "--replay", "lmdb:1", "--save", "saved"])
    assert "--save '" in capsys.readouterr().err
    assert _entries(ROOT) == before
