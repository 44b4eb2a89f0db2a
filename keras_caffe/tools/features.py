"""``keras-caffe extract-features``: Caffe's ``tools/extract_features``.

The net is built in the TEST phase with the trained weights and run ``batches`` times, each
pass reading the next batch of its data layers (as ``net.forward()`` does in Caffe; the
path of ``keras-caffe forward --batches`` and ``keras-caffe test``).  After each pass every
item ``n`` of every requested blob (Caffe's NCHW layout) is written:

* to LMDB / LevelDB as one Datum per item, keyed ``%010d`` of the item's index in that blob's
  database (``0000000000``, ``0000000001``, ... counting across batches), with
  ``channels``/``height``/``width`` the blob's legacy axes 1, 2, 3 (1 where the blob has fewer
  axes: an InnerProduct top ``N x D`` gives ``D x 1 x 1``) and the values in ``float_data``
  (no label), byte for byte what Caffe writes.  Blobs of more than 4 axes do not fit a Datum
  (Caffe stops there too): use HDF5;
* to HDF5 as one float32 dataset per blob, named after the blob, of shape
  ``(batches * N,) + the blob's other axes``: the batches stacked on axis 0, which an HDF5Data
  layer with that blob as its top reads back.

Outputs are built beside their destination and renamed into place once every batch is
written, so a failed run leaves nothing and an existing output is never half-overwritten.
An existing destination is an error (Caffe refuses too) unless ``force``: then it is
replaced once the new one is complete.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import tempfile

import numpy as np

from ..api import open_net, resolve_net
from ..data.writers import new_db
from ..errors import DataToolError, NetError
from ..execution import tf_float32, write_sinks
from ..fileio import WritePolicy, default_mode, move_into_place
from ..graph import layout
from ..proto import caffe_pb2

log = logging.getLogger("keras_caffe.tools")

__all__ = ["BACKENDS", "Extracted", "extract_features", "feature_key", "feature_datum",
           "output_paths"]

BACKENDS = ("lmdb", "leveldb", "hdf5")


@dataclasses.dataclass
class Extracted:
    """What was written for one blob."""

    blob: str
    path: str
    backend: str
    count: int            # items (= keys, or rows of the HDF5 dataset)
    shape: tuple          # one item's shape (NCHW without N)


def feature_key(index: int) -> bytes:
    """Caffe's key of item ``index``: ``format_int(index, 10)``, i.e. ``%010d``."""
    return b"%010d" % index


def feature_datum(item: np.ndarray) -> bytes:
    """One item of a blob (its axes after N) as Caffe's tool serializes it: a Datum with
    channels/height/width (1 for missing axes) and the values in ``float_data``."""
    item = np.asarray(item, np.float32)
    dims = tuple(item.shape) + (1,) * (3 - item.ndim)
    datum = caffe_pb2.Datum(channels=dims[0], height=dims[1], width=dims[2])
    datum.float_data.extend(item.ravel().tolist())
    return datum.SerializeToString()


def output_paths(blobs, outputs, backend: str) -> list[str]:
    """The destination of each blob.  One output per blob, in order; or one output for all:
    an HDF5 file then holds every blob's dataset, and a database ``DB`` becomes one database
    per blob, ``<DB without extension>_<blob><extension>`` (``feats.lmdb`` ->
    ``feats_fc7.lmdb``; characters other than letters, digits, ``.``, ``-``, ``_`` in the blob
    name become ``_``)."""
    blobs, outputs = list(blobs), [o.rstrip("/") or o for o in outputs]
    if len(outputs) == len(blobs):
        paths = outputs
    elif len(outputs) == 1 and backend == "hdf5":
        paths = outputs * len(blobs)
    elif len(outputs) == 1:
        root, ext = os.path.splitext(outputs[0])
        paths = [f"{root}_{re.sub(r'[^A-Za-z0-9._-]', '_', b)}{ext}" for b in blobs]
    else:
        raise DataToolError(f"{len(blobs)} blobs but {len(outputs)} outputs: give one output "
                            "per blob, or one for all of them")
    if backend != "hdf5" and len(set(map(os.path.abspath, paths))) < len(paths):
        raise DataToolError(f"two blobs would be written to one database: {paths}")
    return paths


