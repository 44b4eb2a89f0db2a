"""``--runtime`` of ``keras-caffe time`` and ``keras-caffe classify``."""

from __future__ import annotations

import importlib
import json

import pytest

from keras_caffe import cli
from tests.export.nets import CLASSIFIER, WITH_ACCURACY


def test_time_runtime(tmp_path, capsys, monkeypatch):
    net = tmp_path / "net.prototxt"
    net.write_text(CLASSIFIER)
    out = tmp_path / "t.json"
    assert cli.main(["time", str(net), "--runtime", "litert", "--iterations", "3",
                     "--batch", "2", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Testing inference for 3 iterations (runtime litert: litert; data 2x3x12x10)." in text
    result = json.loads(out.read_text())
    assert result["chosen"] == "litert" and result["inputs"] == {"data": [2, 3, 12, 10]}
    assert result["forward_ms"] > 0
    acc = tmp_path / "acc.prototxt"
    acc.write_text(WITH_ACCURACY)
    # LiteRT cannot convert Accuracy; with ONNX Runtime out of the choice Keras runs it
    monkeypatch.setattr(importlib.import_module("keras_caffe.export.predictor"),
                        "onnx_available", lambda: False)
    assert cli.main(["time", str(acc), "--runtime", "auto", "--iterations", "2"]) == 0
    text = capsys.readouterr().out
    assert "(runtime auto: keras;" in text and "Note: keras: LiteRT cannot run this net" in text


def test_time_runtime_refuses_training_options(tmp_path, capsys):
    net = tmp_path / "net.prototxt"
    net.write_text(CLASSIFIER)
    assert cli.main(["time", str(net), "--runtime", "keras", "--xla"]) == 2
    assert "--runtime times float32 inference" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["time", str(net), "--runtime", "tvm"])
    assert "invalid choice: 'tvm'" in capsys.readouterr().err


def test_classify_runtime_gives_the_same_answers(capsys):
    assert cli.main(["classify", "--center_only"]) == 0
    plain = capsys.readouterr()
    assert cli.main(["classify", "--center_only", "--runtime", "litert"]) == 0
    fast = capsys.readouterr()
    assert fast.out == plain.out and "circle" in fast.out
    assert " on litert" in fast.err and " on " not in plain.err
