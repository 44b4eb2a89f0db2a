"""``keras_caffe.interleaved``: blocks of calls, the order reversed every round, early stops."""

from __future__ import annotations

import time

from keras_caffe.interleaved import time_interleaved


def _recorder(log, label, seconds=0.0):
    def run():
        log.append(label)
        if seconds:
            time.sleep(seconds)
    return run


def test_blocks_alternate_and_are_sized_by_the_slowest():
    log, syncs = [], []
    samples, calls = time_interleaved(
        {"a": _recorder(log, "a", 0.002), "b": _recorder(log, "b", 0.01)}, 3, 0.03,
        warmup=2, sync=lambda: syncs.append(len(log)))
    assert 1 <= calls <= 3                         # ceil(0.03 / b's call of >= 0.01 s)
    body = log[2 * 2 + 2:]                         # after the warm-ups and one sizing call each
    n = calls
    assert body == ["a"] * n + ["b"] * n + ["b"] * n + ["a"] * n + ["a"] * n + ["b"] * n
    assert len(syncs) == 2 + 6                     # after every sizing call and block
    assert [len(s) for s in samples.values()] == [3, 3]
    assert min(samples["a"]) >= 0.002 and min(samples["b"]) >= 0.01   # seconds per call


def test_given_calls_and_early_stops():
    log = []
    runs = {"fast": _recorder(log, "f"), "slow": _recorder(log, "s", 0.005)}
    samples, calls = time_interleaved(runs, 10, 1.0, calls=2, decisive=3.0)
    assert calls == 2 and log == ["f", "f", "s", "s"]       # one round: a 3x gap decides
    samples, _ = time_interleaved(runs, 10, 0.0, calls=1, budget_s=0.0, min_rounds=4)
    assert [len(s) for s in samples.values()] == [4, 4]     # the budget spent, min_rounds kept
