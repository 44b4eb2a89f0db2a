"""Upgrade legacy Caffe nets and solvers to the current format, step for step as Caffe does.

``upgrade_net`` follows Caffe's ``UpgradeNetAsNeeded`` (``src/caffe/util/upgrade_proto.cpp``),
in Caffe's order; each step runs only when the net needs it:

1. **V0 -> V1** (``layers { layer { type: "conv" ... } }``): see :mod:`.upgrade_v0`.
2. **Data transformation**: in V1 ``DATA``/``IMAGE_DATA``/``WINDOW_DATA`` layers,
   ``scale``/``mean_file``/``crop_size``/``mirror`` move from ``data_param``/
   ``image_data_param``/``window_data_param`` into ``transform_param``.
3. **V1 -> V2**: ``layers { type: ENUM }`` become ``layer { type: "String" }``; ``param: "name"``,
   ``blob_share_mode``, ``blobs_lr`` and ``weight_decay`` become ``param { name share_mode
   lr_mult decay_mult }`` (one ``param`` per index that any of them sets); blobs, include/exclude,
   ``loss_weight`` and every ``*_param`` are copied.
4. **Input fields**: net-level ``input`` + ``input_dim`` (4 per input) or ``input_shape`` become
   ONE ``Input`` layer named ``"input"``, first in the net, with one top per input. ``input``
   without any dims (old caffemodels) is simply removed.
5. **BatchNorm**: a ``BatchNorm`` layer with exactly three ``param`` specs gets ``lr_mult: 0``
   and ``decay_mult: 0`` in each (its blobs are statistics, not learned); other fields stay.

``upgrade_solver`` follows ``UpgradeSolverAsNeeded``: the ``solver_type`` enum becomes the ``type``
string. In addition (Caffe leaves them alone) nets embedded in the solver (``net_param``,
``train_net_param``, ``test_net_param``) are upgraded too, since Caffe could not run them otherwise.

Caffe logs, then continues or aborts; we log the same messages to :mod:`logging` (logger
``keras_caffe.proto.upgrade``) and raise :class:`~keras_caffe.errors.NetError` /
:class:`~keras_caffe.errors.PrototxtError` where Caffe aborts or the input cannot be represented.
"""

from __future__ import annotations

import logging
import os

from google.protobuf import text_format

from ..errors import NetError, PrototxtError
from . import caffe_pb2
from . import text as text_io
from .upgrade_v0 import _is_repeated, upgrade_v0_net
from .v1_types import V1_TYPE_NAMES

__all__ = [
    "upgrade_net", "net_needs_upgrade", "pending_net_upgrades",
    "upgrade_solver", "solver_needs_upgrade",
    "read_upgraded_net", "read_upgraded_solver", "detect_kind",
    "V1_TYPE_NAMES", "SOLVER_TYPE_NAMES",
]

log = logging.getLogger("keras_caffe.proto.upgrade")

#: ``SolverParameter.SolverType`` enum name -> ``type`` string.
SOLVER_TYPE_NAMES = {"SGD": "SGD", "NESTEROV": "Nesterov", "ADAGRAD": "AdaGrad",
                     "RMSPROP": "RMSProp", "ADADELTA": "AdaDelta", "ADAM": "Adam"}

# V1 data layer type -> the sub-message that once held the transformation fields.
_DATA_LAYER_PARAMS = {"DATA": "data_param", "IMAGE_DATA": "image_data_param",
                      "WINDOW_DATA": "window_data_param"}
_LEGACY_TRANSFORM_FIELDS = ("scale", "mean_file", "crop_size", "mirror")
# V2 data layer type -> that sub-message and the legacy fields Caffe ignores there (WindowData
# still reads its own scale).
_V2_DATA_LAYER_PARAMS = {"Data": ("data_param", _LEGACY_TRANSFORM_FIELDS),
                         "ImageData": ("image_data_param", _LEGACY_TRANSFORM_FIELDS),
                         "WindowData": ("window_data_param", _LEGACY_TRANSFORM_FIELDS[1:])}

_SOLVER_NET_FIELDS = ("net_param", "train_net_param", "test_net_param")


