"""What every export format shares: the error type, getting a built net, and output paths."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from types import SimpleNamespace

from ..api import build_net, caffe_net_of, open_net
from ..errors import CaffeError
from ..model import CaffeNet
from ..weights.folding import fold_affine_layers

FORMATS = ("savedmodel", "tflite")


class ExportError(CaffeError):
    """A net, an option or an output path that cannot be exported as asked."""


def is_built(net_or_cnet) -> bool:
    """Whether ``net_or_cnet`` is a built net (a CaffeNet, or a model built in this process),
    whose shapes and weights build keywords can no longer change."""
    return isinstance(net_or_cnet, CaffeNet) or (
        not isinstance(net_or_cnet, (str, os.PathLike)) and caffe_net_of(net_or_cnet) is not None)


def caffe_net(net_or_cnet, weights=None, input_layout: str = "NHWC", phase="test",
              **build_kwargs):
    """A :class:`~keras_caffe.model.CaffeNet` for ``net_or_cnet``.

    A CaffeNet is used as it is (it already has its weights, shapes and phase, so
    ``weights`` and build keywords are refused); anything else is read as a net (prototxt
    path or text, NetParameter) and built with them in the layout asked for."""
    if isinstance(net_or_cnet, CaffeNet):
        given = (["weights"] if weights is not None else []) + sorted(build_kwargs)
        if given:
            raise ExportError(f"{', '.join(given)}: for a prototxt; a built net already has "
                              "its weights and shapes (give them when building it)")
        return net_or_cnet
    found = caffe_net_of(net_or_cnet) if not isinstance(net_or_cnet, (str, os.PathLike)) else None
    if found is not None:
        return caffe_net(found, weights, **build_kwargs)
    if not isinstance(net_or_cnet, (str, os.PathLike)) and not hasattr(net_or_cnet, "layer"):
        raise ExportError(f"cannot export a {type(net_or_cnet).__name__}: give a prototxt, a "
                          "NetParameter, a CaffeNet (build_net) or a model from load_model")
    return open_net(net_or_cnet, weights, phase, input_layout=input_layout, **build_kwargs).cnet


def folded_net(cnet: CaffeNet) -> tuple[CaffeNet, dict[str, list[str]]]:
    """``cnet`` rebuilt for inference with its per-channel affine layers (BatchNorm, Scale,
    Bias) folded into the convolution or inner product before them
    (``weights.folding``), and what folded into what; ``cnet`` itself when nothing folds."""
    ranks = {blob: len(shape) for blob, shape in cnet.shapes.items()}
    result = fold_affine_layers(cnet.graph, cnet.get_blobs(), cnet.phase, ranks)
    if not result.folds:
        return cnet, {}
    shapes = {t.name: cnet.shapes[t] for node in cnet.graph.input_layers for t in node.tops}
    folded = build_net(result.param, phase=cnet.phase, input_layout=cnet.input_layout,
                       input_shapes=shapes, free_spatial=cnet.free_spatial, seed=None)
    folded.load_blobs([SimpleNamespace(name=k, blobs=v) for k, v in result.blobs.items()])
    return folded, result.folds


def check_directory_target(path) -> str:
    """Refuse, before any work, an output directory we could not or should not write:
    a path that is a file, a parent that is a file, or a non-empty directory that is not an
    earlier SavedModel (we replace those, never a folder of someone's other files)."""
    path = os.path.abspath(os.fspath(path))
    if os.path.isfile(path):
        raise ExportError(f"{path}: the output must be a directory, and this is a file")
    if os.path.isdir(path) and os.listdir(path) and not os.path.isfile(
            os.path.join(path, "saved_model.pb")):
        raise ExportError(f"{path}: the directory is not empty and holds no SavedModel; "
                          "give a new or empty directory (an earlier export is replaced)")
    _check_parent(path)
    return path


def check_file_target(path) -> str:
    path = os.path.abspath(os.fspath(path))
    if os.path.isdir(path):
        raise ExportError(f"{path}: the output must be a file, and this is a directory")
    _check_parent(path)
    return path


def _check_parent(path: str) -> None:
    parent = os.path.dirname(path)
    while parent and not os.path.exists(parent):
        parent, child = os.path.dirname(parent), parent
        if parent == child:
            break
    if parent and not os.path.isdir(parent):
        raise ExportError(f"{path}: cannot create it, '{parent}' is a file")
    if parent and not os.access(parent, os.W_OK):
        raise ExportError(f"{path}: cannot create it, '{parent}' is not writable")


@contextlib.contextmanager
def atomic_directory(path: str):
    """Yield a fresh temporary directory beside ``path``; on success it takes ``path``'s place
    (an earlier directory there is removed only after the new one is complete)."""
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=parent)
    try:
        yield tmp
        old = None
        if os.path.exists(path):
            old = tempfile.mkdtemp(prefix="." + os.path.basename(path) + ".", suffix=".old",
                                   dir=parent)
            os.rmdir(old)
            os.replace(path, old)
        os.replace(tmp, path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
