"""``keras-caffe upgrade OLD -o NEW``: rewrite a legacy Caffe file in today's format.

OLD may be a net prototxt, a solver prototxt (told apart by content), or a binary
``.caffemodel`` (told by its extension, or by not being text). Prototxt is written as prototxt,
a caffemodel as a binary caffemodel, like Caffe's ``upgrade_net_proto_text`` /
``upgrade_solver_proto_text`` / ``upgrade_net_proto_binary``. NEW is replaced atomically.
"""

from __future__ import annotations

import os

from ..errors import PrototxtError
from ..proto import caffe_pb2, text
from ..proto.binary import read_net_skeleton, write_net
from ..proto.upgrade import detect_kind, pending_net_upgrades, upgrade_net, upgrade_solver

_BINARY_SUFFIXES = (".caffemodel",)


def _is_binary(path: str, data: bytes) -> bool:
    if path.lower().endswith(_BINARY_SUFFIXES):
        return True
    sample = data[:4096].decode("utf-8", "surrogateescape")
    cut = len(sample) - 3 if len(data) > 4096 else len(sample)  # a character cut at the end
    # Non-UTF-8 bytes in comments (a Latin-1 note) are text; in strings, the text parser
    # names them; anywhere else they are binary data.
    if any(pos < cut and not in_string for pos, in_string in text.stray_bytes(sample)):
        return True
    return text.looks_binary(sample)


def _upgrade_binary(old: str, new: str) -> str:
    """Upgrade a binary caffemodel, like Caffe's tool: the layer definitions are upgraded and
    every blob is copied byte for byte (legacy num/channels/height/width blobs stay so, as
    Caffe loads them into 1-D/2-D parameters only that way).  Only the definitions go
    through protobuf; the blobs are streamed from the mapped file, so a model of any size
    upgrades (protobuf parses no message over 2 GB) without holding its floats."""
    net, blobs = read_net_skeleton(old)
    steps = pending_net_upgrades(net)
    upgraded = upgrade_net(net, old)
    write_net(new, upgraded, blobs)
    return (f"caffemodel '{upgraded.name}': {_steps_text(steps)}; {len(upgraded.layer)} layers, "
            f"{len(blobs)} blobs")


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
        data = f.read(4097)   # a caffemodel is streamed, never read whole
        binary = _is_binary(old, data)
        if not binary:
            data += f.read()
    kind = "binary" if binary else _text_kind(data, old)
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