def _where(path, default: str = "<net>") -> str:
    return str(path) if path else default


def _v1_type_name(layer) -> str:
    return caffe_pb2.V1LayerParameter.LayerType.Name(layer.type)


def _has(msg, field: str) -> bool:
    return field in msg.DESCRIPTOR.fields_by_name and msg.HasField(field)


# --------------------------------------------------------------------------- needs-checks

def _needs_v0(net) -> bool:
    return any(layer.HasField("layer") for layer in net.layers)


def _needs_data(net) -> bool:
    for layer in net.layers:
        sub = _DATA_LAYER_PARAMS.get(_v1_type_name(layer))
        if sub and any(_has(getattr(layer, sub), f) for f in _LEGACY_TRANSFORM_FIELDS):
            return True
    return False


def _needs_v1(net) -> bool:
    return len(net.layers) > 0


def _needs_input(net) -> bool:
    return len(net.input) > 0


def _needs_batchnorm(net) -> bool:
    """Caffe's test: any BatchNorm with exactly 3 param specs (true again after the upgrade)."""
    return any(layer.type == "BatchNorm" and len(layer.param) == 3 for layer in net.layer)


def _frozen(spec) -> bool:
    return (spec.HasField("lr_mult") and spec.lr_mult == 0
            and spec.HasField("decay_mult") and spec.decay_mult == 0)


def _batchnorm_would_change(net) -> bool:
    return any(layer.type == "BatchNorm" and len(layer.param) == 3
               and not all(_frozen(spec) for spec in layer.param) for layer in net.layer)


def pending_net_upgrades(net) -> list[str]:
    """Names of the upgrade steps ``net`` needs, in the order they would run.

    Possible names: ``"V0"``, ``"data transform"``, ``"V1"``, ``"input fields"``, ``"BatchNorm"``.
    (A V0 net always needs ``"V1"`` as well; BatchNorm only exists in current-format nets.)
    ``"BatchNorm"`` is listed only while some 3-spec BatchNorm is not yet frozen, although Caffe
    re-runs (and logs) that step on every such net.
    """
    steps = []
    if _needs_v0(net):
        steps.append("V0")
    if _needs_data(net):
        steps.append("data transform")
    if _needs_v1(net):
        steps.append("V1")
    if _needs_input(net):
        steps.append("input fields")
    if _batchnorm_would_change(net):
        steps.append("BatchNorm")
    return steps


def net_needs_upgrade(net) -> bool:
    """True if :func:`upgrade_net` would change ``net``.

    Caffe's ``NetNeedsUpgrade`` plus one refinement: a BatchNorm whose three specs are already
    frozen (lr_mult and decay_mult 0) does not count, so an upgraded net needs nothing more.
    """
    return bool(pending_net_upgrades(net))


# --------------------------------------------------------------------------- steps

def _check_consistent(net, path) -> None:
    if len(net.layer) and len(net.layers):
        raise NetError("the definition has both 'layer' (current) and 'layers' (V0/V1) entries; "
                       "Caffe refuses to upgrade such a net. Write every layer in one format "
                       "(the current one is layer { type: \"Convolution\" ... }).", path=path)
    kinds = {layer.HasField("layer") for layer in net.layers}
    if len(kinds) > 1:
        bad = next(i for i, layer in enumerate(net.layers) if not layer.HasField("layer"))
        name = net.layers[bad].name or f"#{bad}"
        raise NetError("V1-style entry in a V0 net (layers { layer { ... } }): the V0 upgrade "
                       "would drop everything but its bottoms and tops. Write all 'layers' in "
                       "one format.", layer=name, path=path)


def _upgrade_data_transform(net) -> None:
    for layer in net.layers:
        sub_name = _DATA_LAYER_PARAMS.get(_v1_type_name(layer))
        if sub_name is None:
            continue
        sub, transform = getattr(layer, sub_name), layer.transform_param
        # Caffe touches both messages for every such layer, so both become present.
        sub.SetInParent()
        transform.SetInParent()
        for field in _LEGACY_TRANSFORM_FIELDS:
            if _has(sub, field):
                setattr(transform, field, getattr(sub, field))
                sub.ClearField(field)


