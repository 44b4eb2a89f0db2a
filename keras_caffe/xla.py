"""``--xla``: XLA where it makes a pass faster on this machine, never where it makes it slower.

XLA on a CPU makes some nets several times slower (depthwise and grouped convolutions:
MobileNet v2 forward took 161 ms with it and 27 ms without, at batch 1 on two cores) and
others faster; on a GPU it mostly gains, but not for every net.  So ``xla=True`` (mode
``"auto"``) measures instead of assuming: the pass is run warm with and without XLA, in
alternating blocks of calls, the faster is kept, and the log says which with the figures.
Mode ``"always"`` compiles with XLA whatever it costs (to check XLA's numbers); False or
None never does.  A pass XLA cannot compile runs without it, saying why.

Measuring runs the pass more than once; a pass that changes state (a training step, a
BatchNorm accumulating statistics, a random generator moving on) gets the variables given
as ``state`` put back afterwards, so the run that follows is the run without measuring.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import time
from typing import Callable, Sequence

from .interleaved import time_interleaved

log = logging.getLogger(__name__)

MODES = ("auto", "always")


def xla_mode(value) -> str | None:
    """``"auto"``, ``"always"`` or None (no XLA) for an ``xla`` argument: True is
    ``"auto"``, False and None are None."""
    if value is None or value is False:
        return None
    if value is True:
        return "auto"
    if isinstance(value, str) and value in MODES:
        return value
    raise ValueError(f"xla must be True, False or one of {MODES}, got {value!r}")


@dataclasses.dataclass
class XlaChoice:
    """Whether a pass runs under XLA, and the figures that decided it (ms per call, warm;
    ``compile_s``: the first XLA call, which compiles)."""

    used: bool
    mode: str | None
    plain_ms: float | None = None
    xla_ms: float | None = None
    compile_s: float | None = None
    reason: str = ""

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def summary(self, what: str = "pass") -> str:
        if self.mode is None:
            return f"{what}: without XLA"
        if self.plain_ms is None or self.xla_ms is None:
            return f"{what}: {'with' if self.used else 'without'} XLA ({self.reason})"
        return (f"{what}: {self.xla_ms:.3g} ms per call with XLA (compiled in "
                f"{self.compile_s:.3g} s), {self.plain_ms:.3g} ms without; running "
                f"{'with' if self.used else 'without'} XLA")


def choose(plain: Callable, compiled: Callable, args: Sequence = (), *, mode, what: str = "pass",
           state: Sequence = (), sync: Callable | None = None, budget_s: float = 1.0,
           min_rounds: int = 3, max_rounds: int = 15) -> tuple[Callable, XlaChoice]:
    """``(the callable to run, XlaChoice)`` for ``plain`` and ``compiled`` (the same pass
    without and with XLA) called with ``args``.  ``mode``: see :func:`xla_mode`.  ``state``:
    variables the pass may change, restored after measuring.  ``sync``: waits for the
    device (default: ``tf.test.experimental.sync_devices``); ``budget_s``: about how long the
    warm rounds may take, at least ``min_rounds`` and at most ``max_rounds`` of them."""
    mode = xla_mode(mode)
    if mode is None:
        return plain, XlaChoice(False, None)
    if mode == "always":
        return compiled, XlaChoice(True, mode, reason="as asked (always)")
    saved = [v.numpy() for v in state]
    try:
        return _measured(plain, compiled, tuple(args), what, sync or _sync_devices, budget_s,
                         min_rounds, max_rounds)
    finally:
        for variable, value in zip(state, saved):
            variable.assign(value)


def _sync_devices() -> None:
    import tensorflow as tf

    tf.test.experimental.sync_devices()


def _measured(plain, compiled, args, what, sync, budget_s, min_rounds, max_rounds):
    try:
        start = time.perf_counter()
        compiled(*args)
        sync()
        compile_s = time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001  (whatever XLA refuses, the pass runs without it)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        choice = XlaChoice(False, "auto", reason=f"XLA cannot compile it: {first}")
        log.warning("--xla: %s", choice.summary(what))
        return plain, choice
    # One warm-up call each (plain's first call traces), blocks of >= 20 ms; a 3x gap after
    # the first round decides at once.
    times, _ = time_interleaved({"plain": lambda: plain(*args), "xla": lambda: compiled(*args)},
                                max_rounds, 0.02, warmup=1, sync=sync, budget_s=budget_s,
                                min_rounds=min_rounds, decisive=3.0)
    plain_ms, xla_ms = (statistics.median(times[k]) * 1e3 for k in ("plain", "xla"))
    choice = XlaChoice(xla_ms < plain_ms, "auto", plain_ms, xla_ms, compile_s)
    (log.info if choice.used else log.warning)("--xla: %s", choice.summary(what))
    return (compiled if choice.used else plain), choice
