"""BatchReindex, Filter and Parameter converters (BVLC's misc layers).

BatchReindex: top[i] = bottom[index[i]] (repeats and any order).  Filter: every data bottom
keeps the items whose selector is non-zero (Caffe tests ``if (*selector)``), and the
selector may be (N,) or (N, 1, ...).  Parameter: a bottomless layer whose top is its blob
(zeros until weights are loaded, as Caffe's ParameterLayer has no filler); the blob
round-trips in its Caffe shape and gets a finite-difference-checked gradient.
"""

import numpy as np
import pytest

import keras_caffe

from .nets import (assert_blob_round_trip, assert_close, build, check_param_grads, euclidean,
                   keras_class, layer, net, randn, run, write_blobs)


@pytest.mark.parametrize("index", [[3, 0, 0, 2, 1], [1], [2, 2, 2, 2, 2, 2]])
def test_batch_reindex_gathers_items(index):
    inputs = {"data": randn(4, 3, 2, 2), "index": np.array(index, np.float32)}
    cnet, out = run(net(inputs, layer("reindex", "BatchReindex", ["data", "index"], "reindex")),
                    inputs)
    assert keras_class(cnet, "reindex") == "CaffeBatchReindex"
    assert_close(out["reindex"], inputs["data"][index])


def test_batch_reindex_index_must_be_a_vector():
    inputs = {"data": randn(4, 3), "index": np.zeros((2, 1), np.float32)}
    text = net(inputs, layer("reindex", "BatchReindex", ["data", "index"], "reindex"))
    with pytest.raises(keras_caffe.NetError, match="must be a vector"):
        build(text, inputs)


@pytest.mark.parametrize("selector_shape", [(5,), (5, 1)])
def test_filter_keeps_items_with_a_non_zero_selector(selector_shape):
    selector = np.array([1, 0, 0.5, 0, 2], np.float32).reshape(selector_shape)
    inputs = {"a": randn(5, 3, 2, 2), "b": randn(5, 4, seed=1), "select": selector}
    cnet, out = run(net(inputs, layer("filter", "Filter", ["a", "b", "select"],
                                      ["fa", "fb"])), inputs)
    assert keras_class(cnet, "filter") == "CaffeFilter"
    keep = [0, 2, 4]
    assert_close(out["fa"], inputs["a"][keep])
    assert_close(out["fb"], inputs["b"][keep])


PARAM_SHAPES = [(2, 3, 2, 2), (3, 4)]


def _parameter(shape):
    inputs = {"target": randn(*shape, seed=4)}
    dims = " ".join(f"dim: {d}" for d in shape)
    return layer("param", "Parameter", [], "param",
                 f"parameter_param {{ shape {{ {dims} }} }}"), inputs


@pytest.mark.parametrize("shape", PARAM_SHAPES)
def test_parameter_top_is_its_blob(shape, tmp_path):
    param, inputs = _parameter(shape)
    text = net(inputs, param)
    cnet, out = run(text, inputs)
    assert keras_class(cnet, "param") == "CaffeParameter"
    assert not out["param"].any()  # Caffe's ParameterLayer starts from a zero blob
    blob = randn(*shape, seed=2)
    path = write_blobs(tmp_path / "p.caffemodel", {"param": [blob]})
    cnet = keras_caffe.build_net(text, weights=path, input_shapes={"target": shape})
    assert_close(keras_caffe.forward(cnet, inputs)["param"], blob)
    (held,) = assert_blob_round_trip(cnet, tmp_path, {"param": [shape]})["param"]
    np.testing.assert_array_equal(held, blob)


@pytest.mark.parametrize("shape", PARAM_SHAPES)
def test_parameter_gradient_matches_finite_differences(shape, tmp_path):
    param, inputs = _parameter(shape)
    text = net(inputs, param, euclidean("param"))
    check_param_grads(text, inputs, {"param": [randn(*shape, seed=2)]}, tmp_path, "param")


def test_parameter_without_any_model_input_is_a_net_error():
    text = layer("param", "Parameter", [], "param", "parameter_param { shape { dim: 2 } }")
    with pytest.raises(keras_caffe.NetError, match="needs a model input to attach to"):
        keras_caffe.build_net(text)
