"""``keras-caffe test``: a net's outputs averaged over batches from its data layers, as
``caffe test --model --weights --iterations`` prints them."""

from __future__ import annotations

import numpy as np

from ..api import open_net
from .runner import output_line


def evaluate(model, weights, iterations: int, phase: str = "test") -> list[str]:
    opened = open_net(model, weights, phase, data=True)
    cnet = opened.cnet
    sums, lines = None, []
    for i in range(iterations):
        outs = {k: np.asarray(v, np.float64)
                for k, v in cnet.model(opened.next_feeds(), training=False).items()}
        lines += [f"Batch {i}, {output_line(k, x)}" for k, v in outs.items() for x in np.ravel(v)[:16]]
        sums = outs if sums is None else {k: sums[k] + v for k, v in outs.items()}
    weights_of = {b.name: w for b, w in cnet.loss_terms}
    for k, v in (sums or {}).items():
        lines += [output_line(k, x, weights_of.get(k)) for x in np.ravel(v / max(iterations, 1))[:64]]
    return lines
