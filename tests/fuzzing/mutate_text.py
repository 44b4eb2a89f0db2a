"""Mutations of prototxt text (nets, solvers, list files), seeded by a ``random.Random``.

Text is handled as Latin-1 ``str`` so that every byte round-trips (a mutation may leave bytes
that are not UTF-8, as a hostile file would).  Each mutation returns the new text and a short
description of what it did; :func:`mutate` stacks one to three of them.
"""

from __future__ import annotations

import random
import re

#: Extreme values a number is replaced with: the bounds of Caffe's int32/uint32/int64/uint64
#: fields, one past them, float extremes, non-finite values, zero and -1.  An integer is
#: mostly replaced by an integer and a float by a float (a value of the wrong kind is a parse
#: error, which stops a net before the code that reads the value).
INTEGERS = ("0", "-1", "1", "2", "3", "2147483647", "-2147483648", "4294967295", "100000",
            "65536", "1000000000")
OVERFLOWS = ("2147483648", "-2147483649", "4294967296", "9223372036854775807",
             "9223372036854775808", "-9223372036854775808", "18446744073709551615",
             "18446744073709551616")
FLOATS = ("1e308", "-1e308", "1e-320", "3.4e38", "-3.4e38", "1e40", "-0.0", "0.5", "-1.5",
          "nan", "inf", "-inf", "1e999", "0.0")
EXTREMES = INTEGERS + OVERFLOWS + FLOATS

_TOKEN = re.compile(r"""
    (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)[fF]?(?![\w.]))
  | (?P<ident>[-+]?[A-Za-z_][\w.]*)
  | (?P<punct>[{}\[\]:<>,;])
  | (?P<space>\s+)
  | (?P<other>.)
""", re.X | re.S)

_INTERESTING_BYTES = "\x00\xff\x80\xe9{}\":#\n\\'<>[]-9"


class Tok:
    __slots__ = ("kind", "text", "start", "end")

    def __init__(self, kind: str, text: str, start: int, end: int):
        self.kind, self.text, self.start, self.end = kind, text, start, end


def tokens(text: str) -> list[Tok]:
    """The tokens of ``text`` but spaces and comments."""
    out = []
    for m in _TOKEN.finditer(text):
        if m.lastgroup not in ("space", "comment"):
            out.append(Tok(m.lastgroup, m.group(), m.start(), m.end()))
    return out


def blocks(toks: list[Tok]) -> list[tuple[int, int, int, str]]:
    """``(depth, first token, last token, parent name)`` of every ``name { ... }`` block (also
    ``name: { ... }`` and ``<...>``), first token being the name; the parent of a top-level
    block is ``""``."""
    out, stack = [], []
    for i, t in enumerate(toks):
        if t.text in ("{", "<"):
            j = i - 1
            if j >= 0 and toks[j].text == ":":
                j -= 1
            start = j if j >= 0 and toks[j].kind == "ident" else i
            stack.append(start)
        elif t.text in ("}", ">") and stack:
            start = stack.pop()
            parent = toks[stack[-1]].text if stack else ""
            out.append((len(stack), start, i, parent))
    return out


def fields(toks: list[Tok]) -> list[tuple[int, int, str, int]]:
    """``(first, last, enclosing block name, its first token)`` of every scalar
    ``name: value`` field (``""``, -1 at the top level)."""
    out, stack = [], []
    for i, t in enumerate(toks):
        if t.text in ("{", "<"):
            j = i - 1 - (i >= 2 and toks[i - 1].text == ":")
            stack.append((toks[j].text if j >= 0 else "", j))
        elif t.text in ("}", ">") and stack:
            stack.pop()
        elif (t.kind == "ident" and i + 2 < len(toks) and toks[i + 1].text == ":"
              and toks[i + 2].kind in ("number", "string", "ident")):
            out.append((i, i + 2) + (stack[-1] if stack else ("", -1)))
    return out


def _span(text: str, toks: list[Tok], first: int, last: int) -> tuple[int, int]:
    return toks[first].start, toks[last].end


# --------------------------------------------------------------------------- mutations

def bit_flip(text: str, rng: random.Random, others) -> tuple[str, str]:
    data = bytearray(text.encode("latin-1"))
    if not data:
        return "\xff", "bit flip of an empty text: one 0xff byte"
    where = []
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(data))
        data[pos] ^= 1 << rng.randrange(8)
        where.append(pos)
    return data.decode("latin-1"), f"bit flips at bytes {where}"


