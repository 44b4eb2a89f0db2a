"""optimizer_from_solver: every Caffe solver type and field."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from keras_caffe.proto import caffe_pb2
from keras_caffe.proto.text import parse_solver
from keras_caffe.solvers import (SOLVER_CLASSES, CaffeAdaDelta, CaffeAdaGrad, CaffeAdam,
                                 CaffeLearningRate, CaffeNesterov, CaffeRMSProp, CaffeSGD,
                                 optimizer_from_solver)
from tests.model.test_train import _setup
from tests.sentinel import refused
from tests.shared_paths import CONFORMANCE

COMMON = 'base_lr: 0.05 lr_policy: "step" gamma: 0.5 stepsize: 10 max_iter: 100 '


def test_sgd_fields():
    opt = optimizer_from_solver(parse_solver(
        COMMON + 'type: "SGD" momentum: 0.9 weight_decay: 0.0005 regularization_type: "L1" '
        'clip_gradients: 4 iter_size: 2'), multipliers={"w": (2, 0)})
    assert type(opt) is CaffeSGD
    assert opt.momentum == pytest.approx(0.9)
    assert opt.weight_decay == pytest.approx(5e-4)
    assert (opt.regularization_type, opt.clip_gradients, opt.iter_size) == ("L1", 4.0, 2)
    assert opt.multipliers == {"w": (2.0, 0.0)}
    sched = opt._learning_rate
    assert isinstance(sched, CaffeLearningRate)
    assert (sched.policy, sched.stepsize) == ("step", 10)
    assert sched.base_lr == pytest.approx(0.05)


def test_defaults_follow_caffe_proto():
    opt = optimizer_from_solver(parse_solver(COMMON))   # type defaults to "SGD"
    assert type(opt) is CaffeSGD
    assert (opt.momentum, opt.weight_decay, opt.clip_gradients, opt.iter_size) == (0, 0, -1, 1)
    assert opt.regularization_type == "L2"
    adam = optimizer_from_solver(parse_solver(COMMON + 'type: "Adam"'))
    assert adam.momentum == 0.0        # Caffe reads momentum (beta1) unset as 0
    assert adam.momentum2 == pytest.approx(0.999) and adam.delta == pytest.approx(1e-8)
    rms = optimizer_from_solver(parse_solver(COMMON + 'type: "RMSProp"'))
    assert rms.rms_decay == pytest.approx(0.99)


@pytest.mark.parametrize("text, cls, fields", [
    ('type: "Nesterov" momentum: 0.95', CaffeNesterov, {"momentum": 0.95}),
    ('type: "AdaGrad" delta: 1e-6', CaffeAdaGrad, {"delta": 1e-6}),
    ('type: "RMSProp" rms_decay: 0.9 delta: 1e-7', CaffeRMSProp,
     {"rms_decay": 0.9, "delta": 1e-7}),
    ('type: "AdaDelta" momentum: 0.95 delta: 1e-6', CaffeAdaDelta,
     {"momentum": 0.95, "delta": 1e-6}),
    ('type: "Adam" momentum: 0.8 momentum2: 0.99 delta: 1e-7', CaffeAdam,
     {"momentum": 0.8, "momentum2": 0.99, "delta": 1e-7}),
])
def test_each_type(text, cls, fields):
    opt = optimizer_from_solver(parse_solver(COMMON + text))
    assert type(opt) is cls and SOLVER_CLASSES[cls.caffe_type] is cls
    for key, value in fields.items():
        assert getattr(opt, key) == pytest.approx(value, rel=1e-6)


def test_legacy_solver_type_enum():
    solver = parse_solver(COMMON + "momentum: 0.9")
    solver.solver_type = caffe_pb2.SolverParameter.NESTEROV
    assert type(optimizer_from_solver(solver)) is CaffeNesterov


@pytest.mark.parametrize("text, match", [
    ('type: "AdaGrad" momentum: 0.9', "Momentum cannot be used with AdaGrad"),
    ('type: "RMSProp" momentum: 0.9', "Momentum cannot be used with RMSProp"),
    ('type: "RMSProp" rms_decay: 1.5', "rms_decay"),
    ('type: "sgd"', "unknown solver type"),
])
def test_caffe_aborts_raise(text, match):
    with pytest.raises(ValueError, match=match):
        optimizer_from_solver(parse_solver(COMMON + text))


@pytest.mark.parametrize("change, message", [
    (('type: "SGD"', 'type: "Bogus"'),
     "unknown solver type 'Bogus' (Caffe: 'Unknown solver type'); known types: AdaDelta, "
     "AdaGrad, Adam, Nesterov, RMSProp, SGD"),
    (('lr_policy: "step"', 'lr_policy: "bogus"'),
     "unknown learning rate policy 'bogus' (Caffe: 'Unknown learning rate policy'); expected "
     "one of ('fixed', 'step', 'exp', 'inv', 'multistep', 'poly', 'sigmoid')"),
    (('lr_policy: "step"', ''),
     "the solver has no lr_policy (Caffe: 'Unknown learning rate policy: '); set one of fixed, "
     "step, exp, inv, multistep, poly, sigmoid"),
    (("iter_size: 2", "iter_size: 0"),
     "iter_size: 0; it must be at least 1 (an iteration sums the gradients of iter_size "
     "batches)"),
    (('type: "SGD"', 'type: "AdaGrad"'),
     "Momentum cannot be used with AdaGrad (Caffe: CHECK_EQ(0, momentum)); the solver sets "
     "momentum: 0.9"),
], ids=["type", "lr_policy", "no_lr_policy", "iter_size_0", "adagrad_momentum"])
def test_train_refuses_what_caffe_aborts_on(tmp_path, monkeypatch, capsys, change, message):
    """Checked before any net is built or file written: one message naming the solver file."""
    _setup(tmp_path, 4)
    solver = tmp_path / "solver.prototxt"
    text = solver.read_text()
    assert change[0] in text
    solver.write_text(text.replace(change[0], change[1]))
    monkeypatch.chdir(tmp_path)
    assert refused(["train", "--solver", "solver.prototxt"], tmp_path, capsys) == \
        "solver.prototxt: " + message


def test_from_path_and_conformance_solvers():
    cases = CONFORMANCE / "solvers"
    if not cases.is_dir():
        pytest.skip(f"shared reference data not found: {cases}")
    want = {"adadelta": CaffeAdaDelta, "adagrad_fixed": CaffeAdaGrad, "adam_poly": CaffeAdam,
            "nesterov_multistep": CaffeNesterov, "rmsprop_inv": CaffeRMSProp}
    for case in sorted(p for p in cases.iterdir() if p.is_dir()):
        opt = optimizer_from_solver(case / "solver.prototxt")
        assert type(opt) is want.get(case.name, CaffeSGD), case.name
    legacy = CONFORMANCE / "upgrade" / "solver_nesterov" / "v1.prototxt"
    if legacy.exists():
        assert type(optimizer_from_solver(legacy)) is CaffeNesterov


def test_result_trains():
    opt = optimizer_from_solver(parse_solver(COMMON + 'momentum: 0.5'))
    w = keras.Variable(np.ones(2, np.float32), name="w")
    opt.apply([np.ones(2, np.float32)], [w])
    np.testing.assert_allclose(w.numpy(), [0.95, 0.95], rtol=1e-6)
