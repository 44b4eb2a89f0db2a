"""pycaffe's ``caffe.Net`` on top of keras-caffe.

``Net(proto, phase)``, ``Net(proto, weights, phase)`` or ``Net(proto, phase, weights=...,
level=..., stages=[...])``: the net is resolved once, its data layers opened, its Python
layers imported and set up (as pycaffe does), and the Keras model built at the blobs'
shapes.  ``blobs`` and ``params`` hold :class:`~.blobs.NetBlob` / ``ParamBlob`` objects with
persistent ``data`` / ``diff`` arrays in Caffe's shapes (see :mod:`.blobs`); ``forward`` and
``backward`` run as Caffe's ``ForwardFromTo`` / ``BackwardFromTo`` (see :mod:`.runtime`).
Blobs and layers are in Caffe's order; the split layers Caffe inserts are not shown.
"""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np

from ..api import open_net, read_weights, save_caffemodel
from ..errors import NetError
from ..execution import write_sinks
from ..graph import types
from ..graph.losses import top_loss_weights
from ..layers.python_layer import BlobVec, CaffePythonLayer, Layer
from ..proto import caffe_pb2
from .blobs import BlobStore, NetBlob, Params, ParamBlob
from .fast_forward import PredictorPass
from .hdf5_weights import load_hdf5, save_hdf5
from .runtime import Runtime, internal_feed
from .settings import settings


def _check_file(path, what: str) -> str:
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Could not open {what} file {path}")
    return path


def _phase_and_weights(args, phase, weights):
    """pycaffe's three constructor forms."""
    args = list(args)
    if args and isinstance(args[0], (str, os.PathLike)):   # Net(proto, weights, phase)
        if weights is not None:
            raise TypeError("weights given twice (positional and keyword)")
        weights = args.pop(0)
    if args:
        if phase is not None:
            raise TypeError("phase given twice (positional and keyword)")
        phase = args.pop(0)
    if args:
        raise TypeError(f"Net() takes (network_file, phase) or (network_file, weights, phase); "
                        f"got {len(args)} extra argument(s)")
    if phase not in (caffe_pb2.TRAIN, caffe_pb2.TEST):
        raise ValueError(f"phase must be caffe.TRAIN ({caffe_pb2.TRAIN}) or caffe.TEST "
                         f"({caffe_pb2.TEST}), got {phase!r}")
    return int(phase), weights


class NetLayer(Layer):
    """A layer of a ``caffe.Net`` as pycaffe shows it (a ``caffe.Layer``): its ``type`` and
    parameter ``blobs``."""

    def __init__(self, node, blobs):
        self.name, self._type, self.blobs = node.name, node.type, blobs
        self.layer_param, self.param_str, self.phase = node.param, "", 1

    @property
    def type(self) -> str:
        return self._type

    def __repr__(self):
        return f"<Layer '{self.name}' type={self._type}>"


