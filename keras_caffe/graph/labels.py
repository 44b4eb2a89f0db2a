"""Which blobs a net's data layers feed hold class labels or indices, and how to check them.

Caffe's loss and accuracy layers read a label as ``static_cast<int>(label)`` and index the
prediction with it, checking the range only in debug builds (``DCHECK_LT``): a label 7 with
3 classes trains silently on whatever memory follows.  The types' ``classes`` trait says
which bottoms hold indices in ``[0, n)`` and ``ignore_label`` which value a layer skips; this
module turns them into one :class:`IndexCheck` per (data top, reading layer), checked on each
batch on the host where the batch is read (``data.sources``), so the compiled step is
untouched.  Blobs computed inside the net (a Slice of the labels, say) are not checked.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import types


@dataclasses.dataclass(frozen=True)
class IndexCheck:
    """Values of data top ``blob`` must lie in ``[0, count)`` (after truncation, as Caffe's
    cast), except ``ignore``, because layer ``layer`` indexes with them."""

    blob: str
    layer: str
    type: str
    count: int
    ignore: int | None = None
    kind: str = "label"          # "label" (a loss/accuracy bottom) or "index" (Embed's ids)

    def first_bad(self, values) -> tuple[int, float] | None:
        """``(item, value)`` of the first value out of range (``item``: its index along the
        batch axis), or None.  Two reductions when every value is in range."""
        x = np.asarray(values)
        if not x.size:
            return None
        if x.min() >= 0 and x.max() < self.count:   # NaN fails both: the slow path sees it
            return None
        t = np.trunc(x)
        bad = ~((t >= 0) & (t < self.count))
        if self.ignore is not None:
            bad &= t != self.ignore
        if not bad.any():
            return None
        where = np.unravel_index(int(np.argmax(bad)), x.shape)
        return (int(where[0]) if x.ndim else 0), float(x[where])

    def message(self, value: float) -> str:
        ignored = f", or ignore_label {self.ignore}" if self.ignore is not None else ""
        what = "classes" if self.kind == "label" else "ids"
        return (f"{self.kind} {value:g} in blob '{self.blob}' is out of range: this "
                f"{self.type} layer reads {self.count} {what} (0 to {self.count - 1}{ignored})")


def index_checks(graph, shapes) -> list[IndexCheck]:
    """A check for each top of the net's data and input layers that a layer reads as class
    labels or indices, with the class count from the resolved Caffe ``shapes`` (by blob
    version); readers whose count is unknown (a free dimension) are skipped."""
    checks = []
    for node in graph.input_layers:
        for top in node.tops:
            for consumer in graph.consumers.get(top, ()):
                spec = types.get(consumer.type)
                if spec is None or spec.classes is None:
                    continue
                try:
                    ranges = spec.classes(consumer.param, [shapes.get(b) for b in consumer.bottoms])
                    counts = {i: int(n) for i, n in ranges.items() if n is not None}
                except (ValueError, TypeError, IndexError):
                    continue
                ignore = spec.ignore_label(consumer.param) if spec.ignore_label else None
                for i, bottom in enumerate(consumer.bottoms):
                    if bottom == top and i in counts:
                        checks.append(IndexCheck(top.name, consumer.name, consumer.type,
                                                 counts[i], ignore,
                                                 "label" if i in spec.labels else "index"))
    return checks
