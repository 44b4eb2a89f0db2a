"""``caffe.net_spec``: nets written as Python calls (``caffe.NetSpec``, ``caffe.layers``,
``caffe.params``, ``caffe.to_proto``).

The messages built are the ones Caffe's ``net_spec.py`` builds for the same calls: the same
layer order (each layer after the layers of its bottoms, in the order the tops were named), the
same names (a layer is named after its first top; an unnamed top is ``<Type><n>``, counted per
type in the order the walk meets them) and the same field values, so ``str(n.to_proto())`` is
the prototxt pycaffe writes.  Keyword arguments go into the layer type's ``<type>_param`` message
when it has such a field, else into ``LayerParameter`` itself (``param``, ``include``,
``loss_weight``, ``name``, ...); a ``*param`` keyword always goes to the layer.  Dicts fill
messages, lists fill repeated fields, and a single value given to a repeated field is a list of
one.

Where pycaffe fails with a protobuf message or an unrelated error (an unknown field, a list for
a single field, a value of the wrong type), the error here is the same class of exception but
says which layer, field path and value are wrong.
"""

from __future__ import annotations

import difflib
from collections import Counter, OrderedDict

from ..errors import CaffeError
from ..proto import caffe_pb2

__all__ = ["NetSpec", "Top", "Function", "layers", "params", "to_proto", "param_name_dict",
           "assign_proto"]


class UnknownFieldError(CaffeError, AttributeError):
    """A keyword that names no field where it goes (pycaffe raises AttributeError)."""


class FieldValueError(CaffeError, TypeError, ValueError):
    """A value a field cannot hold (protobuf raises TypeError or ValueError)."""


class MissingTopError(AttributeError, KeyError):
    """A NetSpec name never assigned (pycaffe raises KeyError; AttributeError keeps
    ``hasattr``, ``copy`` and ``getattr(n, name, default)`` working)."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


def param_name_dict() -> dict[str, str]:
    """Layer type -> the stem of its ``<stem>_param`` field: every ``LayerParameter`` field
    named ``*_param`` whose message is ``<Type>Parameter`` (the forks' fields included)."""
    out = {}
    for field in caffe_pb2.LayerParameter.DESCRIPTOR.fields:
        message = field.message_type
        if (field.name.endswith("_param") and message is not None
                and message.name.endswith("Parameter")):
            out[message.name[:-len("Parameter")]] = field.name[:-len("_param")]
    return out


def _suggest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=2)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def assign_proto(proto, name: str, val, where: str = "") -> None:
    """Set field ``name`` of message ``proto`` from a Python value, recursively: a dict fills
    a message, a list a repeated field (a list of dicts adds messages), anything else is
    assigned; a repeated field given a single value gets a list of one."""
    path = f"{where}.{name}" if where else name
    if name not in proto.DESCRIPTOR.fields_by_name:
        raise UnknownFieldError(f"{proto.DESCRIPTOR.name} has no field '{name}' (at {path})"
                                + _suggest(name, proto.DESCRIPTOR.fields_by_name))
    field = proto.DESCRIPTOR.fields_by_name[name]
    repeated = hasattr(getattr(proto, name), "extend")   # any protobuf version
    if repeated and not isinstance(val, (list, tuple)):
        val = [val]
    try:
        if isinstance(val, (list, tuple)):
            if not repeated:
                raise FieldValueError(f"{path} holds one value, not a list ({val!r})")
            container = getattr(proto, name)
            if field.message_type is not None:
                for item in val:
                    if not isinstance(item, dict):
                        raise FieldValueError(f"{path} holds {field.message_type.name} "
                                              f"messages: give dicts, not {item!r}")
                    added = container.add()
                    for key, value in item.items():
                        assign_proto(added, key, value, path)
            else:
                container.extend(val)
        elif isinstance(val, dict):
            if field.message_type is None:
                raise FieldValueError(f"{path} is a {_kind(field)}, not a message ({val!r})")
            sub = getattr(proto, name)     # an empty dict sets nothing, as in pycaffe
            for key, value in val.items():
                assign_proto(sub, key, value, path)
        else:
            if field.message_type is not None:
                raise FieldValueError(f"{path} is a {field.message_type.name} message: give a "
                                      f"dict, not {val!r}")
            setattr(proto, name, val)
    except CaffeError:
        raise
    except (TypeError, ValueError) as exc:
        raise FieldValueError(f"{path} cannot hold {val!r}: {exc}") from None


