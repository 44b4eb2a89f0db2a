"""Training logs read into rows, as Caffe's ``tools/extra/parse_log.py`` reads them.

Two kinds of log are read:

* glog-style logs -- real Caffe's (``caffe train 2> log``, ``/tmp/caffe.INFO``) and ours
  (``keras-caffe train`` on stderr, ``--log_dir``).  As in ``parse_log.py``: a line's iteration
  is the last ``Iteration N`` seen, ``Train net output #k: name = v`` and ``Test net output
  #k: name = v`` fill the train and test row of that iteration, ``lr = R`` is the learning
  rate, and a row's ``Seconds`` is its line's glog time less that of the first ``Solving``
  line.  Lines without glog's prefix (a solver prototxt echoed, TensorFlow's own messages)
  count only for ``Iteration N``.  Where ``parse_log.py`` falls short this reads on: a row
  that is the log's last is kept, a train row's ``LearningRate`` is the one logged for its
  own iteration (``parse_log.py`` gives the previous display's), the outputs of test net #1
  and on are named ``name#1``, ..., a prefix with the year (newer glog) is read, and the year
  of the first line is the file's year less the new years the log crosses.
* the JSON-lines log of ``keras-caffe train --log`` (train records with ``lr``, test records
  with ``test_net``); its rows' ``Seconds`` add up the logged step times.

Each row is a dict: ``NumIters``, ``Seconds``, ``LearningRate``, then one entry per output.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import re

from ..errors import LogError

FIXED = ("NumIters", "Seconds", "LearningRate")

#: glog's prefix: severity, [year,] month, day, time with microseconds, thread id, file:line.
PREFIX = re.compile(r"^([IWEF])(\d{4})?(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6}) +\S+ [^\s\]]+\] ")
ITERATION = re.compile(r"Iteration (\d+)")
TRAIN_OUTPUT = re.compile(r"Train net output #(\d+): (\S+) = ([.\deE+-]+|-?nan|-?inf)")
TEST_OUTPUT = re.compile(r"Test net output #(\d+): (\S+) = ([.\deE+-]+|-?nan|-?inf)")
LEARNING_RATE = re.compile(r"lr = ([-+]?[0-9]*\.?[0-9]+(?:[eE]?[-+]?[0-9]+)?)")
LR_OF_ITERATION = re.compile(r"Iteration (\d+), lr = ")
TESTING_NET = re.compile(r"Testing net \(#(\d+)\)")


@dataclasses.dataclass
class TrainingLog:
    """A log's rows: ``train`` (one per displayed iteration) and ``test`` (one per test)."""

    path: str
    kind: str                      # "glog" or "jsonl"
    train: list[dict]
    test: list[dict]

    def columns(self, part: str) -> list[str]:
        """The output names of ``part`` ("train" or "test"), in order of appearance."""
        names: dict[str, None] = {}
        for row in getattr(self, part):
            names.update((k, None) for k in row if k not in FIXED)
        return list(names)


