"""Shape inference refuses what Caffe's ``Blob::Reshape`` refuses with one message naming the
file and the layer: a negative dimension, in an Input layer or in legacy ``input_dim``."""

from __future__ import annotations

import pytest

import keras_caffe
from tests.sentinel import refused

NEGATIVE = ('layer { name: "in" type: "Input" top: "x"\n'
            '        input_param { shape { dim: 1 dim: -3 dim: 4 dim: 4 } } }\n'
            'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }\n')
LEGACY = ('input: "x"\ninput_dim: 1\ninput_dim: 2\ninput_dim: -5\ninput_dim: 3\n'
          'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }\n')


@pytest.mark.parametrize("command", [["info"], ["time", "--iterations", "1"],
                                     ["convert", "-o", "m.keras"]])
def test_a_negative_input_dimension_is_refused(tmp_path, monkeypatch, capsys, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "neg.prototxt").write_text(NEGATIVE)
    argv = command[:1] + ["neg.prototxt"] + command[1:]
    assert refused(argv, tmp_path, capsys) == (
        "neg.prototxt: layer 'in': input_param.shape (1, -3, 4, 4) has a negative dimension "
        "(-3); blob dimensions are >= 0")


def test_a_negative_legacy_input_dim_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old.prototxt").write_text(LEGACY)
    assert refused(["info", "old.prototxt"], tmp_path, capsys) == (
        "old.prototxt: layer 'input': input_param.shape (1, 2, -5, 3) has a negative dimension "
        "(-5); blob dimensions are >= 0")


def test_the_python_api_raises_the_same_error():
    with pytest.raises(keras_caffe.NetError) as err:
        keras_caffe.build_net(NEGATIVE)
    assert (err.value.layer, err.value.reason) == (
        "in", "input_param.shape (1, -3, 4, 4) has a negative dimension (-3); blob dimensions "
              "are >= 0")


def test_a_source_that_cannot_be_read_for_its_shapes_says_why(tmp_path, monkeypatch, capsys):
    """``keras-caffe time`` sizes a data layer's tops from its source; when the source cannot
    be read, the message says why beside how to give the shape instead."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(
        'layer { name: "d" type: "HDF5Data" top: "x" top: "y"\n'
        '        hdf5_data_param { source: "list.txt" batch_size: 3 } }\n'
        'layer { name: "r" type: "ReLU" bottom: "x" top: "z" }\n')
    (tmp_path / "list.txt").write_text("gone.h5\n")
    message = refused(["time", "net.prototxt", "--iterations", "1"], tmp_path, capsys)
    assert message.startswith("net.prototxt: layer 'd': the shape of top 'x' comes from the "
                              "HDF5Data layer's source, which could not be read (")
    assert "could not be read (cannot read HDF5 file 'gone.h5': " in message
    assert "(layer 'd'" not in message   # the layer is named once
    assert message.endswith("); give it as --shape x=N,C,H,W (input_shapes={'x': (...)} in "
                            "Python)")
