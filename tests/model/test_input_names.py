"""A layer named like an input blob (Caffe keeps the two kinds of names apart; a Keras model
has one namespace), found by the fuzz test: one NetError naming both, not Keras's "The name
... is used 2 times in the model"."""

from __future__ import annotations

import numpy as np
import pytest

import keras_caffe
from tests.sentinel import refused

NET = """name: "clash"
layer { name: "input" type: "Input" top: "data"
  input_param { shape { dim: 1 dim: 3 dim: 5 dim: 5 } } }
layer { name: "data" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 2 kernel_size: 3 } }
"""


def test_a_layer_named_like_an_input_blob_is_refused_by_name():
    with pytest.raises(keras_caffe.NetError) as err:
        keras_caffe.build_net(NET)
    assert err.value.layer == "data"
    assert str(err.value) == (
        "layer 'data': the layer is named like the input blob 'data' (a top of layer "
        "'input'); a Keras model names its inputs after their blobs and its layers after "
        "theirs, and every name must be unique: rename the layer or the blob")


def test_the_same_net_with_the_layer_renamed_builds():
    blobs = keras_caffe.forward(NET.replace('name: "data"', 'name: "conv"'),
                                {"data": np.ones((1, 3, 5, 5), np.float32)})
    assert blobs["conv"].shape == (1, 2, 3, 3)


def test_forward_is_refused_with_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(NET)
    np.savez(tmp_path / "in.npz", data=np.zeros((1, 3, 5, 5), np.float32))
    message = refused(["forward", "net.prototxt", "--inputs", "in.npz", "--out", "out.npz"],
                      tmp_path, capsys)
    assert message.startswith("net.prototxt: layer 'data': the layer is named like the input "
                              "blob 'data' (a top of layer 'input')")
    assert not (tmp_path / "out.npz").exists()
