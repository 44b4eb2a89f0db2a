"""Training logs read into parse_log.py's rows: real Caffe's glog lines, ours, and the JSON lines
of ``keras-caffe train --log``; a file that is no log is one error naming it."""

from __future__ import annotations

import json
import math

import pytest

from keras_caffe.errors import LogError
from keras_caffe.tools.caffe_log import parse_glog, read_log

# As BVLC Caffe 1.0 writes a LeNet run (caffe train ... 2>&1 | tee caffe.log), shortened.
CAFFE_LOG = """\
I1231 23:59:58.100000  4242 caffe.cpp:218] Using GPUs 0
I1231 23:59:58.200000  4242 solver.cpp:44] Initializing solver from parameters:
test_iter: 100
test_interval: 500
base_lr: 0.01
display: 100
net: "examples/mnist/lenet_train_test.prototxt"
I1231 23:59:58.300000  4242 net.cpp:51] Initializing net from parameters:
I1231 23:59:58.400000  4242 net.cpp:257] Network initialization done.
I1231 23:59:58.500000  4242 solver.cpp:56] Solver scaffolding done.
I1231 23:59:58.600000  4242 caffe.cpp:248] Starting Optimization
I1231 23:59:59.000000  4242 solver.cpp:272] Solving LeNet
I1231 23:59:59.000100  4242 solver.cpp:273] Learning Rate Policy: inv
I1231 23:59:59.500000  4242 solver.cpp:330] Iteration 0, Testing net (#0)
I1231 23:59:59.600000  4250 data_layer.cpp:73] Restarting data prefetching from start.
I1231 23:59:59.700000  4242 solver.cpp:397]     Test net output #0: accuracy = 0.0774
I1231 23:59:59.700100  4242 solver.cpp:397]     Test net output #1: loss = 2.30254 (* 1 = 2.30254 loss)
I1231 23:59:59.800000  4242 solver.cpp:218] Iteration 0 (-2.1e-05 iter/s, 0.8s/100 iters), loss = 2.29896
I1231 23:59:59.800100  4242 solver.cpp:237]     Train net output #0: loss = 2.29896 (* 1 = 2.29896 loss)
I1231 23:59:59.800200  4242 sgd_solver.cpp:105] Iteration 0, lr = 0.01
I0101 00:00:01.800000  4242 solver.cpp:218] Iteration 100 (50 iter/s, 2s/100 iters), loss = 0.215
I0101 00:00:01.800100  4242 solver.cpp:237]     Train net output #0: loss = 0.215 (* 1 = 0.215 loss)
I0101 00:00:01.800200  4242 sgd_solver.cpp:105] Iteration 100, lr = 0.00992565
W0101 00:00:02.000000  4242 some.cpp:1] a warning that names Iteration 150 in passing
I0101 00:00:03.800000  4242 solver.cpp:218] Iteration 200 (50 iter/s, 2s/100 iters), loss = 1.5e-01
I0101 00:00:03.800100  4242 solver.cpp:237]     Train net output #0: loss = 1.5e-01 (* 1 = 0.15 loss)
I0101 00:00:03.800200  4242 sgd_solver.cpp:105] Iteration 200, lr = 0.00985258
I0101 00:00:04.000000  4242 solver.cpp:447] Snapshotting to binary proto file lenet_iter_200.caffemodel
I0101 00:00:04.100000  4242 sgd_solver.cpp:273] Snapshotting solver state to binary proto file lenet_iter_200.solverstate
I0101 00:00:04.200000  4242 solver.cpp:310] Iteration 200, loss = 0.149
I0101 00:00:04.300000  4242 solver.cpp:330] Iteration 200, Testing net (#0)
I0101 00:00:04.500000  4242 solver.cpp:397]     Test net output #0: accuracy = 0.9717
I0101 00:00:04.500100  4242 solver.cpp:397]     Test net output #1: loss = 0.0879 (* 1 = 0.0879 loss)
I0101 00:00:04.600000  4242 solver.cpp:315] Optimization Done.
I0101 00:00:04.600100  4242 caffe.cpp:259] Optimization Done.
"""


