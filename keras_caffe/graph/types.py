"""What the code knows about each Caffe layer type, declared once, where the type is made.

A converter (``converters.registry.register``), a data source (``data.sources``) or a sink
(``data.sinks``) declares its type here with its traits; everything else (the graph, shape
inference, the model builder, mixed precision, timing, the README table) reads the traits
and never lists type names.  This module knows no converter: it only holds what they say.

>>> spec = get("SoftmaxWithLoss")          # doctest: +SKIP
>>> spec.loss, spec.labels, spec.origin    # doctest: +SKIP
(True, (1,), 'BVLC')
"""

from __future__ import annotations

import dataclasses
from typing import Callable

#: Origin of the types of Caffe's own layer factory; forks name themselves ("SSD", ...).
BVLC = "BVLC"
#: Origin given to types registered by users (``keras_caffe.register_converter``).
USER = "user"

Arity = tuple[int, "int | None"]
_PACKAGE = __name__.partition(".")[0] + "."


@dataclasses.dataclass
class LayerType:
    """One Caffe layer type and its traits."""

    name: str
    origin: str = BVLC
    bottoms: Arity = (1, 1)          # min, max (None: any)
    tops: Arity = (1, 1)
    #: Caffe's top shapes: ``shape(layer, bottom_shapes) -> [top shape, ...]`` (NCHW tuples;
    #: None where a dimension is unknown), or None when the built Keras graph decides.
    shape: Callable | None = None
    #: A Caffe LossLayer: its first top weighs 1 by default, and it gets an automatic top
    #: when the prototxt gives none.
    loss: bool = False
    #: Computes in float32 under a mixed-precision policy (losses always do).
    float32: bool = False
    #: Bottoms Caffe never back-propagates into, even with ``force_backward`` (labels,
    #: weights of a loss: its ``AllowForceBackward`` is false).
    labels: tuple[int, ...] = ()
    #: Caffe's shapes of the layer's parameter blobs: ``params(layer, bottom_shapes) ->
    #: [shape, ...]``, the blobs the built layer will hold, known before anything is built
    #: (the memory projection, ``info``); None for a type without parameter blobs, or whose
    #: blobs only its own code knows (a Python layer's ``setup``).
    params: Callable | None = None
    #: The copies the layer's implementation makes besides its tops while it runs, as Caffe
    #: shapes: ``workspace(layer, bottom_shapes) -> [shape, ...]`` (a padded bottom, a
    #: convolution before its stride); the memory projection counts them, since a count such
    #: as ``pad`` can make one far larger than the blobs.  None for none.
    workspace: Callable | None = None
    #: The largest shapes the tops reach when the layer runs, where that depends on the data
    #: and Caffe's Reshape shows less (region proposals: ``(1, 5)`` until the forward pass
    #: writes up to ``post_nms_topN`` rows): ``most(layer, bottom_shapes, phase) -> [shape
    #: or None, ...]``; the memory projection counts these, and the layers after at the
    #: shapes they give.  None: the tops are as ``shape`` says.
    most: Callable | None = None
    #: A per-channel affine map at inference: ``affine(layer, blobs, phase, rank) -> (a, b)``
    #: with ``top = a[c] * bottom + b[c]`` along Caffe's axis 1 of a rank-``rank`` bottom,
    #: given the layer's blobs (Caffe's shapes), or None where a layer of the type is not one
    #: (a BatchNorm that computes batch statistics, a Scale given by a second bottom).
    affine: Callable | None = None
    #: A layer linear per output channel along Caffe's axis 1 that can take an ``affine``
    #: layer after it into its own blobs: ``absorb(layer, blobs, a, b) -> (LayerParameter,
    #: blobs) | None`` computing ``a[c] * top + b[c]`` (None where this layer cannot).
    #: ``keras_caffe.weights.folding`` folds with these two for inference.
    absorb: Callable | None = None
    #: Caffe's filler of each parameter blob: ``fillers(layer, n_blobs) -> [FillerParameter,
    #: ...]`` (blobs past the list, and every blob of a type without it, are filled with 0).
    fillers: Callable | None = None
    #: ``classes(layer, bottom_shapes) -> {bottom: n}`` for bottoms that hold indices in
    #: ``[0, n)`` (class labels, embedding ids), for inputs made up by ``keras-caffe time``.
    classes: Callable | None = None
    #: ``ignore_label(layer) -> int | None``: the label value a layer with ``classes`` skips
    #: (Caffe's ``ignore_label``, for the layers that honour one), exempt from the range check.
    ignore_label: Callable | None = None
    #: A layer that makes blobs from outside the net: "caller" (Input: the caller feeds it)
    #: or "data" (a data layer, read by ``reader`` when keras_caffe.data can read it); or a
    #: function of the LayerParameter saying which (a Python layer without bottoms is data).
    source: "str | Callable | None" = None
    reader: type | None = None
    #: A layer that acts on the outside world after each forward pass (HDF5Output): the
    #: class whose ``sink(node)`` makes the writer; its bottoms are computed, nothing is built.
    sink: type | None = None
    #: How the layer is built (a ``converters.registry.Converter``), when something builds it.
    converter: object = None
    module: str = ""               # the module that declared it (for messages and the README)

    def __post_init__(self):
        self.bottoms, self.tops = _arity(self.bottoms), _arity(self.tops)
        self.float32 = bool(self.float32 or self.loss)

    @property
    def builtin(self) -> bool:
        """Whether a module of this package declared the type (not a user's code)."""
        return self.module.startswith(_PACKAGE)

    def source_of(self, layer) -> str | None:
        """"caller", "data" or None for one layer (a LayerParameter) of this type."""
        return self.source(layer) if callable(self.source) else self.source

    def built(self, layer) -> bool:
        """Whether a model holds Keras layers for ``layer`` (not an input, a data layer or a
        sink)."""
        return self.source_of(layer) is None and self.sink is None

    def arity_error(self, n_bottoms: int, n_tops: int) -> str | None:
        """Why a layer with this many bottoms and tops is wrong, or None."""
        for what, count, (lo, hi) in (("bottom", n_bottoms, self.bottoms),
                                      ("top", n_tops, self.tops)):
            if count < lo or (hi is not None and count > hi):
                want = f"{lo}" if lo == hi else (f"{lo} or more" if hi is None else f"{lo} to {hi}")
                return f"{self.name} takes {want} {what}(s), got {count}"
        return None