def _param_spec(layer, index: int):
    while len(layer.param) <= index:
        layer.param.add()
    return layer.param[index]


def _upgrade_v1_layer(v1, out, index: int, path) -> bool:
    ok = True
    label = v1.name or f"#{index}"
    out.bottom.extend(v1.bottom)
    out.top.extend(v1.top)
    if v1.HasField("name"):
        out.name = v1.name
    for rule in v1.include:
        out.include.add().CopyFrom(rule)
    for rule in v1.exclude:
        out.exclude.add().CopyFrom(rule)
    if v1.HasField("type"):
        enum_name = _v1_type_name(v1)
        if enum_name not in V1_TYPE_NAMES:
            raise NetError(f"V1 layer type {enum_name} has no current equivalent",
                           layer=label, path=path)
        out.type = V1_TYPE_NAMES[enum_name]
    for blob in v1.blobs:
        out.blobs.add().CopyFrom(blob)
    for i, name in enumerate(v1.param):
        _param_spec(out, i).name = name
    share_enum = caffe_pb2.V1LayerParameter.DimCheckMode
    spec_enum = caffe_pb2.ParamSpec.DimCheckMode
    for i, mode in enumerate(v1.blob_share_mode):
        _param_spec(out, i).share_mode = spec_enum.Value(share_enum.Name(mode))
    for i, lr in enumerate(v1.blobs_lr):
        _param_spec(out, i).lr_mult = lr
    for i, decay in enumerate(v1.weight_decay):
        _param_spec(out, i).decay_mult = decay
    out.loss_weight.extend(v1.loss_weight)
    targets = out.DESCRIPTOR.fields_by_name
    for fd, value in v1.ListFields():
        if fd.message_type is None or not fd.name.endswith("_param") \
                or _is_repeated(fd):
            continue
        if fd.name not in targets:
            log.error("V1 layer '%s': %s has no place in the current LayerParameter; dropped",
                      label, fd.name)
            ok = False
            continue
        getattr(out, fd.name).CopyFrom(value)
    if v1.HasField("layer"):
        log.error("Input NetParameter has V0 layer -- ignoring.")
        ok = False
    return ok


def _upgrade_v1_net(net, path):
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    out.ClearField("layers")
    out.ClearField("layer")
    ok = True
    for i, v1 in enumerate(net.layers):
        if not _upgrade_v1_layer(v1, out.layer.add(), i, path):
            log.error("Upgrade of input layer %d failed.", i)
            ok = False
    return out, ok


def _upgrade_input(net, path) -> None:
    inputs = list(net.input)
    n_shape, n_dim = len(net.input_shape), len(net.input_dim)
    if n_shape and n_dim:
        raise NetError(f"net-level inputs ({', '.join(inputs)}) give both input_dim and "
                       "input_shape; Caffe cannot upgrade that. Use one form (or an Input "
                       "layer).", path=path)
    if n_shape and n_shape != len(inputs):
        raise NetError(f"{len(inputs)} net-level input(s) ({', '.join(inputs)}) but {n_shape} "
                       "input_shape entries; exactly one input_shape per input is needed.",
                       path=path)
    if n_dim and n_dim != 4 * len(inputs):
        raise NetError(f"{len(inputs)} net-level input(s) ({', '.join(inputs)}) but {n_dim} "
                       "input_dim values; exactly four (N, C, H, W) per input are needed.",
                       path=path)
    if n_shape or n_dim:
        layer = caffe_pb2.LayerParameter(name="input", type="Input")
        for i, blob in enumerate(inputs):
            layer.top.append(blob)
            shape = layer.input_param.shape.add()
            if n_shape:
                shape.CopyFrom(net.input_shape[i])
            else:
                shape.dim.extend(net.input_dim[4 * i:4 * i + 4])
        rest = list(net.layer)
        copies = [caffe_pb2.LayerParameter() for _ in rest]
        for copy, original in zip(copies, rest):
            copy.CopyFrom(original)
        net.ClearField("layer")
        net.layer.add().CopyFrom(layer)
        for copy in copies:
            net.layer.add().CopyFrom(copy)
    net.ClearField("input")
    net.ClearField("input_shape")
    net.ClearField("input_dim")


