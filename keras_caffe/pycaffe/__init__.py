"""pycaffe's Python interface (Caffe 1.0 / master) on top of keras-caffe, with Caffe's numbers.

``import keras_caffe.pycaffe as caffe`` (or ``install_as_caffe()`` and ``import caffe``) and
a pycaffe script runs as written: ``caffe.Net`` with ``blobs``, ``params``, ``forward`` and
``backward`` (:mod:`.net`), the six solvers and ``get_solver`` (:mod:`.solver`),
``caffe.Layer`` for Python layers, ``caffe.io``, ``Classifier`` and ``Detector``, nets written
in Python (``NetSpec``, ``layers``, ``params``, ``to_proto``; :mod:`.net_spec`), and, imported
on their own as in pycaffe, ``caffe.draw`` and ``caffe.coord_map``.
``keras-caffe python SCRIPT [ARGS]`` runs a script that way.
"""

from __future__ import annotations

import logging
import time

from ..graph import types
from ..layers.python_layer import Layer
from ..proto.caffe_pb2 import TEST, TRAIN
from . import classifier, detector, io, proto  # noqa: F401
from .classifier import Classifier
from .detector import Detector
from .install import install_as_caffe
from .net import Net
from .net_spec import NetSpec, layers, params, to_proto
from .settings import (set_device, set_mode_cpu, set_mode_gpu, set_output_policy,
                       set_random_seed)
from .solver import (AdaDeltaSolver, AdaGradSolver, AdamSolver, NesterovSolver, RMSPropSolver,
                     SGDSolver, get_solver)

__version__ = "1.0.0"


def layer_type_list() -> list[str]:
    """The Caffe layer types this package builds or reads."""
    return sorted(s.name for s in types.declared()
                  if s.converter is not None or s.reader is not None or s.sink is not None
                  or s.source == "caller")


def has_nccl() -> bool:
    return False


def init_log(level: int = 0, stderr: bool = True) -> None:
    """Caffe's glog set-up: here, Python logging at INFO (0) or above."""
    logging.basicConfig(level=[logging.INFO, logging.WARNING, logging.ERROR,
                               logging.CRITICAL][min(max(int(level), 0), 3)])


def log(message: str) -> None:
    logging.getLogger("caffe").info(message)


_solver = {"count": 1, "rank": 0, "multiprocess": False}


def solver_count() -> int:
    return _solver["count"]


def set_solver_count(count: int) -> None:
    _solver["count"] = int(count)


def solver_rank() -> int:
    return _solver["rank"]


def set_solver_rank(rank: int) -> None:
    _solver["rank"] = int(rank)


def set_multiprocess(multiprocess: bool) -> None:
    _solver["multiprocess"] = bool(multiprocess)


class Timer:
    """Caffe's Timer (``start``, ``stop``, ``ms``)."""

    def __init__(self):
        self._start, self._ms = None, 0.0

    def start(self) -> None:
        self._start = time.perf_counter()

    def stop(self) -> None:
        if self._start is not None:
            self._ms = (time.perf_counter() - self._start) * 1000.0
            self._start = None

    @property
    def ms(self) -> float:
        return self._ms


class NCCL:
    def __init__(self, *args, **kwargs):
        raise RuntimeError("keras-caffe has no NCCL (caffe.has_nccl() is False); use "
                           "keras-caffe train --distribute for several devices")


__all__ = ["Net", "TRAIN", "TEST", "Layer", "SGDSolver", "NesterovSolver", "AdaGradSolver",
           "RMSPropSolver", "AdaDeltaSolver", "AdamSolver", "get_solver", "set_mode_cpu",
           "set_mode_gpu", "set_device", "set_random_seed", "set_output_policy",
           "layer_type_list", "has_nccl", "Classifier", "Detector", "io", "proto", "classifier",
           "detector", "install_as_caffe", "init_log", "log", "Timer", "NCCL", "solver_count",
           "set_solver_count", "solver_rank", "set_solver_rank", "set_multiprocess"]
