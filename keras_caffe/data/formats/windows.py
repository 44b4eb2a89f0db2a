"""Caffe's window files: the ``source`` of a WindowData layer (R-CNN's fine-tuning windows).

``WindowDataLayer::DataLayerSetUp`` reads the file with ``>>`` (whitespace-separated tokens;
where the lines break does not matter), one record per image::

    # image_index
    image_path                            (root_folder + path, relative to the working directory)
    channels
    height
    width
    num_windows
    class_index overlap x1 y1 x2 y2       (num_windows times; pixel corners, both inclusive)

A window whose overlap is at least ``fg_threshold`` is foreground (its class must be above
0), one below ``bg_threshold`` is background (label 0), and one in between is dropped.
Caffe looks a window's image up by the record's ``image_index``, so the indices must count
0, 1, 2, ... in file order; the last record's ``channels`` is the top's channel count.

Where Caffe would CHECK-fail, read past what the file holds or silently mis-read (a number
that is not an integer stops its stream), we raise a :class:`NetError` naming the file, the
line and what is wrong.  Files of millions of windows are parsed a record at a time in numpy
(R-CNN's PASCAL VOC files hold about two thousand windows per image); the line of one window
is found again only when a message needs it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import warnings

import numpy as np

from ...errors import NetError

__all__ = ["WindowFile", "read_window_file", "IMAGE", "LABEL", "X1", "Y1", "X2", "Y2", "ORDINAL"]

#: Columns of :attr:`WindowFile.fg` / :attr:`WindowFile.bg`: the record (image) index, the
#: label (0 for background), the corners and the window's position in its record.
IMAGE, LABEL, X1, Y1, X2, Y2, ORDINAL = range(7)

_TOKEN = re.compile(rb"\S+")
_INT = re.compile(rb"[+-]?[0-9]+")
_NUMBER = re.compile(rb"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|[+-]?(inf|nan)", re.I)
_NEXT_RECORD = re.compile(rb"(?<!\S)#(?!\S)")
_INT32 = 2**31


@dataclasses.dataclass
class WindowFile:
    """A parsed window file: its images and its kept windows, split as Caffe splits them."""

    path: str
    images: list[bytes]          # root_folder + image path, per record
    image_lines: list[int]       # the line of each record's path
    channels: int                # the last record's channels: the top's channels
    channels_line: int
    fg: np.ndarray               # int32 rows (IMAGE, LABEL, X1, Y1, X2, Y2, ORDINAL)
    bg: np.ndarray
    blocks: list[tuple[int, int, int]]   # per record: byte span of its windows, its line
    file: str = ""               # the absolute path (messages re-read it after a chdir)

    def shown(self, image: int) -> str:
        return self.images[image].decode("utf-8", "backslashreplace")

    def line_of(self, image: int, ordinal: int) -> int:
        """The line of window ``ordinal`` of record ``image`` (read again from the file)."""
        start, end, line = self.blocks[image]
        try:
            with open(self.file, "rb") as f:
                f.seek(start)
                data = f.read(end - start)
        except OSError:
            return line
        return _token_line(data, 6 * ordinal, line)

    def where(self, row) -> str:
        """``file:line`` of a window row, with its image."""
        image = int(row[IMAGE])
        line = self.line_of(image, int(row[ORDINAL]))
        return f"{self.path}:{line} (image '{self.shown(image)}')"


def _token_line(data: bytes, index: int, line: int) -> int:
    """The line of token ``index`` of ``data``, whose first byte is on line ``line``."""
    for k, m in enumerate(_TOKEN.finditer(data)):
        if k == index:
            return line + data.count(b"\n", 0, m.start())
    return line + data.count(b"\n")


def read_window_file(path, root_folder: str = "", fg_threshold: float = 0.5,
                     bg_threshold: float = 0.5) -> WindowFile:
    """Read a window file as ``WindowDataLayer::DataLayerSetUp`` does (see the module
    docstring); paths are ``root_folder + path``, plain concatenation as in Caffe."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise NetError(f"window file '{path}' not found (Caffe reads it relative to the "
                       f"working directory, here {os.getcwd()})")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise NetError(f"cannot read the window file '{path}': {exc.strerror or exc}") from None
    return _Parser(path, data, os.fsencode(root_folder)).parse(np.float32(fg_threshold),
                                                               np.float32(bg_threshold))