def _kind(field) -> str:
    if field.enum_type is not None:
        return f"{field.enum_type.name} enum"
    return {1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 8: "bool",
            9: "string", 12: "bytes", 13: "uint32", 17: "sint32", 18: "sint64"}.get(
                field.type, "scalar")


class Top:
    """One output blob of a layer (the ``n``-th top of ``fn``)."""

    def __init__(self, fn: "Function", n: int):
        self.fn = fn
        self.n = n

    def to_proto(self):
        """A NetParameter with every layer needed to compute this top."""
        return to_proto(self)

    def _to_proto(self, layers, names, autonames):
        return self.fn._to_proto(layers, names, autonames)

    def __repr__(self):
        return f"<Top {self.n} of {self.fn.type_name}>"


class Function:
    """A layer: its type, its bottoms (Tops) and its keyword parameters."""

    def __init__(self, type_name: str, inputs, params: dict):
        self.type_name = type_name
        for index, bottom in enumerate(inputs):
            if not isinstance(bottom, Top):
                raise TypeError(f"{type_name} input {index} is not a Top "
                                f"(type is {type(bottom)})")
        self.inputs = inputs
        self.params = params
        self.ntop = self.params.pop("ntop", 1)
        if isinstance(self.ntop, bool) or not isinstance(self.ntop, int) or self.ntop < 0:
            raise TypeError(f"{type_name}: ntop must be a count of tops (0, 1, 2, ...), "
                            f"not {self.ntop!r}")
        self.in_place = self.params.pop("in_place", False)
        self.tops = tuple(Top(self, n) for n in range(self.ntop))

    def _get_name(self, names, autonames) -> str:
        if self not in names and self.ntop > 0:
            names[self] = self._get_top_name(self.tops[0], names, autonames)
        elif self not in names:
            autonames[self.type_name] += 1
            names[self] = self.type_name + str(autonames[self.type_name])
        return names[self]

    def _get_top_name(self, top: Top, names, autonames) -> str:
        if top not in names:
            autonames[top.fn.type_name] += 1
            names[top] = top.fn.type_name + str(autonames[top.fn.type_name])
        return names[top]

    def _to_proto(self, layers, names, autonames):
        if self in layers:
            return
        bottom_names = []
        for bottom in self.inputs:
            bottom._to_proto(layers, names, autonames)
            bottom_names.append(layers[bottom.fn].top[bottom.n])
        layer = caffe_pb2.LayerParameter()
        layer.type = self.type_name
        layer.bottom.extend(bottom_names)
        if self.in_place:
            layer.top.extend(layer.bottom)
        else:
            layer.top.extend(self._get_top_name(top, names, autonames) for top in self.tops)
        layer.name = self._get_name(names, autonames)
        stem = _param_names.get(self.type_name)
        own = _fields_of(stem) if stem is not None else {}
        for key, value in self.params.items():
            target, where = layer, ""
            if not key.endswith("param") and key in own:
                target, where = getattr(layer, stem + "_param"), stem + "_param"
            elif key not in _LAYER_FIELDS:
                raise UnknownFieldError(f"layer '{layer.name}' ({self.type_name}): "
                                        + _unknown_keyword(self.type_name, stem, key))
            try:
                assign_proto(target, key, value, where)
            except (UnknownFieldError, FieldValueError) as exc:
                raise type(exc)(f"layer '{layer.name}' ({self.type_name}): {exc}") from None
        layers[self] = layer

    def __repr__(self):
        return f"<Function {self.type_name} ({len(self.inputs)} bottoms, {self.ntop} tops)>"


def _fields_of(stem: str):
    """The field names of the ``<stem>_param`` message."""
    field = caffe_pb2.LayerParameter.DESCRIPTOR.fields_by_name[stem + "_param"]
    return field.message_type.fields_by_name


def _unknown_keyword(type_name: str, stem: str | None, key: str) -> str:
    """Why ``key`` fits nowhere, and where it may have been meant to go."""
    if stem is not None:
        return (f"'{key}' is neither a field of {stem}_param nor of LayerParameter"
                + _suggest(key, list(_fields_of(stem)) + list(_LAYER_FIELDS)))
    # types without a message of their own (Deconvolution, Im2col, a user's type) take
    # another type's message by its full name
    shared = {"Deconvolution": "convolution_param", "Im2col": "convolution_param"}
    where = shared.get(type_name)
    hint = (f"; {type_name}'s parameters go in {where}=dict({key}=...)" if where
            else f"; {type_name} has no <type>_param message of its own, so give its "
                 "parameters as a whole message, e.g. convolution_param=dict(...)")
    return f"'{key}' is not a field of LayerParameter" + (
        _suggest(key, _LAYER_FIELDS) or hint)


