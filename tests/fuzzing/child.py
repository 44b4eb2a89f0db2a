"""The fuzz loop, in a child process that :mod:`.campaign` starts and watches.

Started as ``python -m tests.fuzzing.child CONFIG`` (JSON: the targets, the memory limit, the
work folder, the events file descriptor).  It imports the targets, runs each once on a clean
input (TensorFlow's first-use costs are paid before any limit), then sets ``RLIMIT_DATA`` to
its footprint plus the memory limit and reads jobs (JSON lines) from stdin.  For each input of
a job it writes the mutated input into ``WORK/case``, says ``start`` (with the mutation) on
the events pipe, runs the target there under a SIGALRM time limit and says ``end`` with the
outcome.  A failed input is copied to ``WORK/failed/<index>`` before its ``end`` is sent.
A hang in C code, a crash or the memory limit reached outside Python is left to the parent.
The case folder lies outside the repository, and targets run only inside it (:mod:`.workdir`).
"""

from __future__ import annotations

import contextlib
import faulthandler
import json
import logging
import os
import random
import resource
import shutil
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path

from .workdir import inside, outside_repository

KB = 1024


class CallTimeout(BaseException):
    """Raised by SIGALRM in the call that overran its time limit (a BaseException, so that
    no ``except Exception`` in the code under test swallows it)."""


def status(field: str, pid: int | str = "self") -> int:
    """A size from /proc/<pid>/status in bytes (0 when unknown)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * KB
    except OSError:
        pass
    return 0


def load_targets(names) -> tuple[dict, tuple]:
    """The targets named, and the exception types they may raise (CaffeError for the real
    ones; the self-test targets' own refusal, so that they run without keras_caffe)."""
    found, allowed = {}, ()
    if any(not n.startswith("_") for n in names):
        from . import targets
        found.update(targets.TARGETS)
        allowed += targets.ALLOWED
    if any(n.startswith("_") for n in names):
        from . import selftest
        found.update(selftest.SELFTEST)
        allowed += selftest.ALLOWED
    return {n: found[n] for n in names}, allowed


def clear(folder: Path) -> None:
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)


def signature(kind: str, exc: BaseException) -> str:
    """The failure's kind, exception type and the innermost frame in keras_caffe (else the
    innermost frame): failures with one signature are one bug."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if f.filename != __file__]          # not the SIGALRM handler
    ours = [f for f in frames if f"{os.sep}keras_caffe{os.sep}" in f.filename]
    frame = (ours or frames or [None])[-1]
    where = "?"
    if frame is not None:
        path = frame.filename.split(f"{os.sep}keras_caffe{os.sep}", 1)[-1]
        where = f"{path}:{frame.lineno} ({frame.name})"
    return f"{kind}: {type(exc).__name__} at {where}"


def _memory_cause(exc: BaseException) -> bool:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, MemoryError):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


_TRACEBACK = "Traceback (most recent call last)"


def call(target, case: Path, limit: float, allowed: tuple) -> dict:
    """Run ``target`` on the input in ``case``: the outcome as the ``end`` event says it
    (an exception of ``allowed`` types is a refusal)."""
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        why = target.run(case)
        signal.setitimer(signal.ITIMER_REAL, 0)
        return {"outcome": "skip", "why": why} if why else {"outcome": "ok"}
    except CallTimeout as exc:
        kind, err = "timeout", exc
    except allowed as exc:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if _memory_cause(exc):
            kind, err = "memory", exc
        elif _TRACEBACK in str(exc):   # a refusal is one message, not a traceback in words
            kind, err = "message", exc
        else:
            return {"outcome": "refused", "error": type(exc).__name__}
    except MemoryError as exc:
        kind, err = "memory", exc
    except BaseException as exc:  # noqa: BLE001  (anything else is what the fuzz looks for)
        kind, err = "exception", exc
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    message = str(err) if kind != "timeout" else f"no answer within {limit:g} s"
    return {"outcome": "fail", "kind": kind, "error": type(err).__name__,
            "message": message[:4000], "signature": signature(kind, err),
            "traceback": "".join(traceback.format_exception(err))[-8000:]}


def main(argv=None) -> int:
    config = json.loads((argv or sys.argv)[1])
    events = os.fdopen(config["fd"], "w", buffering=1)

    def send(**event):
        events.write(json.dumps(event) + "\n")

    faulthandler.enable(sys.stderr)
    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    work = Path(config["work"])
    case, failed = outside_repository(work / "case", "the case folder"), work / "failed"
    limit = float(config["limit"])
    targets, allowed = load_targets(config["targets"])

    def alarm(signum, frame):
        raise CallTimeout()

    signal.signal(signal.SIGALRM, alarm)
    for target in targets.values():          # warm-up: first-use costs before the limits
        clear(case)
        target.clean(case)
        with inside(case), contextlib.suppress(Exception):   # a clean seed may be refused
            target.run(case)                                  # (a data layer's source)
    base = status("VmData")
    memory = int(config["memory"])
    if memory:
        resource.setrlimit(resource.RLIMIT_DATA, (base + memory, resource.RLIM_INFINITY))
    send(ev="ready", data=base, rss=status("VmRSS"), pid=os.getpid())

    for line in sys.stdin:
        job = json.loads(line)
        target = targets[job["target"]]
        i, stop, until = job["start"], job.get("stop"), job.get("until")
        recycle = False
        while (stop is None or i < stop) and (until is None or time.time() < until):
            rng = random.Random(f"{job['seed']}:{target.name}:{i}")
            clear(case)
            try:
                mutation = target.make(rng, case)
            except Exception:  # noqa: BLE001  (a bug of the fuzzer, not of keras_caffe)
                send(ev="harness", i=i, traceback=traceback.format_exc())
                return 3
            send(ev="start", i=i, mutation=mutation)
            with inside(case):
                outcome = call(target, case, limit, allowed)
            if outcome["outcome"] == "fail":
                shutil.copytree(case, failed / str(i), dirs_exist_ok=True)
            send(ev="end", i=i, **outcome)
            i += 1
            if outcome.get("kind") in ("timeout", "memory") or \
                    (memory and status("VmData") > base + memory // 2):
                recycle = True   # the heap may be in a bad way: the parent starts another
                break
        send(ev="done", next=i, recycle=recycle)
        if recycle:
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
