"""The YAML front matter of a Caffe model-zoo ``readme.md``, read without a YAML library.

Caffe's zoo folders (``docs/model_zoo.md``) open their ``readme.md`` with a block between
two ``---`` lines::

    ---
    name: BAIR/BVLC AlexNet Model
    caffemodel: bvlc_alexnet.caffemodel
    caffemodel_url: http://dl.caffe.berkeleyvision.org/bvlc_alexnet.caffemodel
    sha1: 9116a64c0fbe4459d18f4bb6b56d647b63920377
    ---

:func:`parse` reads the subset of YAML those blocks use, strictly: top-level ``key: value``
lines whose value is plain, ``"double"`` or ``'single'`` quoted, a flow list ``[a, "b"]`` or
empty and followed by ``- item`` lines; ``#`` comments and blank lines.  Every value stays a
string (a sha1 or commit of digits alone is still the text it was; YAML would make it a
number), an empty one is ``None``.  Anything else (nested mappings, block scalars, anchors,
tags, a plain value holding ``": "``) is a :class:`FrontMatterError` naming the file and line,
never a guess.
"""

from __future__ import annotations

import dataclasses
import re

from ..errors import CaffeError

_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_.-]*)[ \t]*:(?:[ \t]+(.*?))?[ \t]*$")
_ITEM = re.compile(r"([ \t]*)-(?:[ \t]+(.*?))?[ \t]*$")
_FENCES = ("---", "...")
_UNSUPPORTED = {"|": "block scalars", ">": "block scalars", "&": "anchors", "*": "aliases",
                "!": "tags", "{": "flow mappings", "%": "directives", "@": "reserved '@'",
                "`": "reserved '`'"}
_ESCAPES = {"\\": "\\", '"': '"', "/": "/", "n": "\n", "t": "\t", "r": "\r", "0": "\0",
            " ": " ", "b": "\b", "f": "\f", "e": "\x1b", "a": "\a"}


class FrontMatterError(CaffeError):
    """A readme.md whose front matter is missing or outside the subset we read."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None):
        self.path, self.line, self.reason = path, line, message
        where = (path or "<readme.md>") + (f":{line}" if line is not None else "")
        super().__init__(f"{where}: {message}")


@dataclasses.dataclass
class FrontMatter:
    """The fields of a front matter block in file order, and the line each key is on."""

    fields: dict[str, str | list[str] | None]
    lines: dict[str, int]
    path: str | None = None

    def get(self, key: str, default=None):
        return self.fields.get(key, default)

    def error(self, key: str | None, message: str) -> FrontMatterError:
        """An error about ``key``'s value, at its line (or at the opening ``---``)."""
        return FrontMatterError(message, self.path, self.lines.get(key, 1))


def read(path) -> FrontMatter:
    """The front matter of the file ``path`` (UTF-8)."""
    path = str(path)
    try:
        with open(path, encoding="utf-8-sig") as f:
            text = f.read()
    except UnicodeDecodeError as exc:
        raise FrontMatterError(f"not UTF-8 text ({exc.reason} at byte {exc.start})", path) from None
    return parse(text, path)


def parse(text: str, path: str | None = None) -> FrontMatter:
    """Parse the front matter that opens ``text`` (see the module docstring)."""
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").split("\n")   # lines as editors count
    if not lines or lines[0].rstrip() != "---":
        raise FrontMatterError("no front matter: the file must start with a '---' line", path, 1)
    fields: dict = {}
    where: dict[str, int] = {}
    open_list = None                     # the key whose empty value '- item' lines fill
    for number, line in enumerate(lines[1:], start=2):
        if line.rstrip() in _FENCES:
            if open_list is not None and not fields[open_list]:
                fields[open_list] = None
            return FrontMatter(fields, where, path)
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue

        def fail(message, number=number):
            return FrontMatterError(message, path, number)

        indent = line[:len(line) - len(line.lstrip())]
        if "\t" in indent:
            raise fail("a tab in the indentation (YAML allows only spaces)")
        item = _ITEM.fullmatch(line)
        if item:
            if open_list is None:
                raise fail("a '- item' line that follows no 'key:' with an empty value")
            if item.group(2) is None:
                raise fail("an empty '- ' list item")
            fields[open_list].append(_scalar(item.group(2), fail))
            continue
        if indent:
            raise fail("an indented line that is not a '- item' (nested mappings and values "
                       "continued over several lines are not supported)")
        match = _KEY.fullmatch(line)
        if not match:
            raise fail(f"expected 'key: value', found {stripped[:60]!r}")
        key, value = match.group(1), match.group(2)
        if key in where:
            raise fail(f"key '{key}' is given twice (first on line {where[key]})")
        where[key] = number
        if value is None or value.startswith("#"):
            fields[key], open_list = [], key      # a list if items follow, else None below
            continue
        if open_list is not None and not fields[open_list]:
            fields[open_list] = None
        open_list = None
        fields[key] = _flow_list(value, fail) if value.startswith("[") else _scalar(value, fail)
    raise FrontMatterError("the front matter opened here is never closed by a '---' line",
                           path, 1)


