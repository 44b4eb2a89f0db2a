"""``keras-caffe plot-log``: curves from glog-style and JSON-lines logs, several overlaid; clear
errors for what is no log and for a missing matplotlib."""

from __future__ import annotations

import ast
import json
import pathlib
import sys

import pytest

from keras_caffe import cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _glog(path, losses, accuracy):
    lines = ["I0305 10:00:00.000000  7 solver.cpp:289] Solving Net"]
    for i, loss in enumerate(losses):
        if i % 2 == 0:
            lines += [f"I0305 10:00:{i:02d}.100000  7 solver.cpp:347] Iteration {i}, Testing net (#0)",
                      f"I0305 10:00:{i:02d}.200000  7 solver.cpp:414]     Test net output #0: "
                      f"accuracy = {accuracy[i // 2]}"]
        lines += [f"I0305 10:00:{i:02d}.500000  7 solver.cpp:239] Iteration {i} (2 iter/s, 0.5s/1 "
                  f"iters), loss = {loss}",
                  f"I0305 10:00:{i:02d}.500100  7 solver.cpp:258]     Train net output #0: loss = "
                  f"{loss} (* 1 = {loss} loss)",
                  f"I0305 10:00:{i:02d}.500200  7 sgd_solver.cpp:112] Iteration {i}, lr = 0.01"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _jsonl(path, losses):
    path.write_text("".join(json.dumps({"iteration": i, "lr": 0.01, "loss": l, "smoothed_loss": l,
                                        "seconds": 0.5, "outputs": {"loss": l}}) + "\n"
                            for i, l in enumerate(losses)))
    return path


def _png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 5000
    return data


def test_plots_several_logs_overlaid(tmp_path, capsys):
    a = _glog(tmp_path / "a.log", [2.3, 1.5, 0.9, 0.7], [0.1, 0.8])
    b = _glog(tmp_path / "b.INFO", [2.2, 1.9, 1.4, 1.1], [0.2, 0.6])
    c = _jsonl(tmp_path / "c.jsonl", [2.0, 1.0, 0.5])
    out = tmp_path / "curves.png"
    assert cli.main(["plot-log", str(a), str(b), str(c), "-o", str(out)]) == 0
    first = _png(out)
    assert f"wrote {out}" in capsys.readouterr().err
    assert cli.main(["plot-log", str(a), str(b), "-o", str(out), "--x", "both",
                     "--y", "loss,test:accuracy"]) == 0
    assert _png(out) != first
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("content,message", [
    ("hello\n", "not a Caffe log"),
    ("I0305 10:00:00.000000  7 caffe.cpp:281] Running for 2 iterations.\n", "no iterations"),
    ('{"iteration": 0}\nnot json\n', ":2: not a JSON record"),
])
def test_a_file_that_is_no_log_is_one_error(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.log"
    bad.write_text(content)
    out = tmp_path / "curves.png"
    assert cli.main(["plot-log", str(bad), "-o", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"plot-log: error: {bad}" in err[0] and message in err[0]
    assert not out.exists()


def test_missing_file_and_unknown_output(tmp_path, capsys):
    good = _glog(tmp_path / "a.log", [1.0, 0.5], [0.5])
    assert cli.main(["plot-log", str(good), str(tmp_path / "none.log"), "-o",
                     str(tmp_path / "x.png")]) == 1
    assert "none.log: cannot read it" in capsys.readouterr().err
    assert cli.main(["plot-log", str(good), "-o", str(tmp_path / "x.png"), "--y", "top5"]) == 1
    assert "no log has the output 'top5' (they have: train:loss, test:accuracy)" in \
        capsys.readouterr().err


def test_without_matplotlib_one_error_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    for name in ("matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)   # import of it fails, as if not installed
    good = _glog(tmp_path / "a.log", [1.0, 0.5], [0.5])
    assert cli.main(["plot-log", str(good), "-o", str(tmp_path / "x.png")]) == 1
    assert "pip install 'keras-caffe[plot]'" in capsys.readouterr().err


def test_no_module_of_the_package_imports_matplotlib_when_imported():
    """``import keras_caffe`` (and the CLI) never import matplotlib themselves: only a function
    that draws does."""
    for path in (ROOT / "keras_caffe").rglob("*.py"):
        tree = ast.parse(path.read_text())
        deferred = {id(inner) for node in ast.walk(tree)
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                    for inner in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in deferred:
                continue
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "matplotlib" for n in names), path
