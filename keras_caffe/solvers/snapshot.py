"""Snapshots like Caffe's: ``<prefix>_iter_<N>.caffemodel`` and ``.solverstate``.

The solverstate is Caffe's binary ``SolverState`` (iteration, learned_net, the solver
history in Caffe's blob layout and order, current_step), so Caffe can resume from it and we
can resume from Caffe's.  What Caffe does not store -- where each data layer had got to --
goes into ``<...>.solverstate.json`` beside it, so that resuming continues the exact
trajectory.  Every file is written atomically.
"""

from __future__ import annotations

import json
import os

import numpy as np

from ..api import save_caffemodel
from ..errors import CaffemodelError
from ..fileio import atomic_path
from ..proto import binary, caffe_pb2


def snapshot_paths(prefix: str, iteration: int) -> tuple[str, str]:
    base = f"{prefix}_iter_{iteration}"
    return base + ".caffemodel", base + ".solverstate"


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
    with atomic_path(state_path) as tmp, open(tmp, "wb") as f:
        f.write(state.SerializeToString())
    with atomic_path(state_path + ".json") as tmp, open(tmp, "w") as f:
        json.dump(extra, f, indent=1)
    return model_path, state_path


def read(path: str) -> tuple[caffe_pb2.SolverState, dict]:
    with open(path, "rb") as f:
        data = f.read()
    state = caffe_pb2.SolverState()
    try:
        state.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError
        raise CaffemodelError(f"not a Caffe SolverState ({exc})", path) from None
    extra = {}
    if os.path.isfile(path + ".json"):
        with open(path + ".json") as f:
            extra = json.load(f)
    return state, extra


def restore_history(cnet, optimizer, state: caffe_pb2.SolverState) -> None:
    params = list(learnable(cnet))
    slots = list(getattr(optimizer, "history_slots", ()))
    if len(state.history) not in (0, len(params) * len(slots)):
            raise CaffemodelError(f"the solverstate holds {len(state.history)} history blobs; this "
                              f"solver and net need {len(params) * len(slots)}")
    if not len(state.history):
        return
    k = 0
    for s in range(len(slots)):
        for ctx, i, variable in params:
            blob = binary.blob_array(state.history[k])
            k += 1
            if variable.trainable:
                optimizer.history(variable)[s].assign(_from_caffe(ctx, i, blob))
