"""``keras-caffe upgrade OLD -o NEW``: rewrite a legacy Caffe file in today's format.

OLD may be a net prototxt, a solver prototxt (told apart by content), or a binary
``.caffemodel`` (told by its extension, or by not being text). Prototxt is written as prototxt,
a caffemodel as a binary caffemodel, like Caffe's ``upgrade_net_proto_text`` /
``upgrade_solver_proto_text`` / ``upgrade_net_proto_binary``. NEW is replaced atomically.
"""

from __future__ import annotations

import os

from ..errors import PrototxtError
from ..fileio import atomic_path
from ..proto import caffe_pb2, text
from ..proto.binary import read_caffemodel
from ..proto.upgrade import detect_kind, pending_net_upgrades, upgrade_net, upgrade_solver

_BINARY_SUFFIXES = (".caffemodel",)


def _is_binary(path: str, data: bytes) -> bool:
    if path.lower().endswith(_BINARY_SUFFIXES):
        return True
    try:
        sample = data[:4096].decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < 4090:  # not just a multi-byte character cut at the sample's end
            return True
        sample = data[:exc.start].decode("utf-8")
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    return "\x00" in sample or control > 8


def _upgrade_binary(old: str, new: str) -> str:
    """Upgrade a binary caffemodel; the whole message is re-serialised, like Caffe's tool.

    (``binary.write_caffemodel`` would re-encode legacy num/channels/height/width blobs with
    ``shape``, which Caffe then refuses to load into 1-D/2-D parameters, so it is not used.)
    """
    net = read_caffemodel(old)
    steps = pending_net_upgrades(net)
    upgraded = upgrade_net(net, old)
    with atomic_path(new) as tmp, open(tmp, "wb") as f:
        f.write(upgraded.SerializeToString())
    n_blobs = sum(len(layer.blobs) for layer in upgraded.layer)
    return (f"caffemodel '{upgraded.name}': {_steps_text(steps)}; {len(upgraded.layer)} layers, "
            f"{n_blobs} blobs")


def _text_kind(data: bytes, old: str) -> str:
    """"net"/"solver" by content; "binary" when text parsing fails but protobuf parsing works."""
    try:
        return detect_kind(data, old)
    except PrototxtError:
        net = caffe_pb2.NetParameter()
        try:
            net.ParseFromString(data)
        except Exception:  # DecodeError: not binary either; report the text error
            raise_text_error = True
        else:
            raise_text_error = not (len(net.layer) or len(net.layers))
        if raise_text_error:
            raise
        return "binary"


def _steps_text(steps) -> str:
    return "upgraded " + ", ".join(steps) if steps else "already in the current format"


def upgrade_file(old, new) -> str:
    """Upgrade the legacy file ``old`` (net or solver prototxt, or caffemodel) into ``new``
    (replaced atomically); returns a one-line summary.  Bad input raises CaffeError."""
    old, new = os.fspath(old), os.fspath(new)
    with open(old, "rb") as f:
        data = f.read()
    kind = "binary" if _is_binary(old, data) else _text_kind(data, old)
    if kind == "binary":
        summary = _upgrade_binary(old, new)
    else:
        if kind == "net":
            net = text.parse_net(data, old)
            steps = pending_net_upgrades(net)
            upgraded = upgrade_net(net, old)
            text.write_text(upgraded, new)
            summary = f"net '{upgraded.name}': {_steps_text(steps)}; {len(upgraded.layer)} layers"
        else:
            solver = text.parse_solver(data, old)
            steps = []
            if solver.HasField("solver_type"):
                steps.append("solver_type")
            inline = [solver.net_param, solver.train_net_param, *solver.test_net_param]
            if any(pending_net_upgrades(n) for n in inline):
                steps.append("inline nets")
            upgraded = upgrade_solver(solver, old)
            text.write_text(upgraded, new)
            what = f'type "{upgraded.type}"' if upgraded.HasField("type") else "SGD by default"
            summary = f"solver ({what}): {_steps_text(steps)}"
    return f"{old} -> {new}: {summary}"
