"""examples/outputs.py, the examples' file helpers: atomic writes, and plots that are skipped
with a note when matplotlib is missing."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def outputs():
    spec = importlib.util.spec_from_file_location("examples_outputs",
                                                  ROOT / "examples" / "outputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_matplotlib_the_plot_is_skipped_with_one_line(outputs, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)     # import matplotlib fails
    assert outputs.pyplot() is None
    assert capsys.readouterr().out == ("plot skipped: matplotlib is not installed "
                                       "(pip install 'keras-caffe[plot]')\n")


def test_write_text_replaces_the_file_and_leaves_no_temporary(outputs, tmp_path):
    path = tmp_path / "net.prototxt"
    path.write_text("old")
    assert outputs.write_text(str(path), "new") == str(path)
    assert path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["net.prototxt"]


def test_a_failed_write_keeps_the_old_file(outputs, tmp_path):
    path = tmp_path / "data.h5"
    path.write_text("old")
    with pytest.raises(RuntimeError):
        with outputs.atomic_path(str(path)) as tmp:
            pathlib.Path(tmp).write_text("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["data.h5"]


def test_save_figure_writes_a_png(outputs, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    plt = outputs.pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    path = tmp_path / "curve.png"
    outputs.save_figure(fig, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert capsys.readouterr().out == f"plot: {path}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]