class Net:
    """A Caffe net with pycaffe's interface (see the module docstring).  Its HDF5Output layers
    write where ``writes`` allows (a ``keras_caffe.WritePolicy``; default: the process's, set
    by ``caffe.set_output_policy``), not wherever ``file_name`` points as in Caffe.  A net
    projected over ``max_memory`` is refused before anything is allocated, when it is made
    and whenever a reshape rebuilds it (keras-caffe's own keyword, as ``build_net``'s:
    bytes, a size such as ``"8G"``, 0 for no limit; default: ``keras-caffe python
    --max-memory``, else 80% of the memory available).  ``runtime`` (also keras-caffe's
    own: ``"auto"``, ``"keras"``, ``"litert"``) runs whole-net TEST forward passes through
    :func:`keras_caffe.predictor` (see :mod:`.fast_forward`); ``net.runtime`` says which."""

    def __init__(self, network_file, *args, phase=None, level: int = 0, stages=None,
                 weights=None, writes=None, max_memory=None, runtime=None, _share_with=None,
                 _seed=None):
        phase, weights = _phase_and_weights(args, phase, weights)
        self._fast = PredictorPass(runtime, shared=_share_with is not None)
        self._max_memory = max_memory
        # where HDF5Output layers write (a keras_caffe.WritePolicy; see set_output_policy)
        self._writes = settings.writes if writes is None else writes
        if isinstance(network_file, caffe_pb2.NetParameter):   # a solver's inline net
            self._file, path = network_file, None
        else:
            self._file = path = _check_file(network_file, "network")
        self._phase, self._stages, self._level = phase, list(stages or []), int(level)
        seed = settings.seed if _seed is None else _seed
        opened = open_net(self._file, None, phase, stages=self._stages, level=self._level,
                          data=True, fed_inputs=True, allow_python_layers=True,
                          share_with=_share_with, data_seed=seed,
                          seed=0 if seed is None else seed, path=path, max_memory=max_memory)
        self._pool_owner = _share_with
        self._sources = opened.sources
        self._graph = opened.cnet.graph
        self._store = BlobStore({}, {})
        self._params = Params()
        self._setup(opened.cnet)
        self._fill_constant_tops()
        if weights is not None:
            self.copy_from(weights)

    def _fill_constant_tops(self) -> None:
        """Caffe fills a data layer's constant tops once, when the net is set up (DummyData's
        constant fillers): a script may then write into them, and forward keeps it."""
        for source in self._sources.values():
            if source.constant_tops:
                batch = source.next_batch()
                source.seek(0)
                self._store.set_values({k: np.asarray(v, np.float32) for k, v in batch.items()
                                        if k in source.constant_tops})

    # -- construction --------------------------------------------------------------------
    def _setup(self, cnet) -> None:
        graph = cnet.graph
        self._cnet, self._runtime = cnet, Runtime(cnet, self._store, self._params)
        self._store.pending = None
        self._fast.reset()
        self._nodes = [n for n in graph.layers]
        names = list(dict.fromkeys(t.name for n in self._nodes for t in n.tops))
        self._store.shapes.update({n: tuple(cnet.shapes[graph.last[n]]) for n in names})
        weights = {}
        for node in self._nodes:
            for top, w in zip(node.tops, top_loss_weights(node)):
                if w:
                    weights[top.name] = weights.get(top.name, 0.0) + w
        self._store.loss_weights = weights
        self._blob_names = names
        self._fed = [t.name for n in graph.input_layers if types.source_of(n.param) == "caller"
                     for t in n.tops]
        self._reshaped = False

    def _rebuild(self) -> None:
        """Build the model again at the input blobs' new shapes (Caffe reshapes the net on
        forward); parameter layers, and so their values, are kept."""
        shapes = {name: self._store.shapes[name] for name in self._fed}
        for source in self._sources.values():
            shapes.update(source.shapes())
        opened = open_net(self._graph, None, self._phase, input_shapes=shapes,
                          allow_python_layers=True, free_spatial=False, fed_inputs=True,
                          share_with=self._cnet, max_memory=self._max_memory)
        opened.cnet.sinks.update(self._cnet.sinks)   # a file being written stays the same file
        self._setup(opened.cnet)

    # -- what pycaffe shows --------------------------------------------------------------
    @property
    def blobs(self) -> "OrderedDict[str, NetBlob]":
        if not hasattr(self, "_blobs_dict"):
            self._blobs_dict = OrderedDict(
                (n, NetBlob(self._store, n, self._blob_reshaped)) for n in self._blob_names)
        return self._blobs_dict

    def _blob_reshaped(self, name) -> None:
        self._reshaped = True

    @property
    def layers(self) -> list:
        if not hasattr(self, "_layers_list"):
            self._layers_list = [self._layer(n) for n in self._nodes]
        return self._layers_list

    def _layer(self, node) -> Layer:
        """What pycaffe shows for a layer: a Python layer's own object (its ``blobs`` then
        the net's parameter blobs), else a :class:`NetLayer`."""
        ctx = self._cnet.contexts.get(node.key)
        python = getattr(ctx, "param_layer", None)
        impl = python.impl if isinstance(python, CaffePythonLayer) else \
            getattr(self._sources.get(node.key), "impl", None)
        if impl is None:
            return NetLayer(node, self._layer_blobs(node))
        impl.blobs = BlobVec(self._layer_blobs(node))
        return impl

    def _layer_blobs(self, node) -> list:
        ctx = self._cnet.contexts.get(node.key)
        if ctx is None:
            return []
        return [ParamBlob(self._params, v, l) for v, l in zip(ctx.weights, ctx.blob_layouts)]

    @property
    def _layer_names(self) -> list:
        return [n.name for n in self._nodes]

    @property
    def layer_dict(self) -> OrderedDict:
        return OrderedDict(zip(self._layer_names, self.layers))

    @property
    def params(self) -> OrderedDict:
        return OrderedDict((name, layer.blobs) for name, layer in
                           zip(self._layer_names, self.layers) if layer.blobs)

    @property
    def inputs(self) -> list:
        return list(self._fed)

    @property
    def outputs(self) -> list:
        return [b.name for b in self._graph.outputs if b.name in self._store.shapes]

    @property
    def top_names(self) -> OrderedDict:
        return OrderedDict((n.name, [t.name for t in n.tops]) for n in self._nodes)

    @property
    def bottom_names(self) -> OrderedDict:
        return OrderedDict((n.name, [b.name for b in n.bottoms]) for n in self._nodes)

    @property
    def blob_loss_weights(self) -> OrderedDict:
        return OrderedDict((n, self._store.loss_weights.get(n, 0.0)) for n in self._blob_names)

    @property
    def _blob_loss_weights(self) -> list:
        return list(self.blob_loss_weights.values())

    # -- forward and backward ------------------------------------------------------------
    def _layer_index(self, name, what: str) -> int:
        names = self._layer_names
        if name not in names:
            raise ValueError(f"{what}: the net has no layer named {name!r} (its layers: "
                             f"{', '.join(names)})")
        return names.index(name)

    def _read_data_layers(self, first: int, last: int) -> None:
        """Each data layer in ``first..last`` produces its next batch into its tops (a
        constant DummyData top keeps what was written into it)."""
        for node in self._nodes[first:last + 1]:
            source = self._sources.get(node.key)
            if source is None:
                continue
            batch = source.next_batch()
            source.check_indices(batch)   # a label out of range: refused, naming the record
            self._store.set_values({name: np.asarray(value, np.float32) for name, value
                                    in batch.items() if name not in source.constant_tops})

    def _prepare(self) -> bool:
        """Before a pass: the model at the input blobs' shapes, and the parameter arrays a
        script changed written into their variables (returns whether there were any)."""
        if self._reshaped:
            self._rebuild()
        return self._params.upload()

    def _feeds(self) -> dict:
        """The next feeds of the whole net as its model takes them (a solver's iteration):
        data layers read their batch, Input blobs give what was written into them."""
        self._prepare()
        self._read_data_layers(0, len(self._nodes) - 1)
        return {t.name: internal_feed(self._store.value(t.name))
                for n in self._graph.input_layers for t in n.tops}

    def forward(self, blobs=None, start=None, end=None, **kwargs) -> dict:
        """Run layers ``start..end`` (all by default); returns ``{blob: data}`` of the net's
        outputs (or of ``end``'s tops) and of ``blobs``.  Keyword arguments set input blobs
        (whole batches)."""
        blobs = list(blobs or [])
        start_ind = 0 if start is None else self._layer_index(start, "forward start")
        end_ind = len(self._nodes) - 1 if end is None else self._layer_index(end, "forward end")
        outputs = set((self.top_names[end] if end is not None else self.outputs) + blobs)
        self._set_batches(kwargs, self.inputs, "data", "input blob")
        changed = self._prepare()
        self._read_data_layers(start_ind, end_ind)
        whole = start_ind == 0 and end_ind == len(self._nodes) - 1
        if not whole:
            self._store.resolve()   # a layer range reads the blobs before it
        self._store.pending = None
        if whole:
            feeds = {t.name: self._store.value(t.name) for n in self._graph.input_layers
                     for t in n.tops}
            if not (self._fast.applies(self, outputs)
                    and self._fast.forward(self, feeds, changed)):
                self._runtime.forward_all(feeds)
        else:
            self._runtime.forward_range(start_ind, end_ind)
        self._write_sinks(start_ind, end_ind)
        unknown = sorted(set(outputs) - set(self.blobs))
        if unknown:
            raise KeyError(f"the net has no blob named {unknown}")
        return {name: self.blobs[name].data for name in outputs}

    def _set_batches(self, values: dict, names: list, field: str, what: str) -> None:
        """pycaffe's keyword arguments: whole batches for exactly the blobs ``names``."""
        if not values:
            return
        if set(values) != set(names):
            raise ValueError(f"{what} arguments {sorted(values)} do not match the net's "
                             f"{'inputs' if field == 'data' else 'outputs'} {names}")
        for name, value in values.items():
            batch = self.blobs[name].shape[0]
            if np.shape(value)[0] != batch:
                raise ValueError(f"{what} '{name}' is not batch sized: {np.shape(value)[0]} "
                                 f"items for a batch of {batch}")
            getattr(self.blobs[name], field)[...] = value

    def _write_sinks(self, first: int, last: int) -> None:
        """The HDF5Output layers in ``first..last`` save their bottoms."""
        nodes = [n for n in self._nodes[first:last + 1] if n.key in self._cnet.sinks]
        if nodes:
            write_sinks(self._graph, {n.key: self._cnet.sinks[n.key] for n in nodes},
                        {b.name: self._store.data(b.name).copy() for n in nodes
                         for b in n.bottoms}, self._writes)

    def backward(self, diffs=None, start=None, end=None, **kwargs) -> dict:
        """Run layers ``start..end`` backward (all by default, from the last); returns
        ``{blob: diff}`` of the net's inputs (or of ``end``'s bottoms) and of ``diffs``.
        Keyword arguments set the diffs of the output blobs (whole batches)."""
        diffs = list(diffs or [])
        start_ind = len(self._nodes) - 1 if start is None else \
            self._layer_index(start, "backward start")
        end_ind = 0 if end is None else self._layer_index(end, "backward end")
        outputs = set((self.bottom_names[end] if end is not None else self.inputs) + diffs)
        self._set_batches(kwargs, self.outputs, "diff", "top diff")
        self._store.resolve()   # a runtime= forward left blobs the backward pass reads
        changed = self._prepare()
        if start_ind >= end_ind:
            self._runtime.backward(start_ind, end_ind, params_changed=changed)
        return {name: self.blobs[name].diff for name in outputs}

    def forward_all(self, blobs=None, **kwargs) -> dict:
        """``forward`` over inputs of any length, in batches (the last one padded)."""
        all_outs = {out: [] for out in set(self.outputs + list(blobs or []))}
        for batch in self._batch(kwargs):
            for out, value in self.forward(blobs=blobs, **batch).items():
                all_outs[out].extend(value.copy())
        return _unpad({k: np.asarray(v) for k, v in all_outs.items()}, kwargs)

    def forward_backward_all(self, blobs=None, diffs=None, **kwargs):
        """``forward`` and ``backward`` over inputs (and output diffs) of any length."""
        all_outs = {out: [] for out in set(self.outputs + list(blobs or []))}
        all_diffs = {d: [] for d in set(self.inputs + list(diffs or []))}
        forward = list(self._batch({k: kwargs[k] for k in self.inputs if k in kwargs}))
        backward = list(self._batch({k: kwargs[k] for k in self.outputs if k in kwargs}))
        for i in range(max(len(forward), len(backward))):
            outs = self.forward(blobs=blobs, **(forward[i] if i < len(forward) else {}))
            grads = self.backward(diffs=diffs, **(backward[i] if i < len(backward) else {}))
            for out, value in outs.items():
                all_outs[out].extend(value.copy())
            for d, value in grads.items():
                all_diffs[d].extend(value.copy())
        return (_unpad({k: np.asarray(v) for k, v in all_outs.items()}, kwargs),
                _unpad({k: np.asarray(v) for k, v in all_diffs.items()}, kwargs))

    def _batch(self, blobs: dict):
        if not blobs:
            return
        num = len(next(iter(blobs.values())))
        batch_size = next(iter(self.blobs.values())).shape[0]
        for b in range(num // batch_size):
            yield {name: value[b * batch_size:(b + 1) * batch_size] for name, value in blobs.items()}
        remainder = num % batch_size
        if remainder:
            yield {name: np.concatenate([value[-remainder:], np.zeros(
                (batch_size - remainder,) + np.shape(value)[1:], np.float32)])
                for name, value in blobs.items()}

    def reshape(self) -> None:
        """Propagate the input blobs' shapes through the net (Caffe's ``Net::Reshape``)."""
        self._rebuild()

    # -- data and weights ----------------------------------------------------------------
    def set_input_arrays(self, data, labels) -> None:
        """Hand arrays to the net's MemoryData layer (its first layer, as pycaffe requires)."""
        source = self._sources.get(self._nodes[0].key) if self._nodes else None
        if source is None or not hasattr(source, "set_input_arrays"):
            raise NetError("set_input_arrays may only be called if the first layer is a "
                           "MemoryData layer")
        labels = np.asarray(labels, np.float32)
        if labels.ndim == 4:
            labels = labels.reshape(len(labels), -1)[:, 0]
        source.set_input_arrays(data, labels)

    def copy_from(self, weights) -> None:
        """Copy the blobs of the layers of a caffemodel that this net has (by name).  As in
        pycaffe (Caffe's ``CopyTrainedLayersFrom``), layers the file lacks keep their values;
        a warning lists them."""
        path = _check_file(weights, "weights")
        self._cnet.load_blobs(read_weights(path), path=path, allow_missing=True)
        self._params.download()
        self._fast.reset()

    runtime = property(lambda self: self._fast.chosen,
                       doc="what runtime= passes run on (None before the first, or without)")

    def share_with(self, other: "Net") -> None:
        """Use ``other``'s parameters for the layers both nets have, from now on (Caffe's
        ``ShareTrainedLayersWith``): the model is built again on ``other``'s variables."""
        self._fast.refuse_sharing()
        other._params.upload()
        self._params.upload()
        shapes = {name: self._store.shapes[name] for name in self._fed}
        for source in self._sources.values():
            shapes.update(source.shapes())
        opened = open_net(self._graph, None, self._phase, input_shapes=shapes,
                          allow_python_layers=True, free_spatial=False, fed_inputs=True,
                          share_with=other._cnet, max_memory=self._max_memory)
        self._params = Params()
        self._store.set_values({})
        for attr in ("_blobs_dict", "_layers_list"):
            self.__dict__.pop(attr, None)
        self._setup(opened.cnet)

    def save(self, filename) -> None:
        """Write the net's parameters as a .caffemodel."""
        self._params.upload()
        save_caffemodel(self._cnet, os.fspath(filename))

    def save_hdf5(self, filename) -> None:
        self._params.upload()
        save_hdf5(self, os.fspath(filename))

    def load_hdf5(self, filename) -> None:
        load_hdf5(self, _check_file(filename, "HDF5 weights"))
        self._params.download()
        self._fast.reset()

    def clear_param_diffs(self) -> None:
        self._params.clear_diffs()


def _unpad(outs: dict, inputs: dict) -> dict:
    if not outs or not inputs:
        return outs
    pad = len(next(iter(outs.values()))) - len(next(iter(inputs.values())))
    return {k: v[:-pad] for k, v in outs.items()} if pad > 0 else outs
