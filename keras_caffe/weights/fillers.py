"""Caffe's weight fillers, so that layers without trained weights start as in Caffe.

Shapes are Caffe blob shapes; ``fan_in = count / shape[0]`` and
``fan_out = count / shape[1]`` as Caffe computes them.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import NetError
from ..graph import types
from ..proto import caffe_pb2


def _fans(shape):
    count = math.prod(shape) if shape else 1
    fan_in = count // shape[0] if shape and shape[0] else count
    fan_out = count // shape[1] if len(shape) > 1 and shape[1] else count
    return fan_in, fan_out


def _norm(filler, shape):
    fan_in, fan_out = _fans(shape)
    norm = filler.variance_norm
    if norm == caffe_pb2.FillerParameter.FAN_OUT:
        return fan_out
    if norm == caffe_pb2.FillerParameter.AVERAGE:
        return (fan_in + fan_out) / 2.0
    return fan_in


def check(filler: caffe_pb2.FillerParameter, shape, layer: str | None = None) -> None:
    """Caffe's CHECKs on a filler and the blob it fills (``filler.hpp``,
    ``caffe_rng_gaussian``/``caffe_rng_uniform``), as errors naming the layer."""
    kind = filler.type
    if not math.prod(shape):
        raise NetError(f"the {kind} filler cannot fill a blob of shape {tuple(shape)}, which "
                       "holds no values (Caffe: CHECK(count))", layer=layer)
    if kind != "gaussian" and filler.sparse != -1:
        raise NetError(f"sparse: {filler.sparse} is only supported by the gaussian filler, not "
                       f"the {kind} filler (Caffe: 'Sparsity not supported by this Filler.')",
                       layer=layer)
    if kind == "gaussian":
        if not filler.std > 0:
            raise NetError(f"the gaussian filler needs std > 0, got std: {filler.std:g} "
                           "(Caffe: CHECK_GT(sigma, 0))", layer=layer)
        if filler.sparse < -1:
            raise NetError(f"the gaussian filler's sparse must be >= -1, got {filler.sparse}",
                           layer=layer)
    if kind == "uniform" and not filler.min <= filler.max:
        raise NetError(f"the uniform filler needs min <= max, got min: {filler.min:g} "
                       f"max: {filler.max:g} (Caffe: CHECK_LE(a, b))", layer=layer)
    if kind in ("gaussian", "uniform"):
        values = {"mean": filler.mean, "std": filler.std} if kind == "gaussian" else \
            {"min": filler.min, "max": filler.max, "max - min": filler.max - filler.min}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise NetError(f"the {kind} filler's {bad[0]} is {values[bad[0]]:g}; it must be "
                           "finite", layer=layer)


def fill(filler: caffe_pb2.FillerParameter, shape, rng: np.random.Generator,
         layer: str | None = None) -> np.ndarray:
    shape = tuple(int(d) for d in shape)
    kind = filler.type
    check(filler, shape, layer)
    if kind == "constant":
        out = np.full(shape, filler.value, np.float32)
    elif kind == "uniform":
        out = rng.uniform(filler.min, filler.max, shape).astype(np.float32)
    elif kind == "gaussian":
        out = rng.normal(filler.mean, filler.std, shape).astype(np.float32)
        if filler.sparse >= 0:
            if not shape:   # (check() refused a blob with no values)
                raise NetError("a sparse gaussian filler needs a blob with a first axis", layer=layer)
            keep = rng.random(shape) < filler.sparse / shape[0]
            out *= keep
    elif kind == "positive_unitball":
        out = rng.uniform(0, 1, shape).astype(np.float32)
        rows = out.reshape(shape[0], -1) if shape else out.reshape(1, -1)
        rows /= rows.sum(axis=1, keepdims=True)
    elif kind == "xavier":
        scale = math.sqrt(3.0 / _norm(filler, shape))
        out = rng.uniform(-scale, scale, shape).astype(np.float32)
    elif kind == "msra":
        std = math.sqrt(2.0 / _norm(filler, shape))
        out = rng.normal(0.0, std, shape).astype(np.float32)
    elif kind == "bilinear":
        if len(shape) != 4 or shape[2] != shape[3]:
            raise NetError(f"the bilinear filler needs a 4-D blob with square kernels, got {shape}",
                           layer=layer)
        k = shape[3]
        f = math.ceil(k / 2.0)
        c = (k - 1) / (2.0 * f)
        ramp = 1 - np.abs(np.arange(k) / f - c)
        out = np.broadcast_to(np.outer(ramp, ramp), shape).astype(np.float32).copy()
    else:
        raise NetError(f"unknown filler type '{kind}'", layer=layer)
    return out


def blob_fillers(layer: caffe_pb2.LayerParameter, n_blobs: int) -> list[caffe_pb2.FillerParameter]:
    """The filler Caffe uses for each parameter blob of ``layer``: what its type declares
    (``fillers``, where its converter registers), 0 for the rest."""
    spec = types.get(layer.type)
    fillers = list(spec.fillers(layer, n_blobs)) if spec is not None and spec.fillers else []
    zero = caffe_pb2.FillerParameter(type="constant", value=0.0)
    fillers += [zero] * max(0, n_blobs - len(fillers))
    return fillers[:n_blobs]
