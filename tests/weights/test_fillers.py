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
