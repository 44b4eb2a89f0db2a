"""Unknown fields of a prototxt: where they are, in which layer, and what they are.

protobuf's parser stops at the first field the schema lacks, and its ``allow_unknown_field``
skips them all silently.  :func:`find` walks the text with protobuf's own tokenizer and the
message descriptors, as the parser does, and returns every unknown field with its span, the
message it sits in and the layer around it; :func:`blank` overwrites those spans with spaces
(lines and columns stay where they were), so protobuf then parses the rest and reports
anything else at its true place.  The walk only locates: where the text is malformed it
stops, and the parse that follows reports the error.
"""

from __future__ import annotations

import dataclasses

from google.protobuf import text_format

from . import fork_fields

_LAYER_MESSAGES = ("caffe.LayerParameter", "caffe.V1LayerParameter", "caffe.V0LayerParameter")
_CLOSE = {"{": "}", "<": ">"}


@dataclasses.dataclass
class Layer:
    """The layer an unknown field sits in; name and type are filled as the walk reads them."""

    name: str | None = None
    type: str | None = None

    def __str__(self) -> str:
        name = f"'{self.name}'" if self.name is not None else "(unnamed)"
        return f"layer {name}" + (f" (type {self.type})" if self.type else "")


@dataclasses.dataclass
class Unknown:
    """One unknown field: ``message`` is its message's full name, ``line``/``column`` are
    1-based, ``span`` the 0-based (line, column) of its first character and just past its
    value (and the ``;``/``,`` after it)."""

    message: str
    field: str
    line: int
    column: int
    span: tuple[tuple[int, int], tuple[int, int]]
    layer: Layer | None
    descriptor: object

    @property
    def entry(self) -> fork_fields.ForkField | None:
        return fork_fields.lookup(self.message, self.field)

    def where(self) -> str:
        """``"unknown field 'x' in caffe.Y of layer 'z' (type T)"``."""
        text = f"unknown field '{self.field}' in {self.message}"
        return text + (f" of {self.layer}" if self.layer is not None else "")

    def what(self) -> str:
        """Which forks define it and what it does, or the closest names of a typo."""
        entry = self.entry
        if entry is None:
            near = fork_fields.closest(self.descriptor, self.field)
            return ("not a field of Caffe or of the forks keras-caffe knows"
                    + (f" (a typo? closest: {', '.join(near)})" if near else ""))
        return f"a field of {entry.forks_text()}, not of BVLC Caffe; {entry.effect}"

    def refused(self) -> bool:
        """Whether skipping it is refused: a fork field that changes what a layer computes."""
        return self.entry is not None and not self.entry.ignorable

    def hint(self) -> str:
        """What the user can do, to follow :meth:`what` in an error."""
        if self.refused():
            return ", which keras-caffe does not implement, so it cannot be ignored"
        if self.entry is None:
            return ("; if another fork defines it, --ignore-unknown-fields "
                    "(ignore_unknown_fields=True) skips it with a warning that its effect is "
                    "unknown")
        return "; to skip it, pass --ignore-unknown-fields (ignore_unknown_fields=True)"


class _Bail(Exception):
    """The text is not what the parser accepts: stop walking, the parse reports it."""


def find(lines: list[str], descriptor) -> list[Unknown]:
    """Every unknown field in ``lines`` (the text split at newlines) parsed as
    ``descriptor``, in text order; an unknown field inside another is skipped with it."""
    walker = _Walker(lines)
    try:
        walker.message(descriptor, None, None)
    except (_Bail, text_format.ParseError, RecursionError):
        pass   # the parse that follows reports what is wrong there
    return walker.found


def blank(lines: list[str], unknowns: list[Unknown]) -> str:
    """The text with the spans of ``unknowns`` replaced by spaces."""
    out = list(lines)
    for u in unknowns:
        (l0, c0), (l1, c1) = u.span
        for i in range(l0, l1 + 1):
            start = c0 if i == l0 else 0
            end = c1 if i == l1 else len(out[i])
            out[i] = out[i][:start] + " " * (end - start) + out[i][end:]
    return "\n".join(out)


class _Walker:
    def __init__(self, lines: list[str]):
        self.tok = text_format.Tokenizer(lines)
        self.found: list[Unknown] = []
        self.end = (0, 0)   # just past the last token consumed

    # Positions: protobuf's tokenizer keeps the current token's 0-based line and column.
    def _here(self) -> tuple[int, int]:
        return self.tok._line, self.tok._column   # noqa: SLF001 (what its ParseError uses)

    def _next(self) -> str:
        if self.tok.AtEnd():
            raise _Bail
        token = self.tok.token
        line, column = self._here()
        self.end = (line, column + len(token))
        self.tok.NextToken()
        return token

    def _try(self, token: str) -> bool:
        if not self.tok.AtEnd() and self.tok.token == token:
            self._next()
            return True
        return False

    def message(self, descriptor, close: str | None, layer: Layer | None) -> None:
        if descriptor.full_name in _LAYER_MESSAGES:
            layer = Layer()
        while not (close is None and self.tok.AtEnd()):
            if close is not None and self._try(close):
                return
            start = self._here()
            name = self._next()
            field = descriptor.fields_by_name.get(name)
            if field is None:
                if not (name[:1].isalpha() or name[:1] == "_"):
                    raise _Bail   # "[ext]", a stray brace: the parser's to report
                self._skip_value()
                self._try(";") or self._try(",")
                self.found.append(Unknown(descriptor.full_name, name, start[0] + 1,
                                          start[1] + 1, (start, self.end), layer, descriptor))
                continue
            if field.message_type is not None:
                self._try(":")
                if self._try("["):
                    while not self._try("]"):
                        self._submessage(field.message_type, layer)
                        self._try(",")
                else:
                    self._submessage(field.message_type, layer)
            else:
                if not self._try(":"):
                    raise _Bail
                if self._try("["):
                    while not self._try("]"):
                        self._scalar()
                        self._try(",")
                else:
                    value = self._scalar()
                    if layer is not None and descriptor.full_name in _LAYER_MESSAGES:
                        if name in ("name", "type"):
                            setattr(layer, name, value)
            self._try(";") or self._try(",")

    def _submessage(self, descriptor, layer: Layer | None) -> None:
        opener = self._next()
        if opener not in _CLOSE:
            raise _Bail
        self.message(descriptor, _CLOSE[opener], layer)

    def _scalar(self) -> str:
        """One value: a (signed) number or identifier, or adjacent strings (concatenated;
        returned without quotes, escapes as written)."""
        if not self.tok.AtEnd() and self.tok.token[:1] in ("'", '"'):
            parts = []
            while not self.tok.AtEnd() and self.tok.token[:1] in ("'", '"'):
                parts.append(self._next()[1:-1])
            return "".join(parts)
        sign = "-" if self._try("-") else ""
        return sign + self._next()

    def _skip_value(self) -> None:
        """Skip an unknown field's value as protobuf's parser would read it."""
        if self._try(":"):
            if self._try("["):
                depth = 1
                while depth:
                    token = self._next()
                    depth += token in ("[", "{", "<")
                    depth -= token in ("]", "}", ">")
                return
            if self.tok.AtEnd() or self.tok.token not in _CLOSE:
                self._scalar()
                return
        opener = self._next()
        if opener not in _CLOSE:
            raise _Bail
        depth = 1
        while depth:
            token = self._next()
            depth += token in _CLOSE
            depth -= token in ("}", ">")