def extract_features(net, weights, blobs, batches: int, outputs, backend: str = "lmdb", *,
                     force: bool = False, stages=(), level=None,
                     writes: WritePolicy | None = None,
                     allow_missing: bool = False) -> list[Extracted]:
    """Run ``net`` (TEST phase, ``weights``) over ``batches`` batches of its data layers and
    write each of ``blobs`` to its output (see :func:`output_paths`).  Returns what was
    written, per blob.  The net's own HDF5Output layers write where ``writes`` allows."""
    blobs = [b for b in blobs if b]
    if backend not in BACKENDS:
        raise DataToolError(f"unknown backend '{backend}' (use one of {', '.join(BACKENDS)})")
    if not blobs:
        raise DataToolError("no blob names given")
    if batches < 1:
        raise DataToolError(f"the number of batches must be positive, got {batches}")
    if weights is None or not os.path.isfile(weights):
        raise DataToolError(f"weights file '{weights}' not found" if weights else
                            "extracting features needs the trained weights (a .caffemodel)")
    paths = output_paths(blobs, outputs, backend)
    existing = sorted({p for p in paths if os.path.lexists(p)})
    if existing and not force:
        raise DataToolError(f"{', '.join(existing)} already exist(s): extract_features creates "
                            "new outputs (remove them, or pass --force to replace them)")
    graph = resolve_net(net, "test", stages, level)
    unknown = [b for b in blobs if b not in graph.last]
    if unknown:
        raise NetError(f"unknown blob(s) {', '.join(unknown)} in the TEST net; its blobs: "
                       f"{', '.join(graph.blob_names)}", path=graph.path)
    opened = open_net(graph, os.fspath(weights), "test", data=True,
                      allow_missing=allow_missing)
    predict = _feature_function(opened.cnet, blobs, WritePolicy() if writes is None else writes)
    results = [Extracted(b, p, backend, 0, ()) for b, p in zip(blobs, paths)]
    with contextlib.ExitStack() as stack:
        writers = _open_writers(stack, paths, backend, force)
        for k in range(batches):
            values = predict(opened.next_feeds())
            for result in results:
                items = values[result.blob]
                items = items.reshape(1) if items.ndim == 0 else items
                if backend != "hdf5" and items.ndim > 4:
                    raise DataToolError(f"blob '{result.blob}' is {_dims(items.shape)}: a "
                                        "Datum holds at most channels x height x width; use "
                                        "--backend hdf5")
                result.shape = items.shape[1:]
                writers[result.path].add(result.blob, result.count, items)
                result.count += len(items)
            log.info("batch %d of %d: %s", k + 1, batches,
                     ", ".join(f"{r.count} of {r.blob}" for r in results))
    return results


def _dims(shape) -> str:
    return "x".join(map(str, shape))


def _feature_function(cnet, blobs, writes: WritePolicy):
    """``feeds -> {name: NCHW float32 array}`` for the requested blobs (and the bottoms of the
    net's sinks, which are handed their values as in a Caffe forward pass)."""
    import keras
    import tensorflow as tf

    wanted = list(dict.fromkeys(blobs + [b.name for n in cnet.graph.layers if n.key in cnet.sinks
                                         for b in n.bottoms]))
    missing = [b for b in wanted if cnet.graph.last[b] not in cnet.tensors]
    if missing:
        raise NetError(f"blob(s) {', '.join(missing)} are not computed by the built model",
                       path=cnet.graph.path)
    model = keras.Model(cnet.inputs, {b: cnet.tensors[cnet.graph.last[b]] for b in wanted})
    call = tf.function(lambda feeds: model(feeds, training=False), reduce_retracing=True)

    def predict(feeds):
        out = {k: layout.to_caffe_array(tf_float32(v)) for k, v in call(feeds).items()}
        write_sinks(cnet.graph, cnet.sinks, out, writes)
        return out

    return predict


def _open_writers(stack, paths, backend: str, replace: bool) -> dict:
    writers = {}
    for path in dict.fromkeys(paths):
        if backend == "hdf5":
            writers[path] = stack.enter_context(_Hdf5Writer.open(path, replace))
        else:
            writers[path] = _DatumWriter(stack.enter_context(new_db(path, backend, replace)))
    return writers


class _DatumWriter:
    def __init__(self, db):
        self.db = db

    def add(self, blob: str, start: int, items: np.ndarray) -> None:
        self.db.put_many([(feature_key(start + n), feature_datum(item))
                          for n, item in enumerate(items)])


class _Hdf5Writer:
    def __init__(self, file):
        self.file = file

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: str, replace: bool):
        """An HDF5 file written beside ``path`` and moved into place when complete."""
        import h5py

        target = os.path.abspath(path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(target) + ".",
                                   suffix=".tmp.h5", dir=os.path.dirname(target))
        os.close(fd)
        try:
            with h5py.File(tmp, "w") as f:
                yield cls(f)
            os.chmod(tmp, default_mode(0o666))
            try:
                move_into_place(tmp, target, replace)
            except FileExistsError:
                raise DataToolError(f"'{path}' appeared while it was being written; the new "
                                    "file was not moved over it") from None
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)
            raise

    def add(self, blob: str, start: int, items: np.ndarray) -> None:
        items = np.asarray(items, np.float32)
        if start == 0:
            self.file.create_dataset(blob, data=items, maxshape=(None,) + items.shape[1:],
                                     chunks=True)
            return
        dataset = self.file[blob]
        if dataset.shape[1:] != items.shape[1:]:
            raise DataToolError(f"blob '{blob}' changed shape from {_dims(dataset.shape[1:])} "
                                f"to {_dims(items.shape[1:])} between batches")
        dataset.resize(start + len(items), axis=0)
        dataset[start:] = items
