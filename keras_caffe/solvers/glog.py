"""Caffe's log lines, written as glog writes them, so Caffe's log tools read ours.

Every line ``keras-caffe train`` / ``test`` and pycaffe's solvers print has glog's prefix::

    I1203 14:02:11.123456  1234 solver.cpp:239] Iteration 100 (2.5 iter/s, 40s/100 iters), loss = 0.123

severity letter, month and day, local time with microseconds, the thread id right-aligned in 5
columns after a space, and ``file:line]`` -- the place in BVLC Caffe's sources (master) that
logs the same message, so ``tools/extra/parse_log.py``, ``parse_log.sh`` and the greps built on
them (``grep '] Solving '``, ``grep ', loss = '``) work unchanged.  Numbers are written as a C++
stream writes a float (6 significant digits).

:class:`Sink` sends lines to stderr (``caffe`` sets glog's ``alsologtostderr``) and, given a
``log_dir``, to a file there named as glog names it,
``<program>.<host>.<user>.log.INFO.<YYYYMMDD-HHMMSS>.<pid>``, with glog's header and the
``<program>.INFO`` link to it; each line is flushed as it is written, so a crashed run keeps
its log.
"""

from __future__ import annotations

import datetime
import getpass
import math
import os
import socket
import sys
import threading

import numpy as np

PROGRAM = "keras-caffe"

# Where Caffe logs each message (file:line in BVLC Caffe's master sources).
# src/caffe/solver.cpp
FINETUNING = "solver.cpp:72"
DISPLAY = "solver.cpp:239"          # Iteration N (x iter/s, ys/D iters), loss = L
TRAIN_OUTPUT = "solver.cpp:258"     #     Train net output #k: name = v (* w = wv loss)
SOLVING = "solver.cpp:289"
LR_POLICY = "solver.cpp:290"
RESTORING = "solver.cpp:296"
FINAL_LOSS = "solver.cpp:327"       # Iteration N, loss = L (after the last update)
SOLVER_DONE = "solver.cpp:332"
TESTING = "solver.cpp:347"          # Iteration N, Testing net (#k)
TEST_LOSS = "solver.cpp:401"
TEST_OUTPUT = "solver.cpp:414"      #     Test net output #k: name = v
SNAPSHOT_MODEL = "solver.cpp:464"
# src/caffe/net.cpp
IGNORING_SOURCE = "net.cpp:746"     # Ignoring source layer X (CopyTrainedLayersFrom)
# src/caffe/solvers/sgd_solver.cpp
MULTISTEP = "sgd_solver.cpp:50"
LR = "sgd_solver.cpp:112"           # Iteration N, lr = R
SNAPSHOT_STATE = "sgd_solver.cpp:284"
# tools/caffe.cpp
TRAIN_USE_CPU = "caffe.cpp:197"
TRAIN_USING_GPUS = "caffe.cpp:204"
RESUMING = "caffe.cpp:235"
STARTING = "caffe.cpp:239"
TRAIN_DONE = "caffe.cpp:250"
TEST_USE_GPU = "caffe.cpp:266"
TEST_USE_CPU = "caffe.cpp:275"
RUNNING_FOR = "caffe.cpp:281"
BATCH = "caffe.cpp:304"             # Batch i, name = v
TEST_TOTAL_LOSS = "caffe.cpp:309"   # Loss: L
SCORE = "caffe.cpp:321"             # name = mean (* w = x loss)


def number(value) -> str:
    """``value`` as ``std::ostream << float`` writes it: 6 significant digits, no trailing
    zeros (``0.1``, ``1e-05``, ``2.30259``, ``inf``, ``nan``, ``-nan``)."""
    x = float(value)
    if math.isnan(x):
        return "-nan" if math.copysign(1.0, x) < 0 else "nan"
    return f"{x:.6g}"


def output_line(name: str, value, weight: float = 0.0) -> str:
    """``name = value``, and for a weighted top Caffe's `` (* w = w*value loss)``."""
    line = f"{name} = {number(value)}"
    if weight:
        with np.errstate(all="ignore"):
            product = np.float32(weight) * np.float32(value)  # Dtype * Dtype, as Caffe
        line += f" (* {number(weight)} = {number(product)} loss)"
    return line


def prefix(where: str, severity: str = "I", when: datetime.datetime | None = None) -> str:
    """glog's prefix: ``I1203 14:02:11.123456  1234 solver.cpp:239] ``."""
    when = when or datetime.datetime.now()
    return (f"{severity[0]}{when:%m%d %H:%M:%S}.{when.microsecond:06d} "
            f"{threading.get_native_id():5d} {where}] ")


def line(where: str, message: str, severity: str = "I") -> str:
    """One log line (no newline): glog's prefix, then ``message``."""
    return prefix(where, severity) + message


def user_name() -> str:
    """The user glog names in its file names: ``$USER``, else the login name, else
    ``invalid-user``."""
    user = os.environ.get("USER")
    if user:
        return user
    try:
        return getpass.getuser() or "invalid-user"
    except Exception:  # no passwd entry (containers); getpass raises OSError or KeyError
        return "invalid-user"


def file_name(program: str, when: datetime.datetime, pid: int, host: str | None = None,
              user: str | None = None, severity: str = "INFO") -> str:
    """glog's log file name: ``<program>.<host>.<user>.log.<SEVERITY>.<YYYYMMDD-HHMMSS>.<pid>``."""
    host = host if host is not None else socket.gethostname()
    user = user if user is not None else user_name()
    return f"{program}.{host}.{user}.log.{severity}.{when:%Y%m%d-%H%M%S}.{pid}"


def header(when: datetime.datetime, host: str | None = None) -> str:
    """The three lines glog (0.3, Caffe's) writes at the top of a log file."""
    host = host if host is not None else socket.gethostname()
    return (f"Log file created at: {when:%Y/%m/%d %H:%M:%S}\n"
            f"Running on machine: {host}\n"
            "Log line format: [IWEF]mmdd hh:mm:ss.uuuuuu threadid file:line] msg\n")


class Sink:
    """Where a command's log lines go: stderr and, with ``log_dir``, glog's INFO file there.

    Call it with a line (``Sink()(glog.line(where, message))``); ``path`` is the file's path
    (None without ``log_dir``).  The ``<program>.INFO`` link beside it is replaced, as glog
    replaces it, to point at the newest file.  ``stream=None`` writes to the ``sys.stderr``
    of the moment.
    """

    def __init__(self, log_dir: str | os.PathLike | None = None, stream=None,
                 program: str = PROGRAM):
        self.stream = stream
        self.path, self._file = None, None
        if log_dir is not None:
            log_dir = os.fspath(log_dir)
            os.makedirs(log_dir, exist_ok=True)
            now = datetime.datetime.now()
            name = file_name(program, now, os.getpid())
            self.path = os.path.join(log_dir, name)
            self._file = open(self.path, "a", encoding="utf-8")
            self._file.write(header(now))
            self._file.flush()
            link = os.path.join(log_dir, f"{program}.INFO")
            try:
                if os.path.islink(link) or os.path.exists(link):
                    os.unlink(link)
                os.symlink(name, link)   # relative, as glog makes it
            except OSError:
                pass                     # glog too goes on without its link

    def __call__(self, text: str) -> None:
        stream = self.stream if self.stream is not None else sys.stderr
        print(text, file=stream, flush=True)
        if self._file is not None:
            self._file.write(text + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
