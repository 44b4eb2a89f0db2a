"""``keras-caffe train --workers N``: N training processes on this machine, as one
multi-worker run (``solvers.distribute``).

Each worker is ``python -m keras_caffe.cli`` with the same arguments, ``TF_CONFIG`` naming
the N workers on free ports of 127.0.0.1 (worker 0 is the chief) and ``KERAS_CAFFE_WORKER``
its index.  The chief's output goes to this process's; another worker's is kept (its last
lines) and shown if it fails.  When one worker fails the others are stopped (they would
wait for it forever), and the run fails with its exit status.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import threading
import time

from ..solvers.distribute import local_cluster

#: The environment variable that tells a process it is worker ``i`` of a ``--workers`` run.
WORKER = "KERAS_CAFFE_WORKER"
_TAIL = 40   # lines of a non-chief worker's output shown when it fails


def launched_worker() -> int | None:
    """This process's index in a ``--workers`` run, or None when it is not one of them."""
    value = os.environ.get(WORKER)
    return None if value is None or not value.isdigit() else int(value)


def launch(argv: list[str], count: int, echo=None) -> int:
    """Run ``keras-caffe ARGV`` as ``count`` workers of one training run; returns the first
    failing worker's exit status, or 0."""
    echo = echo or (lambda text: print(text, file=sys.stderr, flush=True))
    procs, tails = [], []
    try:
        for index, config in enumerate(local_cluster(count)):
            env = {**os.environ, "TF_CONFIG": config, WORKER: str(index)}
            chief = index == 0
            proc = subprocess.Popen([sys.executable, "-m", "keras_caffe.cli", *argv], env=env,
                                    stdout=None if chief else subprocess.PIPE,
                                    stderr=None if chief else subprocess.STDOUT,
                                    text=None if chief else True, errors="replace")
            procs.append(proc)
            tails.append(None if chief else tail_of(proc))
    except BaseException:   # a worker that could not start: none is left waiting for it
        for proc in procs:
            proc.kill()
            proc.wait()
        raise
    return supervise(procs, tails, echo)


def supervise(procs, tails, echo) -> int:
    """Wait for every worker; at the first failure show its output's end (``tails[i]``, from
    :func:`tail_of`, None for a worker whose output is not kept) and stop the others."""
    try:
        return _wait(procs, tails, echo)
    finally:
        for proc in procs:   # on failure or Ctrl-C: nobody is left waiting for a peer
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait(procs, tails, echo) -> int:
    while True:
        codes = [proc.poll() for proc in procs]
        for index, code in enumerate(codes):
            if code not in (None, 0):
                if tails[index] is not None:
                    tails[index][1].join(timeout=5)
                    for line in tails[index][0]:
                        echo(f"[worker {index}] {line.rstrip()}")
                echo(f"worker {index} of {len(procs)} failed (exit status {code}); stopping "
                     "the others")
                return code
        if all(code == 0 for code in codes):
            return 0
        time.sleep(0.1)


def tail_of(proc):
    """Read a worker's output as it comes (a full pipe would stall it), keeping the end."""
    tail = collections.deque(maxlen=_TAIL)

    def read():
        for line in proc.stdout:
            tail.append(line)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return tail, thread
