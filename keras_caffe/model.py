"""Build a Keras model from a resolved Caffe net.

The converters do the per-type work; this module walks the net in Caffe's order, wires
tensors by blob version, checks every output shape against Caffe's shape inference, and
keeps what it learned (``CaffeNet``) so that weights can be moved in and out by layer name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sys

import keras
import numpy as np

from .converters import registry
from .converters.registry import BuildOptions, Context
from .errors import NetError, UnsupportedLayerError
from .graph import layout, memory, types
from .graph.losses import top_loss_weights
from .graph.names import helper_name, keras_name
from .graph.net import Blob, NetGraph
from .graph.backward import backward_plan
from .graph.passes import batch_norm_scale_pairs
from .graph.shapes import check_arity, infer_shapes, node_shapes
from .graph.shapes import input_shapes as settle_input_shapes
from .layers.loss_weight import CaffeLossWeight
from .layers.python_layer import CaffePythonLayer
from .layers.stop_gradient import CaffeStopGradient
from .proto import caffe_pb2
from .weights import loader

log = logging.getLogger(__name__)

LAYOUTS = ("NHWC", "NCHW")
#: Keras dtype policies a net is built under (``precision``).
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass
class CaffeNet:
    """A built model together with the Caffe facts behind it."""

    graph: NetGraph
    model: keras.Model
    phase: int
    input_layout: str
    shapes: dict[Blob, tuple]            # Caffe shapes inferred from the prototxt / inputs
    contexts: dict[str, Context]         # Caffe layer name -> its build context
    tensors: dict[Blob, object]          # blob version -> Keras tensor (internal layout)
    inputs: dict[str, object]            # input blob name -> keras.Input
    free_spatial: bool
    loss_terms: list[tuple[Blob, float]] = dataclasses.field(default_factory=list)
    layer_pool: dict = dataclasses.field(default_factory=dict)
    sinks: dict = dataclasses.field(default_factory=dict)   # sink layer key -> its writer
    #: What the weights given when it was built filled (and lacked), if any were given.
    weights_report: "loader.LoadReport | None" = None

    @property
    def param_contexts(self) -> list[Context]:
        return [c for c in self.contexts.values() if c.param_layer is not None]

    def blob_model(self) -> keras.Model:
        """A model sharing our layers that returns every blob (its final version, in our
        internal layout), as pycaffe's ``net.blobs`` shows them after ``forward()``."""
        outputs = {name: self.tensors[b] for name, b in self.graph.last.items() if b in self.tensors}
        with _recursion_for(len(self.tensors)):
            return keras.Model(self.inputs, outputs, name=self.model.name + "_blobs")

    def fill(self, contexts, seed: int | None = 0) -> None:
        """Caffe's filler values for these layers' blobs.  Each Keras layer is filled once: a
        layer shared with an earlier build (another phase) or with another Caffe layer
        (``param { name }``) keeps the values it already has, and a layer that made its own
        blobs (a Python layer) keeps them."""
        fresh, seen = [], set()
        for ctx in contexts:
            if ctx.own_init:
                continue
            key = tuple(id(v) for v in ctx.weights)
            if key and key not in seen and not all(getattr(v, "_caffe_filled", False)
                                                   for v in ctx.weights):
                seen.add(key)
                fresh.append(ctx)
        loader.initialize_from_fillers(fresh, seed=seed)
        for ctx in fresh:
            mark_filled(ctx)

    def param_multipliers(self) -> list[tuple[object, float, float]]:
        """``(variable, lr_mult, decay_mult)`` for every parameter variable, from the owning
        layer's ``param {}`` specs (Keras weight i is Caffe blob i; defaults 1 and 1)."""
        out, seen = [], set()
        for ctx in self.param_contexts:
            for i, variable in enumerate(ctx.weights):
                if id(variable) in seen:
                    continue
                seen.add(id(variable))
                specs = list(ctx.param.param)
                spec = specs[i] if i < len(specs) else None
                lr = spec.lr_mult if spec is not None and spec.HasField("lr_mult") else 1.0
                decay = spec.decay_mult if spec is not None and spec.HasField("decay_mult") else 1.0
                out.append((variable, float(lr), float(decay)))
        return out

    def load_blobs(self, layers, path=None, allow_missing: bool = False) -> loader.LoadReport:
        """Copy a caffemodel's blobs into the layers of the same name (see
        :func:`keras_caffe.weights.loader.load_blobs`: layers the weights lack are refused
        unless ``allow_missing``)."""
        return loader.load_blobs(self.contexts, layers, path=path, allow_missing=allow_missing)

    def get_blobs(self) -> dict[str, list[np.ndarray]]:
        """Every parameter blob in Caffe's own shapes, by Caffe layer name (``name__<k>`` for a
        later layer that repeats a name)."""
        return {c.node.key: loader.get_layer_blobs(c) for c in self.param_contexts}


