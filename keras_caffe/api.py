"""The Python API: read Caffe files, build Keras models, move weights both ways."""

from __future__ import annotations

import dataclasses
import os
from typing import Mapping

import keras
import numpy as np

from .data.sources import (BatchSource, next_batches, next_feeds, open_sources, source_for,
                           watch_indices)
from .errors import CaffeError, NetError
from .execution import run
from .fileio import WritePolicy
from .graph import types
from .graph.labels import index_checks
from .graph.net import NetGraph, resolve
from .graph.phase import filter_net, make_state, parse_phase
from .graph.shapes import input_shapes as settle_input_shapes
from .model import CaffeNet, build, mark_filled
from .proto import binary, caffe_pb2, text, upgrade

_NET_ATTR = "_keras_caffe_net"


def read_net(net, *, ignore_unknown_fields: bool | None = None) -> caffe_pb2.NetParameter:
    """A net prototxt (path, text, or NetParameter) parsed and upgraded to today's format.

    A field our schema lacks is a PrototxtError naming it, its layer, file:line:column and
    the forks that define it; ``ignore_unknown_fields=True`` skips those that change nothing
    a forward pass computes, with one warning each (None: as
    :func:`keras_caffe.proto.text.ignoring_unknown_fields` says, else False)."""
    path = None
    if isinstance(net, caffe_pb2.NetParameter):
        param = caffe_pb2.NetParameter()
        param.CopyFrom(net)
    else:
        path = text.source_path(net)
        param = text.read_net(net, ignore_unknown_fields=ignore_unknown_fields)
    return upgrade.upgrade_net(param, path=path)


def read_weights(path) -> list:
    """The parameter blobs of a .caffemodel (current or legacy V1), by layer, in file order."""
    return binary.read_weights(os.fspath(path))


def resolve_net(net, phase="test", stages=(), level=None, path=None, *,
                ignore_unknown_fields: bool | None = None) -> NetGraph:
    """Read, upgrade, keep the layers of a phase, and resolve blobs into a graph (a graph
    already resolved is returned as it is).  ``path`` names the file a NetParameter was read
    from, for messages; ``ignore_unknown_fields`` as for :func:`read_net`."""
    if isinstance(net, NetGraph):
        return net
    if path is None and not isinstance(net, caffe_pb2.NetParameter):
        path = text.source_path(net)
    param = read_net(net, ignore_unknown_fields=ignore_unknown_fields)
    state = make_state(param, phase, stages, level)
    return resolve(filter_net(param, state), path=path)


def _phase(graph: NetGraph, phase) -> int:
    return graph.param.state.phase if phase is None else parse_phase(phase)


def build_net(net, weights=None, phase=None, input_layout="NHWC", *, stages=(), level=None,
              input_shapes: Mapping[str, tuple] | None = None, free_spatial="auto",
              seed: int | None = 0, share_with: CaffeNet | None = None,
              allow_python_layers: bool = False, precision: str | None = None,
              allow_missing: bool = False, max_memory=None,
              ignore_unknown_fields: bool | None = None) -> CaffeNet:
    """Like :func:`load_model` but returns the :class:`CaffeNet` (model + Caffe facts).

    ``net`` is a prototxt (path or text), a NetParameter, or a graph from :func:`resolve_net`
    (used as it is; ``phase`` then defaults to the graph's).  ``share_with`` (another phase's
    CaffeNet of the same net) makes the new model use the same Keras layers, and so the same
    variables, for every layer both phases have.  ``weights`` lacking some of the net's
    parameter layers are refused (a MissingWeightsError naming them) unless
    ``allow_missing``: those layers then keep Caffe's filler values (what the weights filled
    and lacked is ``cnet.weights_report``).  A net whose parameters and activations are
    projected over ``max_memory`` is refused before anything is allocated (a
    MemoryLimitError naming the largest layers): bytes or a size such as ``"8G"``, 0 for no
    limit, None (default) for 80% of the memory available now.  ``ignore_unknown_fields``:
    see :func:`read_net`."""
    graph = resolve_net(net, "test" if phase is None else phase, stages, level,
                        ignore_unknown_fields=ignore_unknown_fields)
    pool = share_with.layer_pool if share_with is not None else None
    cnet = build(graph, _phase(graph, phase), input_shapes=input_shapes, input_layout=input_layout,
                 free_spatial=free_spatial, seed=seed, layer_pool=pool,
                 allow_python_layers=allow_python_layers, fill=weights is None,
                 precision=precision, max_memory=max_memory)
    if weights is not None:
        report = cnet.load_blobs(read_weights(weights), path=os.fspath(weights),
                                 allow_missing=allow_missing)
        cnet.weights_report = report
        loaded = set(report.loaded)
        for ctx in cnet.param_contexts:  # layers with weights (also through sharing) are done
            if ctx.node.key in loaded:
                mark_filled(ctx)
        cnet.fill(cnet.param_contexts, seed=seed)
    object.__setattr__(cnet.model, _NET_ATTR, cnet)
    return cnet


