#!/usr/bin/env python
"""Check the package's import graph: no cycles, imports only down the layers, few deferred
imports, small modules.

Run from the repository root (``python scripts/check_imports.py``); it reads the sources
with ``ast`` and imports nothing.  Exit status 1 and one line per problem when a rule is
broken; ``--graph`` also prints every module's imports of the package.

An edge goes from a module to each module of the package it imports, and to the
``__init__`` of every subpackage that the import passes through (Python runs those first);
the root package's ``__init__`` is left out, as everything passes through it.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = "keras_caffe"

#: What each part of the package may import (besides itself and the COMMON modules).
#: Parts are top-level modules or subpackages; the order is the pipeline's, bottom up.
ALLOWED = {
    "proto": set(),
    "graph": {"proto"},
    "weights": {"proto", "graph"},
    "layers": {"proto", "graph"},
    "converters": {"proto", "graph", "weights", "layers"},
    "model": {"proto", "graph", "weights", "layers", "converters"},
    "xla": set(),
    "execution": {"proto", "graph", "weights", "model", "xla"},
    "data": {"proto", "graph", "weights", "layers"},
    "api": {"proto", "graph", "converters", "model", "execution", "data"},
    "solvers": {"proto", "graph", "model", "execution", "data", "api", "xla"},
    "export": {"proto", "graph", "weights", "layers", "model", "data", "api"},
    "pycaffe": {"proto", "graph", "weights", "layers", "model", "execution", "data", "api",
                "solvers", "export"},
    "tools": {"proto", "graph", "weights", "converters", "model", "execution", "data", "api",
              "solvers", "export", "xla"},
    "apps": {"proto", "data", "pycaffe", "tools"},
    "cli": {"proto", "graph", "model", "data", "api", "solvers", "export", "tools", "pycaffe",
            "apps", "xla"},
    "__init__": {"layers", "converters", "data", "api", "export"},
}
COMMON = {"errors", "fileio", "interleaved"}
#: Function-level imports of the package's own modules allowed in all (each for an
#: optional dependency, said in a comment on the line).
MAX_DEFERRED = 5
MAX_LINES = 450
GENERATED = {f"{PACKAGE}.proto.caffe_pb2"}


def modules(root: str = ROOT) -> dict[str, str]:
    """Module name -> file path for every module of the package."""
    out = {}
    base = os.path.join(root, PACKAGE)
    for folder, dirs, files in os.walk(base):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
        for f in sorted(files):
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, f), root)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                out[".".join(rel)] = os.path.join(folder, f)
    return out


def _absolute(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports(root: str = ROOT):
    """``(module, imported module, line, deferred)`` for every import of the package."""
    mods = modules(root)
    found = []
    for name, path in mods.items():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        is_package = path.endswith("__init__.py")
        deferred_nodes = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for inner in ast.walk(node):
                    if isinstance(inner, (ast.Import, ast.ImportFrom)):
                        deferred_nodes.add(id(inner))
        for node in ast.walk(tree):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(name, is_package, node.level, node.module)
                for a in node.names:
                    full = f"{base}.{a.name}"
                    targets.append(full if full in mods else base)
            for target in targets:
                if target == PACKAGE or target.startswith(PACKAGE + "."):
                    while target not in mods and "." in target:
                        target = target.rsplit(".", 1)[0]
                    found.append((name, target, node.lineno, id(node) in deferred_nodes))
    return found


def edges(found) -> dict[str, set[str]]:
    graph = defaultdict(set)
    for src, dst, _, _ in found:
        parts = dst.split(".")
        for k in range(2, len(parts) + 1):   # subpackage __init__s on the way, then the module
            step = ".".join(parts[:k])
            if step != src and not src.startswith(step + "."):
                graph[src].add(step)
    return graph


def cycles(graph) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def part(module: str) -> str:
    parts = module.split(".")
    return "__init__" if len(parts) == 1 else parts[1]


def problems(root: str = ROOT) -> list[str]:
    found = imports(root)
    out = []
    for comp in cycles(edges(found)):
        out.append("import cycle: " + " -> ".join(comp))
    for src, dst, line, _ in found:
        a, b = part(src), part(dst)
        if a == b or b in COMMON or a in COMMON and b in COMMON:
            continue
        allowed = ALLOWED.get(a)
        if allowed is None:
            out.append(f"{src}: '{a}' is not a known part of the package (add it to ALLOWED)")
        elif b not in allowed:
            out.append(f"{src}:{line}: imports {dst} ('{a}' may import "
                       f"{', '.join(sorted(allowed | COMMON))})")
    deferred = [(s, d, l) for s, d, l, deferred in found if deferred]
    if len(deferred) > MAX_DEFERRED:
        out.append(f"{len(deferred)} function-level imports of the package's own modules "
                   f"(at most {MAX_DEFERRED}):")
        out += [f"  {s}:{l}: {d}" for s, d, l in deferred]
    for name, path in modules(root).items():
        if name in GENERATED:
            continue
        with open(path) as f:
            n = sum(1 for _ in f)
        if n > MAX_LINES:
            out.append(f"{os.path.relpath(path, root)}: {n} lines (at most {MAX_LINES})")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--graph", action="store_true", help="print each module's imports")
    args = p.parse_args(argv)
    if args.graph:
        graph = edges(imports())
        for src in sorted(graph):
            print(f"{src}: {', '.join(sorted(graph[src]))}")
    found = problems()
    for line in found:
        print(line)
    if not found:
        print("import graph: no cycles, layers respected, modules small")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
