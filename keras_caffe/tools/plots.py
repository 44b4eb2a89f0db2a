"""Plots the commands draw (``keras-caffe plot-log``), with matplotlib.

matplotlib is an optional dependency (the ``plot`` extra) and is imported here only, by
:func:`figure`, when a plot is drawn: ``import keras_caffe`` never imports it.  Figures are
drawn on the Agg canvas (no display, no pyplot state) and written atomically.
"""

from __future__ import annotations

import os

from ..errors import PlotError
from ..fileio import atomic_path

PLOT_EXTRA = "pip install 'keras-caffe[plot]'"

#: ``--x`` choices: the row key each plots against, and its axis label.
X_AXES = {"iters": ("NumIters", "iterations"), "seconds": ("Seconds", "seconds")}
_STYLES = ("-", "--", ":", "-.")


def figure(**kwargs):
    """A matplotlib ``Figure`` on the Agg canvas; a :class:`PlotError` saying how to install
    matplotlib when it is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        if not (exc.name or "").startswith("matplotlib"):
            raise
        raise PlotError(f"plotting needs matplotlib: {PLOT_EXTRA}") from None
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def save(fig, path) -> str:
    """Write ``fig`` to ``path`` atomically, in the format its extension names (PNG by
    default); returns the path."""
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1][1:].lower() or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt)
    return path


def plot_logs(logs, out, x=("iters",), y=()) -> str:
    """Plot the train and test outputs of ``logs`` (:class:`~.caffe_log.TrainingLog`) to
    ``out``: a row of panels for train outputs and one for test outputs, a column per ``x``
    axis ("iters", "seconds"), a colour per log (its file name in the legend) and a line style
    per output.  ``y`` picks outputs by name (``loss``; ``train:loss`` or ``test:accuracy`` for
    one part only); default: all."""
    wanted = _select(logs, y)
    parts = [part for part in ("train", "test") if wanted[part]]
    if not parts:
        raise PlotError("nothing to plot: the logs have no train or test outputs")
    labels = _labels(logs)
    fig = figure(figsize=(6.4 * len(x), 3.8 * len(parts)))
    axes = fig.subplots(len(parts), len(x), squeeze=False)
    for r, part in enumerate(parts):
        for c, axis in enumerate(x):
            key, label = X_AXES[axis]
            ax = axes[r][c]
            for i, log in enumerate(logs):
                for j, name in enumerate(wanted[part]):
                    rows = [row for row in getattr(log, part) if name in row]
                    if rows:
                        ax.plot([row[key] for row in rows], [row[name] for row in rows],
                                color=f"C{i % 10}", linestyle=_STYLES[j % len(_STYLES)],
                                marker="o" if len(rows) <= 30 else None, markersize=3,
                                label=f"{labels[i]}: {name}")
            ax.set_xlabel(label)
            ax.set_title(f"{part} net outputs")
            ax.grid(alpha=0.3)
            ax.legend(fontsize="small")
    fig.tight_layout()
    return save(fig, out)


def _select(logs, y) -> dict[str, list[str]]:
    """The outputs to draw in each part; a PlotError for a name no log has."""
    available = {part: list(dict.fromkeys(n for log in logs for n in log.columns(part)))
                 for part in ("train", "test")}
    if not y:
        return available
    wanted = {"train": [], "test": []}
    for item in y:
        part, sep, name = item.partition(":")
        parts = [part] if sep and part in wanted else list(wanted)
        name = name if sep and part in wanted else item
        found = [p for p in parts if name in available[p]]
        if not found:
            have = ", ".join(f"{p}:{n}" for p in available for n in available[p]) or "none"
            raise PlotError(f"no log has the output {item!r} (they have: {have})")
        for p in found:
            if name not in wanted[p]:
                wanted[p].append(name)
    return wanted


def _labels(logs) -> list[str]:
    """Each log's file name, or its path where two logs share a name."""
    names = [os.path.basename(log.path) for log in logs]
    return [log.path if names.count(n) > 1 else n for log, n in zip(logs, names)]
