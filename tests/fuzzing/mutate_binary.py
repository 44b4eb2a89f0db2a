"""Mutations of binary inputs (caffemodels, Datums, binaryproto means, image files), seeded
by a ``random.Random``.

Besides blind byte edits, protobuf messages get edits that keep (or deliberately break) their
framing: a varint (a dimension, a length prefix, a count) or a float replaced by an extreme
value, and a field deleted, duplicated or moved between sibling messages (a caffemodel's
layers: blobs swapped between layers, a layer given twice).  This module parses the wire
format itself (independently of keras_caffe's reader) and re-encodes the lengths.
"""

from __future__ import annotations

import random
import struct

#: Extreme varints: 0, one-byte edges, int32/uint32/int64 edges, -1 as 10 bytes.
VARINTS = (0, 1, 127, 128, 255, 65536, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**63,
           2**64 - 1, 2**64 - 2**31)
FLOATS = (float("nan"), float("inf"), float("-inf"), -0.0, 3.4e38, -3.4e38, 1e-45, 0.0)
_INTERESTING = (0x00, 0xff, 0x7f, 0x80, 0x01, 0x0a, 0x12)


def varint(value: int) -> bytes:
    out = bytearray()
    value &= 2**64 - 1
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int, end: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= end or shift > 63:
            raise ValueError
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


class Field:
    """One wire field: number, wire type, its tag/value offsets, and for a length-delimited
    field that parses as a message, its fields."""

    __slots__ = ("num", "wire", "start", "value_start", "end", "children")

    def __init__(self, num, wire, start, value_start, end, children=None):
        self.num, self.wire, self.start, self.value_start, self.end = \
            num, wire, start, value_start, end
        self.children = children


