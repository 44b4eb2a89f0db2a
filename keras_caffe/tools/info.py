"""``keras-caffe info``: what a net is made of, as Caffe sees it.

Nothing is built or allocated when the shapes and parameter blobs of every layer are known
from its type's declarations (``graph.types``: ``shape``, ``params``), so a net of any size is
described in time linear in its layers, with the memory building it would take (projected as
``graph.memory`` does, against the limit a build would apply).  A net with a layer whose
shapes only its code knows (a Python layer, a user's type), or given ``weights`` (which are
checked against the net), is built.
"""

from __future__ import annotations

import math

from ..api import build_net, resolve_net
from ..graph import memory, types
from ..graph.shapes import infer_shapes
from ..graph.shapes import input_shapes as settle_input_shapes
from ..model import computed_layers
from ..weights.loader import expected_blob_shapes


def net_table(net, weights=None, phase="test", input_shapes=None,
              allow_missing: bool = False, max_memory=None) -> str:
    graph = resolve_net(net, phase)
    if weights is None and _described_by_declarations(graph):
        computed_layers(graph)   # every unsupported type named at once, as a build does
        shapes = infer_shapes(graph, settle_input_shapes(graph, input_shapes))
        projection = memory.project(graph, shapes)
        counts = [layer.param_values for layer in projection.layers]
    else:
        cnet = build_net(graph, weights, phase=phase, input_shapes=input_shapes,
                         allow_missing=allow_missing, max_memory=max_memory)
        graph, shapes = cnet.graph, cnet.shapes
        counts = [sum(math.prod(s) for s in expected_blob_shapes(cnet.contexts[n.key]))
                  if n.key in cnet.contexts else 0 for n in graph.layers]
        projection = memory.project(graph, shapes)
    rows = [("layer", "type", "tops", "shape (NCHW)", "params")]
    for node, params in zip(graph.layers, counts):
        tops = node.tops or [None]
        for i, top in enumerate(tops):
            shape = shapes.get(top) if top is not None else None
            rows.append((node.name if i == 0 else "", node.type if i == 0 else "",
                         top.name if top is not None else "-",
                         "x".join("?" if d is None else str(d) for d in shape) if shape else "-",
                         f"{params:,}" if i == 0 and params else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    outputs = ", ".join(b.name for b in graph.outputs)
    lines.append(f"\n{len(graph.layers)} layers, {sum(counts):,} parameters; outputs: {outputs}")
    lines.append(_memory_line(projection, max_memory))
    return "\n".join(lines)


def _memory_line(projection, max_memory) -> str:
    limit, why = memory.memory_limit(max_memory)
    line = f"projected memory: {projection.describe()}"
    if limit is None:
        return line + "; no memory limit"
    if projection.total <= limit:
        return line + f"; within the limit of {memory.format_size(limit)} ({why})"
    return line + (f"; over the limit of {memory.format_size(limit)} ({why}): building it is "
                   "refused unless --max-memory allows it")


def _described_by_declarations(graph) -> bool:
    """Whether every layer's shapes and parameter blobs are declared by this package's types
    (no user type, no Python layer, whose code alone knows them)."""
    for node in graph.layers:
        spec = types.get(node.type)
        if spec is None or spec.shape is None or not spec.builtin:
            return False
    return True