def mark_filled(ctx) -> None:
    """Record that a Caffe layer's variables hold their values (from fillers or weights)."""
    for variable in ctx.weights:
        variable._caffe_filled = True


def _check_input_names(graph: NetGraph, compute) -> None:
    """Caffe keeps blob names and layer names apart; a Keras model names its inputs after
    their blobs and its layers after theirs, in one namespace.  A layer named like an input
    blob is refused here, by name, instead of by Keras's "name is used 2 times"."""
    layers = {keras_name(n.key): n.name for n in compute}
    for node in graph.input_layers:
        for top in node.tops:
            other = layers.get(keras_name(top.name))
            if other is not None:
                raise NetError(f"the layer is named like the input blob '{top.name}' (a top "
                               f"of layer '{node.name}'); a Keras model names its inputs after "
                               "their blobs and its layers after theirs, and every name must "
                               "be unique: rename the layer or the blob", layer=other,
                               path=graph.path)


def computed_layers(graph: NetGraph) -> list:
    """The layers a model holds Keras layers for (not its inputs, data layers or sinks), or
    an UnsupportedLayerError naming every one whose type has no converter, all at once."""
    compute = [n for n in graph.layers if _built(n)]
    missing = registry.find_unsupported(compute)
    if missing:
        raise UnsupportedLayerError(missing, path=graph.path)
    return compute


def _built(node) -> bool:
    spec = types.get(node.type)
    return spec is None or spec.built(node.param)


def _check_shape(node, top: Blob, tensor, caffe_shape):
    if caffe_shape is None:
        return
    got = tuple(tensor.shape)
    want = layout.to_internal_shape(caffe_shape)
    if len(got) != len(want) or any(g is not None and w is not None and g != w
                                    for g, w in zip(got[1:], want[1:])):
        raise NetError(f"internal error: the Keras output for top '{top.name}' has shape {got}, "
                       f"Caffe's shape is {tuple(caffe_shape)} (ours: {want})", layer=node.name)