def load_model(net, weights=None, phase=None, input_layout="NHWC", **kwargs) -> keras.Model:
    """A Keras model of a Caffe net, with the weights of a .caffemodel if given.

    ``net`` is a prototxt path or text (any Caffe format version).  Inputs are named after
    Caffe's input blobs and the outputs are the net's unconsumed tops, by name.  With
    ``input_layout="NCHW"`` the model takes and returns Caffe-shaped 4-D blobs; by default
    they are NHWC.  Keyword arguments: ``stages``, ``level``, ``input_shapes``,
    ``free_spatial``, ``seed``, ``allow_missing`` (see :func:`build_net`: weights that lack
    some of the net's parameter layers are refused unless ``allow_missing=True``),
    ``max_memory`` (the memory limit the net is projected against before it is built),
    ``ignore_unknown_fields`` (skip fork fields that change nothing at inference, warning
    about each; see :func:`read_net`).
    """
    return build_net(net, weights, phase, input_layout, **kwargs).model


def caffe_net_of(model: keras.Model) -> CaffeNet | None:
    """The CaffeNet a model was built from in this process, if any."""
    return getattr(model, _NET_ATTR, None)


def save_caffemodel(model, path, net=None) -> None:
    """Write a model's weights as a .caffemodel that Caffe and OpenCV read.

    ``model`` is a model built by keras_caffe (or a CaffeNet).  A model reloaded from a
    ``.keras`` file no longer knows its prototxt: pass ``net`` and its weights are matched
    by layer name."""
    cnet = model if isinstance(model, CaffeNet) else caffe_net_of(model)
    if cnet is None or net is not None:
        if net is None:
            raise NetError("this model was not built by keras_caffe in this process; pass net= "
                           "(the prototxt it came from) to save_caffemodel")
        target = build_net(net, phase=cnet.phase if cnet else "test")
        if not isinstance(model, CaffeNet):
            by_name = {l.name: l for l in model.layers}
            for ctx in target.param_contexts:
                src = by_name.get(ctx.param_layer.name)
                if src is None:
                    raise NetError("the model has no Keras layer for it", layer=ctx.name)
                ctx.param_layer.set_weights(src.get_weights())
        cnet = target
    blobs = cnet.get_blobs()
    layers = [binary.LayerBlobs(ctx.name, ctx.node.type, blobs[ctx.node.key])
              for ctx in cnet.param_contexts]
    binary.write_caffemodel(os.fspath(path), layers, name=cnet.graph.name, net_param=cnet.graph.param)


@dataclasses.dataclass
class OpenNet:
    """A built net and the sources of its data layers (by layer key; empty when the caller
    feeds the net)."""

    cnet: CaffeNet
    sources: dict[str, BatchSource]

    def next_batches(self) -> dict:
        """The next batch of every source, by top name (NCHW, as Caffe's data layers give)."""
        return next_batches(self.sources)

    def next_feeds(self) -> dict:
        """The next batch of every source as the model takes it (NHWC images)."""
        return next_feeds(self.sources)


def open_net(net, weights=None, phase=None, *, stages=(), level=None, data: bool = False,
             read_shapes: bool = False, input_shapes: Mapping[str, tuple] | None = None,
             batch: int | None = None, data_seed: int | None = None, path: str | None = None,
             fed_inputs: bool = False, **build_kwargs) -> OpenNet:
    """The one way from a net to a built model and what feeds it: the net is resolved once,
    the shapes of its input blobs settled in one place, and the model built.

    ``net``: prototxt path or text, NetParameter, or a resolved graph.  ``data``: the net is
    fed by its data layers: their sources are opened (seeded with ``data_seed``), their first
    item read for the shapes the prototxt leaves open (as Caffe sizes a data layer's tops; no
    batch is read before the net is built and its memory projected), and every batch they
    read is checked for class labels outside the range of the layers reading them (a
    LabelError naming the layer, value and record); Input layers, which no source feeds, are
    refused unless ``fed_inputs`` (pycaffe's nets: the caller writes them beside the data
    layers).  Otherwise the caller feeds it, at ``input_shapes`` (Caffe NCHW, by blob name)
    or at the shapes its layers fix; ``read_shapes`` reads a batch of a data layer whose
    shapes the prototxt leaves open.
    ``batch`` replaces every batch size; ``path`` names the file a NetParameter came from.
    Other keywords go to :func:`build_net`."""
    graph = resolve_net(net, "test" if phase is None else phase, stages, level, path,
                        ignore_unknown_fields=build_kwargs.get("ignore_unknown_fields"))
    phase_id = _phase(graph, phase)
    sources: dict[str, BatchSource] = {}
    read = None
    if data:
        if not fed_inputs:
            _refuse_unfed(graph, phase_id)
        sources = open_sources(graph, phase_id, data_seed,
                               build_kwargs.get("allow_python_layers", False))

        def read(node):
            # Only where the prototxt leaves a shape open (once its own figures passed the
            # blob bounds), sized by one item: no batch is read before the net is built.
            return sources[node.key].shapes() if node.key in sources else None

        build_kwargs.setdefault("free_spatial", False)
    elif read_shapes:
        read = lambda node: _shapes_of_one_batch(node, phase_id)  # noqa: E731
        build_kwargs.setdefault("free_spatial", False)
    shapes = settle_input_shapes(graph, input_shapes, read, batch)
    cnet = build_net(graph, weights, phase_id, input_shapes=shapes, **build_kwargs)
    watch_indices(sources, index_checks(graph, cnet.shapes))   # labels out of range: refused
    return OpenNet(cnet, sources)


