"""``keras-caffe test``: a net's outputs averaged over batches from its data layers, logged as
``caffe test --model --weights --iterations`` logs them (``Batch i, name = v`` for every
element of every output, ``Loss: L``, then each mean with its ``(* w = x loss)``)."""

from __future__ import annotations

import numpy as np

from ..api import open_net
from . import glog
from .runner import default_echo, net_loss


def evaluate(model, weights, iterations: int, phase: str = "test",
             echo=default_echo, allow_missing: bool = False) -> dict[str, np.ndarray]:
    """Run ``iterations`` batches through ``model``; each log line goes to ``echo``; returns
    the mean of each net output.  Weights lacking some of the net's parameter layers are
    refused unless ``allow_missing``."""
    def info(where, message):
        echo(glog.line(where, message))

    opened = open_net(model, weights, phase, data=True, allow_missing=allow_missing)
    cnet = opened.cnet
    names = [b.name for b in cnet.graph.outputs]
    info(glog.RUNNING_FOR, f"Running for {iterations} iterations.")
    sums, loss = None, 0.0
    for i in range(iterations):
        outs = {k: np.asarray(v, np.float64)
                for k, v in cnet.model(opened.next_feeds(), training=False).items()}
        loss += net_loss(cnet, outs)
        for name in names:
            for x in np.ravel(outs[name]):
                info(glog.BATCH, f"Batch {i}, {glog.output_line(name, x)}")
        sums = outs if sums is None else {k: sums[k] + v for k, v in outs.items()}
    n = max(iterations, 1)
    info(glog.TEST_TOTAL_LOSS, f"Loss: {glog.number(loss / n)}")
    weights_of = {b.name: w for b, w in cnet.loss_terms}
    means = {name: sums[name] / n for name in names} if sums else {}
    for name, mean in means.items():
        for x in np.ravel(mean):
            info(glog.SCORE, glog.output_line(name, x, weights_of.get(name, 0.0)))
    return means