def build(graph: NetGraph, phase=caffe_pb2.TEST, input_shapes: dict[str, tuple] | None = None,
          input_layout: str = "NHWC", free_spatial="auto", seed: int | None = 0,
          name: str | None = None, layer_pool: dict | None = None,
          allow_python_layers: bool = False, fill: bool = True,
          precision: str | None = None, max_memory=None) -> CaffeNet:
    """Build the Keras model of ``graph``.

    ``input_shapes`` (Caffe NCHW, by input blob name) replaces the prototxt's input shapes, as
    Caffe's ``Reshape`` does.  ``free_spatial`` leaves H and W unknown so one model runs at
    any size; "auto" does so when every layer of the net allows it.  ``layer_pool`` (a dict
    kept between builds) makes another build of the same net, e.g. its other phase, reuse
    these Keras layers and so share their variables.  ``fill=False`` skips Caffe's filler
    initialisation (call :meth:`CaffeNet.fill` for the layers a caffemodel did not provide).
    ``precision`` is a Keras dtype policy ("float32", "mixed_float16", "mixed_bfloat16"):
    variables stay float32, and the types declared ``float32`` (softmax, losses, BatchNorm,
    LRN, ...) also compute in float32.

    Before anything is allocated, the bytes of the parameters and activations are projected
    from the shapes (``graph.memory``) and a net over ``max_memory`` is refused
    (:class:`~keras_caffe.errors.MemoryLimitError`): bytes or a size such as ``"8G"``, 0 for
    no limit, None (default) for 80% of the memory available now.
    """
    if precision:
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(precision)
        try:
            return build(graph, phase, input_shapes, input_layout, free_spatial, seed, name,
                         layer_pool, allow_python_layers, fill, None, max_memory)
        finally:
            keras.mixed_precision.set_global_policy(previous)
    input_layout = input_layout.upper()
    if input_layout not in LAYOUTS:
        raise ValueError(f"input_layout must be one of {LAYOUTS}, got {input_layout!r}")
    if not graph.layers:
        # Caffe accepts an empty NetParameter (an empty or comment-only prototxt), but a
        # model with nothing in it computes nothing.
        which = "TRAIN" if phase == caffe_pb2.TRAIN else "TEST"
        raise NetError(f"the net has no layers in the {which} phase (an empty or comment-only "
                       "prototxt, or include/exclude rules that keep none): there is no model "
                       "to build", path=graph.path)
    compute = computed_layers(graph)
    _check_input_names(graph, compute)
    given = settle_input_shapes(graph, input_shapes)
    shapes: dict[Blob, tuple] = {t: given[t.name] for n in graph.input_layers for t in n.tops}
    inferred = infer_shapes(graph, given, strict=False)
    limit, why = memory.memory_limit(max_memory)
    memory.check(memory.project(graph, inferred), limit, graph.path, why)
    ranks = {b: len(s) for b, s in inferred.items()}
    folds = batch_norm_scale_pairs(graph, ranks)
    if free_spatial == "auto":
        free_spatial = all(registry.get(n.type).allows_free_spatial(n.param) for n in compute)
    policy = keras.mixed_precision.global_policy().name
    options = BuildOptions(free_spatial=bool(free_spatial), allow_python_layers=allow_python_layers,
                           layer_pool=layer_pool if layer_pool is not None else {},
                           precision=policy if policy != "float32" else None)
    loss_terms: list[tuple[Blob, float]] = []

    tensors: dict[Blob, object] = {}
    inputs: dict[str, object] = {}
    contexts: dict[str, Context] = {}
    folded_into = {scale.key: bn for bn, scale in folds.items()}
    for node in graph.input_layers:
        for top in node.tops:
            caffe_shape = shapes[top]
            if len(caffe_shape) == 0:
                raise NetError(f"input blob '{top.name}' has no batch axis", layer=node.name)
            dims = list(caffe_shape[1:])
            if options.free_spatial and layout.is_channels_last(len(caffe_shape)):
                dims[1:] = [None] * (len(dims) - 1)
            if input_layout == "NCHW":
                x = keras.Input(tuple(dims), name=keras_name(top.name))
                inputs[top.name] = x
                tensors[top] = layout.from_caffe_order(x, keras_name(top.name) + "__nhwc")
            else:
                shape = layout.to_internal_shape([None] + dims)[1:]
                x = keras.Input(tuple(shape), name=keras_name(top.name))
                inputs[top.name] = tensors[top] = x

    for node in compute:
        conv = registry.get(node.type)
        check_arity(node, graph.path)
        bottom_shapes = [shapes[b] for b in node.bottoms]
        top_shapes = node_shapes(node, bottom_shapes, graph.path)
        ctx = Context(node, bottom_shapes, top_shapes or [None] * len(node.tops), phase, options,
                      converter=conv, folded_scale=folds.get(node.key))
        if node.key in folded_into:
            ctx.folded_into = contexts[folded_into[node.key]]
        if not node.bottoms and inputs:
            # A layer without bottoms (Parameter) still needs a tensor to hang off in a
            # functional model: it gets the first input and ignores its values.
            ctx.anchor = next(iter(inputs.values()))
        bottoms = [tensors[b] for b in node.bottoms]
        propagate = list(node.param.propagate_down)
        if propagate:
            if len(propagate) != len(bottoms):
                raise NetError(f"propagate_down must be given once per bottom ({len(bottoms)}) or "
                               f"not at all, got {len(propagate)}", layer=node.name)
            bottoms = [x if down else ctx.add(CaffeStopGradient(name=helper_name(
                node.key, f"no_backward{i}")))(x) for i, (x, down) in enumerate(zip(bottoms, propagate))]
        try:
            outs = conv(ctx, *bottoms)
        except NetError:
            raise
        except (ValueError, TypeError) as exc:
            raise NetError(f"cannot build {node.type}: {exc}", layer=node.name,
                           path=graph.path) from exc
        _check_declared_params(ctx, bottom_shapes)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        if len(outs) != len(node.tops):
            raise NetError(f"converter for {node.type} made {len(outs)} outputs for "
                           f"{len(node.tops)} tops", layer=node.name)
        weights = top_loss_weights(node)
        for j, (top, out) in enumerate(zip(node.tops, outs)):
            if top_shapes is None:
                # A type without a shape function (a user's converter): Keras's shape, with
                # the batch of the first bottom where Keras leaves it open (a Python layer
                # knows its tops' whole shapes).
                batch = bottom_shapes[0][0] if bottom_shapes and bottom_shapes[0] else None
                known = layout.to_caffe_shape(tuple(out.shape))
                shapes[top] = (known[0] if known[0] is not None else batch,) + tuple(
                    known[1:]) if known else ()
            else:
                shapes[top] = top_shapes[j]
            _check_shape(node, top, out, shapes[top])
            if weights[j]:
                role = "loss" if len(node.tops) == 1 else f"loss{j}"
                layer = ctx.add(CaffeLossWeight(weights[j], metric_name=top.name,
                                                name=helper_name(node.key, role),
                                                dtype="float32"))
                out = layer(out)
                loss_terms.append((top, weights[j]))
            tensors[top] = out
        contexts[node.key] = ctx

    outputs = {}
    # The net's outputs, plus any weighted top no layer outputs otherwise (a loss layer's
    # automatic top, a consumed loss): Keras computes only what leads to an output.
    extra = [b for b, _ in loss_terms if b.name not in {o.name for o in graph.outputs}]
    # ... and the blobs that sinks (HDF5Output) save: the model must compute them.
    sinks = [(n, types.get(n.type).sink) for n in graph.layers
             if types.get(n.type) is not None and types.get(n.type).sink is not None]
    extra += [b for node, _ in sinks for b in node.bottoms]
    if not graph.outputs and not extra:
        # Every blob is consumed (a net ending in Silence): Caffe's net has no outputs, but a
        # Keras model needs one, so it computes what the top-less layers take.
        extra = [b for n in graph.layers if not n.tops for b in n.bottoms]
    for blob in list(graph.outputs) + extra:
        t = tensors[blob]
        if input_layout == "NCHW":
            t = layout.to_caffe_order(t, keras_name(blob.name) + "__nchw")
        outputs.setdefault(blob.name, t)
    with _recursion_for(len(tensors)):
        model = keras.Model(inputs, outputs, name=keras_name(name or graph.name or "caffe_net"))
    net = CaffeNet(graph, model, phase, input_layout, shapes, contexts, tensors, inputs,
                   options.free_spatial, loss_terms, options.layer_pool,
                   {node.key: sink.from_layer(node) for node, sink in sinks})
    if fill:
        net.fill(net.param_contexts, seed=seed)
    # lr_mult 0 freezes a blob in Caffe; stock Keras optimizers then leave it alone too.
    for variable, lr_mult, _ in net.param_multipliers():
        if lr_mult == 0 and variable.trainable:
            variable.trainable = False
            variable._caffe_frozen = True   # a learnable blob, frozen (not a statistic)
    _tell_python_layers_what_needs_backward(net)
    return net


