"""Caffe's list files: one reader for the image lists of ImageData and convert_imageset and
the file lists of HDF5Data.

Caffe reads them with ``std::getline`` (lines end at ``\\n`` only; a final newline ends no
line).  An image list line splits at its LAST space into a name (which may hold spaces) and a
label; an HDF5Data list is whitespace-separated file names.  Paths are relative to the
working directory, as in Caffe.
"""

from __future__ import annotations

import dataclasses
import os
import re

from ...errors import DataToolError, NetError

_ATOI = re.compile(rb"^[ \t\n\v\f\r]*([+-]?[0-9]+)")
_LABEL = re.compile(rb"\s*([+-]?[0-9]+)\s*\Z")


def _read(path: str, what: str, error=NetError) -> bytes:
    if not os.path.isfile(path):
        raise error(f"{what} '{path}' not found (Caffe reads it relative to the working "
                    f"directory, here {os.getcwd()})")
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise error(f"cannot read the {what} '{path}': {exc.strerror or exc}") from None


def _lines(data: bytes) -> list[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()   # the newline that ends the last line
    return lines


def _atoi(text: bytes) -> int:
    m = _ATOI.match(text)
    if not m:
        return 0
    value = int(m.group(1))
    return (value + 2**31) % 2**32 - 2**31   # C int wrap-around


def _show(raw: bytes) -> str:
    return repr(raw.decode("utf-8", "backslashreplace"))


def read_image_list(list_file, root_folder="") -> list[tuple[bytes, int, int]]:
    """ImageData's list: ``[(path, label, line number)]`` where ``path`` is
    ``root_folder + name`` (plain concatenation, as Caffe) and each line splits at its LAST
    space into name and label (``atoi``), so names may contain spaces."""
    list_file = os.fspath(list_file)
    root = os.fsencode(root_folder)
    entries = []
    for number, line in enumerate(_lines(_read(list_file, "image list")), 1):
        cut = line.rfind(b" ")
        name, label = (line, _atoi(line)) if cut < 0 else (line[:cut], _atoi(line[cut + 1:]))
        if not name:
            raise NetError(f"{list_file}:{number}: empty image name in line {line!r} (Caffe "
                           "would fail to load it)")
        entries.append((root + name, label, number))
    if not entries:
        raise NetError(f"image list '{list_file}' is empty")
    return entries


@dataclasses.dataclass(frozen=True)
class ListEntry:
    line: int            # 1-based line number in the list file
    path: str            # the path as written (before the last space)
    label: int
    raw_path: bytes      # the same, as bytes (used in the key)


def parse_image_list(list_path) -> list[ListEntry | None]:
    """The entries of a convert_imageset list, one per line (``None`` for a blank line, which
    Caffe also counts), checked strictly: a line without a label or with a label that is not
    an int32 raises DataToolError naming the line."""
    list_path = os.fspath(list_path)
    entries: list[ListEntry | None] = []
    for number, line in enumerate(_lines(_read(list_path, "list file", DataToolError)), 1):
        if not line.strip():
            entries.append(None)
            continue
        pos = line.rfind(b" ")
        if pos < 0:
            raise DataToolError(f"{list_path}:{number}: expected '<image path> <label>' "
                                f"separated by a space (Caffe splits at the last space), got "
                                f"{_show(line)}")
        path, label_text = line[:pos], line[pos + 1:]
        match = _LABEL.match(label_text)
        if not path or match is None:
            what = "an empty image path" if not path else f"bad label {_show(label_text)}"
            raise DataToolError(f"{list_path}:{number}: {what} (a line is '<image path> "
                                f"<integer label>'), got {_show(line)}")
        label = int(match.group(1))
        if not -2**31 <= label < 2**31:
            raise DataToolError(f"{list_path}:{number}: label {label} does not fit Caffe's "
                                "int32")
        entries.append(ListEntry(number, os.fsdecode(path), label, path))
    return entries


def file_list(path) -> list[str]:
    """The whitespace-separated entries of a list of files (HDF5Data's ``source``)."""
    path = os.fspath(path)
    entries = _read(path, "list file").decode("utf-8", "surrogateescape").split()
    if not entries:
        raise NetError(f"list file '{path}' lists no files")
    return entries
