"""Hedging over a class hierarchy: the "maximally accurate" answers of Caffe's web demo.

Deng, Krause, Berg and Fei-Fei, "Hedging your bets: optimizing accuracy-specificity
trade-offs in large scale visual recognition" (CVPR 2012), let a classifier answer with an
inner node of a class hierarchy when it is unsure of the leaf.  The reward of answering
node ``v`` is its information gain over the root, with a uniform prior over the ``N``
leaves::

    infogain(v) = log2(N) - log2(|leaves(v)|)          (0 at the root, log2 N at a leaf)

Caffe's web demo (``examples/web_demo/app.py``, ``classify_image``) reads these gains and
the node/leaf membership matrix from a pickled ``bet`` file made offline for ImageNet, and
ranks every node by its expected reward under the net's softmax::

    p(v)        = sum of p(leaf) over the leaves under v       (bet['probmat'] @ scores)
    reward(v)   = infogain(v) - 0.1 * preference(v)           (bet['infogain'] after the
                                                                demo's one-time adjustment)
    expected(v) = p(v) * reward(v)

and shows the five best nodes (``argsort()[::-1][:5]``) as "maximally accurate"; its
"maximally specific" list is the net's own top five leaves.  This is the paper's DARTS
objective ``(r_v + lambda) p(v)`` at ``lambda = 0`` (the demo searches no ``lambda`` for an
accuracy guarantee).  The pickle's ``preferences`` ("a bias to prefer children nodes in
single-chain paths") come with no formula; here ``preference(v)`` is the number of steps
``v`` can go down to a child with the same leaves (0 for a node whose children all split
its leaves, 1 for the parent of an only child, ...), so that of two nodes that are the same
answer the lower one wins.  Ties keep the hierarchy file's order.

Worked example, ``shape -> {round, angular}``, ``round -> circle``,
``angular -> {square, triangle, cross}`` (N = 4) with p = (circle .1, square .4,
triangle .3, cross .2): ``infogain`` is 0 for shape, 2 for round (preference 1: reward 1.9),
``2 - log2 3 = 0.41504`` for angular and 2 for each leaf, so the expected rewards are
square .8, triangle .6, cross .4, angular ``.9 * 0.41504 = 0.37353``, circle .2,
round ``.1 * 1.9 = .19`` and shape 0.

The hierarchy file (:func:`read_hierarchy`) has one ``PARENT CHILD`` edge a line -- the
layout of ImageNet's ``wordnet.is_a.txt``; fields are split at a tab when the line has one
(so names may hold spaces), else at whitespace; ``#`` starts a comment line.  It may be a
DAG (a node with several parents).  The net's labels are its leaves: a label matches the
node named by its id or its display name (:class:`~.classification.Labels`), edges below a
label are ignored, and nodes with no label below them are dropped, so a whole WordNet file
serves a net that knows 1000 of its synsets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import CaffeError

__all__ = ["HierarchyError", "Hierarchy", "read_hierarchy", "parse_hierarchy", "hedge",
           "PREFERENCE_BIAS"]

#: The demo's weight of ``preferences`` in the reward (``infogain -= preferences * 0.1``).
PREFERENCE_BIAS = 0.1


class HierarchyError(CaffeError):
    """A hierarchy file that cannot serve the net's labels (names the file, and the line)."""


@dataclass(frozen=True)
class Hierarchy:
    """The demo's ``bet``: ``nodes`` (ids, file order), their display ``names``,
    ``membership`` (nodes x leaves, 1 where the leaf is under the node: ``probmat``, with
    the leaves in the net's output order: ``idmapping`` applied), ``infogain`` and
    ``preferences``."""

    nodes: tuple[str, ...]
    names: tuple[str, ...]
    membership: np.ndarray
    infogain: np.ndarray
    preferences: np.ndarray

    def rewards(self, bias: float = PREFERENCE_BIAS) -> np.ndarray:
        """``infogain - bias * preferences``: the demo's adjusted ``bet['infogain']``."""
        return self.infogain - bias * self.preferences


def hedge(hierarchy: Hierarchy, probs, top: int = 5,
          bias: float = PREFERENCE_BIAS) -> list[tuple[str, float]]:
    """The ``top`` nodes by expected reward ``p(node) * reward(node)`` for one image's leaf
    probabilities ``probs`` (the net's output order), best first, as (name, value)."""
    probs = np.asarray(probs, dtype=np.float64).reshape(-1)
    if probs.shape[0] != hierarchy.membership.shape[1]:
        raise ValueError(f"hedge: {probs.shape[0]} probabilities for a hierarchy of "
                         f"{hierarchy.membership.shape[1]} leaves")
    expected = (hierarchy.membership @ probs) * hierarchy.rewards(bias)
    order = np.argsort(-expected, kind="stable")[:top]
    return [(hierarchy.names[i], float(expected[i])) for i in order]


