"""``keras-caffe info``: what a net is made of, as Caffe sees it."""

from __future__ import annotations

import math

from ..api import build_net
from ..weights.loader import expected_blob_shapes


def net_table(net, weights=None, phase="test", input_shapes=None) -> str:
    cnet = build_net(net, weights, phase=phase, input_shapes=input_shapes)
    rows = [("layer", "type", "tops", "shape (NCHW)", "params")]
    total = 0
    for node in cnet.graph.layers:
        ctx = cnet.contexts.get(node.key)
        params = sum(math.prod(s) for s in expected_blob_shapes(ctx)) if ctx else 0
        total += params
        tops = node.tops or [None]
        for i, top in enumerate(tops):
            shape = cnet.shapes.get(top) if top is not None else None
            rows.append((node.name if i == 0 else "", node.type if i == 0 else "",
                         top.name if top is not None else "-",
                         "x".join("?" if d is None else str(d) for d in shape) if shape else "-",
                         f"{params:,}" if i == 0 and params else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    outputs = ", ".join(b.name for b in cnet.graph.outputs)
    lines.append(f"\n{len(cnet.graph.layers)} layers, {total:,} parameters; outputs: {outputs}")
    return "\n".join(lines)
