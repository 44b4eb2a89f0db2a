"""``keras-caffe train`` / ``test`` on self-made data: resume continues the exact trajectory,
a crash during a snapshot loses nothing, logs and test nets work."""

from __future__ import annotations

import json
import os

import h5py
import numpy as np
import pytest

from keras_caffe import cli
from keras_caffe.proto import binary, binary_write
from keras_caffe.solvers import snapshot as snapshots

NET = """
name: "tiny"
layer { name: "data" type: "HDF5Data" top: "data" top: "label" include { phase: TRAIN }
  hdf5_data_param { source: "train_list.txt" batch_size: 6 shuffle: %(shuffle)s } }
layer { name: "data" type: "HDF5Data" top: "data" top: "label" include { phase: TEST }
  hdf5_data_param { source: "test_list.txt" batch_size: 5 } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "fc" type: "InnerProduct" bottom: "conv" top: "fc"
  inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
layer { name: "acc" type: "Accuracy" bottom: "fc" bottom: "label" top: "acc" include { phase: TEST } }
"""

SOLVER = """
net: "net.prototxt"
type: "%(type)s"
base_lr: 0.05
momentum: %(momentum)s
lr_policy: "step" gamma: 0.5 stepsize: 7
weight_decay: 0.001
max_iter: %(max_iter)d
test_iter: 2 test_interval: 10
display: 5
snapshot: 10
snapshot_prefix: "snap/tiny"
random_seed: 3
iter_size: 2
"""


def _setup(path, max_iter, kind="SGD", shuffle="false"):
    rng = np.random.default_rng(0)
    for name, n in (("train", 20), ("test", 10)):
        x = rng.standard_normal((n, 2, 5, 5)).astype(np.float32)
        with h5py.File(path / f"{name}.h5", "w") as f:
            f["data"] = x
            f["label"] = (x[:, 0].mean(axis=(1, 2)) > 0).astype(np.float32) + (x[:, 1, 0, 0] > 1)
        (path / f"{name}_list.txt").write_text(f"{name}.h5\n")
    (path / "net.prototxt").write_text(NET % {"shuffle": shuffle})
    momentum = "0" if kind in ("AdaGrad", "RMSProp") else "0.9"
    (path / "solver.prototxt").write_text(SOLVER % {"type": kind, "momentum": momentum,
                                                     "max_iter": max_iter})
    (path / "snap").mkdir(exist_ok=True)


def _params(path):
    return {l.name: l.blobs for l in binary.read_weights(path) if l.blobs}


@pytest.mark.parametrize("kind,shuffle", [("SGD", "false"), ("Adam", "true"), ("AdaDelta", "false")])
def test_resume_continues_the_exact_trajectory(tmp_path, monkeypatch, kind, shuffle):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    for d in (whole, parts):
        d.mkdir()
    _setup(whole, 20, kind, shuffle)
    monkeypatch.chdir(whole)
    assert cli.main(["train", "--solver", "solver.prototxt", "--log", "log.jsonl"]) == 0
    _setup(parts, 10, kind, shuffle)
    monkeypatch.chdir(parts)
    assert cli.main(["train", "--solver", "solver.prototxt"]) == 0
    (parts / "solver.prototxt").write_text((parts / "solver.prototxt").read_text()
                                           .replace("max_iter: 10", "max_iter: 20"))
    assert cli.main(["train", "--solver", "solver.prototxt", "--snapshot",
                     "snap/tiny_iter_10.solverstate", "--log", "log.jsonl"]) == 0
    a, b = _params(whole / "snap/tiny_iter_20.caffemodel"), _params(parts / "snap/tiny_iter_20.caffemodel")
    assert a.keys() == b.keys() == {"conv", "fc"}
    for name in a:
        for x, y in zip(a[name], b[name]):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    first = [json.loads(l) for l in (whole / "log.jsonl").read_text().splitlines() if '"lr"' in l]
    second = [json.loads(l) for l in (parts / "log.jsonl").read_text().splitlines() if '"lr"' in l]
    assert [r["iteration"] for r in second] == list(range(10, 20))
    np.testing.assert_allclose([r["loss"] for r in second], [r["loss"] for r in first[10:]],
                               rtol=1e-5)
    assert first[-1]["loss"] < first[0]["loss"]
    tests = [json.loads(l) for l in (whole / "log.jsonl").read_text().splitlines() if "test_net" in l]
    assert [t["iteration"] for t in tests] == [0, 10, 20]
    assert set(tests[0]["outputs"]) == {"acc", "loss"}


