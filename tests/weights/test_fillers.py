"""A filler Caffe would abort on (``CHECK_GT(sigma, 0)``, ``CHECK_LE(a, b)``) is one message
naming the layer, before any weight is drawn: no bare traceback, no file written."""

from __future__ import annotations

import numpy as np
import pytest

import keras_caffe
from tests.sentinel import refused

NET = ('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 4 dim: 8 '
       'dim: 8 } } }\n'
       'layer { name: "c" type: "Convolution" bottom: "x" top: "y"\n'
       '        convolution_param { num_output: 4 kernel_size: 3 FILLER } }\n')

BAD = {
    "std_negative": ('weight_filler { type: "gaussian" std: -1 }',
                     "layer 'c': the gaussian filler needs std > 0, got std: -1 (Caffe: "
                     "CHECK_GT(sigma, 0))"),
    "std_zero": ('weight_filler { type: "gaussian" std: 0 }',
                 "layer 'c': the gaussian filler needs std > 0, got std: 0 (Caffe: "
                 "CHECK_GT(sigma, 0))"),
    "uniform_min_over_max": ('bias_filler { type: "uniform" min: 1 max: 0 }',
                             "layer 'c': the uniform filler needs min <= max, got min: 1 max: 0 "
                             "(Caffe: CHECK_LE(a, b))"),
}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("command", [["time", "--iterations", "1"], ["convert", "-o", "m.keras"],
                                     ["forward", "--inputs", "in.npz", "--out", "out.npz"]])
def test_a_filler_caffe_aborts_on_is_refused(case, command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    filler, message = BAD[case]
    (tmp_path / "net.prototxt").write_text(NET.replace("FILLER", filler))
    np.savez(tmp_path / "in.npz", x=np.ones((1, 4, 8, 8), np.float32))
    argv = command[:1] + ["net.prototxt"] + command[1:]
    assert refused(argv, tmp_path, capsys) == message


def test_the_python_api_raises_the_same_error():
    with pytest.raises(keras_caffe.NetError) as err:
        keras_caffe.build_net(NET.replace("FILLER", BAD["std_negative"][0]))
    assert str(err.value) == BAD["std_negative"][1]
    keras_caffe.build_net(NET.replace("FILLER", 'weight_filler { type: "uniform" min: 1 max: 1 }'))


def test_a_type_declares_its_blobs_fillers_where_it_registers(monkeypatch):
    from keras_caffe.graph import types
    from keras_caffe.proto import caffe_pb2
    from keras_caffe.weights.fillers import blob_fillers

    monkeypatch.setattr(types, "_TYPES", dict(types._TYPES))
    keras_caffe.register_converter(
        "Gain", fillers=lambda layer, n: [caffe_pb2.FillerParameter(type="constant", value=3)])(
        lambda ctx, x: x)
    keras_caffe.register_converter("Plain")(lambda ctx, x: x)
    gain, plain = caffe_pb2.LayerParameter(type="Gain"), caffe_pb2.LayerParameter(type="Plain")
    assert [(f.type, f.value) for f in blob_fillers(gain, 2)] == [("constant", 3), ("constant", 0)]
    assert [(f.type, f.value) for f in blob_fillers(plain, 1)] == [("constant", 0)]
    scale = caffe_pb2.LayerParameter(type="Scale")          # Caffe's defaults: 1, then 0
    assert [f.value for f in blob_fillers(scale, 2)] == [1.0, 0.0]
    scale.scale_param.filler.type = "gaussian"
    assert [f.type for f in blob_fillers(scale, 2)] == ["gaussian", "constant"]
    psp = caffe_pb2.LayerParameter(type="BN")
    psp.bn_param.frozen = True                             # PSPNet: variance starts at 1
    assert [f.value for f in blob_fillers(psp, 4)[2:]] == [0.0, 1.0]
