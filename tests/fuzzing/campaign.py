"""The parent side of a fuzz campaign: starts the child (:mod:`.child`), hands it jobs, and
turns what it reports -- and what it cannot report: a hang in C code, a crash, a memory
limit hit outside Python -- into a :class:`Report`.

Watchdogs: an input that gets no answer within ``2 * limit + grace`` seconds (the child's own
SIGALRM fires at ``limit``) is a hang; a child whose resident memory grows past its
footprint plus ``memory`` plus 512 MB is killed (its RLIMIT_DATA should have stopped it
before).  After a hang or a crash the input the child was running is saved, a new child is
started and the job goes on with the next input.  Failures are saved under
``save/<target>/<index>-<kind>/`` (the input's files and ``failure.txt``), at most
``max_saves`` per signature.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .child import status
from .workdir import REPOSITORY, outside_repository

TARGET_NAMES = ("read_net", "resolve_net", "build_net", "read_weights", "solver", "datum",
                "lmdb", "hdf5", "image_list")
SELFTEST_NAMES = ("_raise", "_hang", "_c_hang", "_crash", "_bomb")


def parse_size(text) -> int:
    """Bytes of ``"2G"``, ``"512M"``, ``"0"`` (no limit) or an int."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)i?[bB]?\s*", str(text))
    if not m:
        raise ValueError(f"not a size: {text!r} (e.g. 2G, 512M)")
    return int(float(m.group(1)) * 1024 ** " KMGT".index((m.group(2) or " ").upper()))


@dataclasses.dataclass
class Failure:
    target: str
    index: int
    kind: str                 # exception, timeout, memory, hang, crash, message
    error: str                # the exception type, or the signal
    message: str
    signature: str
    mutation: str
    traceback: str = ""
    saved: str | None = None

    def line(self) -> str:
        where = f" -> {self.saved}" if self.saved else ""
        return (f"{self.target} #{self.index} [{self.kind}] {self.error}: "
                f"{self.message.splitlines()[0][:300] if self.message else ''}"
                f"\n    input: {self.mutation[:300]}{where}")


@dataclasses.dataclass
class Report:
    seed: object
    tried: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    outcomes: dict = dataclasses.field(default_factory=lambda: collections.defaultdict(
        collections.Counter))
    errors: dict = dataclasses.field(default_factory=lambda: collections.defaultdict(
        collections.Counter))
    failures: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    children: int = 0

    def failures_of(self, target: str) -> list[Failure]:
        return [f for f in self.failures if f.target == target]

    def signatures(self, target: str | None = None) -> collections.Counter:
        return collections.Counter(f.signature for f in self.failures
                                   if target is None or f.target == target)

    def describe(self, target: str | None = None) -> str:
        """Every distinct failure (by signature) with one example, for an assertion message."""
        lines, shown = [], set()
        for f in self.failures:
            if (target is None or f.target == target) and f.signature not in shown:
                shown.add(f.signature)
                count = self.signatures(target)[f.signature]
                lines.append(f"{count} x {f.signature}\n  e.g. {f.line()}")
        return "\n".join(lines)

    def table(self) -> str:
        head = (f"{'target':<13}{'tried':>8}{'ok':>8}{'refused':>9}{'skipped':>9}"
                f"{'failures':>10}  most frequent refusals")
        rows = [head]
        for target in self.tried:
            o = self.outcomes[target]
            common = ", ".join(f"{k} {v}" for k, v in self.errors[target].most_common(3))
            rows.append(f"{target:<13}{self.tried[target]:>8}{o['ok']:>8}{o['refused']:>9}"
                        f"{o['skip']:>9}{len(self.failures_of(target)):>10}  {common}")
        return "\n".join(rows)


