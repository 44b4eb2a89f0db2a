"""``keras-caffe draw NET OUT``: Caffe's draw_net.py as a command."""

from __future__ import annotations

import sys

import pytest

import keras_caffe.pycaffe
from keras_caffe import cli
from tests.pycaffe.draw_nets import PHASED_NET, blob_labels, layer_labels, require_dot
from tests.shared_paths import CONFORMANCE, ZOO, require

LENET = ZOO / "bvlc/examples/mnist/lenet_train_test.prototxt"


def _draw(capsys, *argv):
    code = cli.main(["draw", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_a_zoo_net_to_png_and_svg(tmp_path, capsys):
    require_dot()
    net = require(LENET)
    code, out, _ = _draw(capsys, net, tmp_path / "lenet.png")
    assert code == 0 and out == f"Drawing net to {tmp_path / 'lenet.png'}\n"
    assert (tmp_path / "lenet.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    code, _, _ = _draw(capsys, net, tmp_path / "lenet.svg", "--rankdir", "TB")
    svg = (tmp_path / "lenet.svg").read_text()
    assert code == 0 and svg.startswith("<?xml") and "conv1 (Convolution) kernel size: 5" in svg


def test_phase_rankdir_and_lr_multipliers(tmp_path, capsys):
    net = tmp_path / "phased.prototxt"
    net.write_text(PHASED_NET)
    raw = tmp_path / "net.raw"
    assert _draw(capsys, net, raw)[0] == 0                       # Caffe's defaults: LR, ALL
    text = raw.read_text()
    assert "rankdir=LR;" in text and len(layer_labels(text)) == 9
    assert r'"conv1\n(Convolution)\nkernel size: 5\nstride: 2\npad: 1"' in layer_labels(text)
    assert _draw(capsys, net, raw, "--phase", "TEST", "--rankdir", "TB")[0] == 0
    text = raw.read_text()
    labels = layer_labels(text)
    assert "rankdir=TB;" in text and len(labels) == 7
    assert '"conv1 (Convolution) kernel size: 5 stride: 2 pad: 1"' in labels
    assert '"accuracy (Accuracy)"' in labels and '"drop1 (Dropout)"' not in labels
    assert "Batch 100" in text and "Batch 64" not in text
    assert _draw(capsys, net, raw, "--phase", "TRAIN")[0] == 0
    labels = layer_labels(raw.read_text())
    assert r'"drop1\n(Dropout)"' in labels and r'"accuracy\n(Accuracy)"' not in labels
    for flag in ("--display-lrm", "--display_lrm"):
        assert _draw(capsys, net, raw, flag)[0] == 0
        assert r'"ip1\n(InnerProduct)\nlr mult: 1.0, 2.0"' in layer_labels(raw.read_text())


def test_a_v1_net_is_upgraded(tmp_path, capsys):
    legacy = require(CONFORMANCE / "upgrade/v1_deploy_convnet/v1.prototxt")
    assert "layers {" in legacy.read_text()
    code, _, _ = _draw(capsys, legacy, tmp_path / "v1.raw")
    labels = layer_labels((tmp_path / "v1.raw").read_text())
    assert code == 0 and any("(Convolution)" in label for label in labels)
    assert len(labels) == legacy.read_text().count("layers {")


def test_a_bad_prototxt_is_one_line_naming_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.prototxt"
    bad.write_text("name: 'n'\nlayer {\n  name: 'a'\n  typo: 'x'\n}\n")
    code, out, err = _draw(capsys, bad, tmp_path / "bad.png")
    assert code == 1 and out == ""
    assert _one_line(err).startswith(f"keras-caffe draw: error: {bad}:4:")
    assert "typo" in err and not (tmp_path / "bad.png").exists()
    code, _, err = _draw(capsys, tmp_path / "missing.prototxt", tmp_path / "m.png")
    assert code == 1 and "missing.prototxt" in _one_line(err)


def test_unknown_extension_phase_and_rankdir(tmp_path, capsys):
    require_dot()
    net = require(LENET)
    code, _, err = _draw(capsys, net, tmp_path / "net.foo")
    line = _one_line(err)
    assert code == 1 and "cannot draw to format 'foo'" in line and " png," in line
    assert not (tmp_path / "net.foo").exists()
    code, _, err = _draw(capsys, net, tmp_path / "net.png", "--phase", "VAL")
    assert code == 2 and "unknown phase 'VAL'" in _one_line(err)
    code, _, err = _draw(capsys, net, tmp_path / "net.png", "--rankdir", "UP")
    assert code == 2 and "unknown --rankdir 'UP'" in _one_line(err)
    assert not (tmp_path / "net.png").exists()


def test_missing_graphviz_is_one_line(tmp_path, capsys, monkeypatch):
    net = tmp_path / "phased.prototxt"
    net.write_text(PHASED_NET)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, _, err = _draw(capsys, net, tmp_path / "net.png")
    assert code == 1 and "install Graphviz (e.g. `apt install graphviz`" in _one_line(err)
    assert not (tmp_path / "net.png").exists()
    code, _, _ = _draw(capsys, net, tmp_path / "net.raw")       # the dot text needs no dot
    assert code == 0 and len(blob_labels((tmp_path / "net.raw").read_text())) == 8


def test_missing_pydot_is_one_line(tmp_path, capsys, monkeypatch):
    net = tmp_path / "phased.prototxt"
    net.write_text(PHASED_NET)
    monkeypatch.setitem(sys.modules, "pydot", None)               # `import pydot` fails
    monkeypatch.delitem(sys.modules, "keras_caffe.pycaffe.draw", raising=False)
    monkeypatch.delattr(keras_caffe.pycaffe, "draw", raising=False)
    code, _, err = _draw(capsys, net, tmp_path / "net.png")
    assert code == 1 and "pip install 'keras-caffe[draw]'" in _one_line(err)
    assert not (tmp_path / "net.png").exists()


def test_draw_is_listed_in_the_help(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "draw a net's graph to an image" in capsys.readouterr().out
