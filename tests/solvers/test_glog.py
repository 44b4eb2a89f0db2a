"""``keras-caffe train`` / ``test`` log Caffe's lines as glog writes them, so that the tools built
on Caffe's logs (``tools/extra/parse_log.py``, ``parse_log.sh``) read them.

The parser here is written from ``parse_log.py``'s format (its regexes, its rows, seconds from
the ``Solving`` line's glog time); it is not Caffe's script.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import math
import os
import pathlib
import re

import h5py
import numpy as np
import pytest

from keras_caffe import cli
from keras_caffe.solvers import glog
from keras_caffe.tools.caffe_log import parse_glog, read_log

NET = """name: "GlogNet"
layer { name: "data" type: "HDF5Data" top: "data" top: "label" include { phase: TRAIN }
  hdf5_data_param { source: "train_list.txt" batch_size: 4 } }
layer { name: "data" type: "HDF5Data" top: "data" top: "label" include { phase: TEST }
  hdf5_data_param { source: "test_list.txt" batch_size: 3 } }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
  inner_product_param { num_output: 2 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
layer { name: "accuracy" type: "Accuracy" bottom: "fc" bottom: "label" top: "accuracy"
  include { phase: TEST } }
"""

SOLVER = """net: "net.prototxt"
base_lr: 0.2 momentum: 0.9 lr_policy: "step" gamma: 0.5 stepsize: 2
max_iter: 4 display: %(display)d average_loss: 2
test_iter: 2 test_interval: 2 test_initialization: %(test_init)s
snapshot_prefix: "snap" random_seed: 1
"""

PREFIX = re.compile(r"^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{6} [ \d]{4}\d+ [a-z_]+\.cpp:\d+\] ")


def _setup(path, display=1, test_init="true"):
    rng = np.random.default_rng(0)
    for name, n in (("train", 16), ("test", 6)):
        x = rng.standard_normal((n, 3)).astype(np.float32)
        with h5py.File(path / f"{name}.h5", "w") as f:
            f["data"] = x
            f["label"] = (x[:, 0] > 0).astype(np.float32)
        (path / f"{name}_list.txt").write_text(f"{name}.h5\n")
    (path / "net.prototxt").write_text(NET)
    (path / "solver.prototxt").write_text(SOLVER % {"display": display, "test_init": test_init})


@contextlib.contextmanager
def _in(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _run(path, argv) -> str:
    """Run ``keras-caffe ARGV`` in ``path``; its stderr."""
    err = io.StringIO()
    with _in(path), contextlib.redirect_stderr(err):
        assert cli.main(argv) == 0
    return err.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    path = tmp_path_factory.mktemp("glog")
    _setup(path)
    stderr = _run(path, ["train", "--solver", "solver.prototxt", "--log", "log.jsonl",
                         "--log_dir", "logs"])
    records = [json.loads(l) for l in (path / "log.jsonl").read_text().splitlines()]
    return path, stderr, records


# -------------------------------------------------------------- a parser from parse_log.py's format
ITERATION = re.compile(r"Iteration (\d+)")
TRAIN_OUTPUT = re.compile(r"Train net output #(\d+): (\S+) = ([\.\deE+-]+)")
TEST_OUTPUT = re.compile(r"Test net output #(\d+): (\S+) = ([\.\deE+-]+)")
LEARNING_RATE = re.compile(r"lr = ([-+]?[0-9]*\.?[0-9]+([eE]?[-+]?[0-9]+)?)")


def _glog_time(line, year=2000):
    """The datetime of a glog line: ``I0210 13:39:22.381027 25210 solver.cpp:204] ...``."""
    fields = line.strip().split()
    clock, micro = fields[1].rsplit(".", 1)
    hour, minute, second = (int(v) for v in clock.split(":"))
    return datetime.datetime(year, int(fields[0][1:3]), int(fields[0][3:]), hour, minute,
                             second, int(micro))


def _parse(lines):
    """(train rows, test rows) as parse_log.py makes them."""
    lines = iter(lines)
    start = next(_glog_time(l) for l in lines if "Solving" in l)
    iteration, lr = -1, math.nan
    rows = {"train": [], "test": []}
    for line in lines:
        match = ITERATION.search(line)
        if match:
            iteration = int(match.group(1))
        if iteration == -1:
            continue
        try:
            seconds = (_glog_time(line) - start).total_seconds()
        except (ValueError, IndexError):
            continue
        match = LEARNING_RATE.search(line)
        if match:
            lr = float(match.group(1))
        for part, regex in (("train", TRAIN_OUTPUT), ("test", TEST_OUTPUT)):
            match = regex.search(line)
            if match:
                if not rows[part] or rows[part][-1]["NumIters"] != iteration:
                    rows[part].append({"NumIters": iteration, "Seconds": seconds,
                                       "LearningRate": lr})
                rows[part][-1][match.group(2)] = float(match.group(3))
    for part in rows.values():
        if len(part) > 1 and math.isnan(part[0]["LearningRate"]):
            part[0]["LearningRate"] = part[1]["LearningRate"]
    return rows["train"], rows["test"]


def _check_rows(train, test, records):
    steps = [r for r in records if "lr" in r]
    tests = [r for r in records if "test_net" in r]
    assert [r["NumIters"] for r in train] == [r["iteration"] for r in steps] == [0, 1, 2, 3]
    np.testing.assert_allclose([r["loss"] for r in train], [r["loss"] for r in steps], rtol=1e-5)
    # parse_log.py gives a train row the last lr logged before it: the previous iteration's.
    lrs = [r["lr"] for r in steps]
    np.testing.assert_allclose([r["LearningRate"] for r in train], [lrs[0]] + lrs[:-1], rtol=1e-6)
    seconds = [r["Seconds"] for r in train]
    assert all(0 <= a <= b for a, b in zip(seconds, seconds[1:])) and seconds[-1] > seconds[0]
    assert [r["NumIters"] for r in test] == [r["iteration"] for r in tests] == [0, 2, 4]
    for row, record in zip(test, tests):
        for name in ("accuracy", "loss"):
            assert row[name] == pytest.approx(record["outputs"][name], rel=1e-5)
    assert all(a["Seconds"] <= b["Seconds"] for a, b in zip(test, test[1:]))


# ---------------------------------------------------------------------------------- tests
def test_train_stderr_parses_as_parse_log_does(trained):
    _, stderr, records = trained
    lines = [l for l in stderr.splitlines() if PREFIX.match(l)]
    assert lines and all(PREFIX.match(l) for l in stderr.splitlines())
    _check_rows(*_parse(lines), records)


def test_log_dir_file_is_named_as_glog_names_it_and_parses(trained):
    path, stderr, records = trained
    logs = path / "logs"
    link = logs / "keras-caffe.INFO"
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    name = os.readlink(link)
    match = re.fullmatch(r"keras-caffe\.(.+)\.(.+)\.log\.INFO\.(\d{8})-(\d{6})\.(\d+)", name)
    assert match and int(match.group(5)) == os.getpid()
    text = link.read_text().splitlines()
    assert text[0].startswith("Log file created at: ") and text[1].startswith("Running on machine: ")
    assert text[2] == "Log line format: [IWEF]mmdd hh:mm:ss.uuuuuu threadid file:line] msg"
    assert text[3:] == stderr.splitlines()     # the same lines as stderr, nothing else
    _check_rows(*_parse(text), records)


def test_lines_follow_the_solver_prototxt(trained):
    _, stderr, records = trained
    lines = stderr.splitlines()
    text = [l.partition("] ")[2] for l in lines]
    where = {l.partition("] ")[2]: l.partition("] ")[0].rsplit(" ", 1)[1] for l in lines}
    assert where["Solving GlogNet"] == "solver.cpp:289"
    assert where["Iteration 4, Testing net (#0)"] == "solver.cpp:347"
    assert where[f"Iteration 2, lr = {glog.number(0.1)}"] == "sgd_solver.cpp:112"
    assert {where[m] for m in text if re.match(r"Iteration \d+ \(", m)} == {"solver.cpp:239"}
    assert {where[m] for m in text if "Train net output" in m} == {"solver.cpp:258"}
    assert {where[m] for m in text if "Test net output" in m} == {"solver.cpp:414"}
    assert text[:4] == ["Use CPU.", "Starting Optimization", "Solving GlogNet",
                        "Learning Rate Policy: step"]
    assert text[-2:] == ["Optimization Done.", "Optimization Done."]
    steps = [r for r in records if "lr" in r]
    display = [m for m in text if re.match(r"Iteration \d+ \(", m)]
    assert len(display) == 4
    for message, record in zip(display, steps):
        # average_loss 2: the displayed loss is the mean of the last two iterations' losses
        m = re.fullmatch(r"Iteration (\d+) \(([\d.e+-]+) iter/s, ([\d.e+-]+)s/1 iters\), "
                         r"loss = (\S+)", message)
        assert m and int(m.group(1)) == record["iteration"]
        assert float(m.group(4)) == pytest.approx(record["smoothed_loss"], rel=1e-5)
    assert float(display[1].rsplit("= ", 1)[1]) == pytest.approx(
        np.mean([r["loss"] for r in steps[:2]]), rel=1e-5)
    outputs = [m for m in text if "Train net output" in m]
    assert outputs[0].startswith("    Train net output #0: loss = ") and "(* 1 = " in outputs[0]
    assert [m for m in text if ", lr = " in m][2] == f"Iteration 2, lr = {glog.number(0.1)}"
    assert "Iteration 0, Testing net (#0)" in text and "Iteration 4, Testing net (#0)" in text
    # after max_iter: the snapshot, then the last display's forward pass, then the test
    assert text.index("Snapshotting to binary proto file snap_iter_4.caffemodel") < \
        text.index("Iteration 4, Testing net (#0)")
    assert any(re.fullmatch(r"Iteration 4, loss = \S+", m) for m in text)
    tests = [m for m in text if "Test net output" in m]
    assert tests[0].startswith("    Test net output #0: accuracy = ")
    assert tests[1].startswith("    Test net output #1: loss = ") and tests[1].endswith(" loss)")


def test_parse_log_sh_greps_find_the_lines(trained):
    _, stderr, records = trained
    lines = stderr.splitlines()
    steps = [r for r in records if "lr" in r]
    tests = [r for r in records if "test_net" in r]
    assert len([l for l in lines if "] Solving " in l]) == 1
    losses = [float(l.split("=")[1].split()[0]) for l in lines if ", loss = " in l]
    assert len(losses) == 5          # 4 displays and the one after max_iter
    np.testing.assert_allclose(losses[:4], [r["smoothed_loss"] for r in steps], rtol=1e-5)
    lrs = [float(l.split()[8]) for l in lines if re.search(r"Iteration .*, lr = ", l)]  # awk $9
    np.testing.assert_allclose(lrs, [r["lr"] for r in steps], rtol=1e-6)
    accuracy = [float(l.split()[10]) for l in lines if "Test net output #0" in l]       # awk $11
    np.testing.assert_allclose(accuracy, [r["outputs"]["accuracy"] for r in tests], rtol=1e-5)
    assert len([l for l in lines if "Testing net" in l]) == 3


def test_keras_caffe_reads_its_own_log_with_each_rows_lr(trained):
    path, stderr, records = trained
    steps = [r for r in records if "lr" in r]
    for log in (read_log(path / "logs" / "keras-caffe.INFO"), parse_glog(stderr.splitlines())):
        assert [r["NumIters"] for r in log.train] == [0, 1, 2, 3]
        np.testing.assert_allclose([r["LearningRate"] for r in log.train],
                                   [r["lr"] for r in steps], rtol=1e-6)
        assert [r["NumIters"] for r in log.test] == [0, 2, 4]
    jsonl = read_log(path / "log.jsonl")
    np.testing.assert_allclose([r["loss"] for r in jsonl.train], [r["loss"] for r in steps])


def test_display_and_test_intervals_follow_the_prototxt(tmp_path):
    _setup(tmp_path, display=2, test_init="false")
    text = [l.partition("] ")[2] for l in
            _run(tmp_path, ["train", "--solver", "solver.prototxt"]).splitlines()]
    assert [m.split(" (")[0] for m in text if re.match(r"Iteration \d+ \(", m)] == \
        ["Iteration 0", "Iteration 2"]
    assert [m for m in text if ", lr = " in m] == [f"Iteration 0, lr = {glog.number(0.2)}",
                                                   f"Iteration 2, lr = {glog.number(0.1)}"]
    assert [m for m in text if "Testing net" in m] == ["Iteration 2, Testing net (#0)",
                                                       "Iteration 4, Testing net (#0)"]
    assert any(re.fullmatch(r"Iteration 4, loss = \S+", m) for m in text)


def test_caffe_test_lines(trained, tmp_path):
    path, _, _ = trained
    stderr = _run(path, ["test", "--model", "net.prototxt", "--weights", "snap_iter_4.caffemodel",
                         "--iterations", "2", "--log-dir", str(tmp_path)])
    lines = stderr.splitlines()
    assert all(PREFIX.match(l) and "caffe.cpp:" in l for l in lines)
    text = [l.partition("] ")[2] for l in lines]
    assert text[:2] == ["Use CPU.", "Running for 2 iterations."]
    batches = {}
    for m in text:
        match = re.fullmatch(r"Batch (\d), (\w+) = (\S+)", m)
        if match:
            batches.setdefault(match.group(2), []).append(float(match.group(3)))
    assert set(batches) == {"accuracy", "loss"} and all(len(v) == 2 for v in batches.values())
    loss = next(float(m.split()[1]) for m in text if m.startswith("Loss: "))
    assert loss == pytest.approx(np.mean(batches["loss"]), rel=1e-5)
    accuracy = next(m for m in text if m.startswith("accuracy = "))
    assert float(accuracy.split()[2]) == pytest.approx(np.mean(batches["accuracy"]), rel=1e-5)
    mean_loss = next(m for m in text if m.startswith("loss = "))
    assert re.fullmatch(r"loss = (\S+) \(\* 1 = \1 loss\)", mean_loss)
    assert (tmp_path / "keras-caffe.INFO").read_text().splitlines()[3:] == lines


# ---------------------------------------------------------------------------------- format
def test_numbers_are_written_as_a_cpp_stream_writes_a_float():
    assert [glog.number(v) for v in (0.1, 1e-05, 2.302585, 40.0, 0.0, 123456789.0)] == \
        ["0.1", "1e-05", "2.30259", "40", "0", "1.23457e+08"]
    assert glog.number(float("inf")) == "inf" and glog.number(float("nan")) == "nan"
    assert glog.output_line("loss", 0.5) == "loss = 0.5"
    assert glog.output_line("loss", 0.5, 2.0) == "loss = 0.5 (* 2 = 1 loss)"


def test_prefix_file_name_and_header():
    when = datetime.datetime(2024, 3, 9, 7, 5, 4, 42)
    prefix = glog.prefix("solver.cpp:239", when=when)
    assert prefix.startswith("I0309 07:05:04.000042 ") and prefix.endswith(" solver.cpp:239] ")
    assert re.fullmatch(r"[ \d]{4}\d+", prefix[22:-len(" solver.cpp:239] ")])  # setw(5) id
    assert glog.file_name("keras-caffe", when, 77, "host", "me") == \
        "keras-caffe.host.me.log.INFO.20240309-070504.77"
    assert glog.header(when, "host").splitlines()[:2] == [
        "Log file created at: 2024/03/09 07:05:04", "Running on machine: host"]


def test_sink_flushes_each_line_and_relinks(tmp_path):
    out = io.StringIO()
    first = glog.Sink(tmp_path / "logs", stream=out)
    first(glog.line(glog.SOLVING, "Solving x"))
    assert pathlib.Path(first.path).read_text().endswith("] Solving x\n")            # on disk before close: a crash keeps it
    first.close()
    second = glog.Sink(tmp_path / "logs", stream=out)
    second("I0101 00:00:00.000000 1 a.cpp:1] again")
    second.close()
    assert os.readlink(tmp_path / "logs" / "keras-caffe.INFO") == os.path.basename(second.path)
    assert out.getvalue().splitlines()[1].endswith("again")
