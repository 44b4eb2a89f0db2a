"""Snapshots like Caffe's: ``<prefix>_iter_<N>.caffemodel`` and ``.solverstate``.

The solverstate is Caffe's binary ``SolverState`` (iteration, learned_net, the solver
history in Caffe's blob layout and order, current_step), so Caffe can resume from it and we
can resume from Caffe's.  What Caffe does not store -- where each data layer had got to --
goes into ``<...>.solverstate.json`` beside it, so that resuming continues the exact
trajectory.  Every file is written atomically, the caffemodel first and the solverstate last,
so a solverstate under its final name always has its caffemodel and sidecar: a run killed
mid-snapshot resumes exactly from its newest solverstate.  The temporaries such a run leaves
are removed when training starts again (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import json
import logging
import os
import re

import numpy as np

from ..api import save_caffemodel
from ..errors import CaffemodelError, SolverError
from ..fileio import atomic_path, stale_temporaries
from ..proto import binary, caffe_pb2


log = logging.getLogger("keras_caffe.train")


def snapshot_paths(prefix: str, iteration: int) -> tuple[str, str]:
    base = f"{prefix}_iter_{iteration}"
    return base + ".caffemodel", base + ".solverstate"   # and the state's sidecar, + ".json"


def remove_stale_temporaries(prefix: str) -> list[str]:
    """Remove the temporaries that interrupted snapshot writes of ``prefix`` left beside its
    snapshots (``.<prefix>_iter_<N>.caffemodel.<pid>.<random>.tmp``, also of ``.solverstate``
    and ``.solverstate.json``) whose writer is no longer running; nothing else.  Returns
    (and logs) what it removed."""
    directory, base = os.path.split(os.fspath(prefix))
    final = re.escape(base) + r"_iter_\d+\.(?:caffemodel|solverstate|solverstate\.json)"
    removed = []
    for path in stale_temporaries(directory or ".", final):
        try:
            os.remove(path)
        except FileNotFoundError:
            continue
        removed.append(path)
    if removed:
        log.warning("removed %d temporary file(s) that interrupted snapshots of '%s' left: %s",
                    len(removed), prefix, ", ".join(os.path.basename(p) for p in removed))
    return removed


def learnable(cnet):
    """Caffe's ``learnable_params()``: each parameter blob once (sharing layers own none),
    as ``(context, blob index, variable)``."""
    seen = set()
    for ctx in cnet.param_contexts:
        for i, variable in enumerate(ctx.weights):
            if id(variable) not in seen:
                seen.add(id(variable))
                yield ctx, i, variable


def _to_caffe(ctx, index, array):
    """One Keras-layout array of a layer's weight ``index`` in Caffe's blob layout."""
    return np.asarray(ctx.blob_layouts[index].to_caffe(np.asarray(array, np.float32)), np.float32)


def _from_caffe(ctx, index, blob):
    layout, shape = ctx.blob_layouts[index], tuple(int(d) for d in ctx.weights[index].shape)
    blob = np.asarray(blob, np.float32).reshape(layout.caffe_shape(shape))
    return np.asarray(layout.to_keras(blob, shape), np.float32)


def write(cnet, optimizer, iteration: int, prefix: str, extra: dict) -> tuple[str, str]:
    model_path, state_path = snapshot_paths(prefix, iteration)
    save_caffemodel(cnet, model_path)
    state = caffe_pb2.SolverState(iter=iteration, learned_net=model_path,
                                  current_step=extra.get("current_step", 0))
    params = list(learnable(cnet))
    slots = getattr(optimizer, "history_slots", ())
    for slot in slots:
        for ctx, i, variable in params:
            if variable.trainable:
                value = optimizer.history(variable)[list(slots).index(slot)].numpy()
            else:
                value = np.zeros(variable.shape, np.float32)
            blob = _to_caffe(ctx, i, value)
            proto = state.history.add()
            proto.shape.dim.extend(blob.shape)
            proto.data.extend(blob.ravel().tolist())
    with atomic_path(state_path + ".json") as tmp, open(tmp, "w") as f:
        json.dump(extra, f, indent=1)
    with atomic_path(state_path) as tmp, open(tmp, "wb") as f:   # last: the snapshot is whole
        f.write(state.SerializeToString())
    return model_path, state_path


def read(path: str) -> tuple[caffe_pb2.SolverState, dict]:
    """A .solverstate and its ``.json`` sidecar (when there is one), checked: a directory, an
    empty or truncated file, a state naming no learned_net, or a sidecar that is not ours
    (not JSON, or written for another iteration) is one CaffemodelError naming the file."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CaffemodelError("is a directory; give the .solverstate file a snapshot wrote "
                              "(<prefix>_iter_<N>.solverstate)", path)
    if not os.path.isfile(path):
        raise CaffemodelError("no such solver state file", path)
    with open(path, "rb") as f:
        data = f.read()
    if not data:
        raise CaffemodelError("the solver state is empty (0 bytes): an interrupted write? "
                              "resume from an earlier snapshot", path)
    state = caffe_pb2.SolverState()
    try:
        state.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError
        raise CaffemodelError(f"not a Caffe SolverState, or truncated ({exc})", path) from None
    if not state.learned_net:
        raise CaffemodelError("the solver state names no learned_net (the .caffemodel with "
                              "the weights to resume from): not a complete solver state",
                              path)
    return state, _read_sidecar(path + ".json", state.iter)


