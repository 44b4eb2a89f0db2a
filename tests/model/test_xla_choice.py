"""``--xla`` never slower than without it (``keras_caffe.xla``): "auto" measures both and
keeps the faster, "always" compiles regardless, what XLA cannot compile runs without it, and
measuring leaves no trace in the variables or the trajectory."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
import tensorflow as tf

import keras_caffe
from keras_caffe import cli
from keras_caffe.tools import timing
from keras_caffe.xla import XlaChoice, choose, xla_mode
from tests.model.test_train import _params, _setup
from tests.tools.test_timing import SMALL_TRAIN_NET


def _sleeper(seconds, calls):
    def run(x):
        calls.append(x)
        time.sleep(seconds)
        return x
    return run


def test_modes():
    assert [xla_mode(v) for v in (None, False, True, "auto", "always")] == \
        [None, None, "auto", "auto", "always"]
    with pytest.raises(ValueError, match=r"xla must be True, False or one of \('auto', 'always'\)"):
        xla_mode("sometimes")


@pytest.mark.parametrize("plain_s, xla_s, used", [(0.0, 0.004, False), (0.004, 0.0, True)])
def test_auto_keeps_the_faster(plain_s, xla_s, used, caplog):
    plain_calls, xla_calls = [], []
    plain, compiled = _sleeper(plain_s, plain_calls), _sleeper(xla_s, xla_calls)
    with caplog.at_level(logging.INFO, logger="keras_caffe.xla"):
        fn, choice = choose(plain, compiled, (1,), mode=True, what="forward",
                            sync=lambda: None, budget_s=0.05)
    assert fn is (compiled if used else plain) and choice.used is used
    assert choice.mode == "auto" and choice.compile_s >= 0
    assert (choice.xla_ms > choice.plain_ms) is not used
    assert min(choice.plain_ms, choice.xla_ms) < 3 < max(choice.plain_ms, choice.xla_ms)
    assert len(plain_calls) >= 3 and len(xla_calls) >= 4
    verdict = "running with XLA" if used else "running without XLA"
    assert "--xla: forward: " in caplog.text and verdict in caplog.text


def test_off_and_always_measure_nothing():
    calls = []
    plain, compiled = _sleeper(0, calls), _sleeper(0, calls)
    assert choose(plain, compiled, (1,), mode=False) == (plain, XlaChoice(False, None))
    fn, choice = choose(plain, compiled, (1,), mode="always")
    assert fn is compiled and choice.used and choice.reason == "as asked (always)"
    assert calls == []


def test_what_xla_cannot_compile_runs_without_it(caplog):
    def compiled(x):
        raise tf.errors.InvalidArgumentError(None, None, "Detected unsupported operations\nmore")

    plain = _sleeper(0, [])
    with caplog.at_level(logging.WARNING, logger="keras_caffe.xla"):
        fn, choice = choose(plain, compiled, (1,), mode="auto", what="forward")
    assert fn is plain and not choice.used
    assert choice.reason == "XLA cannot compile it: Detected unsupported operations"
    assert "--xla: forward: without XLA (XLA cannot compile it" in caplog.text


def test_measuring_restores_the_state():
    counter = tf.Variable(5.0)

    @tf.function
    def plain(x):
        counter.assign_add(x)
        return counter.read_value()

    compiled = tf.function(plain.python_function, jit_compile=True)
    fn, choice = choose(plain, compiled, (tf.constant(1.0),), mode="auto", state=[counter],
                        budget_s=0.01)
    assert choice.plain_ms is not None and float(counter.numpy()) == 5.0
    assert float(fn(tf.constant(1.0))) == 6.0


def test_forward_auto_gives_the_same_blobs(caplog):
    net = SMALL_TRAIN_NET
    x = {"data": np.random.default_rng(0).normal(size=(4, 1, 12, 12)).astype(np.float32),
         "label": np.array([0, 1, 4, 2], np.float32)}
    plain = keras_caffe.forward(net, x, phase="test")
    with caplog.at_level(logging.INFO, logger="keras_caffe.xla"):
        auto = keras_caffe.forward(net, x, phase="test", xla=True)
    assert "--xla: forward: " in caplog.text and "ms without" in caplog.text
    assert set(auto) == set(plain)
    for name in plain:
        np.testing.assert_allclose(auto[name], plain[name], rtol=0, atol=1e-5, err_msg=name)


def test_time_reports_both_figures():
    result = timing.time_net(SMALL_TRAIN_NET, iterations=2, warmup=1, xla=True, per_layer=False)
    forward, both = result["xla_choice"]["forward"], result["xla_choice"]["forward_backward"]
    assert forward["mode"] == both["mode"] == "auto"
    assert all(c["plain_ms"] > 0 and c["xla_ms"] > 0 for c in (forward, both))
    assert result["xla"] == (forward["used"] or both["used"])
    assert any(n.startswith("--xla auto: forward: ") for n in result["notes"])
    assert any(n.startswith("--xla auto: forward-backward: ") for n in result["notes"])


def test_auto_training_follows_the_plain_trajectory(tmp_path, monkeypatch, caplog):
    for name, options in (("plain", []), ("auto", ["--xla"])):
        d = tmp_path / name
        d.mkdir()
        _setup(d, 10)
        monkeypatch.chdir(d)
        with caplog.at_level(logging.INFO, logger="keras_caffe.xla"):
            assert cli.main(["train", "--solver", "solver.prototxt"] + options) == 0
    assert "--xla: training step: " in caplog.text
    used = "running with XLA" in caplog.text
    a = _params(tmp_path / "plain/snap/tiny_iter_10.caffemodel")
    b = _params(tmp_path / "auto/snap/tiny_iter_10.caffemodel")
    for name in a:
        for x, y in zip(a[name], b[name]):
            # measured steps are undone: without XLA the run is the plain run exactly
            np.testing.assert_allclose(x, y, rtol=1e-4 if used else 0, atol=1e-5 if used else 0)
