"""A Caffe ``SolverParameter`` -> the matching :class:`CaffeOptimizer`."""

from __future__ import annotations

import os

from ..errors import SolverError
from ..proto import caffe_pb2
from ..proto.text import source_path
from ..proto.upgrade import read_upgraded_solver, upgrade_solver
from .adadelta import CaffeAdaDelta
from .adagrad import CaffeAdaGrad
from .adam import CaffeAdam
from .base import CaffeOptimizer
from .lr_policies import CaffeLearningRate
from .nesterov import CaffeNesterov
from .rmsprop import CaffeRMSProp
from .sgd import CaffeSGD

#: Caffe's solver ``type`` strings (as registered by ``REGISTER_SOLVER_CLASS``).
SOLVER_CLASSES: dict[str, type[CaffeOptimizer]] = {
    cls.caffe_type: cls
    for cls in (CaffeSGD, CaffeNesterov, CaffeAdaGrad, CaffeRMSProp, CaffeAdaDelta, CaffeAdam)
}


def optimizer_from_solver(solver_param, multipliers=None,
                          path: str | None = None) -> CaffeOptimizer:
    """The optimizer a Caffe solver describes.

    ``solver_param`` is a ``caffe_pb2.SolverParameter`` (a legacy ``solver_type`` enum is
    upgraded here if still present) or a solver prototxt path/text.  Reads ``type``,
    ``base_lr`` and the ``lr_policy`` fields (always as a :class:`CaffeLearningRate`),
    ``momentum``, ``momentum2``, ``delta``, ``rms_decay``, ``weight_decay``,
    ``regularization_type``, ``clip_gradients`` and ``iter_size``.  ``multipliers`` as for
    :class:`CaffeOptimizer` (e.g. ``cnet.param_multipliers()``).  ``path`` names the solver
    file in errors (a path given as ``solver_param`` names itself).

    Raises :class:`~keras_caffe.errors.SolverError` (a ValueError) where Caffe aborts: see
    :func:`check_solver`.
    """
    if isinstance(solver_param, (str, bytes, os.PathLike)):
        path = source_path(solver_param) if path is None else path
        solver = read_upgraded_solver(solver_param, inline_nets=False)
    elif isinstance(solver_param, caffe_pb2.SolverParameter):
        solver = solver_param
        if solver.HasField("solver_type"):
            solver = upgrade_solver(solver, inline_nets=False)
    else:
        raise TypeError("solver_param must be a caffe_pb2.SolverParameter or a solver prototxt "
                        f"path/text, got {type(solver_param).__name__}")
    common = dict(learning_rate=check_solver(solver, path),
                  weight_decay=solver.weight_decay,
                  regularization_type=solver.regularization_type,
                  clip_gradients=solver.clip_gradients,
                  iter_size=solver.iter_size,
                  multipliers=multipliers)
    kind = solver.type
    try:
        if kind in ("SGD", "Nesterov"):
            return SOLVER_CLASSES[kind](momentum=solver.momentum, **common)
        if kind == "AdaGrad":
            return CaffeAdaGrad(delta=solver.delta, **common)
        if kind == "RMSProp":
            return CaffeRMSProp(rms_decay=solver.rms_decay, delta=solver.delta, **common)
        if kind == "AdaDelta":
            return CaffeAdaDelta(momentum=solver.momentum, delta=solver.delta, **common)
        return CaffeAdam(momentum=solver.momentum, momentum2=solver.momentum2,
                         delta=solver.delta, **common)
    except ValueError as exc:   # an optimizer's own argument check
        raise SolverError(str(exc), path) from None


def check_solver(solver: caffe_pb2.SolverParameter,
                 path: str | None = None) -> CaffeLearningRate:
    """Raise :class:`~keras_caffe.errors.SolverError` naming ``path`` where Caffe aborts on
    the (upgraded) solver -- checked before any net is built: an unknown ``type``; momentum
    with AdaGrad or RMSProp (``CHECK_EQ(0, momentum)``); ``rms_decay`` outside ``[0, 1)``; an
    unknown or missing ``lr_policy`` and the policies' own CHECKs (gamma, stepsize, poly's
    max_iter); and ``iter_size`` below 1 (Caffe would divide the loss by 0).  Returns the
    solver's learning rate schedule, which the last check builds."""
    kind = solver.type
    if kind not in SOLVER_CLASSES:
        raise SolverError(f"unknown solver type {kind!r} (Caffe: 'Unknown solver type'); "
                          f"known types: {', '.join(sorted(SOLVER_CLASSES))}", path)
    if kind in ("AdaGrad", "RMSProp") and solver.momentum != 0:
        raise SolverError(f"Momentum cannot be used with {kind} (Caffe: CHECK_EQ(0, "
                          f"momentum)); the solver sets momentum: {solver.momentum:g}", path)
    if kind == "RMSProp" and not 0 <= solver.rms_decay < 1:
        raise SolverError(f"rms_decay should lie between 0 and 1 (Caffe: 0 <= rms_decay < 1), "
                          f"got rms_decay: {solver.rms_decay:g}", path)
    if solver.iter_size < 1:
        raise SolverError(f"iter_size: {solver.iter_size}; it must be at least 1 (an iteration "
                          "sums the gradients of iter_size batches)", path)
    try:
        return CaffeLearningRate.from_solver(solver)
    except ValueError as exc:
        raise SolverError(str(exc), path) from None