def byte_set(text: str, rng: random.Random, others) -> tuple[str, str]:
    pos = rng.randrange(len(text) + 1)
    char = rng.choice(_INTERESTING_BYTES)
    insert = rng.random() < 0.5
    new = text[:pos] + char + text[pos + (0 if insert else 1):]
    return new, f"{'inserted' if insert else 'set'} byte {ord(char):#04x} at {pos}"


def truncate(text: str, rng: random.Random, others) -> tuple[str, str]:
    cut = rng.randrange(len(text) + 1)
    return text[:cut], f"truncated to {cut} of {len(text)} bytes"


def delete_tokens(text: str, rng: random.Random, others) -> tuple[str, str]:
    toks = tokens(text)
    if not toks:
        return truncate(text, rng, others)
    i = rng.randrange(len(toks))
    j = min(len(toks) - 1, i + rng.choice((0, 0, 0, 1, 2)))
    a, b = _span(text, toks, i, j)
    return text[:a] + text[b:], f"deleted tokens {i}..{j} ({text[a:b][:40]!r})"


def duplicate_tokens(text: str, rng: random.Random, others) -> tuple[str, str]:
    toks = tokens(text)
    if not toks:
        return text + text, "doubled the text"
    i = rng.randrange(len(toks))
    j = min(len(toks) - 1, i + rng.randrange(8))
    a, b = _span(text, toks, i, j)
    copies = rng.choice((1, 1, 1, 2, 50))
    return text[:b] + (" " + text[a:b]) * copies + text[b:], \
        f"duplicated tokens {i}..{j} x{copies} ({text[a:b][:40]!r})"


def number(text: str, rng: random.Random, others) -> tuple[str, str]:
    toks = tokens(text)
    numbers = [t for t in toks if t.kind == "number"]
    if not numbers:
        return byte_set(text, rng, others)
    t = rng.choice(numbers)
    integer = re.fullmatch(r"[-+]?\d+", t.text) is not None
    value = rng.choice(EXTREMES if rng.random() < 0.15 else INTEGERS if integer else FLOATS)
    return text[:t.start] + value + text[t.end:], \
        f"number {t.text!r} at byte {t.start} -> {value}"


def swap_fields(text: str, rng: random.Random, others) -> tuple[str, str]:
    """Swap the values of two fields of one name (mostly of different layers: two layers'
    ``num_output``), or two whole fields of blocks of one kind (a layer's ``kernel_size`` for
    another layer's ``stride``)."""
    toks = tokens(text)
    found = fields(toks)
    if len(found) < 2:
        return number(text, rng, others)
    first = rng.choice(found)
    if rng.random() < 0.6:
        name = toks[first[0]].text
        pool = [f for f in found if toks[f[0]].text == name and f is not first]
        values_only = True
    else:
        pool = [f for f in found if f[2] == first[2] and f[3] != first[3]]
        values_only = False
    if not pool:   # no other field of that name (a solver): one whose value is of its kind
        kind = toks[first[1]].kind
        pool = [f for f in found if f is not first and toks[f[1]].kind == kind]
    second = rng.choice(pool or [f for f in found if f is not first])
    (a0, a1), (b0, b1) = sorted((first[:2], second[:2]))
    if values_only:
        a0, b0 = a1, b1
    sa, sb = _span(text, toks, a0, a1), _span(text, toks, b0, b1)
    fa, fb = text[sa[0]:sa[1]], text[sb[0]:sb[1]]
    new = text[:sa[0]] + fb + text[sa[1]:sb[0]] + fa + text[sb[1]:]
    what = "values of" if values_only else "fields"
    return new, f"swapped {what} {fa[:30]!r} (byte {sa[0]}) and {fb[:30]!r} (byte {sb[0]})"


