"""The converter registry: a Caffe type's build function, declared with all its traits.

A converter is registered with a decorator keyed by Caffe type names, which also declares
the type's traits (``graph.types``): arity, Caffe's shape function, loss, float32 under
mixed precision, label bottoms, origin::

    @register("Convolution", bottoms=(1, None), tops=(1, None), shape=conv_shape)
    def convolution(ctx, *xs):          # builds Keras layers, returns the top tensor(s)
        layer = ctx.add(keras.layers.Conv2D(...), holds_params=True,
                        layouts=(layouts.CONV_KERNEL,))   # blob 0's layout; the rest identity
        return [layer(x) for x in xs]

Weights move through the layouts a build function picks (``weights.layouts``): loading,
saving, Caffe's blob shapes and gradients in Caffe's layout derive from them.  Users add
their own types the same way (``keras_caffe.register_converter``); registering a type twice
raises unless ``override=True``.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Mapping, Sequence

from ..errors import NetError
from ..graph import layout, types
from ..graph.names import helper_name, keras_name
from ..graph.net import LayerNode
from ..proto import caffe_pb2
from ..weights.layouts import IDENTITY


@dataclasses.dataclass
class BuildOptions:
    free_spatial: bool = False     # whether H/W of the inputs are left unknown
    allow_python_layers: bool = False
    layer_pool: dict | None = None  # sharing key -> Keras layer, shared between builds
    precision: str | None = None    # a Keras dtype policy name, e.g. "mixed_float16"


@dataclasses.dataclass
class Context:
    """What a converter sees of one Caffe layer while the model is built."""

    node: LayerNode
    bottom_shapes: list[tuple]     # Caffe (NCHW) shapes of the bottoms, batch included
    top_shapes: list[tuple]        # Caffe shapes of the tops, from shape inference (may be [])
    phase: int                     # caffe_pb2.TRAIN / TEST
    options: BuildOptions
    converter: "Converter | None" = None
    keras_layers: list = dataclasses.field(default_factory=list)
    param_layer: object = None     # the Keras layer holding this Caffe layer's blobs
    #: Blob i's layout (``weights.layouts``); blobs past the end are held as they are.
    layouts: tuple = ()
    #: For a Keras layer serving two Caffe layers (a BatchNorm folded with its Scale): which
    #: of its variables are this Caffe layer's blobs.
    select: Callable | None = None
    #: A model input for a layer without bottoms to hang off (Parameter).
    anchor: object = None
    #: The blobs start as the layer made them, not from Caffe's fillers (Python layers).
    own_init: bool = False
    #: A BatchNorm computed together with the Scale after it (``graph.passes``): on the
    #: BatchNorm, that Scale's node; on the Scale, the BatchNorm's context.
    folded_scale: LayerNode | None = None
    folded_into: "Context | None" = None

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def param(self):
        return self.node.param

    @property
    def weights(self) -> list:
        """The variables holding this Caffe layer's blobs, blob i = variable i."""
        if self.param_layer is None:
            return []
        return list(self.select(self.param_layer) if self.select else self.param_layer.weights)

    @property
    def blob_layouts(self) -> list:
        n = len(self.weights)
        return (list(self.layouts) + [IDENTITY] * n)[:n]

    @property
    def keras_name(self) -> str:
        return keras_name(self.node.key)

    def helper_name(self, role: str) -> str:
        return helper_name(self.node.key, role)

    def error(self, message: str) -> NetError:
        return NetError(message, layer=self.node.name)

    def add(self, layer, holds_params: bool = False, layouts: Sequence = (),
            select: Callable | None = None, own_init: bool = False, pooled: bool = True):
        """Record a Keras layer made for this Caffe layer (and whether it holds its blobs,
        each in the layout given, or as it is; ``own_init``: with the values the layer gave
        them, not Caffe's fillers).

        Returns the layer to call: a layer already made under the same sharing key (the
        same Caffe layer in another phase's model, or a layer whose blobs are shared
        through ``param { name }``) is returned instead, so both use one set of variables
        (``pooled=False`` for a layer that shares its variables by itself).  Converters must
        call what ``add`` returns."""
        pool = self.options.layer_pool
        if pool is not None and holds_params and pooled:
            key = self.share_key(layer)
            existing = pool.get(key)
            if existing is None:
                pool[key] = layer
            else:
                _check_same_layer(existing, layer, self.node.name)
                layer = existing
        spec = types.get(self.node.type)
        if (self.options.precision and "mixed" in self.options.precision
                and spec is not None and spec.float32):
            layer.dtype_policy = "float32"
        self.keras_layers.append(layer)
        if holds_params:
            self.param_layer, self.layouts, self.select = layer, tuple(layouts), select
            self.own_init = own_init
        return layer

    def share_key(self, layer):
        names = [p.name for p in self.param.param]
        if any(names):
            if not all(names):
                raise self.error("shares some but not all of its parameter blobs by name "
                                 f"({names}); only whole-layer sharing is supported")
            return ("param",) + tuple(names)
        return ("layer", layer.name)

    def rank(self, i: int = 0) -> int:
        return len(self.bottom_shapes[i])

    def axis(self, caffe_axis: int, i: int = 0) -> int:
        """Internal axis of bottom ``i`` for a Caffe axis (the layout module decides)."""
        return layout.internal_axis(caffe_axis, self.rank(i))