def _upgrade_batchnorm(net) -> None:
    for layer in net.layer:
        if layer.type == "BatchNorm" and len(layer.param) == 3:
            for spec in layer.param:
                spec.lr_mult = 0.0
                spec.decay_mult = 0.0


def _warn_ignored_v2_transform_fields(net, path) -> None:
    for layer in net.layer:
        sub_name, ignored = _V2_DATA_LAYER_PARAMS.get(layer.type, (None, ()))
        if sub_name is None or not layer.HasField(sub_name):
            continue
        stale = [f for f in ignored if _has(getattr(layer, sub_name), f)]
        if stale:
            log.warning("layer '%s' (%s) sets deprecated %s.%s; Caffe only upgrades these in V1 "
                        "nets and ignores them here: use transform_param (%s)", layer.name,
                        layer.type, sub_name, "/".join(stale), _where(path))


def upgrade_net(net, path=None):
    """Return an upgraded copy of NetParameter ``net`` (``net`` itself is not modified).

    ``path`` only names the source in log messages and errors. A current-format net comes back
    as an equal copy. Layer blobs (binary caffemodels) are carried through every step.
    """
    where = _where(path)
    _check_consistent(net, path)
    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    if _needs_v0(out):
        log.info("Attempting to upgrade input file specified using deprecated "
                 "V0LayerParameter: %s", where)
        out, ok = upgrade_v0_net(out, path)
        if ok:
            log.info("Successfully upgraded file specified using deprecated V0LayerParameter")
        else:
            log.error("Warning: had one or more problems upgrading V0NetParameter to "
                      "NetParameter (see above); continuing anyway.")
        log.warning("Note that future Caffe releases will not support V0NetParameter; use "
                    "upgrade_net_proto_text / upgrade_net_proto_binary (or keras-caffe upgrade) "
                    "to upgrade this and any other net protos to the new format.")
    if _needs_data(out):
        log.info("Attempting to upgrade input file specified using deprecated "
                 "transformation parameters: %s", where)
        _upgrade_data_transform(out)
        log.info("Successfully upgraded file specified using deprecated data transformation "
                 "parameters.")
        log.warning("Note that future Caffe releases will only support transform_param "
                    "messages for transformation fields.")
    if _needs_v1(out):
        log.info("Attempting to upgrade input file specified using deprecated "
                 "V1LayerParameter: %s", where)
        out, ok = _upgrade_v1_net(out, path)
        if ok:
            log.info("Successfully upgraded file specified using deprecated V1LayerParameter")
        else:
            log.error("Warning: had one or more problems upgrading V1LayerParameter (see "
                      "above); continuing anyway.")
    if _needs_input(out):
        log.info("Attempting to upgrade input file specified using deprecated input fields: %s",
                 where)
        _upgrade_input(out, path)
        log.info("Successfully upgraded file specified using deprecated input fields.")
        log.warning("Note that future Caffe releases will only support input layers and not "
                    "input fields.")
    if _needs_batchnorm(out):
        log.info("Attempting to upgrade batch norm layers using deprecated params: %s", where)
        _upgrade_batchnorm(out)
        log.info("Successfully upgraded batch norm layers using deprecated params.")
    _warn_ignored_v2_transform_fields(out, path)
    return out


# --------------------------------------------------------------------------- solver

def solver_needs_upgrade(solver, inline_nets: bool = True) -> bool:
    """True if :func:`upgrade_solver` would change ``solver``."""
    if solver.HasField("solver_type"):
        return True
    if inline_nets:
        nets = [solver.net_param, solver.train_net_param, *solver.test_net_param]
        return any(net_needs_upgrade(n) for n in nets)
    return False