def read_log(path) -> TrainingLog:
    """Read a glog-style or JSON-lines training log; a :class:`LogError` naming the file (and
    line) when it cannot be read, is not a log, or holds no iterations."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
        year = datetime.datetime.fromtimestamp(os.path.getmtime(path)).year
    except OSError as exc:
        raise LogError(f"cannot read it ({exc.strerror or exc})", path) from None
    if b"\0" in data[:65536]:
        raise LogError("not a Caffe log: a binary file", path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")   # a log with a stray byte is still a log
    lines = text.splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    if first.startswith("{"):
        return parse_jsonl(lines, path)
    return parse_glog(lines, path, last_year=year)


# ---------------------------------------------------------------------------------- glog
def _stamp(match, year: int) -> tuple[int, datetime.datetime] | None:
    """(month, time) of a prefix match, in ``year`` unless the prefix has its own; None for a
    date that does not exist (TensorFlow's ``I0000 00:00:...``)."""
    g = match.groups()
    try:
        when = datetime.datetime(int(g[1]) if g[1] else year, int(g[2]), int(g[3]), int(g[4]),
                                 int(g[5]), int(g[6]), int(g[7]))
    except ValueError:
        return None
    return when.month, when


def parse_glog(lines, path: str = "<log>", last_year: int | None = None) -> TrainingLog:
    """Rows of a glog-style log given as lines; ``last_year`` is the year of its last line
    (default: this year)."""
    lines = list(lines)
    last_year = last_year or datetime.date.today().year
    prefixed = [(n, PREFIX.match(line)) for n, line in enumerate(lines)]
    prefixed = [(n, m) for n, m in prefixed if m and _stamp(m, 2000) is not None]
    if not prefixed:
        raise LogError("not a Caffe log: no glog-style line (I1203 14:02:11.123456  1234 "
                       "file.cpp:42] ...) and no JSON record", path)
    months = [int(m.group(3)) for _, m in prefixed]
    year = last_year - sum(1 for a, b in zip(months, months[1:]) if b < a)
    solving = [n for n, m in prefixed if lines[n][m.end():].startswith("Solving")]
    begin = solving[0] if solving else prefixed[0][0]
    state = _GlogState(path)
    last_month = None
    for n, line in enumerate(lines):
        prefix = PREFIX.match(line)
        stamp = _stamp(prefix, year) if prefix else None
        if stamp is not None:
            if last_month is not None and stamp[0] < last_month:   # a new year
                year += 1
                stamp = _stamp(prefix, year)
            last_month = stamp[0]
        if n < begin:
            continue
        match = ITERATION.search(line)
        if match:
            state.iteration = int(match.group(1))
        if stamp is None:
            continue
        if state.start is None:
            state.start = stamp[1]
        if state.iteration is not None:
            state.line(line[prefix.end():], (stamp[1] - state.start).total_seconds(), n + 1)
    if state.iteration is None:
        raise LogError("no iterations in it (no 'Iteration N' line after 'Solving')", path)
    return state.finish("glog")


class _GlogState:
    """``parse_log.py``'s loop state: the iteration, the learning rate, the open rows."""

    def __init__(self, path):
        self.path = path
        self.iteration, self.start, self.lr, self.test_net = None, None, math.nan, 0
        self.rows = {"train": [], "test": []}
        self.open = {"train": None, "test": None}

    def line(self, message: str, seconds: float, number: int) -> None:
        testing = TESTING_NET.search(message)
        if testing:
            self.test_net = int(testing.group(1))
        rate = LEARNING_RATE.search(message)
        if rate:
            self.lr = float(rate.group(1))
            own = LR_OF_ITERATION.search(message)
            row = self.open["train"]
            if own and row is not None and row["NumIters"] == int(own.group(1)):
                row["LearningRate"] = self.lr
        for part, regex in (("train", TRAIN_OUTPUT), ("test", TEST_OUTPUT)):
            match = regex.search(message)
            if not match:
                continue
            row = self.open[part]
            if row is None or row["NumIters"] != self.iteration:
                if row is not None:
                    self.rows[part].append(row)
                row = self.open[part] = {"NumIters": self.iteration, "Seconds": seconds,
                                         "LearningRate": self.lr}
            name = match.group(2)
            if part == "test" and self.test_net:
                name = f"{name}#{self.test_net}"
            try:
                row[name] = float(match.group(3))
            except ValueError:
                raise LogError(f"not a number: {match.group(3)!r}", self.path, number) from None

    def finish(self, kind: str) -> TrainingLog:
        for part, row in self.open.items():
            if row is not None:
                self.rows[part].append(row)
        for rows in self.rows.values():   # parse_log.py's fix_initial_nan_learning_rate
            if len(rows) > 1 and math.isnan(rows[0]["LearningRate"]):
                rows[0]["LearningRate"] = rows[1]["LearningRate"]
        return TrainingLog(self.path, kind, self.rows["train"], self.rows["test"])


# ---------------------------------------------------------------------------------- JSON
def parse_jsonl(lines, path: str = "<log>") -> TrainingLog:
    """Rows of a ``keras-caffe train --log`` JSON-lines log given as lines."""
    train, test = [], []
    seconds, lr = 0.0, math.nan
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise LogError(f"not a JSON record ({getattr(exc, 'msg', exc)})", path, number) from None
        if not isinstance(record, dict) or not isinstance(record.get("iteration"), int):
            raise LogError("a JSON record without an integer 'iteration': not a keras-caffe "
                           "train --log record", path, number)
        outputs = record.get("outputs") or {}
        scalars = {k: float(v) for k, v in outputs.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if "test_net" in record:
            k = int(record["test_net"])
            scalars = {(f"{name}#{k}" if k else name): v for name, v in scalars.items()}
            if test and test[-1]["NumIters"] == record["iteration"]:   # more test nets
                test[-1].update(scalars)
            else:
                test.append({"NumIters": record["iteration"], "Seconds": seconds,
                             "LearningRate": lr, **scalars})
        else:
            seconds += float(record.get("seconds", 0.0))
            lr = float(record.get("lr", math.nan))
            train.append({"NumIters": record["iteration"], "Seconds": seconds,
                          "LearningRate": lr, **scalars})
    if not train and not test:
        raise LogError("no iterations in it (no JSON record)", path)
    if len(test) > 1 and math.isnan(test[0]["LearningRate"]):
        test[0]["LearningRate"] = test[1]["LearningRate"]
    return TrainingLog(path, "jsonl", train, test)
