"""The one path every Caffe blob takes into a Keras layer, and back out.

Weights are matched to layers by Caffe layer name (:func:`load_blobs`: the one place that
decides what a caffemodel lacking some of the net's layers, or naming one twice, does).
Every blob passes through ``fit_blob``, which checks its shape against what the layer
expects (accepting Caffe's legacy 4-D num/channels/height/width shapes exactly where Caffe's
``ShapeEquals`` does).
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
from typing import Iterable, Mapping, Sequence

import numpy as np

from ..errors import MissingWeightsError, WeightError
from ..proto.binary import release_pages
from .fillers import blob_fillers, fill

log = logging.getLogger(__name__)


@dataclasses.dataclass
class LoadReport:
    loaded: list[str] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)   # kept their filler init
    unused: list[str] = dataclasses.field(default_factory=list)    # in the caffemodel, not in the net
    duplicated: list[str] = dataclasses.field(default_factory=list)  # named twice: the last copy won
    nonfinite: list[tuple[str, int, int]] = dataclasses.field(default_factory=list)  # layer, blob, count


def fit_blob(blob: np.ndarray, expected: Sequence[int], layer: str, index: int) -> np.ndarray:
    """``blob`` in the expected Caffe shape, or a WeightError naming layer, blob and shapes."""
    blob = np.asarray(blob)
    expected = tuple(int(d) for d in expected)
    if blob.shape == expected:
        return blob.astype(np.float32, copy=False)
    # Legacy blobs carry 4 dims, padded with leading 1s (Caffe's LegacyShape comparison).
    if blob.ndim == 4 and len(expected) <= 4 and blob.shape == (1,) * (4 - len(expected)) + expected:
        return blob.reshape(expected).astype(np.float32, copy=False)
    raise WeightError(f"shape mismatch: the net expects {expected}, the weights have {blob.shape}",
                      layer=layer, blob=index)


def _shape(variable) -> tuple:
    return tuple(int(d) for d in variable.shape)


def expected_blob_shapes(ctx) -> list[tuple]:
    """Caffe shapes of a layer's blobs, from its variables' shapes (no values are read)."""
    return [tuple(l.caffe_shape(_shape(v))) for l, v in zip(ctx.blob_layouts, ctx.weights)]


def set_layer_blobs(ctx, blobs: Sequence[np.ndarray]) -> None:
    """Check every blob against the layer and assign it through its layout.

    A blob over :data:`CHUNK_BYTES` whose layout maps Caffe's rows onto one Keras axis is
    converted and assigned in row blocks (a VGG fc6 is 400 MB), so the full converted copy
    never exists and the mapped file pages are released as soon as each block is assigned."""
    expected = expected_blob_shapes(ctx)
    if len(blobs) != len(expected):
        raise WeightError(f"the net expects {len(expected)} parameter blob(s), the weights have "
                          f"{len(blobs)}", layer=ctx.name)
    fitted = [fit_blob(b, e, ctx.name, i) for i, (b, e) in enumerate(zip(blobs, expected))]
    for blob, layout, variable in zip(fitted, ctx.blob_layouts, ctx.weights):
        shape = _shape(variable)
        if blob.nbytes > CHUNK_BYTES and layout.row_axis is not None and blob.ndim:
            _row_blocks(blob, layout, shape).assign_to(variable)
        else:
            variable.assign(np.asarray(layout.to_keras(blob, shape), dtype=variable.dtype))
    for b in blobs:
        release_pages(b)


# Blobs above this size are converted and assigned in row blocks.
CHUNK_BYTES = 32 << 20


def _row_blocks(blob: np.ndarray, layout, shape: tuple) -> "Chunks":
    axis, rows = layout.row_axis, blob.shape[0]
    step = max(1, CHUNK_BYTES // max(1, blob.nbytes // rows))

    def blocks():
        for start in range(0, rows, step):
            part = blob[start:start + step]   # contiguous rows of Caffe's blob
            index = [slice(None)] * len(shape)
            index[axis] = slice(start, start + len(part))
            block_shape = shape[:axis] + (len(part),) + shape[axis + 1:]
            yield tuple(index), layout.to_keras(part, block_shape)
            release_pages(part)  # assigned: the mapped file pages can go
    return Chunks(shape, blocks())


@dataclasses.dataclass
class Chunks:
    """A weight given as slices: ``blocks`` yields ``(index, array)`` with ``index`` a tuple
    of slices of the full ``shape``.  Assigned in place, so a 400 MB InnerProduct weight
    needs only one block of extra memory."""

    shape: tuple
    blocks: object

    def assign_to(self, variable) -> None:
        value = getattr(variable, "value", None)
        handle = getattr(value, "handle", None)
        if handle is None:  # not a TF resource variable: assemble, then assign
            full = np.empty(self.shape, np.float32)
            for index, block in self.blocks:
                full[index] = block
            variable.assign(full)
            return
        import tensorflow as tf

        for index, block in self.blocks:
            begin = [s.start or 0 for s in index]
            end = [s.stop if s.stop is not None else d for s, d in zip(index, self.shape)]
            tf.raw_ops.ResourceStridedSliceAssign(
                ref=handle, begin=begin, end=end, strides=[1] * len(begin),
                value=tf.convert_to_tensor(np.ascontiguousarray(block, np.float32)))
        # A strided-slice assignment leaves the variable in TF's copy-on-read mode, where
        # every later read copies the whole buffer (AlexNet's fc6 made inference 14% slower).
        tf.raw_ops.DisableCopyOnRead(resource=handle)


def get_layer_blobs(ctx) -> list[np.ndarray]:
    return as_caffe_blobs(ctx, [np.asarray(v.numpy()) for v in ctx.weights])


def as_caffe_blobs(ctx, arrays) -> list[np.ndarray]:
    """Values of a layer's Keras weights (or their gradients) as Caffe's blobs."""
    return [np.asarray(l.to_caffe(np.asarray(a)), np.float32)
            for l, a in zip(ctx.blob_layouts, arrays)]


def initialize_from_fillers(contexts: Iterable, seed: int | None = 0) -> None:
    """Give every parameter layer Caffe's filler values (Keras's own initializers differ)."""
    rng = np.random.default_rng(seed)
    for ctx in contexts:
        shapes = expected_blob_shapes(ctx)
        if not shapes:
            continue
        fillers = blob_fillers(ctx.param, len(shapes))
        set_layer_blobs(ctx, [fill(f, s, rng, ctx.name) for f, s in zip(fillers, shapes)])


def load_blobs(contexts: Mapping[str, object], layers: Iterable, path: str | None = None,
               allow_missing: bool = False) -> LoadReport:
    """Copy blobs (an iterable of objects with ``name`` and ``blobs``) into the layers of the
    net with the same name, as Caffe's ``CopyTrainedLayersFrom`` does: a name that appears
    twice takes the last copy (Caffe copies each in file order), with a warning.

    A parameter layer of the net that the weights lack would keep its filler values: that
    is refused (a :class:`~keras_caffe.errors.MissingWeightsError` naming the layers and the
    nearest names in the file) unless ``allow_missing``, which warns instead.  Non-finite
    values (NaN, Inf) in a copied blob are warned about, naming the layer and the blob."""
    report = LoadReport()
    where = path or "the weights"
    chosen, copies = {}, {}   # name -> its last copy's blobs (in first-seen order), count
    for entry in layers:
        name = entry.name
        blobs = list(entry.blobs)
        ctx = contexts.get(name)
        if ctx is None or ctx.param_layer is None:
            if blobs:
                report.unused.append(name)
            continue
        if not blobs:   # a blob-less entry gives nothing to copy: the layer stays missing
            continue
        chosen[name] = blobs
        copies[name] = copies.get(name, 0) + 1
    assigned: set[int] = set()
    for name, blobs in chosen.items():
        ctx = contexts[name]
        if copies[name] > 1:
            log.warning("layer '%s' appears %d times in %s; the last copy is used, as Caffe's "
                        "CopyTrainedLayersFrom does", name, copies[name], where)
            report.duplicated.append(name)
        for index, blob in enumerate(blobs):
            bad = nonfinite_count(blob)
            if bad:
                log.warning("layer '%s', blob %d: %d of %d values in %s are not finite (NaN or "
                            "Inf)", name, index, bad, np.size(blob), where)
                report.nonfinite.append((name, index, bad))
        try:
            set_layer_blobs(ctx, blobs)
        except WeightError as exc:
            if path:
                raise WeightError(f"{exc.reason} (weights file {path})", layer=exc.layer,
                                  blob=exc.blob) from None
            raise
        assigned.update(id(v) for v in ctx.weights)
        report.loaded.append(name)
    owners = [c for c in contexts.values() if c.param_layer is not None and c.weights]
    missing = [c for c in owners if not all(id(v) in assigned for v in c.weights)]
    report.missing = [c.node.key for c in missing]
    if missing and not allow_missing:
        raise MissingWeightsError([c.name for c in missing], path, total=len(owners),
                                  notes=_notes(missing[:MissingWeightsError.MAX_LISTED],
                                               report.unused))
    if missing:
        log.warning("layers without weights in %s keep their filler initialisation: %s",
                    where, ", ".join(report.missing))
    if report.unused:
        log.warning("layers in %s that the net does not use: %s", where,
                    ", ".join(report.unused))
    return report


def _notes(missing: list, unused: list[str]) -> list[str | None]:
    """What helps find each missing layer: the most similar name of a layer in the file that
    the net does not use (a renamed layer), or that Caffe never copies into a later layer
    with the name of an earlier one."""
    notes = []
    for ctx in missing:
        if ctx.node.key != ctx.name:
            notes.append("a later layer of that name: Caffe copies weights into the first only")
            continue
        close = difflib.get_close_matches(ctx.name, unused, n=1, cutoff=0.6)
        notes.append(f"nearest in the file: '{close[0]}'" if close else None)
    return notes


def nonfinite_count(blob) -> int:
    """How many values of ``blob`` are NaN or infinite, counted in blocks of 1M values (two
    reductions per block when it has none).  The mapped file pages behind each block are
    released once it is counted, so a memory-mapped blob is never resident whole (as in
    :func:`set_layer_blobs`)."""
    blob = np.asarray(blob)
    if not blob.size or not np.issubdtype(blob.dtype, np.floating):
        return 0
    flat, step, bad = blob.reshape(-1), 1 << 20, 0
    for start in range(0, flat.size, step):
        part = flat[start:start + step]
        if not (np.isfinite(part.min()) and np.isfinite(part.max())):
            bad += part.size - int(np.count_nonzero(np.isfinite(part)))
        release_pages(part)
    return bad
