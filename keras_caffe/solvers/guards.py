"""What stops a training run that would otherwise go on silently wrong: a non-finite loss.

Caffe trains on through a NaN or Inf loss (every later update is then NaN too, and the
snapshots hold NaN weights); the runner stops at the first one instead, before anything of
that iteration is written, unless ``continue_on_nan`` keeps Caffe's behaviour.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import NonFiniteLossError
from . import glog


def non_finite_outputs(cnet, outputs: dict) -> list[str]:
    """``'name' = value`` for each loss output of ``cnet`` in ``outputs`` that is not finite."""
    return [f"'{b.name}' = {glog.number(np.sum(np.asarray(outputs[b.name], np.float64)))}"
            for b, _ in cnet.loss_terms
            if b.name in outputs and not np.all(np.isfinite(np.asarray(outputs[b.name])))]


def describe(cnet, loss: float, lr: float, outputs: dict, iteration: int) -> str:
    """``iteration N: the loss is nan (loss output 'loss' = nan) at lr 0.1``."""
    bad = non_finite_outputs(cnet, outputs)
    which = f"loss output {', '.join(bad)}" if bad else "in an earlier pass of the iteration"
    return (f"iteration {iteration}: the loss is {glog.number(loss)} ({which}) at lr "
            f"{glog.number(lr)}")


def non_finite_loss(cnet, loss: float, lr: float, outputs: dict, iteration: int,
                    solver_path=None) -> NonFiniteLossError:
    """The error that stops training at a non-finite loss."""
    where = f"{os.fspath(solver_path)}: " if solver_path else ""
    return NonFiniteLossError(
        f"{where}{describe(cnet, loss, lr, outputs, iteration)}; training stopped, and "
        "nothing of this iteration was saved (lower base_lr, set clip_gradients or check the "
        "data; continue_on_nan=True / --continue-on-nan trains on as Caffe does)",
        iteration=iteration, lr=lr, loss=loss)