def move_block(text: str, rng: random.Random, others) -> tuple[str, str]:
    """Copy a nested block (a layer's ``convolution_param { ... }``, a filler, a shape) into
    another block of the kind it sits in (another layer), or swap two blocks of one name (two
    layers' fillers)."""
    toks = tokens(text)
    found = blocks(toks)
    nested = [b for b in found if b[0] >= 1]
    if not nested:
        return swap_fields(text, rng, others)
    _, f0, f1, parent = rng.choice(nested)
    a, b = _span(text, toks, f0, f1)
    if rng.random() < 0.4:
        same = [x for x in nested if toks[x[1]].text == toks[f0].text and x[1] != f0]
        if same:
            _, h0, h1, _ = rng.choice(same)
            c, d = _span(text, toks, h0, h1)
            if d <= a or b <= c:
                (a, b), (c, d) = sorted(((a, b), (c, d)))
                new = text[:a] + text[c:d] + text[b:c] + text[a:b] + text[d:]
                return new, f"swapped blocks {text[a:b][:30]!r} (byte {a}) and " \
                            f"{text[c:d][:30]!r} (byte {c})"
    hosts = [x for x in found if toks[x[1]].text == parent and not x[1] <= f0 <= x[2]] \
        or found
    depth, g0, g1, _ = rng.choice(hosts)
    piece, host = text[a:b], text[toks[g0].start:toks[g0].end]
    # the host's own block of that name (a singular field may be given once) is replaced
    own = [x for x in nested if x[0] == depth + 1 and g0 < x[1] < g1
           and toks[x[1]].text == toks[f0].text]
    if own and not (own[0][1] <= f0 <= own[0][2]):
        c, d = _span(text, toks, own[0][1], own[0][2])
        if d <= a or b <= c:
            return text[:c] + piece + text[d:], \
                f"block {piece[:40]!r} (byte {a}) replaces the one of {host!r} at byte {c}"
    at = toks[g1].start                      # before the closing brace of the host
    return text[:at] + " " + piece + " " + text[at:], \
        f"copied block {piece[:40]!r} (byte {a}) into the block {host!r} at byte " \
        f"{toks[g0].start}"


def duplicate_layer(text: str, rng: random.Random, others) -> tuple[str, str]:
    """Copy a top-level block (a layer, a net-level ``input_shape``) after another, or delete
    one."""
    toks = tokens(text)
    top = [b for b in blocks(toks) if b[0] == 0]
    if not top:
        return duplicate_tokens(text, rng, others)
    _, f0, f1, _ = rng.choice(top)
    a, b = _span(text, toks, f0, f1)
    if rng.random() < 0.25:
        return text[:a] + text[b:], f"deleted top-level block at byte {a} ({text[a:b][:40]!r})"
    _, g0, g1, _ = rng.choice(top)
    at = toks[g1].end
    return text[:at] + "\n" + text[a:b] + text[at:], \
        f"duplicated top-level block at byte {a} ({text[a:b][:40]!r}) after byte {at}"


def splice(text: str, rng: random.Random, others) -> tuple[str, str]:
    """Insert a top-level block of another seed (a layer of another net, a solver field)."""
    if not others:
        return duplicate_layer(text, rng, others)
    name, other = rng.choice(others)
    toks = tokens(other)
    top = [b[1:3] for b in blocks(toks) if b[0] == 0] or \
        [f[:2] for f in fields(toks) if not f[2]]
    if not top:
        return duplicate_layer(text, rng, others)
    f0, f1 = rng.choice(top)
    a, b = _span(other, toks, f0, f1)
    own = tokens(text)
    same = [f for f in fields(own) if not f[2] and own[f[0]].text == toks[f0].text]
    if f1 == f0 + 2 and same:    # a field the text has: its value is replaced
        c, d = _span(text, own, same[0][0], same[0][1])
        return text[:c] + other[a:b] + text[d:], \
            f"{text[c:d][:40]!r} at byte {c} replaced by {other[a:b][:40]!r} from {name}"
    at = rng.choice([own[b[2]].end for b in blocks(own) if b[0] == 0] + [0, len(text)])
    return text[:at] + "\n" + other[a:b] + "\n" + text[at:], \
        f"inserted {other[a:b][:40]!r} from {name} at byte {at}"


#: name: (mutation, weight); the ones that keep the syntax weigh most (a syntax error stops
#: the input at the parser, which the blind ones test enough at a low weight).
MUTATIONS = {
    "bit_flip": (bit_flip, 1), "byte_set": (byte_set, 1), "truncate": (truncate, 1),
    "delete_tokens": (delete_tokens, 2), "duplicate_tokens": (duplicate_tokens, 2),
    "number": (number, 8), "swap_fields": (swap_fields, 4), "move_block": (move_block, 4),
    "duplicate_layer": (duplicate_layer, 3), "splice": (splice, 3),
}


def mutate(text: str, rng: random.Random, others=(), only: tuple[str, ...] = ()) -> tuple[str, str]:
    """One to three stacked mutations of ``text`` (weighted; ``only`` restricts the kinds);
    ``others``: ``[(name, text)]`` of other seeds, for splices."""
    names = [n for n in MUTATIONS if not only or n in only]
    weights = [MUTATIONS[n][1] for n in names]
    steps = 1 if rng.random() < 0.6 else rng.choice((2, 2, 3))
    done = []
    for _ in range(steps):
        name = rng.choices(names, weights)[0]
        text, what = MUTATIONS[name][0](text, rng, others)
        done.append(f"{name}: {what}")
    return text, "; ".join(done)