def _check_same_layer(existing, new, caffe_layer: str):
    def config(layer):
        c = dict(layer.get_config())
        c.pop("name", None)
        return c

    if type(existing) is not type(new) or config(existing) != config(new):
        raise NetError(f"shares parameters with Keras layer '{existing.name}' but is not the same "
                       f"kind of layer ({type(new).__name__} {config(new)} vs "
                       f"{type(existing).__name__} {config(existing)})", layer=caffe_layer)


@dataclasses.dataclass
class Converter:
    """How one or more Caffe types are built (their traits live in ``graph.types``)."""

    types: tuple[str, ...]
    build: Callable
    free_spatial: bool | Callable = True   # runs at any H/W without rebuilding (or a
                                           # function of the LayerParameter saying so)

    @property
    def module(self) -> str:
        return self.build.__module__

    def allows_free_spatial(self, layer) -> bool:
        return self.free_spatial(layer) if callable(self.free_spatial) else bool(self.free_spatial)

    def __call__(self, ctx: Context, *inputs):
        return self.build(ctx, *inputs)


def register(*type_names: str, bottoms=1, tops=1, shape: Callable | None = None,
             params: Callable | None = None, loss: bool = False, float32: bool = False,
             labels: Sequence[int] = (), classes: Callable | None = None,
             origin: str | Mapping[str, str] = types.BVLC, free_spatial=True,
             source: Callable | None = None, override: bool = False,
             ignore_label: Callable | None = None, workspace: Callable | None = None,
             fillers: Callable | None = None, most: Callable | None = None,
             affine: Callable | None = None, absorb: Callable | None = None):
    """Decorator registering ``fn(ctx, *inputs) -> tensor | list`` for Caffe types, and
    declaring their traits (see :class:`keras_caffe.graph.types.LayerType`).

    ``origin`` is where the types come from ("BVLC", a fork's name), or a mapping from type
    name to origin for types of several origins (unnamed ones are BVLC's).  ``source``: a
    function of the LayerParameter saying when a layer of the type is a data layer instead
    of one the model holds (a Python layer without bottoms).  ``params(layer,
    bottom_shapes)``: Caffe's shapes of the parameter blobs the build function will make
    (the build checks that it made exactly those); ``workspace(layer, bottom_shapes)``: the
    copies its Keras layers make besides the tops (see ``LayerType.workspace``);
    ``fillers(layer, n_blobs)``: Caffe's filler of each parameter blob; ``most(layer,
    bottom_shapes, phase)``: the largest shapes of tops whose size the data decides (see
    ``LayerType.most``); ``affine`` and ``absorb``: what inference may fold (see
    ``LayerType.affine``)."""
    if not type_names:
        raise ValueError("register() needs at least one Caffe type name")

    def deco(fn) -> Converter:
        conv = Converter(tuple(type_names), fn, free_spatial)
        for t in type_names:
            known = types.get(t)
            if known is not None and not override:
                raise ValueError(f"a converter for Caffe type '{t}' is already registered "
                                 f"({known.module}); pass override=True to replace it")
        for t in type_names:
            where = origin if isinstance(origin, str) else origin.get(t, types.BVLC)
            types.declare(t, override=True, origin=where, bottoms=bottoms, tops=tops,
                          shape=shape, params=params, workspace=workspace, fillers=fillers,
                          most=most, affine=affine, absorb=absorb, loss=loss,
                          float32=float32, labels=tuple(labels),
                          classes=classes, ignore_label=ignore_label, source=source,
                          converter=conv, module=fn.__module__)
        return conv
    return deco


