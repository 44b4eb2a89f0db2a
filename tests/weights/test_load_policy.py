"""What loading a caffemodel by layer name does with layers it lacks, names twice, or holds
non-finite values for (``weights.loader.load_blobs``, the one place that decides)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import keras_caffe
import keras_caffe.pycaffe as caffe
from keras_caffe import cli
from keras_caffe.proto import binary
from keras_caffe.weights.loader import nonfinite_count
from tests.model.nets import SMALL_CONVNET
from tests.sentinel import tree_state


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A working directory with the net and its full set of weights (w.caffemodel)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_text(SMALL_CONVNET)
    cnet = keras_caffe.build_net(SMALL_CONVNET, seed=7)
    keras_caffe.save_caffemodel(cnet, tmp_path / "w.caffemodel")
    return tmp_path, cnet.get_blobs()


def _blobs(cnet):
    return {k: [np.asarray(b) for b in v] for k, v in cnet.get_blobs().items()}


@pytest.mark.parametrize("case", ["cut", "renamed", "other_net"])
def test_a_caffemodel_lacking_parameter_layers_is_refused_naming_them(work, case):
    tmp, blobs = work
    layers = {"cut": {"conv1": blobs["conv1"]},                       # cut at a layer boundary
              "renamed": {"conv1": blobs["conv1"], "ip1_old": blobs["ip1"]},
              "other_net": {"conv5": [np.ones((2, 2), np.float32)], "fc8": [np.ones(3, np.float32)]},
              }[case]
    binary.write_caffemodel(tmp / "part.caffemodel", layers)
    with pytest.raises(keras_caffe.MissingWeightsError) as err:
        keras_caffe.load_model(SMALL_CONVNET, tmp / "part.caffemodel")
    message = str(err.value)
    assert message.startswith(f"{tmp / 'part.caffemodel'}: no weights for ")
    assert "--allow-missing" in message and "allow_missing=True" in message
    if case == "other_net":
        assert err.value.missing == ["conv1", "ip1"]
        assert ("no weights for 2 of the net's 2 parameter layer(s): 'conv1' (nearest in the "
                "file: 'conv5'), 'ip1';") in message
    else:
        assert err.value.missing == ["ip1"]
    if case == "renamed":
        assert "'ip1' (nearest in the file: 'ip1_old')" in message
    assert isinstance(err.value, keras_caffe.WeightError)


def test_allow_missing_keeps_fillers_and_warns_listing_them(work, caplog):
    tmp, blobs = work
    binary.write_caffemodel(tmp / "part.caffemodel", {"conv1": blobs["conv1"]})
    with caplog.at_level(logging.WARNING):
        cnet = keras_caffe.build_net(SMALL_CONVNET, tmp / "part.caffemodel", allow_missing=True,
                                     seed=1)
    assert "layers without weights in" in caplog.text and "ip1" in caplog.text
    np.testing.assert_array_equal(cnet.get_blobs()["conv1"][0], blobs["conv1"][0])
    assert cnet.weights_report.missing == ["ip1"] and cnet.weights_report.loaded == ["conv1"]
    assert not np.array_equal(cnet.get_blobs()["ip1"][0], blobs["ip1"][0])


def test_a_complete_caffemodel_loads_as_before(work):
    tmp, blobs = work
    cnet = keras_caffe.build_net(SMALL_CONVNET, tmp / "w.caffemodel", seed=3)
    for name, values in blobs.items():
        for got, want in zip(cnet.get_blobs()[name], values):
            np.testing.assert_array_equal(got, want)
    assert cnet.weights_report.missing == [] and cnet.weights_report.duplicated == []


@pytest.mark.parametrize("command", [
    ["convert", "net.prototxt", "--weights", "part.caffemodel", "-o", "out.keras"],
    ["forward", "net.prototxt", "--weights", "part.caffemodel", "--inputs", "in.npz",
     "--out", "out.npz"],
    ["export", "net.prototxt", "--weights", "part.caffemodel", "-o", "out_savedmodel"],
    ["info", "net.prototxt", "--weights", "part.caffemodel"],
    ["time", "net.prototxt", "--weights", "part.caffemodel", "--iterations", "1"],
    ["verify", "net.prototxt", "--weights", "part.caffemodel", "--inputs", "in.npz",
     "--reference", "in.npz"],
])
def test_commands_refuse_missing_layers_and_write_nothing(work, capsys, command):
    tmp, blobs = work
    binary.write_caffemodel(tmp / "part.caffemodel", {"conv1": blobs["conv1"]})
    np.savez(tmp / "in.npz", data=np.zeros((2, 3, 12, 10), np.float32))
    before = tree_state(tmp)
    assert cli.main(command) == 1
    err = capsys.readouterr().err
    assert f"keras-caffe {command[0]}: error: part.caffemodel: no weights for 1 of the net's 2 " \
           "parameter layer(s): 'ip1';" in err
    assert "Traceback" not in err
    assert tree_state(tmp) == before          # nothing written, nothing changed


def test_commands_take_allow_missing(work, capsys):
    tmp, blobs = work
    binary.write_caffemodel(tmp / "part.caffemodel", {"conv1": blobs["conv1"]})
    assert cli.main(["convert", "net.prototxt", "--weights", "part.caffemodel", "-o",
                     "out.weights.h5", "--allow-missing"]) == 0
    assert (tmp / "out.weights.h5").is_file()


def test_pycaffe_net_keeps_caffes_copy_by_name(work, caplog):
    tmp, blobs = work
    binary.write_caffemodel(tmp / "part.caffemodel", {"conv1": blobs["conv1"]})
    with caplog.at_level(logging.WARNING):
        net = caffe.Net(str(tmp / "net.prototxt"), str(tmp / "part.caffemodel"), caffe.TEST)
    np.testing.assert_array_equal(net.params["conv1"][0].data, blobs["conv1"][0])
    assert "ip1" in caplog.text


def test_a_layer_named_twice_takes_the_last_copy_with_a_warning(work, caplog):
    tmp, blobs = work
    first = [np.full_like(b, 1.0) for b in blobs["conv1"]]
    last = [np.full_like(b, 2.0) for b in blobs["conv1"]]
    binary.write_caffemodel(tmp / "dup.caffemodel",
                            [("conv1", "Convolution", first), ("ip1", "InnerProduct", blobs["ip1"]),
                             ("conv1", "Convolution", last)])
    assert [l.name for l in keras_caffe.read_weights(tmp / "dup.caffemodel")] == \
        ["conv1", "ip1", "conv1"]
    with caplog.at_level(logging.WARNING):
        cnet = keras_caffe.build_net(SMALL_CONVNET, tmp / "dup.caffemodel")
    got = cnet.get_blobs()["conv1"]
    np.testing.assert_array_equal(got[0], last[0])     # Caffe's CopyTrainedLayersFrom: last wins
    np.testing.assert_array_equal(got[1], last[1])
    assert "layer 'conv1' appears 2 times in" in caplog.text
    assert "the last copy is used" in caplog.text
    assert cnet.weights_report.duplicated == ["conv1"]


def test_non_finite_values_in_a_caffemodel_are_warned_about_by_layer_and_blob(work, caplog):
    tmp, blobs = work
    weight = np.array(blobs["ip1"][0], copy=True)
    weight.flat[[0, 5, 9]] = [np.nan, np.inf, -np.inf]
    binary.write_caffemodel(tmp / "nan.caffemodel",
                            {"conv1": blobs["conv1"], "ip1": [weight, blobs["ip1"][1]]})
    with caplog.at_level(logging.WARNING):
        cnet = keras_caffe.build_net(SMALL_CONVNET, tmp / "nan.caffemodel")
    assert (f"layer 'ip1', blob 0: 3 of {weight.size} values in {tmp / 'nan.caffemodel'} are "
            "not finite (NaN or Inf)") in caplog.text
    assert "blob 1" not in caplog.text and "conv1" not in caplog.text
    assert cnet.weights_report.nonfinite == [("ip1", 0, 3)]


def test_nonfinite_count_counts_in_blocks():
    x = np.zeros(3 * (1 << 20) + 5, np.float32)
    x[[7, 1 << 20, 3 * (1 << 20) + 4]] = [np.nan, np.inf, -np.inf]
    assert nonfinite_count(x) == 3
    assert nonfinite_count(np.ones((4, 4), np.float32)) == 0
    assert nonfinite_count(np.zeros(0, np.float32)) == 0