def test_solverstate_holds_caffe_history_in_caffe_layout(tmp_path, monkeypatch):
    _setup(tmp_path, 10)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--solver", "solver.prototxt"]) == 0
    state, extra = snapshots.read("snap/tiny_iter_10.solverstate")
    assert state.iter == 10 and state.learned_net.endswith("tiny_iter_10.caffemodel")
    shapes = [tuple(h.shape.dim) for h in state.history]
    assert shapes == [(4, 2, 3, 3), (4,), (3, 4 * 3 * 3), (3,)]  # SGD: one per blob, Caffe shapes
    assert extra["data"]["train/data"]["batches_read"] == 20      # iter_size 2


def test_a_crash_while_snapshotting_leaves_the_previous_snapshot_intact(tmp_path, monkeypatch):
    _setup(tmp_path, 10)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--solver", "solver.prototxt"]) == 0
    before = (tmp_path / "snap/tiny_iter_10.caffemodel").read_bytes()
    state_before = (tmp_path / "snap/tiny_iter_10.solverstate").read_bytes()
    real_write = binary_write._write_layer  # noqa: SLF001

    def dying_write(f, *args):
        real_write(f, *args)
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(binary_write, "_write_layer", dying_write)
    (tmp_path / "solver.prototxt").write_text((tmp_path / "solver.prototxt").read_text())
    with pytest.raises(KeyboardInterrupt):
        cli.main(["train", "--solver", "solver.prototxt"])
    assert (tmp_path / "snap/tiny_iter_10.caffemodel").read_bytes() == before
    assert (tmp_path / "snap/tiny_iter_10.solverstate").read_bytes() == state_before
    assert not [p for p in os.listdir(tmp_path / "snap") if p.endswith(".tmp")]


def test_caffe_test_averages_outputs(tmp_path, monkeypatch, capsys):
    _setup(tmp_path, 10)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--solver", "solver.prototxt"]) == 0
    capsys.readouterr()
    assert cli.main(["test", "--model", "net.prototxt", "--weights", "snap/tiny_iter_10.caffemodel",
                     "--iterations", "2"]) == 0
    out = [l.partition("] ")[2] for l in capsys.readouterr().err.splitlines()
           if "caffe.cpp:" in l]   # caffe test's glog lines, on stderr
    acc = [l for l in out if l.startswith("acc = ")]
    assert len(acc) == 1 and 0.0 <= float(acc[0].split("=")[1]) <= 1.0
    assert any(l.startswith("loss = ") and "(* 1 = " in l for l in out)


@pytest.mark.parametrize("options", [["--precision", "mixed_float16"], ["--precision", "mixed_bfloat16"],
                                     ["--xla", "always"]])
def test_training_under_mixed_precision_and_xla(tmp_path, monkeypatch, options):
    _setup(tmp_path, 20)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--solver", "solver.prototxt", "--log", "log.jsonl"] + options) == 0
    losses = [json.loads(l)["loss"] for l in (tmp_path / "log.jsonl").read_text().splitlines()
              if '"lr"' in l]
    assert len(losses) == 20 and np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    blobs = _params(tmp_path / "snap/tiny_iter_20.caffemodel")
    assert all(b.dtype == np.float32 for bs in blobs.values() for b in bs)


def test_xla_training_follows_the_float32_trajectory(tmp_path, monkeypatch):
    for name, options in (("plain", []), ("xla", ["--xla", "always"])):
        d = tmp_path / name
        d.mkdir()
        _setup(d, 10)
        monkeypatch.chdir(d)
        assert cli.main(["train", "--solver", "solver.prototxt"] + options) == 0
    a = _params(tmp_path / "plain/snap/tiny_iter_10.caffemodel")
    b = _params(tmp_path / "xla/snap/tiny_iter_10.caffemodel")
    for name in a:
        for x, y in zip(a[name], b[name]):
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)