def constant_filler(value: float) -> caffe_pb2.FillerParameter:
    return caffe_pb2.FillerParameter(type="constant", value=value)


def filler_or(param, field: str, value: float) -> caffe_pb2.FillerParameter:
    """``param.<field>`` where the prototxt sets it, else Caffe's default: a constant."""
    return getattr(param, field) if param.HasField(field) else constant_filler(value)


def weight_and_bias(param_field: str) -> Callable:
    """``fillers`` for a type whose ``<param_field>`` has ``weight_filler`` and
    ``bias_filler`` (convolution, inner product, embed)."""
    def fillers(layer, n_blobs):
        p = getattr(layer, param_field)
        return [p.weight_filler, p.bias_filler]
    return fillers


def get(type_name: str) -> Converter | None:
    spec = types.get(type_name)
    return spec.converter if spec is not None else None


def registered_types() -> list[str]:
    return sorted(s.name for s in types.declared() if s.converter is not None)


def find_unsupported(layers: Sequence[LayerNode]) -> dict[str, list[str]]:
    """Types of ``layers`` that nothing builds, with the names of their layers."""
    missing: dict[str, list[str]] = {}
    for node in layers:
        if get(node.type) is None:
            missing.setdefault(node.type, []).append(node.name)
    return missing


def register_converter(*type_names: str, origin: str | Mapping[str, str] = types.USER, **traits):
    """:func:`register` for users' own types (their origin shows as "user" by default)."""
    return register(*type_names, origin=origin, **traits)


def bias_blob(p) -> list[tuple]:
    """For a ``params`` trait: the ``(num_output,)`` bias blob of a layer whose parameter
    message ``p`` (convolution_param, inner_product_param, ...) sets ``bias_term``; none
    otherwise."""
    return [(p.num_output,)] if p.bias_term else []


def classes_along(field: str | None = None, bottom: int = 1) -> Callable:
    """A ``classes`` trait: bottom ``bottom`` holds class indices, counted along the axis
    that ``layer.<field>.axis`` names in bottom 0 (axis 1 when ``field`` is None)."""
    def classes(layer, bottoms):
        axis = getattr(layer, field).axis if field else 1
        return {bottom: int(bottoms[0][layout.normalize_axis(axis, len(bottoms[0]))])}
    return classes


def absorb_affine(blobs, a, b, output_axis: int = 0):
    """For an ``absorb`` trait: a weight blob whose ``output_axis`` indexes output channels
    and an optional bias, computing ``a * top + b`` (float64 arithmetic, float32 blobs)."""
    import numpy as np

    weight = np.asarray(blobs[0], np.float64)
    shape = [1] * weight.ndim
    shape[output_axis] = -1
    bias = np.asarray(blobs[1], np.float64).reshape(-1) if len(blobs) > 1 else 0.0
    return [(weight * np.reshape(a, shape)).astype(np.float32),
            (bias * a + b).astype(np.float32)]