def _read_sidecar(path: str, iteration: int) -> dict:
    """Where the data layers had got to (our addition to Caffe's state), checked."""
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            extra = json.load(f)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CaffemodelError(f"not the JSON a keras-caffe snapshot writes ({exc}); remove it "
                              "to resume as from a Caffe-written state (the data layers then "
                              "restart at the iteration's batch)", path) from None
    data = extra.get("data", {}) if isinstance(extra, dict) else None
    if not isinstance(data, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("batches_read"), int)
            and v["batches_read"] >= 0 and isinstance(v.get("seed", 0), (int, type(None)))
            for v in data.values()):
        raise CaffemodelError("not the JSON a keras-caffe snapshot writes (expected "
                              '{"data": {"train/<layer>": {"batches_read": N, ...}}, ...})', path)
    if extra.get("iteration", iteration) != iteration:
        raise CaffemodelError(f"written at iteration {extra['iteration']}, but its solver state "
                              f"is at iteration {iteration}: it belongs to another snapshot",
                              path)
    return extra


def restore_history(cnet, optimizer, state: caffe_pb2.SolverState, path: str | None = None) -> None:
    """Load the solver history (momentum, Adam's moments, ...) of ``state`` into
    ``optimizer``.  As Caffe's ``CHECK_EQ(state.history_size(), history_.size())``, a state
    whose history does not have one blob per slot and learnable blob of the net (none at all,
    say), or whose blobs do not have the net's shapes, is refused."""
    params = list(learnable(cnet))
    slots = list(getattr(optimizer, "history_slots", ()))
    need = len(params) * len(slots)
    solver = getattr(optimizer, "caffe_type", "") or type(optimizer).__name__
    if len(state.history) != need:
        what = ("no history" if not len(state.history)
                else f"{len(state.history)} history blobs")
        raise CaffemodelError(
            f"the solver state holds {what}; the {solver} solver keeps {len(slots)} per "
            f"learnable blob ({', '.join(slots)}) and the net has {len(params)}, so {need} "
            "are needed (Caffe: 'Incorrect length of history blobs'). Resuming without them "
            "would restart the solver's history from zero: resume from a state this solver "
            "wrote for this net, or fine-tune from its .caffemodel (--weights)", path)
    values = []
    for k, proto in enumerate(state.history):
        s, p = divmod(k, len(params))
        ctx, i, variable = params[p]
        where = f"history blob {k} ({slots[s]} of layer '{ctx.name}', blob {i})"
        try:
            blob = binary.blob_array(proto)
        except ValueError:
            raise CaffemodelError(f"{where}: its data does not fill its shape "
                                  f"{tuple(proto.shape.dim)} (truncated?)", path) from None
        shape = tuple(int(d) for d in variable.shape)
        want = tuple(ctx.blob_layouts[i].caffe_shape(shape))
        legacy = (1,) * (4 - len(want)) + want if len(want) <= 4 else None
        if blob.shape != want and not (blob.ndim == 4 and blob.shape == legacy):
            raise CaffemodelError(f"{where} has shape {blob.shape}; the net's blob has shape "
                                  f"{want}: the state belongs to another net", path)
        values.append((s, variable, _from_caffe(ctx, i, blob)))
    for s, variable, value in values:   # all checked: assign
        if variable.trainable:
            optimizer.history(variable)[s].assign(value)


def check_prefix(prefix: str, solver_path: str | None = None) -> None:
    """Caffe's ``CheckSnapshotWritePermissions``, at the start of training and without
    writing a probe file: the folder the snapshots of ``prefix`` go into must exist, be a
    folder and be writable, or a SolverError says why (naming the solver file)."""
    prefix = os.fspath(prefix)
    folder = os.path.dirname(prefix) or "."
    problem = None
    if not os.path.isdir(folder):
        above = folder
        while above and not os.path.exists(above) and os.path.dirname(above) != above:
            above = os.path.dirname(above)
        if above and os.path.exists(above) and not os.path.isdir(above):
            problem = f"'{above}' is a file, not a folder"
        else:
            problem = f"the folder '{folder}' does not exist"
    elif not os.access(folder, os.W_OK | os.X_OK):
        problem = f"the folder '{folder}' is not writable"
    if problem:
        raise SolverError(f"cannot write snapshots to snapshot_prefix '{prefix}': {problem} "
                          "(Caffe: 'Cannot write to snapshot prefix'); create the folder, or "
                          "set snapshot_prefix (--snapshot-prefix)", solver_path)
