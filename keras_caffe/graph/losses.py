"""Which tops feed the objective, and with what weight (Caffe's ``loss_weight``).

Loss layers weigh their first top 1 by default; any other top weighs 0 unless the
prototxt gives ``loss_weight`` (then once per top).  A top with weight w adds
``w * sum(top)`` to the objective, as the value the layer produced (before any later
in-place layer changes the blob).
"""

from __future__ import annotations

from ..errors import NetError
from . import types
from .net import LayerNode


def is_loss_layer(node: LayerNode) -> bool:
    return types.is_loss(node.type)


def top_loss_weights(node: LayerNode) -> list[float]:
    weights = [float(w) for w in node.param.loss_weight]
    n = len(node.tops)
    if weights and n == 1 and not node.param.top:
        return weights[:1]  # the automatic top of a loss layer written without tops
    if weights:
        if len(weights) != n:
            raise NetError(f"loss_weight must be given once per top ({n}) or not at all, "
                           f"got {len(weights)}", layer=node.name)
        return weights
    if is_loss_layer(node) and n:
        return [1.0] + [0.0] * (n - 1)
    return [0.0] * n
