"""pycaffe's solvers: ``caffe.SGDSolver(path)`` and the other five, and ``get_solver``.

They are keras-caffe's solver runner (``keras-caffe train``: Caffe's trajectories, display,
tests, snapshots) over pycaffe :class:`~.net.Net` objects: ``solver.net`` and
``solver.test_nets`` share their variables, their blobs hold the last iteration's values,
and the nets are fed as pycaffe feeds them (data layers read a batch per pass; Input and
constant DummyData blobs keep what the script wrote).  Before each iteration the parameter
arrays a script holds are written into the variables; after it they are refreshed, and
their diffs hold the step taken (old - new), as after Caffe's ``ApplyUpdate``.  At a NaN or
Inf loss they train on, as Caffe does (``keras-caffe train`` stops unless
``--continue-on-nan``); ``solver.continue_on_nan = False`` stops there too.
"""

from __future__ import annotations

import os

import numpy as np

from ..proto.upgrade import read_upgraded_solver
from ..solvers.factory import check_solver
from ..solvers.runner import Solver as _Runner
from ..solvers.runner import default_echo
from .net import Net


class Solver(_Runner):
    """A Caffe solver with pycaffe's interface; the solver type comes from the file, or from
    the class (``SGDSolver(path)`` trains with SGD whatever ``type`` says, as pycaffe)."""

    _type: str | None = None

    def __init__(self, filename):
        param = read_upgraded_solver(filename)
        if self._type is not None:
            param.type = self._type
        self._nets: dict = {}
        self._callbacks: list = []
        # pycaffe scripts expect Caffe's behaviour at a NaN/Inf loss: train on (a warning
        # says so once); set ``solver.continue_on_nan = False`` to stop there instead.
        super().__init__(param, echo=default_echo, continue_on_nan=True, path=filename)

    # -- the nets ------------------------------------------------------------------------
    def _build(self, spec, weights=None, share_with=None, seed=0):
        net = Net(spec.source, spec.state.phase, level=spec.state.level,
                  stages=list(spec.state.stage), _share_with=share_with, _seed=seed)
        if weights is not None:
            net.copy_from(weights)
        self._nets[id(net._cnet)] = net
        self.sources[id(net._cnet)] = net._sources
        return net._cnet

    @property
    def net(self) -> Net:
        return self._nets[id(self.train)]

    @property
    def test_nets(self) -> list:
        return [self._nets[id(t)] for t in self.tests]

    def _next_inputs(self, cnet) -> dict:
        return self._nets[id(cnet)]._feeds()

    def _step_model(self):
        return self.train.blob_model()

    def _stepped(self, outputs: dict) -> dict:
        net = self.net
        net._store.set_values(dict(outputs))
        return {k: outputs[k] for k in net.outputs if k in outputs}

    # -- stepping ------------------------------------------------------------------------
    def step(self, iterations: int = 1) -> None:
        """Run ``iterations`` iterations (with Caffe's display, tests and snapshots)."""
        self._start_steps()
        for _ in range(int(iterations)):
            nets = [self.net] + self.test_nets
            for net in nets:
                net._params.expose_data_of_diffs()
                net._prepare()
            # the diffs a script reads only after the step hold it too, as Caffe's do
            befores = self.net._params.unexposed_values(self._param_pairs())
            if self._callbacks:
                self._step_with_callbacks()
            else:
                self._iteration()
            self.net._params.download(updates=True)
            self.net._params.record_steps(befores)
            for net in nets[1:]:
                net._params.download()

    def _param_pairs(self) -> list:
        """(variable, blob layout) of every parameter blob of the training net."""
        return [pair for ctx in self.net._cnet.param_contexts
                for pair in zip(ctx.weights, ctx.blob_layouts)]

    def _step_with_callbacks(self) -> None:
        """One iteration as Caffe's ``Solver::Step`` with callbacks: on_start, the forward
        and backward passes (``iter_size`` of them), on_gradients_ready, ApplyUpdate."""
        if self._should_test():
            self.test_all()
        for on_start, _ in self._callbacks:
            on_start()
        net = self.net
        net.clear_param_diffs()
        losses = []
        for _ in range(self.param.iter_size):
            net.forward()
            net.backward()
            losses.append(sum(float(np.sum(net.blobs[b.name].data)) * w
                              for b, w in net._cnet.loss_terms))
        for _, on_gradients_ready in self._callbacks:
            on_gradients_ready()
        lr = self.schedule.value(self.iter)
        self.apply_update()
        self._end_iteration(lr, float(np.mean(losses)),
                            {k: net.blobs[k].data for k in net.outputs}, 0.0)
        self.iter += 1
        self.optimizer.iterations.assign(self.iter)
        if self._snapshot_due():
            self.snapshot()

    def apply_update(self) -> None:
        """Caffe's ``ApplyUpdate``: update the parameters from the diffs now in
        ``net.params`` (normalised by iter_size, regularised, through the solver's rule),
        without moving ``iter``."""
        net = self.net
        net._params.upload()
        variables, grads = [], []
        for ctx in net._cnet.param_contexts:
            for variable, blob_layout in zip(ctx.weights, ctx.blob_layouts):
                if variable.trainable and all(variable is not v for v in variables):
                    grads.append(net._params.keras_diff(variable, blob_layout))
                    variables.append(variable)
        order = {id(v): i for i, v in enumerate(variables)}
        grads = [grads[order[id(v)]] if id(v) in order else np.zeros(v.shape, np.float32)
                 for v in self.variables]
        iteration = int(self.optimizer.iterations.numpy())
        self.optimizer.iterations.assign(self.iter)
        self.optimizer.apply(grads, self.variables)
        self.optimizer.iterations.assign(iteration)
        net._params.download(updates=True)

    def add_callback(self, on_start, on_gradients_ready) -> None:
        self._callbacks.append((on_start, on_gradients_ready))

    def share_weights(self, net: Net) -> None:
        """Make ``net`` use this solver's trained parameters (Caffe's
        ``ShareTrainedLayersWith``)."""
        net.share_with(self.net)

    @property
    def lr(self) -> float:
        return float(self.schedule.value(self.iter))

    def snapshot(self):
        self.net._params.upload()
        return super().snapshot()

    def restore(self, path) -> None:
        super().restore(path)
        for net in [self.net] + self.test_nets:
            net._params.download()

    def solve(self, resume_file=None) -> None:
        super().solve(resume=resume_file)


class SGDSolver(Solver):
    _type = "SGD"


class NesterovSolver(Solver):
    _type = "Nesterov"


class AdaGradSolver(Solver):
    _type = "AdaGrad"


class RMSPropSolver(Solver):
    _type = "RMSProp"


class AdaDeltaSolver(Solver):
    _type = "AdaDelta"


class AdamSolver(Solver):
    _type = "Adam"


_BY_TYPE = {c._type: c for c in (SGDSolver, NesterovSolver, AdaGradSolver, RMSPropSolver,
                                 AdaDeltaSolver, AdamSolver)}


def get_solver(filename) -> Solver:
    """The solver a solver prototxt's ``type`` names (SGD when unset)."""
    param = read_upgraded_solver(filename)
    check_solver(param, os.fspath(filename))   # an unknown type: Caffe's message
    return _BY_TYPE[param.type](filename)