def _refuse_unfed(graph: NetGraph, phase: int) -> None:
    if not graph.input_layers:
        raise NetError("the net has no data layers to read batches from; feed it through its "
                       "inputs instead", path=graph.path)
    unfed = [n.name for n in graph.input_layers if types.source_of(n.param) == "caller"]
    if unfed:
        which = "train" if phase == caffe_pb2.TRAIN else "test"
        raise NetError(f"the {which} net takes its data from Input layer(s) {unfed}, which no "
                       "source feeds: reading batches needs data layers (Data, ImageData, "
                       "HDF5Data, ...), or feed the net through its inputs instead",
                       path=graph.path)


def _shapes_of_one_batch(node, phase: int) -> dict | str | None:
    """Shapes of one batch of a data layer's source; when it cannot be read, what its
    CaffeError says (the layer named once, by the caller), or None."""
    source = None
    try:
        source = source_for(node, phase)
        return source.shapes()
    except CaffeError as exc:   # no readable source: the caller is told to give shapes, and why
        return _why(exc, node.name)
    except Exception:  # noqa: BLE001
        return None
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()


def _why(exc: CaffeError, layer: str) -> str:
    named = isinstance(exc, NetError) and exc.layer == layer
    return exc.reason if named else str(exc)


def forward(net, inputs: Mapping[str, np.ndarray], weights=None, phase=None,
            backward: bool = False, xla: bool = False, writes: WritePolicy | None = None,
            **kwargs) -> dict:
    """Every blob after one forward pass, as pycaffe's ``net.blobs[name].data`` holds it.

    ``inputs`` are Caffe-shaped (NCHW) arrays keyed by input blob name; the net is built at
    their shapes, as Caffe reshapes to its inputs.  Returns NCHW float32 arrays by blob name;
    with ``backward`` also the gradients of the total weighted loss, as ``diff/<input>`` and
    ``param/<layer>/<i>`` in Caffe's layouts (what ``net.backward()`` leaves in the diffs).
    The net's HDF5Output layers write where ``writes`` allows (a :class:`WritePolicy`;
    default: under the working directory, replacing no existing file).  ``xla``: compile the
    forward pass with XLA where that is faster here (True or ``"auto"``: measured; see
    :mod:`keras_caffe.xla`) or regardless (``"always"``).  Keyword arguments go to
    :func:`build_net` (e.g. ``precision="mixed_float16"``)."""
    cnet = net if isinstance(net, CaffeNet) else None
    if cnet is None:
        graph = resolve_net(net, "test" if phase is None else phase, kwargs.pop("stages", ()),
                            kwargs.pop("level", None),
                            ignore_unknown_fields=kwargs.get("ignore_unknown_fields"))
        _check_inputs([t.name for n in graph.input_layers for t in n.tops], inputs)
        cnet = open_net(graph, weights, phase, input_shapes={k: np.shape(v) for k, v in
                                                             inputs.items()}, **kwargs).cnet
    else:
        _check_inputs(list(cnet.inputs), inputs)
    return run(cnet, inputs, backward=backward, xla=xla, writes=writes)


def forward_batches(net, batches: int, weights=None, phase=None, seed: int | None = None,
                    writes: WritePolicy | None = None, **kwargs) -> dict:
    """Run a net fed by its own data layers ``batches`` times, as successive
    ``net.forward()`` calls in Caffe: ``{"<blob>/<k>": NCHW array}`` for every blob.  Its
    HDF5Output layers write where ``writes`` allows (see :func:`forward`)."""
    opened = open_net(net, weights, phase, data=True, data_seed=seed, **kwargs)
    writes = WritePolicy() if writes is None else writes
    out = {}
    for k in range(batches):
        for name, value in run(opened.cnet, opened.next_batches(), writes=writes).items():
            out[f"{name}/{k}"] = value
    return out


def _check_inputs(wanted, inputs):
    missing = [w for w in wanted if w not in inputs]
    extra = [k for k in inputs if k not in wanted]
    if missing or extra:
        raise NetError(f"inputs do not match the net's input blobs {wanted}: "
                       + ", ".join(filter(None, [missing and f"missing {missing}",
                                                 extra and f"unknown {extra}"])))
