"""Text prototxt reading and writing, with errors that point at file:line:column.

protobuf's own ParseError says "1:5 : Message type ... has no field named ..."; users
need the file name and a plain reason, and a binary file passed by mistake should say
so instead of failing on some odd byte.  Everything here returns messages exactly as
written: upgrading legacy formats is :mod:`keras_caffe.proto.upgrade`'s job.

A field the schema lacks is an error naming the field, its message, its layer and the forks
that define it (:mod:`.fork_fields`); with ``ignore_unknown_fields=True`` (or inside
:func:`ignoring_unknown_fields`) the fields whose absence changes nothing a forward pass
computes are skipped, with one warning per field, and the others stay errors.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from typing import TypeVar

from google.protobuf import text_format
from google.protobuf.message import Message

from ..errors import PrototxtError
from ..fileio import atomic_path
from . import caffe_pb2, unknown_fields

M = TypeVar("M", bound=Message)
log = logging.getLogger("keras_caffe.proto")

_UNKNOWN_FIELD = re.compile(r'Message type "([\w.]+)" has no field named "(\w+)"')
_UNKNOWN_ENUM = re.compile(r'Enum type "([\w.]+)" has no value (?:named|with number) ([-\w]+)'
                           r'(?: for field (\w+))?')
_REPEATED = re.compile(r'Message type "([\w.]+)" should not have multiple "(\w+)" fields')
_POSITION = re.compile(r"^(\d+):(\d+) : ")
_QUOTED_LINE = re.compile(r"^'.*?': ", re.S)


#: The ``ignore_unknown_fields`` defaults :func:`ignoring_unknown_fields` set, innermost last.
_IGNORE_DEFAULTS: list[bool | None] = []


@contextlib.contextmanager
def ignoring_unknown_fields(ignore: bool | None = True):
    """Within the block, ``ignore_unknown_fields=None`` means ``ignore`` (how a command's
    ``--ignore-unknown-fields`` reaches every prototxt it reads, ``caffe.Net`` and solvers
    included); None leaves the default as it is."""
    _IGNORE_DEFAULTS.append(ignore)
    try:
        yield
    finally:
        _IGNORE_DEFAULTS.pop()


def ignores_unknown_fields(ignore: bool | None = None) -> bool:
    """``ignore``, or where it is None the innermost :func:`ignoring_unknown_fields` (False
    outside any)."""
    if ignore is None:
        ignore = next((f for f in reversed(_IGNORE_DEFAULTS) if f is not None), False)
    return bool(ignore)


def parse_message(text: str | bytes, msg_cls: type[M], path: str | os.PathLike | None = None,
                  *, ignore_unknown_fields: bool | None = None) -> M:
    """Parse prototxt ``text`` into a new ``msg_cls``; ``path`` only labels errors.

    A field the schema lacks is a PrototxtError unless ``ignore_unknown_fields`` (None: the
    innermost :func:`ignoring_unknown_fields`), which skips those that change nothing a
    forward pass computes (one warning per field) and refuses the others."""
    path = os.fspath(path) if path is not None else None
    text = as_text(text, path)
    skipped = text
    if ignores_unknown_fields(ignore_unknown_fields):
        skipped = _skip_unknown_fields(text, msg_cls.DESCRIPTOR, path)
    message = msg_cls()
    try:
        text_format.Parse(skipped, message)
    except text_format.ParseError as exc:
        raise _translate(exc, path, skipped, msg_cls.DESCRIPTOR) from None
    if skipped is not text and not message.ListFields():
        raise PrototxtError(f"no field of this file is a field of {msg_cls.DESCRIPTOR.full_name}"
                            ": is it another kind of prototxt (a solver for a net, a net for a "
                            "solver)?", path)
    return message


def parse_net(text: str | bytes, path: str | os.PathLike | None = None,
              *, ignore_unknown_fields: bool | None = None) -> caffe_pb2.NetParameter:
    """A NetParameter from prototxt text (any Caffe format version, not upgraded)."""
    return parse_message(text, caffe_pb2.NetParameter, path,
                         ignore_unknown_fields=ignore_unknown_fields)


def parse_solver(text: str | bytes, path: str | os.PathLike | None = None,
                 *, ignore_unknown_fields: bool | None = None) -> caffe_pb2.SolverParameter:
    """A SolverParameter from prototxt text (not upgraded)."""
    return parse_message(text, caffe_pb2.SolverParameter, path,
                         ignore_unknown_fields=ignore_unknown_fields)


def source_path(path_or_text) -> str | None:
    """The file path in ``path_or_text``, or None for prototxt text (bytes, or a str with a
    newline or ``{``): the one rule every reader of "a path or the text" follows."""
    if isinstance(path_or_text, os.PathLike):
        return os.fspath(path_or_text)
    if isinstance(path_or_text, str) and "\n" not in path_or_text and "{" not in path_or_text:
        return path_or_text
    return None


def read_message(path_or_text, msg_cls: type[M], *,
                 ignore_unknown_fields: bool | None = None) -> M:
    """Parse a file, or the text itself when it contains a newline or ``{``."""
    path = source_path(path_or_text)
    if path is None:
        return parse_message(path_or_text, msg_cls, ignore_unknown_fields=ignore_unknown_fields)
    with open(path, "rb") as f:
        data = f.read()
    return parse_message(data, msg_cls, path, ignore_unknown_fields=ignore_unknown_fields)


def read_net(path_or_text, *, ignore_unknown_fields: bool | None = None) -> caffe_pb2.NetParameter:
    """A NetParameter from a prototxt path or text (see :func:`read_message`)."""
    return read_message(path_or_text, caffe_pb2.NetParameter,
                        ignore_unknown_fields=ignore_unknown_fields)


def read_solver(path_or_text, *,
                ignore_unknown_fields: bool | None = None) -> caffe_pb2.SolverParameter:
    """A SolverParameter from a solver prototxt path or text."""
    return read_message(path_or_text, caffe_pb2.SolverParameter,
                        ignore_unknown_fields=ignore_unknown_fields)


def to_text(message: Message) -> str:
    """Prototxt text of ``message`` (UTF-8 strings kept readable)."""
    return text_format.MessageToString(message, as_utf8=True)


def write_text(message: Message, path: str | os.PathLike) -> None:
    """Write ``message`` as prototxt; the old file survives any failure."""
    data = to_text(message).encode("utf-8")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


# --------------------------------------------------------------------------- helpers

def as_text(data: str | bytes, path: str | None = None) -> str:
    """Decode and refuse binary input, which text_format would misreport.

    Caffe's parser reads the file as bytes: a comment may hold any bytes (a Latin-1 accent
    in a note), which are kept as U+FFFD here.  A non-UTF-8 byte inside a string is an
    error naming its line and column; one outside comments and strings means binary data."""
    if isinstance(data, str):
        text = data
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("utf-8", "surrogateescape")
            stray = stray_bytes(text)
            if stray:   # the first one is the error
                pos, in_string = stray[0]
                line, column = _line_column(text, pos)
                byte = f"byte 0x{ord(text[pos]) - 0xDC00:02X}"
                if in_string:
                    raise PrototxtError(f"{byte} inside a string is not UTF-8 (Caffe's strings "
                                        "are UTF-8 text: save the file as UTF-8)",
                                        path, line, column) from None
                raise PrototxtError(f"{byte} is not UTF-8 text and not inside a comment; this "
                                    "looks like a binary file such as a .caffemodel, which "
                                    "read_weights/read_caffemodel read", path, line,
                                    column) from None
            text = _ESCAPED.sub("\ufffd", text)   # only comments hold them
    text = text.removeprefix("\ufeff")           # a byte-order mark some editors add
    if looks_binary(text[:4096]):
        raise PrototxtError("binary data, not prototxt text; a .caffemodel/.binaryproto is "
                            "read with read_weights/read_caffemodel/read_blob", path)
    return text


def looks_binary(sample: str) -> bool:
    """Whether the start of a file (decoded) holds a NUL or more than eight control
    characters that text does not use: binary data, not prototxt."""
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    return "\x00" in sample or control > 8


#: Bytes that are not UTF-8, as ``surrogateescape`` decoding leaves them.
_ESCAPED = re.compile("[\udc80-\udcff]")
#: What the protobuf tokenizer skips or takes whole: comments and (possibly unclosed) strings.
_SPANS = re.compile(r"#[^\n]*|\"(?:[^\"\\\n]|\\.)*\"?|'(?:[^'\\\n]|\\.)*'?")


def stray_bytes(text: str) -> list[tuple[int, bool]]:
    """Where the non-UTF-8 bytes of ``text`` (decoded with ``surrogateescape``) lie outside
    comments: ``(position, inside a string)``, in order.  Bytes inside comments are fine."""
    escaped = [m.start() for m in _ESCAPED.finditer(text)]
    if not escaped:
        return []
    out, k = [], 0
    for span in _SPANS.finditer(text):
        start, end = span.span()
        while k < len(escaped) and escaped[k] < start:
            out.append((escaped[k], False))
            k += 1
        while k < len(escaped) and escaped[k] < end:
            if text[start] != "#":
                out.append((escaped[k], True))
            k += 1
    out.extend((pos, False) for pos in escaped[k:])
    return out


def _line_column(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of ``text[pos]``."""
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _skip_unknown_fields(text: str, descriptor, path: str | None) -> str:
    """``text`` with its unknown fields blanked out, each distinct one warned about once;
    the first that changes what a layer computes is refused."""
    lines = text.split("\n")
    found = unknown_fields.find(lines, descriptor)
    for u in found:
        if u.refused():
            raise PrototxtError(f"{u.where()}: {u.what()}{u.hint()}", path, u.line, u.column)
    by_field: dict[tuple[str, str], list] = {}
    for u in found:
        by_field.setdefault((u.message, u.field), []).append(u)
    for same in by_field.values():
        u, times = same[0], len(same)
        known = ("it is known to change nothing at inference" if u.entry is not None
                 else "its effect is unknown")
        log.warning("%s:%d:%d: ignoring %s (%d time%s, first here): %s; %s",
                    path or "<prototxt>", u.line, u.column, u.where(), times,
                    "" if times == 1 else "s", u.what(), known)
    return unknown_fields.blank(lines, found) if found else text


def count_unknown_fields(text: str, msg_cls) -> int | None:
    """How many unknown fields ``text`` has as a ``msg_cls``, or None when it does not parse
    as one even without them."""
    lines = text.split("\n")
    found = unknown_fields.find(lines, msg_cls.DESCRIPTOR)
    try:
        text_format.Parse(unknown_fields.blank(lines, found), msg_cls())
    except text_format.ParseError:
        return None
    return len(found)


def _unknown_reason(exc_field: tuple[str, str], line: int | None, column: int | None,
                    text: str | None, descriptor) -> str:
    """The reason of the error at an unknown field: where it sits, what it is, what to do."""
    match = None
    if text is not None and descriptor is not None:
        match = next((u for u in unknown_fields.find(text.split("\n"), descriptor)
                      if (u.line, u.column) == (line, column)), None)
    if match is None:   # the walk did not reach it: what protobuf's message says
        try:
            message_desc = caffe_pb2.DESCRIPTOR.pool.FindMessageTypeByName(exc_field[0])
        except KeyError:
            return f"unknown field '{exc_field[1]}' in {exc_field[0]}"
        match = unknown_fields.Unknown(exc_field[0], exc_field[1], line or 0, column or 0,
                                       ((0, 0), (0, 0)), None, message_desc)
    return f"{match.where()}: {match.what()}{match.hint()}"


def _translate(exc: text_format.ParseError, path: str | None, text: str | None = None,
               descriptor=None) -> PrototxtError:
    """Turn protobuf's ParseError into a PrototxtError with a readable reason."""
    message = str(exc)
    line, column = exc.GetLine(), exc.GetColumn()
    match = _POSITION.match(message)
    if match:
        line = line or int(match.group(1))
        column = column or int(match.group(2))
        message = message[match.end():]
    message = _QUOTED_LINE.sub("", message)
    unknown = _UNKNOWN_FIELD.search(message)
    enum = _UNKNOWN_ENUM.search(message)
    repeated = _REPEATED.search(message)
    if unknown:
        reason = _unknown_reason(unknown.groups(), line, column, text, descriptor)
    elif repeated:
        reason = (f"field '{repeated.group(2)}' of {repeated.group(1)} is given more than once "
                  "but holds a single value")
    elif enum:
        enum_type, value, field = enum.groups()
        valid = _enum_values(enum_type)
        reason = (f"unknown value '{value}'" + (f" for field '{field}'" if field else "")
                  + f" (enum {enum_type}" + (f"; valid: {', '.join(valid)}" if valid else "")
                  + ")")
    else:
        reason = message.rstrip(".")
    return PrototxtError(reason, path, line, column)


def _enum_values(full_name: str) -> list[str]:
    try:
        enum = caffe_pb2.DESCRIPTOR.pool.FindEnumTypeByName(full_name)
    except KeyError:
        return []
    return [v.name for v in enum.values]