class _Parser:
    def __init__(self, path: str, data: bytes, root: bytes):
        self.path, self.data, self.root = path, data, root
        self.pos, self.line = 0, 1   # the line of self.pos

    def _token(self, what: str, record: int | None) -> tuple[bytes, int]:
        m = _TOKEN.search(self.data, self.pos)
        if m is None:
            if record is None:
                raise NetError(f"window file '{self.path}' is empty")
            raise NetError(f"{self.path}:{self.line}: the file ends inside the record of image "
                           f"{record}: {what} expected")
        self.line += self.data.count(b"\n", self.pos, m.start())
        self.pos = m.end()
        return m.group(), self.line

    def _int(self, what: str, record: int) -> tuple[int, int]:
        token, line = self._token(what, record)
        if not _INT.fullmatch(token) or not -_INT32 <= int(token) < _INT32:
            raise NetError(f"{self.path}:{line}: {what} must be an integer, got "
                           f"{token.decode('utf-8', 'backslashreplace')!r}")
        return int(token), line

    def parse(self, fg_threshold, bg_threshold) -> WindowFile:
        images, image_lines, blocks, rows = [], [], [], []
        channels = channels_line = None
        while _TOKEN.search(self.data, self.pos) is not None or not images:
            record = len(images)
            mark, line = self._token("'#'", None if not images else record)
            if mark != b"#":
                raise NetError(f"{self.path}:{line}: expected '#' to start the record of image "
                               f"{record}, got {mark.decode('utf-8', 'backslashreplace')!r}")
            index, line = self._int("the image index after '#'", record)
            if index != record:
                raise NetError(f"{self.path}:{line}: image index {index}, expected {record}: "
                               "Caffe finds a window's image by this index, so the records "
                               "must be numbered 0, 1, 2, ... in file order")
            name, line = self._token("the image path", record)
            images.append(self.root + name)
            image_lines.append(line)
            channels, channels_line = self._int("the image's channels", record)
            self._int("the image's height", record)
            self._int("the image's width", record)
            count, line = self._int("the number of windows", record)
            if count < 0:
                raise NetError(f"{self.path}:{line}: the number of windows is {count}")
            rows.append(self._windows(record, count, line, blocks))
        windows = np.concatenate(rows)   # (the loop reads one record at least)
        return self._split(windows, images, image_lines, channels, channels_line, blocks,
                           fg_threshold, bg_threshold)

    def _windows(self, record: int, count: int, count_line: int, blocks) -> np.ndarray:
        """The ``count`` windows after the header, up to the next record: columns
        (record, ordinal, label, overlap, x1, y1, x2, y2) as float64."""
        found = _NEXT_RECORD.search(self.data, self.pos)
        end = found.start() if found else len(self.data)
        start, first = self.pos, self.line   # (the line where the block starts)
        blocks.append((start, end, first))
        block = self.data[start:end]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", DeprecationWarning)
                values = np.fromstring(block, dtype=np.float64, sep=" ")
        except (ValueError, DeprecationWarning):
            values = None
        if values is None or values.size != 6 * count:
            raise self._block_error(block, first, record, count, count_line, found is not None)
        values = values.reshape(count, 6)
        integral = np.delete(values, 1, axis=1)
        wrong = ~((integral == np.round(integral)) & (np.abs(integral) < _INT32)).all(axis=1)
        wrong |= ~(np.abs(values[:, 1]) <= np.finfo(np.float32).max)   # a float, as Caffe's
        if wrong.any():
            j = int(np.argmax(wrong))
            raise NetError(f"{self.path}:{_token_line(block, 6 * j, first)}: window "
                           f"{values[j].tolist()}: class_index, x1, y1, x2, y2 must be integers "
                           "and the overlap a finite float")
        self.line += block.count(b"\n")
        self.pos = end
        head = np.stack([np.full(count, record), np.arange(count)], axis=1).astype(np.float64)
        return np.concatenate([head, values], axis=1)

    def _block_error(self, block: bytes, first: int, record: int, count: int,
                     count_line: int, more: bool) -> NetError:
        """What is wrong with the windows of a record (only when something is)."""
        tokens = [(m.group(), first + block.count(b"\n", 0, m.start()))
                  for m in _TOKEN.finditer(block)]
        for token, line in tokens[:6 * count]:
            if not _NUMBER.fullmatch(token):
                return NetError(f"{self.path}:{line}: "
                                f"{token.decode('utf-8', 'backslashreplace')!r} is not a number "
                                "(a window is 'class_index overlap x1 y1 x2 y2')")
        if len(tokens) < 6 * count:
            after = "before the next '#'" if more else "before the end of the file"
            return NetError(f"{self.path}:{count_line}: image {record} declares {count} "
                            f"windows (6 numbers each), but {len(tokens)} numbers follow {after}")
        if len(tokens) == 6 * count:   # (numbers numpy could not read: should not happen)
            return NetError(f"{self.path}:{first}: cannot read the windows of image {record}")
        token, line = tokens[6 * count]
        return NetError(f"{self.path}:{line}: expected '#' to start the record of image "
                        f"{record + 1} after the {count} windows of image {record}, got "
                        f"{token.decode('utf-8', 'backslashreplace')!r}")

    def _split(self, windows, images, image_lines, channels, channels_line, blocks,
               fg_threshold, bg_threshold) -> WindowFile:
        overlap = windows[:, 3].astype(np.float32)   # Caffe compares in float
        cols = [0, 2, 4, 5, 6, 7, 1]                 # IMAGE, LABEL, X1, Y1, X2, Y2, ORDINAL
        as_int = windows[:, cols].astype(np.int32)   # (validated: int32 values)
        fg = as_int[overlap >= fg_threshold]
        bg = as_int[(overlap < fg_threshold) & (overlap < bg_threshold)]
        bg[:, LABEL] = 0
        result = WindowFile(self.path, images, image_lines, channels, channels_line, fg, bg,
                            blocks, os.path.abspath(self.path))
        not_class = fg[:, LABEL] <= 0
        if not_class.any():
            row = fg[np.argmax(not_class)]
            raise NetError(f"{result.where(row)}: a foreground window (overlap at least "
                           f"fg_threshold {float(fg_threshold):g}) has class {int(row[LABEL])}; "
                           "Caffe requires a class above 0 (0 is the background)")
        for kept in (fg, bg):
            empty = (kept[:, X2] < kept[:, X1]) | (kept[:, Y2] < kept[:, Y1])
            if empty.any():
                row = kept[np.argmax(empty)]
                raise NetError(f"{result.where(row)}: window x1={row[X1]} y1={row[Y1]} "
                               f"x2={row[X2]} y2={row[Y2]} is empty (x2 < x1 or y2 < y1; the "
                               "corners are inclusive)")
        return result