def read_hierarchy(path: str, keys, names=None, words: dict[str, str] | None = None
                   ) -> Hierarchy:
    """Read a hierarchy file (see the module docstring) for a net whose outputs are the
    labels ``keys`` (ids), shown as ``names``; ``words`` names the inner nodes (default:
    their ids)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return parse_hierarchy(text, keys, names, words, path=path)


def _edges(text: str, path: str):
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [x.strip() for x in line.split("\t")] if "\t" in line else line.split()
        if len(fields) != 2 or not all(fields):
            raise HierarchyError(f"{path}:{lineno}: expected 'PARENT CHILD', got {raw!r}")
        yield lineno, fields[0], fields[1]


def parse_hierarchy(text: str, keys, names=None, words: dict[str, str] | None = None,
                    path: str = "<hierarchy>") -> Hierarchy:
    """:func:`read_hierarchy` on the file's text."""
    keys = [str(k) for k in keys]
    names = list(keys) if names is None else [str(n) for n in names]
    leaf_of = {}                                   # node id -> label index: ids first
    for aliases in (keys, names):
        for i, alias in enumerate(aliases):
            leaf_of.setdefault(alias, i)
    children: dict[str, list[str]] = {}
    lines: dict[str, int] = {}
    for lineno, parent, child in _edges(text, path):
        for node in (parent, child):
            children.setdefault(node, [])
            lines.setdefault(node, lineno)
        if parent not in leaf_of:                  # edges below a label are ignored
            children[parent].append(child)
    masks = _leaf_masks(children, leaf_of, lines, path)

    seen = {leaf_of[n] for n in children if n in leaf_of}
    missing = [keys[i] for i in range(len(keys)) if i not in seen]
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise HierarchyError(f"{path}: {len(missing)} of the net's {len(keys)} labels are "
                             f"not in the hierarchy: {shown}")
    kept = [n for n in children if masks[n]]
    n_leaves = len(keys)
    width = (n_leaves + 7) // 8
    bits = np.frombuffer(b"".join(masks[n].to_bytes(width, "little") for n in kept), np.uint8)
    membership = np.unpackbits(bits.reshape(len(kept), width), axis=1, bitorder="little"
                               )[:, :n_leaves].astype(np.float64)
    counts = membership.sum(axis=1)
    infogain = np.array([math.log2(n_leaves) - math.log2(c) for c in counts])
    prefs = _preferences(kept, children, masks)
    words = words or {}
    shown = tuple(names[leaf_of[n]] if n in leaf_of else words.get(n, n) for n in kept)
    return Hierarchy(tuple(kept), shown, membership, infogain,
                     np.array([prefs[n] for n in kept], dtype=np.float64))


def _post_order(children, start, done):
    """The nodes below ``start`` not in ``done`` (itself last), in post-order, and the edge
    that closes a cycle, as (node, child), if there is one."""
    out, active, stack = [], {start}, [(start, iter(children[start]))]
    finished = set()
    while stack:
        node, it = stack[-1]
        for child in it:
            if child in done or child in finished:
                continue
            if child in active:
                return out, (node, child)
            active.add(child)
            stack.append((child, iter(children[child])))
            break
        else:
            stack.pop()
            active.discard(node)
            finished.add(node)
            out.append(node)
    return out, None


def _leaf_masks(children, leaf_of, lines, path) -> dict[str, int]:
    """Node -> bit mask of the label indices under it (a label: its own bit)."""
    masks: dict[str, int] = {}
    for root in children:
        if root in masks:
            continue
        order, cycle = _post_order(children, root, masks)
        if cycle:
            raise HierarchyError(f"{path}:{lines[cycle[1]]}: the hierarchy has a cycle "
                                 f"through {cycle[0]!r} and {cycle[1]!r}")
        for node in order:
            mask = 1 << leaf_of[node] if node in leaf_of else 0
            for child in children[node]:
                mask |= masks[child]
            masks[node] = mask
    return masks


def _preferences(nodes, children, masks) -> dict[str, int]:
    """Steps each node can go down through children with its own leaves."""
    same = {n: [c for c in children[n] if masks[c] == masks[n]] for n in nodes}
    prefs: dict[str, int] = {}
    for root in nodes:
        if root not in prefs:
            for node in _post_order(same, root, prefs)[0]:
                prefs[node] = 1 + max(prefs[c] for c in same[node]) if same[node] else 0
    return prefs
