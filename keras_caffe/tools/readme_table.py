"""The supported-layers table, generated from the declared Caffe types (``graph.types``).

The README's table is this function's output (a test checks it is current; regenerate with
``python scripts/update_readme.py``).  Every declared type has a row: Caffe's own (BVLC)
first, then the forks', then users' types, each group in case-insensitive order.
"""

from __future__ import annotations

from ..graph import types


def status(spec: types.LayerType) -> str:
    if spec.converter is not None:
        module = spec.converter.module
        if module.startswith("keras_caffe.converters."):
            return f"converted (`converters/{module.rsplit('.', 1)[-1]}.py`)"
        return f"converted (`{module}`)"
    if spec.source == "caller":
        return "model input (fed by the caller)"
    if spec.reader is not None:
        return ("model input, read from its source by `keras_caffe.data` (`forward --batches`, "
                "`train`, `test`)")
    if spec.source is not None:
        return "model input (give its shapes; its source is not read yet)"
    if spec.sink is not None:
        return "sink: saves its bottoms after each forward pass (`keras_caffe.data`)"
    return "not yet: parses, reported by name when building"


def _label(spec: types.LayerType) -> str:
    if spec.origin == types.BVLC:
        return spec.name
    if spec.origin == types.USER:
        return f"{spec.name} (user)"
    return f"{spec.name} ({spec.origin})"


def markdown_table() -> str:
    def order(spec):
        group = 0 if spec.origin == types.BVLC else 2 if spec.origin == types.USER else 1
        return group, spec.name.lower()

    rows = ["| Caffe type | status |", "|---|---|"]
    for spec in sorted(types.declared(), key=order):
        rows.append(f"| {_label(spec)} | {status(spec)} |")
    return "\n".join(rows)
