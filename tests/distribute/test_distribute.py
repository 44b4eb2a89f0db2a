"""tf.distribute keeps Caffe's trajectory: the same parameters as one device with the same
global batch, for MirroredStrategy over two logical CPUs (two worker processes:
``test_multi_worker.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np

from keras_caffe import cli
from keras_caffe.proto import binary
from tests.model.test_train import _setup

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def _params(path):
    return {l.name: l.blobs for l in binary.read_weights(path) if l.blobs}


def _assert_same(a, b):
    assert a.keys() == b.keys()
    for name in a:
        for x, y in zip(a[name], b[name]):
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=2e-5)


def _single_device(tmp_path, monkeypatch, iterations):
    ref = tmp_path / "single"
    ref.mkdir()
    _setup(ref, iterations)
    monkeypatch.chdir(ref)
    assert cli.main(["train", "--solver", "solver.prototxt"]) == 0
    monkeypatch.chdir(tmp_path)
    return _params(ref / f"snap/tiny_iter_{iterations}.caffemodel")


def test_mirrored_over_two_logical_cpus(tmp_path, monkeypatch):
    run = tmp_path / "mirrored"
    run.mkdir()
    _setup(run, 10)
    script = textwrap.dedent("""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        from keras_caffe.solvers.runner import Solver
        Solver("solver.prototxt", strategy=strategy, echo=lambda line: None).solve()
        print("replicas", strategy.num_replicas_in_sync)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=run, env=ENV, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas 2" in result.stdout
    _assert_same(_params(run / "snap/tiny_iter_10.caffemodel"),
                 _single_device(tmp_path, monkeypatch, 10))
