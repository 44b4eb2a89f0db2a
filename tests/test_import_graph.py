"""The package's import graph (``scripts/check_imports.py``): no cycles, imports only down the
layers, at most five function-level imports of its own modules, no module over 450 lines."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _checker():
    spec = importlib.util.spec_from_file_location("check_imports",
                                                  ROOT / "scripts" / "check_imports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_import_graph_keeps_its_rules():
    assert _checker().problems(str(ROOT)) == []


def test_the_checker_finds_a_cycle_and_a_wrong_way_import(tmp_path):
    checker = _checker()
    pkg = tmp_path / "keras_caffe"
    for sub in ("graph", "converters"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "graph" / "a.py").write_text("from ..converters import b\n")
    (pkg / "converters" / "b.py").write_text("def f():\n    from ..graph import a\n")
    found = checker.problems(str(tmp_path))
    assert any(p.startswith("import cycle:") for p in found), found
    assert any("keras_caffe.graph.a:1: imports keras_caffe.converters.b" in p for p in found)
