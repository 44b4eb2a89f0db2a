"""A net and its weights written as a Keras file or a SavedModel, atomically: what
``keras-caffe convert`` and ``keras-caffe zoo --convert`` write."""

from __future__ import annotations

import os

from ..api import build_net
from ..export import export
from ..fileio import atomic_path
from ..proto.text import ignoring_unknown_fields

#: Output names written as Keras files; any other name is a SavedModel directory.
KERAS_SUFFIXES = (".weights.h5", ".keras")


def keras_suffix(out) -> str | None:
    """``".keras"`` or ``".weights.h5"`` if ``out`` ends in one, else None."""
    out = os.fspath(out)
    return next((s for s in KERAS_SUFFIXES if out.endswith(s)), None)


def convert(net, weights, out, *, phase="test", input_layout: str = "NHWC",
            allow_missing: bool = False, ignore_unknown_fields: bool | None = None) -> str:
    """Write the net built with ``weights`` to ``out`` and say what was written.

    ``out`` ending in ``.keras`` gets the whole model, ``.weights.h5`` its weights (both
    through a temporary file renamed into place); any other name is a SavedModel directory
    (:func:`keras_caffe.export.export_savedmodel`, which replaces it only once complete).
    Weights lacking some of the net's parameter layers are refused unless ``allow_missing``;
    ``ignore_unknown_fields`` as for :func:`keras_caffe.read_net`."""
    with ignoring_unknown_fields(ignore_unknown_fields):
        return _convert(net, weights, os.fspath(out), phase, input_layout, allow_missing)


def _convert(net, weights, out: str, phase, input_layout: str, allow_missing: bool) -> str:
    suffix = keras_suffix(out)
    if suffix is None:
        return export(net, out, format="savedmodel", weights=weights, phase=phase,
                      input_layout=input_layout, allow_missing=allow_missing).summary()
    cnet = build_net(net, weights, phase=phase, input_layout=input_layout,
                     allow_missing=allow_missing)
    with atomic_path(out, suffix=suffix) as tmp:
        if suffix == ".keras":
            cnet.model.save(tmp)
        else:
            cnet.model.save_weights(tmp)
    return f"wrote {out} ({cnet.model.count_params():,} parameters)"