class Campaign:
    """One child at a time running jobs for ``targets``."""

    def __init__(self, targets, work=None, save=None, limit: float = 5.0, memory="2G",
                 grace: float = 10.0, max_saves: int = 3, start_timeout: float = 300.0):
        self.targets = list(targets)
        self._tmp = None
        if work is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="keras-caffe-fuzz-")
            work = self._tmp.name
        self.work = outside_repository(work, "the campaign's work folder")
        self.work.mkdir(parents=True, exist_ok=True)
        self.save = outside_repository(save, "the folder for failing inputs") if save else None
        self.limit, self.memory, self.grace = float(limit), parse_size(memory), float(grace)
        self.max_saves, self.start_timeout = max_saves, start_timeout
        self.saved = collections.Counter()
        self.proc, self.rss = None, None
        self.log = self.work / "child.log"

    # -- the child
    def _start(self) -> None:
        read, write = os.pipe()
        config = {"targets": self.targets, "memory": self.memory, "work": str(self.work),
                  "fd": write, "limit": self.limit}
        paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPOSITORY)] + paths),
                   TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow",
                   CUDA_VISIBLE_DEVICES="-1", MALLOC_ARENA_MAX="2", PYTHONFAULTHANDLER="1")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.fuzzing.child", json.dumps(config)],
                stdin=subprocess.PIPE, stdout=log, stderr=log, pass_fds=(write,),
                cwd=self.work, env=env, text=True)
        os.close(write)
        self.events, self.buffer, self.rss = read, b"", None
        ready = self._event(self.start_timeout)
        if ready is None or ready.get("ev") != "ready":
            tail = self._log_tail()
            self._kill()
            raise RuntimeError(f"the fuzz child did not start ({ready}); its log ends:\n{tail}")
        self.rss = ready["rss"]

    def _kill(self) -> int | None:
        """Stop the child (if it runs); its exit status (-N: killed by signal N)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        code = self.proc.wait()
        if self.proc.stdin:
            self.proc.stdin.close()
        os.close(self.events)
        self.proc = None
        return code

    def close(self) -> None:
        self._kill()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _event(self, timeout: float):
        """The next event, None after ``timeout`` seconds without one (or "eof" when the
        child is gone); kills a child whose memory runs away ({"ev": "rss"})."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.events], [], [], min(left, 0.5))
            if not ready:
                rss = status("VmRSS", self.proc.pid)
                if self.memory and self.rss is not None and \
                        rss > self.rss + self.memory + (512 << 20):
                    return {"ev": "rss", "rss": rss}
                continue
            chunk = os.read(self.events, 1 << 16)
            if not chunk:
                return {"ev": "eof"}
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    # -- jobs
    def run_job(self, report: Report, target: str, seed, start: int = 0, stop=None,
                until=None) -> int:
        """Inputs ``start`` .. ``stop - 1`` (or until the time ``until``) of ``target``;
        returns the next index."""
        i = start
        while (stop is None or i < stop) and (until is None or time.time() < until):
            if self.proc is None:
                self._start()
                report.children += 1
            job = {"target": target, "seed": seed, "start": i, "stop": stop, "until": until}
            self.proc.stdin.write(json.dumps(job) + "\n")
            self.proc.stdin.flush()
            i = self._follow(report, target, seed, i)
        return i

    def _follow(self, report: Report, target: str, seed, i: int) -> int:
        """Events of one job until it is done or the child is lost; the next index."""
        current = None   # (index, mutation) of the input being run
        while True:
            event = self._event(2 * self.limit + self.grace if current else
                                self.start_timeout)
            if event is None or event["ev"] in ("eof", "rss"):
                if current is None:
                    tail = self._log_tail()
                    self._kill()
                    raise RuntimeError(f"the fuzz child stopped between inputs ({event}); "
                                       f"its log ends:\n{tail}")
                self._lost(report, target, seed, current, event)
                return current[0] + 1
            ev = event["ev"]
            if ev == "start":
                current = (event["i"], event["mutation"])
                report.tried[target] += 1
            elif ev == "end":
                self._ended(report, target, seed, event, current[1])
                current = None
            elif ev == "done":
                if event["recycle"]:
                    self._kill()
                return event["next"]
            elif ev == "harness":
                self._kill()
                raise RuntimeError(f"the fuzzer failed making input {event['i']} of {target}:\n"
                                   f"{event['traceback']}")

    def _ended(self, report: Report, target: str, seed, event: dict, mutation: str) -> None:
        outcome = event["outcome"]
        report.outcomes[target][outcome] += 1
        if outcome == "refused":
            report.errors[target][event["error"]] += 1
        if outcome != "fail":
            return
        failure = Failure(target, event["i"], event["kind"], event["error"], event["message"],
                          event["signature"], mutation, event["traceback"])
        self._keep(failure, seed, self.work / "failed" / str(event["i"]))
        report.failures.append(failure)

    def _lost(self, report: Report, target: str, seed, current, event) -> None:
        """The child hung, crashed or ran out of memory on input ``current``."""
        index, mutation = current
        if event is None:
            kind, error, message = "hang", "watchdog", \
                f"no answer within {2 * self.limit + self.grace:g} s (in C code: SIGALRM at " \
                f"{self.limit:g} s did not stop it); the child was killed"
        elif event["ev"] == "rss":
            kind, error, message = "memory", "watchdog", \
                f"resident memory reached {event['rss'] >> 20} MB; the child was killed"
        else:
            kind, error, message = "crash", "", ""
        code = self._kill()
        if kind == "crash":
            error = (signal.Signals(-code).name if code is not None and code < 0
                     else f"exit status {code}")
            message = f"the child died ({error})"
        report.outcomes[target]["fail"] += 1
        failure = Failure(target, index, kind, error, message, f"{kind}: {error} in {target}",
                          mutation, self._log_tail())
        self._keep(failure, seed, self.work / "case")
        report.failures.append(failure)

    def _keep(self, failure: Failure, seed, folder: Path) -> None:
        """Save the failing input (at most ``max_saves`` per signature), drop the copy."""
        self.saved[failure.signature] += 1
        if self.save is not None and self.saved[failure.signature] <= self.max_saves \
                and folder.is_dir():
            dest = self.save / failure.target / f"{failure.index:06d}-{failure.kind}"
            shutil.copytree(folder, dest, dirs_exist_ok=True)
            (dest / "failure.txt").write_text(
                f"target: {failure.target}\nseed: {seed}\nindex: {failure.index}\n"
                f"kind: {failure.kind}\nerror: {failure.error}\nsignature: {failure.signature}\n"
                f"mutation: {failure.mutation}\nmessage: {failure.message}\n"
                f"replay: python scripts/fuzz.py --seed {seed} --replay "
                f"{failure.target}:{failure.index}\n\n{failure.traceback}\n")
            failure.saved = str(dest)
        if folder.name != "case":
            shutil.rmtree(folder, ignore_errors=True)


