"""``kill -9`` while ``keras-caffe train`` snapshots every iteration, then resume: no file under
a snapshot's final name is ever corrupt, what killed runs leave is removed when training starts
again, and the chain of resumed runs ends bit for bit where an uninterrupted run ends
(``scripts/crash_resume.py`` runs the same with many more kills)."""

from __future__ import annotations

import random

from keras_caffe import cli
from tests.solvers.crash_harness import (check_snapshots, differences, final_values, iterations,
                                         newest_state, run_killed, setup, temporaries,
                                         train_args)

MAX_ITER = 60


def test_kill_9_during_snapshots_then_resume_is_exact(tmp_path, monkeypatch):
    run, ref = tmp_path / "run", tmp_path / "ref"
    setup(run, MAX_ITER)
    setup(ref, MAX_ITER)
    rng = random.Random(3)   # when each of the three runs is killed
    kills = [run_killed(run, rng) for _ in range(3)]
    assert [k["returncode"] for k in kills] == [-9, -9, -9], kills
    assert kills[1]["resumed_from"] and kills[2]["resumed_from"], kills
    assert check_snapshots(run) == []
    for earlier, later in zip(kills, kills[1:]):   # a run's start removes what the last left
        assert not set(earlier["temporaries_left"]) & set(later["temporaries_left"])
    resume = newest_state(run)
    assert iterations(run)[-1] < MAX_ITER

    monkeypatch.chdir(run)
    assert cli.main(train_args(resume)) == 0
    assert temporaries(run) == [] and check_snapshots(run) == []
    monkeypatch.chdir(ref)
    assert cli.main(train_args()) == 0

    assert iterations(run) == iterations(ref) == list(range(1, MAX_ITER + 1))
    for n in iterations(run):   # every snapshot, whichever run of the chain wrote it
        assert differences(final_values(run, n), final_values(ref, n)) == [], n