def _check_declared_params(ctx: Context, bottom_shapes) -> None:
    """The parameter blobs a layer's type declares (what the memory projection and ``info``
    count) must be the ones its build function made."""
    declared = memory.param_shapes(ctx.node, bottom_shapes)
    made = loader.expected_blob_shapes(ctx) if ctx.param_layer is not None else []
    if declared is None:
        spec = types.get(ctx.node.type)
        if made and not ctx.own_init and spec is not None and spec.builtin:
            raise NetError(f"internal error: type {ctx.node.type} makes parameter blobs {made} "
                           "but declares none (register(..., params=...))", layer=ctx.name)
        return
    if len(declared) != len(made) or any(
            len(d) != len(m) or any(a is not None and a != b for a, b in zip(d, m))
            for d, m in zip(declared, made)):
        raise NetError(f"internal error: type {ctx.node.type} declares parameter blobs "
                       f"{declared} but made {made}", layer=ctx.name)


@contextlib.contextmanager
def _recursion_for(tensors: int):
    """Room for Keras's functional-graph walk, which recurses once per layer on a path: a
    chain of thousands of Caffe layers would otherwise end in a RecursionError (Python's
    frames no longer use the C stack since 3.11, so a higher limit is safe)."""
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, 4 * tensors + 1000))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def _tell_python_layers_what_needs_backward(net: CaffeNet) -> None:
    """A Python layer's ``backward`` gets Caffe's ``propagate_down``: which bottoms need a
    diff (not a data layer's labels, unless force_backward)."""
    python = {key: [l for l in ctx.keras_layers if isinstance(l, CaffePythonLayer)]
              for key, ctx in net.contexts.items()}
    if not any(python.values()):
        return
    plan = backward_plan(net.graph, {b for b, w in net.loss_terms if w},
                         lambda node: any(v.trainable for v in net.contexts[node.key].weights)
                         if node.key in net.contexts else False)
    for key, layers in python.items():
        for layer in layers:
            layer.propagate_down = list(plan.bottom_needs.get(key, ()))
