"""pycaffe's solvers: ``caffe.SGDSolver(path)`` and the others, ``get_solver``, and their nets."""

from __future__ import annotations

import os

import numpy as np
import pytest

import keras_caffe.pycaffe as caffe
from keras_caffe.errors import SolverError
from tests.pycaffe.nets import simple_net

SOLVER = """net: '{net}'
test_iter: 10 test_interval: 10 base_lr: 0.01 momentum: 0.9
weight_decay: 0.0005 lr_policy: 'inv' gamma: 0.0001 power: 0.75
display: 100 max_iter: 100 snapshot_after_train: false
snapshot_prefix: "{prefix}" random_seed: 3 {extra}
"""


@pytest.fixture
def make(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def make(extra="", cls=caffe.SGDSolver, num_output=13):
        (tmp_path / "net.prototxt").write_text(simple_net(num_output))
        (tmp_path / "solver.prototxt").write_text(SOLVER.format(
            net="net.prototxt", prefix="model", extra=extra))
        solver = cls("solver.prototxt")
        rng = np.random.default_rng(0)
        for net in [solver.net] + list(solver.test_nets):
            net.blobs["label"].data[...] = rng.integers(num_output,
                                                        size=net.blobs["label"].data.shape)
        return solver
    return make


def test_solve_runs_to_max_iter_and_loss_falls(make):
    solver = make()
    assert solver.iter == 0
    solver.step(1)
    first = float(solver.net.blobs["loss"].data)
    solver.solve()
    assert solver.iter == 100
    assert float(solver.net.blobs["loss"].data) < first


def test_apply_update_uses_the_diffs_in_net_params(make):
    solver = make()
    net = solver.net
    data = net.layers[1].blobs[0].data
    data[...] = 0
    net.layers[1].blobs[0].diff[...] = 1
    solver.apply_update()
    np.testing.assert_allclose(data, -0.01, atol=1e-7)   # lr 0.01, no history, no decay of 0
    assert solver.iter == 0


def test_nets_survive_the_solver_and_test_nets_share_its_weights(make):
    solver = make()
    solver.step(3)
    nets = [solver.net] + list(solver.test_nets)
    assert len(nets) == 2
    np.testing.assert_array_equal(nets[0].params["ip"][0].data, nets[1].params["ip"][0].data)
    del solver
    total = sum(float(p.data.sum() + p.diff.sum()) for net in nets
                for ps in net.params.values() for p in ps)
    total += sum(float(b.data.sum() + b.diff.sum()) for net in nets for b in net.blobs.values())
    assert np.isfinite(total)


def test_snapshot_writes_caffemodel_and_solverstate_and_restore_resumes(make):
    solver = make()
    solver.step(2)
    solver.snapshot()
    assert os.path.isfile("model_iter_2.caffemodel") and os.path.isfile("model_iter_2.solverstate")
    weights = solver.net.params["conv"][0].data.copy()
    solver.step(2)
    other = make()
    other.restore("model_iter_2.solverstate")
    assert other.iter == 2
    np.testing.assert_array_equal(other.net.params["conv"][0].data, weights)


def test_diffs_after_a_step_hold_the_step_taken(make):
    solver = make()
    before = solver.net.params["ip"][0].data.copy()
    diff = solver.net.params["ip"][0].diff
    solver.step(1)
    np.testing.assert_allclose(diff, before - solver.net.params["ip"][0].data, rtol=1e-6,
                               atol=1e-7)


def test_diffs_first_read_after_a_step_hold_the_step_taken(make):
    """Caffe leaves every parameter's last update in its diff, whether or not the script
    looked at the parameter before the step."""
    watched, unwatched = make(), make()
    before = {(name, i): blob.data.copy() for name, blobs in watched.net.params.items()
              for i, blob in enumerate(blobs)}
    watched.step(2)
    unwatched.step(2)
    for (name, i), old in before.items():
        np.testing.assert_allclose(unwatched.net.params[name][i].diff,
                                   watched.net.params[name][i].diff, rtol=1e-5, atol=1e-8)
        assert np.abs(unwatched.net.params[name][i].diff).max() > 0, (name, i)
    unwatched.step(1)
    old = unwatched.net.params["ip"][0].data.copy()
    unwatched.step(1)
    np.testing.assert_allclose(unwatched.net.params["ip"][0].diff,
                               old - unwatched.net.params["ip"][0].data, rtol=1e-6, atol=1e-7)


def test_writes_into_params_between_steps_are_trained_from(make):
    solver = make()
    solver.net.params["conv"][1].data[...] = 100.0
    solver.step(1)
    assert np.all(np.abs(solver.net.params["conv"][1].data - 100.0) < 1)


def test_get_solver_takes_the_type_from_the_file(make):
    solver = make(extra='type: "Adam" momentum2: 0.999', cls=caffe.get_solver)
    assert isinstance(solver, caffe.AdamSolver) and solver.param.type == "Adam"
    solver.step(1)
    assert solver.iter == 1


@pytest.mark.parametrize("extra, prefix, cls, message", [
    ('type: "Bogus"', "model", caffe.get_solver,
     "unknown solver type 'Bogus' (Caffe: 'Unknown solver type'); known types: AdaDelta, "
     "AdaGrad, Adam, Nesterov, RMSProp, SGD"),
    ("iter_size: 0", "model", caffe.SGDSolver,
     "iter_size: 0; it must be at least 1 (an iteration sums the gradients of iter_size "
     "batches)"),
    ('type: "AdaGrad"', "model", caffe.get_solver,
     "Momentum cannot be used with AdaGrad (Caffe: CHECK_EQ(0, momentum)); the solver sets "
     "momentum: 0.9"),
    ("snapshot: 10", "gone/model", caffe.SGDSolver,
     "cannot write snapshots to snapshot_prefix 'gone/model': the folder 'gone' does not exist "
     "(Caffe: 'Cannot write to snapshot prefix'); create the folder, or set snapshot_prefix "
     "(--snapshot-prefix)"),
], ids=["type", "iter_size", "adagrad_momentum", "prefix"])
def test_what_caffe_aborts_on_is_a_solver_error_naming_the_file(tmp_path, monkeypatch, extra,
                                                                prefix, cls, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(simple_net(13))
    (tmp_path / "solver.prototxt").write_text(SOLVER.format(net="net.prototxt", prefix=prefix,
                                                            extra=extra))
    with pytest.raises(SolverError) as err:
        cls("solver.prototxt")
    assert str(err.value) == "solver.prototxt: " + message
    assert sorted(os.listdir(tmp_path)) == ["net.prototxt", "solver.prototxt"]


def test_callbacks_run_around_each_gradient(make):
    solver = make()
    seen = []
    solver.add_callback(lambda: seen.append("start"),
                        lambda: seen.append(float(np.abs(solver.net.params["ip"][0].diff).sum())))
    reference = make()
    solver.step(2)
    reference.step(2)
    assert seen[0] == "start" and seen[2] == "start" and seen[1] > 0
    np.testing.assert_allclose(solver.net.params["ip"][0].data,
                               reference.net.params["ip"][0].data, rtol=1e-4, atol=1e-5)


INPUT_NET = """name: 'fit'
layer { name: 'x' type: 'Input' top: 'x' top: 'y'
        input_param { shape { dim: 8 dim: 3 } shape { dim: 8 dim: 1 } } }
layer { name: 'fc' type: 'InnerProduct' bottom: 'x' top: 'fc'
        inner_product_param { num_output: 1 weight_filler { type: 'constant' value: 0 } } }
layer { name: 'loss' type: 'EuclideanLoss' bottom: 'fc' bottom: 'y' top: 'loss' }
"""


def test_an_input_fed_net_trains_on_what_the_script_writes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(INPUT_NET)
    (tmp_path / "solver.prototxt").write_text(
        "net: 'net.prototxt' base_lr: 0.1 lr_policy: 'fixed' momentum: 0.9 max_iter: 200 "
        "display: 0 snapshot_after_train: false")
    solver = caffe.SGDSolver("solver.prototxt")
    rng = np.random.default_rng(1)
    truth = np.array([[1.5, -2.0, 0.5]], np.float32)
    for _ in range(200):
        x = rng.standard_normal((8, 3)).astype(np.float32)
        solver.net.blobs["x"].data[...] = x
        solver.net.blobs["y"].data[...] = x @ truth.T + 0.25
        solver.step(1)
    np.testing.assert_allclose(solver.net.params["fc"][0].data, truth, atol=1e-2)
    np.testing.assert_allclose(solver.net.params["fc"][1].data, [0.25], atol=1e-2)