def parse(data: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> list[Field]:
    """The fields of the message in ``data[start:end]`` (ValueError when it is not one);
    length-delimited fields that parse as messages get children, to ``depth`` 4."""
    end = len(data) if end is None else end
    out, pos = [], start
    while pos < end:
        tag_start = pos
        key, pos = _read_varint(data, pos, end)
        num, wire = key >> 3, key & 7
        if num == 0:
            raise ValueError
        value_start = pos
        if wire == 0:
            _, pos = _read_varint(data, pos, end)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            length, pos = _read_varint(data, pos, end)
            value_start = pos
            pos += length
        else:
            raise ValueError
        if pos > end:
            raise ValueError
        children = None
        if wire == 2 and depth < 4 and 0 < pos - value_start:
            try:
                children = parse(data, value_start, pos, depth + 1)
            except ValueError:
                children = None
        out.append(Field(num, wire, tag_start, value_start, pos, children))
    return out


def walk(fields: list[Field], parents=()):
    """``(field, its siblings, ancestors)`` for every field, depth first."""
    for f in fields:
        yield f, fields, parents
        if f.children:
            yield from walk(f.children, parents + (f,))


def encode(data: bytes, fields: list[Field], edits: dict) -> bytes:
    """Re-encode a parsed message: ``edits`` maps a field (by id) to the list of fields (or
    raw byte strings) that replace it, so lengths of the enclosing messages are rewritten."""
    out = bytearray()
    for f in fields:
        for g in edits.get(id(f), [f]):
            if isinstance(g, bytes):
                out += g
            elif g.children is not None and any(_touches(g.children, edits)):
                body = encode(data, g.children, edits)
                out += varint((g.num << 3) | 2) + varint(len(body)) + body
            else:
                out += data[g.start:g.end]
    return bytes(out)


def _touches(fields, edits):
    for f, _, _ in walk(fields):
        yield id(f) in edits


# --------------------------------------------------------------------------- blind edits

def bit_flip(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    if not data:
        return b"\x08", "bit flip of nothing: one byte"
    out = bytearray(data)
    where = []
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        pos = rng.randrange(len(out))
        out[pos] ^= 1 << rng.randrange(8)
        where.append(pos)
    return bytes(out), f"bit flips at bytes {where}"


def byte_set(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    if not data:
        return bytes([rng.choice(_INTERESTING)]), "one byte"
    pos = rng.randrange(len(data))
    value = rng.choice(_INTERESTING)
    return data[:pos] + bytes([value]) + data[pos + 1:], f"byte {pos} := {value:#04x}"


def truncate(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    cut = rng.randrange(len(data) + 1)
    return data[:cut], f"truncated to {cut} of {len(data)} bytes"


def chunk(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Delete, duplicate or insert random bytes in a run of up to 64 bytes."""
    a = rng.randrange(len(data) + 1)
    b = min(len(data), a + rng.randint(1, 64))
    kind = rng.choice(("delete", "duplicate", "insert"))
    if kind == "delete":
        return data[:a] + data[b:], f"deleted bytes {a}..{b}"
    if kind == "duplicate":
        return data[:b] + data[a:b] + data[b:], f"duplicated bytes {a}..{b}"
    junk = bytes(rng.randrange(256) for _ in range(b - a or 1))
    return data[:a] + junk + data[a:], f"inserted {len(junk)} random bytes at {a}"


BLIND = {"bit_flip": (bit_flip, 3), "byte_set": (byte_set, 2), "truncate": (truncate, 2),
         "chunk": (chunk, 2)}


# --------------------------------------------------------------------------- wire edits

def wire_number(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """A varint (value or length prefix) or a 32/64-bit value replaced by an extreme one."""
    try:
        fields = parse(data)
    except ValueError:
        return bit_flip(data, rng)
    found = [f for f, _, _ in walk(fields)]
    if not found:
        return bit_flip(data, rng)
    f = rng.choice(found)
    if f.wire == 0:
        value = rng.choice(VARINTS)
        new = data[:f.value_start] + varint(value) + data[f.end:]
        return new, f"varint of field {f.num} at byte {f.start} -> {value}"
    if f.wire == 2:   # the length prefix: lies about the size of what follows
        value = rng.choice(VARINTS + (f.end - f.value_start + 1, max(0, f.end - f.value_start - 1)))
        prefix_start = f.start + len(varint((f.num << 3) | 2))
        new = data[:prefix_start] + varint(value) + data[f.value_start:]
        return new, f"length of field {f.num} at byte {f.start} -> {value}"
    value = rng.choice(FLOATS)
    packed = struct.pack("<f" if f.wire == 5 else "<d", value)
    return data[:f.value_start] + packed + data[f.end:], \
        f"{'float' if f.wire == 5 else 'double'} of field {f.num} at byte {f.start} -> {value}"


def packed_floats(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """NaN/Inf written into packed float data (a blob's weights)."""
    try:
        fields = parse(data)
    except ValueError:
        return bit_flip(data, rng)
    spans = [f for f, _, _ in walk(fields) if f.wire == 2 and f.children is None
             and f.end - f.value_start >= 4 and (f.end - f.value_start) % 4 == 0]
    if not spans:
        return wire_number(data, rng)
    f = rng.choice(spans)
    k = rng.randrange((f.end - f.value_start) // 4)
    value = rng.choice(FLOATS)
    at = f.value_start + 4 * k
    return data[:at] + struct.pack("<f", value) + data[at + 4:], \
        f"packed value {k} of field {f.num} at byte {f.start} -> {value}"


def structure(data: bytes, rng: random.Random) -> tuple[bytes, str]:
    """Delete, duplicate or move a field: between sibling messages with the field (blobs
    swapped between two layers), or a whole layer given twice."""
    try:
        fields = parse(data)
    except ValueError:
        return chunk(data, rng)
    found = list(walk(fields))
    if not found:
        return chunk(data, rng)
    f, siblings, parents = rng.choice(found)
    kind = rng.choice(("delete", "duplicate", "duplicate", "swap", "swap"))
    if kind == "swap":
        # a field of the same number under another message of the parent's number (the
        # 'blobs' of another layer), else another field of these siblings
        cousins = [g for g, _, ps in found if g is not f and g.num == f.num
                   and (ps[-1:] != parents[-1:])]
        others = cousins or [g for g in siblings if g is not f]
        if others:
            g = rng.choice(others)
            if not (g.start <= f.start < g.end or f.start <= g.start < f.end):
                new = encode(data, fields, {id(f): [g], id(g): [f]})
                return new, f"swapped field {f.num} at byte {f.start} with field {g.num} at " \
                            f"byte {g.start}"
        kind = "duplicate"
    if kind == "delete":
        return encode(data, fields, {id(f): []}), f"deleted field {f.num} at byte {f.start}"
    copies = rng.choice((1, 1, 2))
    return encode(data, fields, {id(f): [f] * (1 + copies)}), \
        f"field {f.num} at byte {f.start} given {1 + copies} times"


WIRE = {"wire_number": (wire_number, 4), "packed_floats": (packed_floats, 1),
        "structure": (structure, 4)}


def mutate(data: bytes, rng: random.Random, protobuf: bool = True) -> tuple[bytes, str]:
    """One to three stacked mutations; ``protobuf`` adds the wire-format-aware ones."""
    table = {**BLIND, **WIRE} if protobuf else BLIND
    names = list(table)
    weights = [table[n][1] for n in names]
    steps = 1 if rng.random() < 0.6 else rng.choice((2, 2, 3))
    done = []
    for _ in range(steps):
        name = rng.choices(names, weights)[0]
        data, what = table[name][0](data, rng)
        done.append(f"{name}: {what}")
    return data, "; ".join(done)