def _scalar(text: str, fail, flow: bool = False) -> str:
    """A plain or quoted scalar that fills ``text`` (a trailing ``# comment`` allowed)."""
    first = text[0]
    if first in "\"'":
        value, rest = _quoted(text, fail)
        rest = rest.strip()
        if rest and not rest.startswith("#"):
            raise fail(f"text after the closing quote: {rest[:40]!r}")
        return value
    if first in _UNSUPPORTED or first == "[" and not flow:
        what = _UNSUPPORTED.get(first, "nested lists")
        raise fail(f"{what} ({first!r}) are not supported; quote the value")
    if first in "-?" and (len(text) == 1 or text[1] in " \t"):
        raise fail(f"a value starting with '{first} ' (nested lists, complex keys) is not "
                   "supported; quote it")
    value = re.split(r"[ \t]#", text, maxsplit=1)[0].rstrip()
    if ": " in value or value.endswith(":"):
        raise fail(f"a plain value holding ': ' ({value[:60]!r}); quote it")
    return value


def _quoted(text: str, fail) -> tuple[str, str]:
    """The value of the quoted scalar ``text`` starts with, and what follows it."""
    quote, out, i = text[0], [], 1
    while i < len(text):
        c = text[i]
        if quote == "'" and c == "'":
            if text[i + 1:i + 2] == "'":
                out.append("'")
                i += 2
                continue
            return "".join(out), text[i + 1:]
        if quote == '"' and c == '"':
            return "".join(out), text[i + 1:]
        if quote == '"' and c == "\\":
            code = text[i + 1:i + 2]
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
                i += 2
                continue
            width = {"x": 2, "u": 4, "U": 8}.get(code)
            digits = text[i + 2:i + 2 + width] if width else ""
            if not width or not re.fullmatch(r"[0-9A-Fa-f]+", digits) or len(digits) != width:
                raise fail(f"unknown escape '\\{code}' in a double-quoted value")
            out.append(chr(int(digits, 16)))
            i += 2 + width
            continue
        out.append(c)
        i += 1
    raise fail(f"the {quote} quote is never closed on this line (values spanning lines are "
               "not supported)")


def _flow_list(text: str, fail) -> list[str]:
    """``[a, "b, c", 'd']`` -> ``["a", "b, c", "d"]`` (one level, on one line)."""
    items, rest = [], text[1:].lstrip()
    if rest.startswith("]"):
        rest = rest[1:]
    else:
        while True:
            if not rest:
                raise fail("the '[' list is never closed on this line")
            if rest[0] in "\"'":
                value, rest = _quoted(rest, fail)
            else:
                end = re.search(r"[,\]]", rest)
                if end is None:
                    raise fail("the '[' list is never closed on this line")
                value, rest = rest[:end.start()].strip(), rest[end.start():]
                if not value:
                    raise fail("an empty item in a '[' list")
                value = _scalar(value, fail, flow=True)
                if value[:1] in "[{":
                    raise fail("nested lists or mappings in a '[' list are not supported")
            items.append(value)
            rest = rest.lstrip()
            if rest.startswith("]"):
                rest = rest[1:]
                break
            if not rest.startswith(","):
                raise fail(f"expected ',' or ']' in the list, found {rest[:20]!r}")
            rest = rest[1:].lstrip()
    rest = rest.strip()
    if rest and not rest.startswith("#"):
        raise fail(f"text after the list: {rest[:40]!r}")
    return items
