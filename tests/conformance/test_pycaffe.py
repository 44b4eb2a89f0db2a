"""Every golden case through pycaffe's interface: layers with ``caffe.Net`` + ``forward()``
(+ ``backward()`` where Caffe recorded gradients), solvers with ``caffe.get_solver(...)``
stepped to each recorded iteration."""

from __future__ import annotations

import numpy as np
import pytest

import keras_caffe.pycaffe as caffe
from tests.conformance.cases import assert_blobs_close, load_npz, meta, params
from tests.conformance.test_layers import EXACT_TYPES, _xfail_unsupported, gradient_tolerance
from tests.conformance.test_solvers import _close


def _phase(info) -> int:
    return caffe.TRAIN if info["phase"].upper() == "TRAIN" else caffe.TEST


def _layer_case(case, monkeypatch):
    info = meta(case)
    graph = _xfail_unsupported(case)
    monkeypatch.chdir(case)
    net = caffe.Net("net.prototxt", _phase(info), weights="weights.caffemodel")
    for name, value in load_npz(case / "inputs.npz").items():
        net.blobs[name].data[...] = value
    net.forward()
    reference = load_npz(case / "outputs.npz")
    exact = {t.name for n in graph.layers if n.type in EXACT_TYPES for t in n.tops}
    assert_blobs_close({k: net.blobs[k].data for k in reference}, reference, exact=exact)
    if (case / "grads.npz").is_file():
        net.backward()
        grads = load_npz(case / "grads.npz")
        ours = {}
        for key in grads:
            kind, *rest = key.split("/")
            ours[key] = (net.blobs[rest[0]].diff if kind == "diff"
                         else net.params[rest[0]][int(rest[1])].diff)
        assert_blobs_close(ours, grads, tol=gradient_tolerance)


@pytest.mark.parametrize("case", params("layers"))
def test_layer_case_through_caffe_net(case, monkeypatch):
    _layer_case(case, monkeypatch)


@pytest.mark.parametrize("case", params("train_phase"))
def test_train_phase_case_through_caffe_net(case, monkeypatch):
    _layer_case(case, monkeypatch)


@pytest.mark.parametrize("case", params("solvers"))
def test_solver_case_through_get_solver(case, monkeypatch):
    info = meta(case)
    monkeypatch.chdir(case)
    solver = caffe.get_solver("solver.prototxt")
    solver.net.copy_from("init.caffemodel")
    trajectory = load_npz(case / "trajectory.npz")
    losses = [b for b, w in solver.net._cnet.loss_terms]
    lrs, loss_values = [], []
    for it in range(1, info["iterations"] + 1):
        lrs.append(solver.lr)
        solver.step(1)
        loss_values.append(sum(float(solver.net.blobs[b.name].data) * w
                               for b, w in solver.net._cnet.loss_terms))
        if it in info["recorded_param_iters"]:
            last = it == info["iterations"]
            rtol, atol = (1e-3, 1e-4) if last else (1e-4, 1e-5)
            for key in [k for k in trajectory if k.startswith(f"iter{it}/")]:
                _, layer, index = key.split("/")
                _close(solver.net.params[layer][int(index)].data, trajectory[key], rtol, atol,
                       key)
    assert solver.iter == info["iterations"] and losses
    _close(lrs, trajectory["lr"], 1e-6, 0, "lr")
    if solver.param.iter_size == 1:   # the blobs hold the last pass; Caffe logs the mean
        _close(loss_values, trajectory["loss"], 1e-4, 1e-5, "loss")