_TYPES: dict[str, LayerType] = {}


def _arity(value) -> Arity:
    if isinstance(value, int):
        return (value, value)
    lo, hi = value
    return (int(lo), None if hi is None else int(hi))


def declare(name: str, *, override: bool = False, **traits) -> LayerType:
    """Declare a Caffe type with its traits (see :class:`LayerType`); declaring a name twice
    raises unless ``override``."""
    if not name:
        raise ValueError("a Caffe type needs a name")
    if name in _TYPES and not override:
        where = _TYPES[name].module or "elsewhere"
        raise ValueError(f"Caffe type '{name}' is already declared ({where}); pass "
                         "override=True to replace it")
    spec = LayerType(name, **traits)
    _TYPES[name] = spec
    return spec


def attach_reader(name: str, reader: type) -> None:
    """Give a declared type whose layers can be data layers (a Python layer without bottoms)
    the class that reads them; declared where that class is."""
    spec = _TYPES.get(name)
    if spec is None or spec.source is None:
        raise ValueError(f"Caffe type '{name}' is not declared with a data-layer form")
    spec.reader = reader


def get(name: str) -> LayerType | None:
    return _TYPES.get(name)


def declared() -> list[LayerType]:
    """Every declared type, in declaration order."""
    return list(_TYPES.values())


def source_of(layer) -> str | None:
    """"caller" (Input), "data" (a data layer) or None for a LayerParameter."""
    spec = _TYPES.get(layer.type)
    return spec.source_of(layer) if spec is not None else None


def is_source(layer) -> bool:
    """Whether a layer (a LayerParameter) makes blobs from outside the net."""
    return source_of(layer) is not None


def is_loss(name: str) -> bool:
    spec = _TYPES.get(name)
    return spec is not None and spec.loss
