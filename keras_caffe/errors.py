"""Errors raised for bad Caffe input.

Every error says where the problem is (file and line, or layer name) so that a user
can fix the prototxt or caffemodel without reading our code.
"""

from __future__ import annotations

import contextlib


class CaffeError(Exception):
    """Base class of every error keras_caffe raises for bad input."""


class PrototxtError(CaffeError):
    """A text prototxt that does not parse, or names a field our schema lacks."""

    def __init__(self, message: str, path: str | None = None,
                 line: int | None = None, column: int | None = None):
        self.path, self.line, self.column, self.reason = path, line, column, message
        where = path or "<prototxt>"
        if line is not None:
            where += f":{line}"
            if column is not None:
                where += f":{column}"
        super().__init__(f"{where}: {message}")


class CaffemodelError(CaffeError):
    """A binary .caffemodel / .binaryproto that is truncated or not a Caffe message."""

    def __init__(self, message: str, path: str | None = None):
        self.path, self.reason = path, message
        super().__init__(f"{path or '<caffemodel>'}: {message}")


class NetError(CaffeError):
    """A net that parses but cannot be built: missing bottom, cycle, bad parameter."""

    def __init__(self, message: str, layer: str | None = None, path: str | None = None):
        self.layer, self.path, self.reason = layer, path, message
        prefix = ""
        if path:
            prefix += f"{path}: "
        if layer is not None:
            prefix += f"layer '{layer}': "
        super().__init__(prefix + message)


@contextlib.contextmanager
def layer_named(layer: str | None, path: str | None = None):
    """Name ``layer`` and ``path`` in the NetErrors raised inside that name no layer or no
    file: the code that knows which layer (and file) it works for says so once, instead of
    passing the names down."""
    try:
        yield
    except NetError as exc:
        named, where = (layer if exc.layer is None else exc.layer), exc.path or path
        if type(exc) is not NetError or (named, where) == (exc.layer, exc.path):
            raise
        raise NetError(exc.reason, layer=named, path=where) from exc.__cause__


class MemoryLimitError(NetError):
    """A net whose projected parameters and activations exceed the memory limit (refused
    before anything is allocated): names the largest layers, the figure and the limit
    (``needed``, ``limit``, in bytes)."""

    def __init__(self, message: str, layer: str | None = None, path: str | None = None,
                 needed: int = 0, limit: int = 0):
        self.needed, self.limit = needed, limit
        self.layer, self.path, self.reason = layer, path, message   # ``layer``: the largest
        CaffeError.__init__(self, (f"{path}: " if path else "") + message)


class UnsupportedLayerError(NetError):
    """One or more layer types have no converter; lists all of them at once."""

    def __init__(self, missing: dict[str, list[str]], path: str | None = None):
        self.missing = missing
        parts = [f"{t} (layers: {', '.join(names)})" for t, names in sorted(missing.items())]
        super().__init__("unsupported layer type(s): " + "; ".join(parts), path=path)


class WeightError(CaffeError):
    """A weight blob that does not fit its layer (names layer, blob index, shapes)."""

    def __init__(self, message: str, layer: str | None = None, blob: int | None = None):
        self.layer, self.blob, self.reason = layer, blob, message
        where = f"layer '{layer}'" if layer is not None else "weights"
        if blob is not None:
            where += f", blob {blob}"
        super().__init__(f"{where}: {message}")


class MissingWeightsError(WeightError):
    """A caffemodel without the blobs of some of the net's parameter layers (cut short, a
    layer renamed, another net's file): names them (``missing``), each with a note where one
    helps (the nearest name the file has, for a renamed layer)."""

    MAX_LISTED = 20

    def __init__(self, missing: list[str], path: str | None = None,
                 notes: list[str | None] | None = None, total: int | None = None):
        self.missing, self.path = list(missing), path
        notes = list(notes or []) + [None] * len(self.missing)
        listed = [f"'{n}'" + (f" ({note})" if note else "")
                  for n, note in zip(self.missing[:self.MAX_LISTED], notes)]
        if len(self.missing) > self.MAX_LISTED:
            listed.append(f"and {len(self.missing) - self.MAX_LISTED} more")
        of = f" of the net's {total}" if total is not None else ""
        message = (f"{path or 'the weights'}: no weights for {len(self.missing)}{of} "
                   f"parameter layer(s): {', '.join(listed)}; they would keep random filler "
                   "values. Check that the caffemodel was made for this net, or pass "
                   "allow_missing=True (--allow-missing) to keep their fillers")
        CaffeError.__init__(self, message)
        self.layer, self.blob, self.reason = None, None, message


class OutputError(CaffeError):
    """A file keras-caffe will not write: one a net names outside the directory its files go
    to, an existing file the run did not create (without overwrite), or a read-only file.
    Names the layer that would write it, where one does."""

    def __init__(self, message: str, layer: str | None = None):
        self.layer, self.reason = layer, message
        super().__init__((f"layer '{layer}': " if layer is not None else "") + message)


class SolverError(CaffeError, ValueError):
    """A solver prototxt that Caffe would abort on (an unknown type or lr_policy, momentum
    with AdaGrad, ``iter_size: 0``, a snapshot prefix that cannot be written, ...): names the
    solver file.  Also a ValueError, as the optimizers' own argument checks are."""

    def __init__(self, message: str, path: str | None = None):
        self.path, self.reason = path, message
        super().__init__(f"{path or '<solver>'}: {message}")


class LabelError(NetError):
    """A class label (or index) outside the range a layer reads it in: names the layer, the
    value, the class count and the record of the data source it came from."""


class NonFiniteLossError(CaffeError):
    """Training stopped at a NaN or Inf loss (Caffe trains on): names the iteration, the loss
    output(s) at fault and the learning rate."""

    def __init__(self, message: str, iteration: int | None = None, lr: float | None = None,
                 loss: float | None = None):
        self.iteration, self.lr, self.loss, self.reason = iteration, lr, loss, message
        super().__init__(message)


class DrawError(CaffeError):
    """A net that cannot be drawn (``caffe.draw``, ``keras-caffe draw``): pydot or Graphviz's
    ``dot`` program missing, an output format Graphviz does not write, or ``dot`` failing."""


class DataToolError(CaffeError):
    """Bad input to a data tool; says which list file and line, or which database record."""


class LogError(CaffeError):
    """A training log that cannot be read (``keras-caffe plot-log``): names the file, and the
    line where one is at fault."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path, self.line, self.reason = path, line, message
        where = path or "<log>"
        if line is not None:
            where += f":{line}"
        super().__init__(f"{where}: {message}")


class PlotError(CaffeError):
    """A plot that cannot be drawn: matplotlib missing (says how to install it), or nothing in
    the input to plot."""
