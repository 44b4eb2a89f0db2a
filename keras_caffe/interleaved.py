"""Timing alternatives of one job against each other on a machine that other work shares.

Each round times a block of calls of every alternative, one after the other, the order
reversed every round: load from other processes then falls on all alike, and a single slow
call (a page fault, a thread woken late) weighs little in a block.  Comparisons should use
the per-round (paired) ratios, which drift far less than the times themselves.  Used by
``--xla`` (:mod:`keras_caffe.xla`), ``predictor(runtime="auto")`` and the benchmarks.
"""

from __future__ import annotations

import math
import time
from typing import Callable


def time_interleaved(runs: dict[str, Callable[[], object]], rounds: int, block_s: float, *,
                     warmup: int = 0, calls: int | None = None,
                     sync: Callable[[], object] | None = None, budget_s: float | None = None,
                     min_rounds: int = 1, decisive: float | None = None
                     ) -> tuple[dict[str, list[float]], int]:
    """``({label: seconds per call, one per round}, calls per block)`` for ``runs`` (label ->
    a callable doing one unit of work).

    ``warmup`` calls of each first; ``calls`` per block, by default as many as make the
    slowest alternative's block last about ``block_s`` (from one more call of each).
    ``sync`` is called at the end of every block (to wait for a device).  At most
    ``rounds`` rounds; fewer once ``budget_s`` has passed and ``min_rounds`` are done, or
    after the first when one alternative took ``decisive`` times as long as another."""
    sync = sync or (lambda: None)
    for run in runs.values():
        for _ in range(warmup):
            run()
    if calls is None:
        slowest = max(_block(run, 1, sync) for run in runs.values())
        calls = max(1, math.ceil(block_s / max(slowest, 1e-6)))
    labels = list(runs)
    samples = {label: [] for label in labels}
    start = time.perf_counter()
    for r in range(max(1, rounds)):
        for label in (labels if r % 2 == 0 else labels[::-1]):
            samples[label].append(_block(runs[label], calls, sync))
        last = [s[-1] for s in samples.values()]
        if r + 1 >= min_rounds and budget_s is not None \
                and time.perf_counter() - start >= budget_s:
            break
        if r == 0 and decisive is not None and max(last) > decisive * min(last):
            break
    return samples, calls


def _block(run, calls: int, sync) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        run()
    sync()
    return (time.perf_counter() - start) / calls