def upgrade_solver(solver, path=None, inline_nets: bool = True):
    """Return an upgraded copy of SolverParameter ``solver`` (Caffe's ``UpgradeSolverAsNeeded``).

    The legacy ``solver_type`` enum becomes the ``type`` string (``NESTEROV`` -> ``"Nesterov"``);
    setting both is an error, as in Caffe. With ``inline_nets`` (our addition), nets embedded in
    the solver are passed through :func:`upgrade_net` as well.
    """
    where = _where(path, "<solver>")
    out = caffe_pb2.SolverParameter()
    out.CopyFrom(solver)
    if out.HasField("solver_type"):
        if out.HasField("type"):
            raise PrototxtError("the solver sets both the deprecated 'solver_type' (enum) and "
                                f"'type' (string: \"{out.type}\"); keep only 'type'.", path=path)
        log.info("Attempting to upgrade input file specified using deprecated 'solver_type' "
                 "field (enum)': %s", where)
        enum_name = caffe_pb2.SolverParameter.SolverType.Name(out.solver_type)
        if enum_name not in SOLVER_TYPE_NAMES:
            raise PrototxtError(f"unknown solver_type {enum_name}", path=path)
        out.type = SOLVER_TYPE_NAMES[enum_name]
        out.ClearField("solver_type")
        log.info("Successfully upgraded file specified using deprecated 'solver_type' field "
                 "(enum) to 'type' field (string).")
        log.warning("Note that future Caffe releases will only support 'type' field (string) "
                    "for a solver's type.")
    if inline_nets:
        for field in ("net_param", "train_net_param"):
            if out.HasField(field) and net_needs_upgrade(getattr(out, field)):
                getattr(out, field).CopyFrom(
                    upgrade_net(getattr(out, field), f"{where} ({field})"))
        for i, net in enumerate(out.test_net_param):
            if net_needs_upgrade(net):
                net.CopyFrom(upgrade_net(net, f"{where} (test_net_param #{i})"))
    return out


# --------------------------------------------------------------------------- reading

def read_upgraded_net(path_or_text, *, ignore_unknown_fields: bool | None = None):
    """Read a net prototxt (file path or text) and return it upgraded to the current format
    (``ignore_unknown_fields``: see :func:`keras_caffe.proto.text.parse_message`)."""
    net = text_io.read_net(path_or_text, ignore_unknown_fields=ignore_unknown_fields)
    return upgrade_net(net, text_io.source_path(path_or_text))


def read_upgraded_solver(path_or_text, inline_nets: bool = True, *,
                         ignore_unknown_fields: bool | None = None):
    """Read a solver prototxt (file path or text) and return it upgraded (unknown fields as
    :func:`keras_caffe.proto.text.parse_message` treats them)."""
    solver = text_io.read_solver(path_or_text, ignore_unknown_fields=ignore_unknown_fields)
    return upgrade_solver(solver, text_io.source_path(path_or_text), inline_nets=inline_nets)


def detect_kind(text, path=None) -> str:
    """``"net"`` or ``"solver"``: which message the prototxt ``text`` (str or bytes) parses as.

    NetParameter is tried first (an empty text is a net).  A text with fields neither
    message has is the one it parses as with fewer of them skipped: that kind while unknown
    fields are ignored (:func:`~keras_caffe.proto.text.ignoring_unknown_fields`), else that
    kind's :class:`PrototxtError`.  A text that is neither raises the error of the
    NetParameter parse, with file:line:column.
    """
    decoded = text_io.as_text(text, path)    # bytes a comment may hold; binary refused
    kinds = (("net", caffe_pb2.NetParameter), ("solver", caffe_pb2.SolverParameter))
    for kind, cls in kinds:
        try:
            text_format.Parse(decoded, cls())
            return kind
        except text_format.ParseError:
            continue
    counts = [(text_io.count_unknown_fields(decoded, cls), kind) for kind, cls in kinds]
    parsed = [c for c in counts if c[0] is not None]
    if parsed:
        kind = min(parsed)[1]
        if not text_io.ignores_unknown_fields():
            text_io.parse_message(text, dict(kinds)[kind], path)   # its unknown field's error
        return kind
    text_io.parse_net(text, path)  # raises the readable error
    raise PrototxtError("neither a NetParameter nor a SolverParameter", path=path)
