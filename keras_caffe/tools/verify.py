"""``keras-caffe verify``: where does a conversion depart from Caffe?

Compares every blob (and gradient) we compute with a reference dump (e.g. made by
pycaffe with ``keras-caffe dump-reference``), in the net's execution order, and names the
first blob that differs: usually the layer that produced it is the culprit.
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Row:
    name: str
    shape: tuple
    max_abs: float
    max_rel: float
    ok: bool
    note: str = ""


def tolerance(name: str, reference: np.ndarray) -> tuple[float, float]:
    """The conformance tolerances: forward 1e-4/1e-5 (atol 1e-4 past magnitude 100),
    gradients 1e-3/1e-5."""
    if name.startswith(("diff/", "param/")):
        return 1e-3, 1e-5
    big = reference.size and float(np.max(np.abs(reference))) > 100
    return 1e-4, (1e-4 if big else 1e-5)


def compare(ours: dict, reference: dict, order: list[str]) -> list[Row]:
    rows = []
    names = [n for n in order if n in reference] + sorted(n for n in reference if n not in order)
    for name in names:
        ref = np.asarray(reference[name], np.float64)
        if name not in ours:
            rows.append(Row(name, ref.shape, np.nan, np.nan, False, "missing from ours"))
            continue
        got = np.asarray(ours[name], np.float64)
        if got.shape != ref.shape:
            rows.append(Row(name, ref.shape, np.nan, np.nan, False, f"our shape {got.shape}"))
            continue
        err = np.abs(got - ref)
        max_abs = float(err.max()) if err.size else 0.0
        max_rel = float((err / np.maximum(np.abs(ref), 1e-12)).max()) if err.size else 0.0
        rtol, atol = tolerance(name, ref)
        ok = bool(np.all(err <= atol + rtol * np.abs(ref)))
        rows.append(Row(name, ref.shape, max_abs, max_rel, ok))
    return rows


def format_rows(rows: list[Row], producers: dict[str, str]) -> str:
    bad = [r for r in rows if not r.ok]
    lines = []
    if bad:
        first = bad[0]
        where = producers.get(first.name.split("/")[-1] if first.name.startswith("diff/") else first.name)
        lines.append(f"first mismatch: {first.name}" + (f" (made by layer '{where}')" if where else ""))
    else:
        lines.append(f"all {len(rows)} blobs match the reference")
    table = [("blob", "shape", "max abs err", "max rel err", "")]
    for r in rows:
        table.append((r.name, "x".join(map(str, r.shape)) or "scalar",
                      f"{r.max_abs:.3g}", f"{r.max_rel:.3g}", "ok" if r.ok else f"DIFFERS {r.note}".strip()))
    widths = [max(len(t[i]) for t in table) for i in range(5)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip() for t in table]
    return "\n".join(lines)
