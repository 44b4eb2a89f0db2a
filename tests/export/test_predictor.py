"""``keras_caffe.predictor``: each runtime computes the Keras model's numbers, ``auto`` picks a
runtime that does (falling back to Keras when LiteRT cannot convert), and bad calls are
refused with one error."""

from __future__ import annotations

import importlib
import re

import numpy as np
import pytest

import keras_caffe
from keras_caffe.export import PredictorError
from keras_caffe.graph import layout
from tests.export.conftest import random
from tests.export.nets import CLASSIFIER, WITH_ACCURACY, write_net

predictor_module = importlib.import_module("keras_caffe.export.predictor")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_net(tmp_path_factory.mktemp("predictor"), CLASSIFIER, seed=11)


def _keras(net, weights, x):
    """The Keras model's NCHW prob for NCHW ``x``, at x's shape."""
    model = keras_caffe.load_model(net, weights, input_shapes={"data": x.shape})
    return np.asarray(model({"data": layout.to_internal_array(x)})["prob"])


@pytest.mark.parametrize("runtime", ["keras", "litert", "onnx"])
def test_runtime_computes_the_keras_model(files, runtime):
    net, weights = files
    run = keras_caffe.predictor(net, weights, input_shapes={"data": (3, 3, 12, 10)},
                                runtime=runtime)
    assert run.runtime == runtime and run.inputs == {"data": (3, 3, 12, 10)}
    x = random((3, 3, 12, 10), seed=2, scale=2)
    got = run(data=x)
    assert set(got) == {"prob"} and got["prob"].shape == (3, 5)
    np.testing.assert_allclose(got["prob"], _keras(net, weights, x), rtol=0, atol=1e-5)
    np.testing.assert_allclose(run({"data": x})["prob"], got["prob"], rtol=0, atol=0)


def test_keras_runtime_traces_once(files):
    net, weights = files
    run = keras_caffe.predictor(net, weights, runtime="keras")
    for seed in range(3):
        run(data=random((1, 3, 12, 10), seed=seed))
    assert run.runner.traces == 1 and run.runner.frozen is not None


def test_nhwc_layout(files):
    net, weights = files
    run = keras_caffe.predictor(net, weights, input_layout="NHWC", runtime="litert")
    assert run.inputs == {"data": (1, 12, 10, 3)}
    x = random((1, 3, 12, 10), seed=3)
    got = run(data=layout.to_internal_array(x))["prob"]
    np.testing.assert_allclose(got, _keras(net, weights, x), rtol=0, atol=1e-5)


def test_auto_times_both_and_keeps_the_faster(files):
    net, weights = files
    run = keras_caffe.predictor(net, weights, runtime="auto", repeats=3)
    assert set(run.timings) == {"keras", "litert", "onnx"}
    assert all(t > 0 for t in run.timings.values())
    assert run.reason.startswith("fastest here: keras ")
    ratios = {name: float(value) for name, value in
              re.findall(r"keras / (\w+): ([0-9.]+)", run.reason)}
    assert set(ratios) == set(run.timings) - {"keras"}
    best = max(ratios, key=ratios.get)
    assert run.runtime == (best if ratios[best] > 1 else "keras")
    x = random((1, 3, 12, 10), seed=4)
    np.testing.assert_allclose(run(data=x)["prob"], _keras(net, weights, x), rtol=0, atol=1e-5)


def test_auto_falls_back_to_keras_when_litert_cannot_convert(caplog, monkeypatch):
    monkeypatch.setattr(predictor_module, "onnx_available", lambda: False)   # LiteRT alone
    with caplog.at_level("INFO", logger="keras_caffe.export.predictor"):
        run = keras_caffe.predictor(WITH_ACCURACY, runtime="auto")
    assert run.runtime == "keras" and run.timings == {}
    assert "LiteRT cannot run this net" in run.reason and "tf.RealDiv (f64)" in run.reason
    assert "using keras; LiteRT cannot run this net" in caplog.text
    assert run.inputs == {"data": (2, 5), "label": (2,)}
    feeds = {"data": random((2, 5)), "label": np.array([0, 1], np.float32)}
    want = keras_caffe.load_model(WITH_ACCURACY)(feeds)
    got = run(feeds)
    assert set(got) == set(want) == {"top1"}
    np.testing.assert_allclose(got["top1"], want["top1"], rtol=0, atol=1e-6)
    with pytest.raises(keras_caffe.CaffeError, match=r"tf.RealDiv \(f64\): top1 \(Accuracy\)"):
        keras_caffe.predictor(WITH_ACCURACY, runtime="litert")


def test_errors(files):
    net, weights = files
    with pytest.raises(PredictorError, match=r"runtime must be one of \('auto', 'keras', "
                                             r"'litert', 'onnx'\), got 'tvm'"):
        keras_caffe.predictor(net, weights, runtime="tvm")
    run = keras_caffe.predictor(net, weights, runtime="keras")
    x = random((1, 3, 12, 10))
    with pytest.raises(PredictorError, match=r"input blob 'data' has shape \(2, 3, 12, 10\); "
                                             r"this predictor was made for \(1, 3, 12, 10\)"):
        run(data=np.concatenate([x, x]))
    with pytest.raises(PredictorError, match=r"\(unknown: \['image'\]\) \(missing: \['data'\]\)"):
        run(image=x)
    with pytest.raises(PredictorError, match="input blob 'data': not an array of numbers"):
        run(data="pixels")
    with pytest.raises(keras_caffe.CaffeError, match="nope"):
        keras_caffe.predictor(net, weights, input_shapes={"nope": (1, 3, 12, 10)})


TWO_INPUTS = """
name: "two"
layer { name: "in" type: "Input" top: "b" top: "a"
  input_param { shape { dim: 2 dim: 3 dim: 10 dim: 10 } shape { dim: 2 dim: 3 dim: 10 dim: 10 } } }
layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" top: "sum" eltwise_param { coeff: 1 coeff: -2 } }
layer { name: "fc" type: "InnerProduct" bottom: "sum" top: "fc"
  inner_product_param { num_output: 20 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "side" type: "ReLU" bottom: "a" top: "side" }
"""


def test_onnx_runtime_maps_every_input_and_output_and_large_weights(tmp_path, monkeypatch):
    from keras_caffe.export import onnx

    hidden_sizes = []

    def recording(graph_def, tf):
        out, hidden = hide(graph_def, tf)
        hidden_sizes.extend(v.size for v in hidden.values())
        return out, hidden

    hide = onnx._hide_constants
    monkeypatch.setattr(onnx, "_hide_constants", recording)
    net, weights = write_net(tmp_path, TWO_INPUTS, seed=5)
    run = keras_caffe.predictor(net, weights, runtime="onnx")
    assert run.runtime == "onnx" and run.inputs == {"a": (2, 3, 10, 10), "b": (2, 3, 10, 10)}
    # fc's 20 x 300 weights left the graph for the conversion (and came back as initializers:
    # the outputs below need them); its 20 biases stayed
    assert hidden_sizes == [20 * 300] and 20 < onnx.LARGE <= 20 * 300
    feeds = {"a": random((2, 3, 10, 10), seed=1), "b": random((2, 3, 10, 10), seed=2)}
    want = keras_caffe.load_model(net, weights)(
        {k: layout.to_internal_array(v) for k, v in feeds.items()})
    got = run(feeds)
    assert set(got) == {"fc", "side"}
    np.testing.assert_allclose(got["fc"], np.asarray(want["fc"]), rtol=0, atol=1e-5)
    np.testing.assert_allclose(got["side"], layout.to_caffe_array(np.asarray(want["side"])),
                               rtol=0, atol=0)