def test_a_real_caffe_log_gives_parse_log_rows(tmp_path):
    path = tmp_path / "caffe.log"
    path.write_text(CAFFE_LOG)
    log = read_log(path)
    assert log.kind == "glog" and log.path == str(path)
    # a row's time is that of its first output line, from the 'Solving' line
    assert log.train == [
        {"NumIters": 0, "Seconds": 0.8001, "LearningRate": 0.01, "loss": 2.29896},
        {"NumIters": 100, "Seconds": 2.8001, "LearningRate": 0.00992565, "loss": 0.215},
        {"NumIters": 200, "Seconds": 4.8001, "LearningRate": 0.00985258, "loss": 0.15},
    ]
    assert [r["NumIters"] for r in log.test] == [0, 200]
    assert log.test[0] == {"NumIters": 0, "Seconds": 0.7, "LearningRate": 0.00985258,
                           "accuracy": 0.0774, "loss": 2.30254}  # lr: the next row's, as parse_log
    assert log.test[1]["Seconds"] == pytest.approx(5.5)   # across the new year
    assert log.test[1]["LearningRate"] == 0.00985258
    assert log.columns("train") == ["loss"] and log.columns("test") == ["accuracy", "loss"]


def test_lines_without_glog_prefix_and_other_test_nets():
    lines = [
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        "I0000 00:00:1700000000.000000   123 port.cc:153] oneDNN custom operations are on.",
        "I0305 10:00:00.000000  7 solver.cpp:289] Solving Net",
        "I0305 10:00:01.000000  7 solver.cpp:347] Iteration 0, Testing net (#0)",
        "I0305 10:00:01.000000  7 solver.cpp:414]     Test net output #0: accuracy = 0.5",
        "I0305 10:00:02.000000  7 solver.cpp:347] Iteration 0, Testing net (#1)",
        "I0305 10:00:02.000000  7 solver.cpp:414]     Test net output #0: accuracy = 0.25",
        "I20240305 10:00:03.000000  7 solver.cpp:239] Iteration 0 (0 iter/s, 3s/1 iters), loss = nan",
        "I20240305 10:00:03.000000  7 solver.cpp:258]     Train net output #0: loss = nan",
    ]
    log = parse_glog(lines, last_year=2024)
    [row] = log.test
    assert math.isnan(row.pop("LearningRate"))
    assert row == {"NumIters": 0, "Seconds": 1.0, "accuracy": 0.5, "accuracy#1": 0.25}
    assert log.train[0]["Seconds"] == 3.0 and math.isnan(log.train[0]["loss"])


def test_the_json_lines_log_of_keras_caffe_train(tmp_path):
    records = [
        {"iteration": 0, "test_net": 0, "outputs": {"accuracy": 0.5, "loss": 0.7}},
        {"iteration": 0, "test_net": 1, "outputs": {"accuracy": 0.4}},
        {"iteration": 0, "lr": 0.1, "loss": 0.69, "smoothed_loss": 0.69, "seconds": 0.5,
         "outputs": {"loss": 0.69, "prob": [0.1, 0.9]}},
        {"iteration": 1, "lr": 0.05, "loss": 0.6, "smoothed_loss": 0.6, "seconds": 0.25,
         "outputs": {"loss": 0.6}},
        {"iteration": 2, "test_net": 0, "outputs": {"accuracy": 0.75, "loss": 0.5}},
    ]
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records) + "\n")
    log = read_log(path)
    assert log.kind == "jsonl"
    assert log.train == [{"NumIters": 0, "Seconds": 0.5, "LearningRate": 0.1, "loss": 0.69},
                         {"NumIters": 1, "Seconds": 0.75, "LearningRate": 0.05, "loss": 0.6}]
    assert log.test == [
        {"NumIters": 0, "Seconds": 0.0, "LearningRate": 0.05, "accuracy": 0.5, "loss": 0.7,
         "accuracy#1": 0.4},
        {"NumIters": 2, "Seconds": 0.75, "LearningRate": 0.05, "accuracy": 0.75, "loss": 0.5}]


@pytest.mark.parametrize("content,message", [
    (b"", "not a Caffe log"),
    (b"\x89PNG\r\n\x1a\n\0\0\0", "not a Caffe log: a binary file"),
    (b"name: 'LeNet'\nlayer { }\n", "not a Caffe log"),
    (b"I0305 10:00:00.000000  7 caffe.cpp:281] Running for 2 iterations.\n"
     b"I0305 10:00:01.000000  7 caffe.cpp:309] Loss: 0.5\n", "no iterations"),
    (b'{"iteration": 0, "lr": 0.1}\n{"iteration": 1, "lr"\n', ":2: not a JSON record"),
    (b'{"iteration": 0, "lr": 0.1}\n[1, 2]\n', ":2: a JSON record without"),
])
def test_what_is_not_a_log_is_one_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "some.log"
    path.write_bytes(content)
    with pytest.raises(LogError) as info:
        read_log(path)
    assert str(info.value).startswith(str(path)) and message in str(info.value)


def test_an_unreadable_file_is_an_error_naming_it(tmp_path):
    for path in (tmp_path / "missing.log", tmp_path):
        with pytest.raises(LogError, match="cannot read it") as info:
            read_log(path)
        assert str(info.value).startswith(str(path))