def run(targets, seed, *, counts: dict | None = None, minutes: float | None = None,
        slice_seconds: float = 30.0, progress=None, campaign: Campaign | None = None,
        **options) -> Report:
    """A campaign over ``targets``: ``counts[target]`` inputs each (a fixed, reproducible
    set), or round-robin slices of ``slice_seconds`` until ``minutes`` have passed.
    ``progress(report)`` is called after each job; ``options`` go to :class:`Campaign`
    (unless one is given, which is then left open)."""
    report = Report(seed)
    report.tried.update(dict.fromkeys(targets, 0))   # the table in the targets' order
    own = campaign is None
    campaign = campaign or Campaign(targets, **options)
    started = time.time()
    try:
        if counts is not None:
            for target in targets:
                campaign.run_job(report, target, seed, 0, stop=counts[target])
                if progress:
                    progress(report)
        else:
            deadline = started + 60 * minutes
            following = dict.fromkeys(targets, 0)
            while time.time() < deadline:
                for target in targets:
                    until = min(deadline, time.time() + slice_seconds)
                    following[target] = campaign.run_job(report, target, seed,
                                                         following[target], until=until)
                    if progress:
                        progress(report)
                    if time.time() >= deadline:
                        break
    finally:
        report.seconds = time.time() - started
        if own:
            campaign.close()
    return report
