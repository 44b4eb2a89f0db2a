"""Made-up inputs for a built net (``keras-caffe time``): normal values, and indices in range
for the blobs its layers read as class labels or ids (their types' ``classes`` trait)."""

from __future__ import annotations

import numpy as np

from ..graph import types


def random_inputs(cnet, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random Caffe-shaped (NCHW) float32 arrays for every input blob of a built net:
    normal values, or class indices in range for blobs read as labels or indices."""
    out = {}
    for node in cnet.graph.input_layers:
        for top in node.tops:
            shape = tuple(cnet.shapes[top])
            classes = index_range(cnet, top)
            if classes is None:
                value = rng.standard_normal(shape)
            else:
                value = rng.integers(0, max(classes, 1), shape)
            out[top.name] = np.asarray(value, np.float32)
    return out


def index_range(cnet, blob) -> int | None:
    """How many classes (or ids) a layer reading ``blob`` counts, if one reads it so."""
    for consumer in cnet.graph.consumers.get(blob, ()):
        spec = types.get(consumer.type)
        if spec is None or spec.classes is None:
            continue
        shapes = [cnet.shapes.get(b) for b in consumer.bottoms]
        try:
            ranges = spec.classes(consumer.param, shapes)
        except (ValueError, TypeError, IndexError):
            continue
        for i, b in enumerate(consumer.bottoms):
            if b == blob and ranges.get(i) is not None:
                return int(ranges[i])
    return None