_LAYER_FIELDS = caffe_pb2.LayerParameter.DESCRIPTOR.fields_by_name


def to_proto(*tops):
    """A NetParameter with every layer needed to compute ``tops`` (unnamed blobs named
    ``<Type><n>``)."""
    layers = OrderedDict()
    autonames = Counter()
    for top in tops:
        _as_function(top, "to_proto")._to_proto(layers, {}, autonames)
    net = caffe_pb2.NetParameter()
    net.layer.extend(layers.values())
    return net


def _as_function(value, where: str) -> Function:
    if isinstance(value, Top):
        return value.fn
    if isinstance(value, Function):
        return value
    raise TypeError(f"{where}: expected a Top (a layer's output) or a top-less layer, got "
                    f"{type(value).__name__}" + ("; unpack a layer with several tops, e.g. "
                                                 "n.data, n.label = L.Data(..., ntop=2)"
                                                 if isinstance(value, tuple) else ""))


class NetSpec:
    """Named tops: ``n.conv1 = L.Convolution(n.data, ...)`` names a blob (and its layer);
    ``to_proto()`` writes every layer the named tops need, in the order they were named."""

    def __init__(self):
        super().__setattr__("tops", OrderedDict())

    def __setattr__(self, name, value):
        _as_function(value, f"NetSpec.{name}")
        self.tops[name] = value

    def __getattr__(self, name):
        try:
            return self.tops[name]
        except KeyError:
            raise MissingTopError(f"NetSpec has no top named '{name}' (named so far: "
                                  f"{', '.join(self.tops) or 'none'})") from None

    def __setitem__(self, key, value):
        self.__setattr__(key, value)

    def __getitem__(self, item):
        return self.__getattr__(item)

    def __contains__(self, name) -> bool:
        return name in self.tops

    # The SSD fork's additions (weiliu89/caffe, branch ssd, python/caffe/net_spec.py), which
    # its model_libs.py (VGGNetBody, CreateMultiBoxHead, ...) calls.
    def __delitem__(self, name):
        del self.tops[name]

    def keys(self) -> list:
        """The names given so far, in order."""
        return list(self.tops)

    def vals(self) -> list:
        """The named tops, in order."""
        return list(self.tops.values())

    def update(self, name, params: dict) -> None:
        """Add or replace keyword parameters of the layer behind the top ``name``."""
        _as_function(self[name], f"NetSpec.update('{name}')").params.update(params)

    def to_proto(self):
        names = {v: k for k, v in self.tops.items()}
        autonames = Counter()
        layers = OrderedDict()
        for top in self.tops.values():
            top._to_proto(layers, names, autonames)
        net = caffe_pb2.NetParameter()
        net.layer.extend(layers.values())
        return net


class Layers:
    """``caffe.layers``: ``L.<Type>(*bottoms, **params)`` for any type name (Caffe's, the
    forks', a user's); one top is returned as a Top, several as a tuple, none as the layer."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)

        def layer_fn(*args, **kwargs):
            fn = Function(name, args, kwargs)
            if fn.ntop == 0:
                return fn
            if fn.ntop == 1:
                return fn.tops[0]
            return fn.tops
        layer_fn.__name__ = name
        return layer_fn


class _ParamConstants:
    """``caffe.params.<Type>``: the enum values of ``<Type>Parameter`` (``P.Pooling.MAX``)."""

    def __init__(self, type_name: str):
        self._type_name = type_name

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        message = getattr(caffe_pb2, self._type_name + "Parameter", None)
        if message is None:
            raise AttributeError(f"caffe.params.{self._type_name}: there is no "
                                 f"{self._type_name}Parameter message")
        try:
            return getattr(message, name)
        except AttributeError:
            values = [v.name for e in message.DESCRIPTOR.enum_types for v in e.values]
            raise AttributeError(f"caffe.params.{self._type_name} has no '{name}' (its "
                                 f"constants: {', '.join(values) or 'none'})") from None


class Parameters:
    """``caffe.params``: ``P.Pooling.MAX``, ``P.Eltwise.SUM``, ``P.Loss.VALID``, ..."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _ParamConstants(name)


_param_names = param_name_dict()
layers = Layers()
params = Parameters()
