"""TFLite export: builtin-op round trips, and clear reports of what blocks conversion."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import keras_caffe
from keras_caffe.export import TFLiteConversionError, export_tflite
from keras_caffe.export import tflite
from keras_caffe.export.tflite import interpreter
from keras_caffe.graph import layout
from tests.export.conftest import build_odd, random
from tests.export.nets import CLASSIFIER, IM2COL, WITH_ACCURACY


def _run(path, feeds):
    with open(path, "rb") as f:
        return interpreter(f.read()).get_signature_runner("serving_default")(**feeds)


@pytest.mark.parametrize("lay", ["NHWC", "NCHW"])
def test_classifier_round_trip_within_1e5(tmp_path, lay):
    """conv / ReLU / LRN / max pool / InnerProduct / Softmax, builtin ops only."""
    cnet = keras_caffe.build_net(CLASSIFIER, seed=7)
    target = tmp_path / "model.tflite" if lay == "NHWC" else tmp_path  # a folder: model.tflite
    result = export_tflite(cnet, target, input_layout=lay)
    assert result.path == str(tmp_path / "model.tflite") and result.tf_ops == []
    assert result.manifest["tflite"]["check"]["within_1e-4"]
    with open(result.path + ".json") as f:
        assert json.load(f)["outputs"] == [{"key": "prob", "blob": "prob", "shape": [None, 5],
                                            "dtype": "float32"}]
    for batch in (1, 3):  # the batch stays free in TFLite too
        x = random((batch, 3, 12, 10), seed=batch, scale=2)
        got = _run(result.path, {"data": x if lay == "NCHW" else layout.to_internal_array(x)})
        want = cnet.model({"data": layout.to_internal_array(x)})["prob"]
        np.testing.assert_allclose(got["prob"], want, rtol=0, atol=1e-5)


def test_custom_layers_and_escaped_names(tmp_path):
    """Conv, CaffePooling2D (AVE with pad), CaffeBatchNorm, CaffeScale; keys with '/' and
    escapes work as TFLite signature keys."""
    cnet = build_odd(seed=8)
    result = export_tflite(cnet, tmp_path / "odd.tflite", input_layout="NCHW")
    x = random((2, 3, 8, 6), seed=9)
    got = _run(result.path, {"conv1/7x7_s2": x})
    want = cnet.model({"conv1/7x7_s2": layout.to_internal_array(x)})
    assert set(got) == {"out.20blob", "pool.3A0"}
    np.testing.assert_allclose(got["out.20blob"], layout.to_caffe_array(want["out blob"]),
                               rtol=0, atol=1e-5)
    np.testing.assert_allclose(got["pool.3A0"], layout.to_caffe_array(want["pool:0"]),
                               rtol=0, atol=1e-5)


def test_float64_accuracy_blocks_builtins_and_converts_with_tf_ops(tmp_path):
    target = tmp_path / "acc.tflite"
    with pytest.raises(TFLiteConversionError) as info:
        export_tflite(WITH_ACCURACY, target)
    message = str(info.value)
    assert "tf.RealDiv (f64): top1 (Accuracy)" in message and "--allow-tf-ops" in message
    assert info.value.blockers == {"tf.RealDiv (f64)": ["top1 (Accuracy)"]}
    assert not target.exists()
    result = export_tflite(WITH_ACCURACY, target, allow_tf_ops=True)
    assert result.tf_ops == ["tf.RealDiv (f64): top1 (Accuracy)"] and target.exists()
    assert result.manifest["tflite"]["check"].startswith("skipped")
    result = export_tflite(WITH_ACCURACY, target, outputs=["fc"])  # serving needs no Accuracy
    assert result.tf_ops == [] and result.manifest["tflite"]["check"]["within_1e-4"]


def _tf_lite_interpreter(model_content, num_threads=None):
    """tf.lite's own interpreter (LiteRT's, when installed, runs the 6-D slice below)."""
    import warnings

    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tf.lite.Interpreter(model_content=model_content, num_threads=num_threads)


def test_litert_runs_the_6d_slice_tf_lite_cannot(tmp_path):
    pytest.importorskip("ai_edge_litert")
    result = export_tflite(IM2COL, tmp_path / "cols.tflite")
    assert result.manifest["tflite"]["check"]["max_abs_diff"] <= 1e-6


def test_converted_but_not_runnable_names_the_layer(tmp_path, monkeypatch):
    monkeypatch.setattr(tflite, "interpreter", _tf_lite_interpreter)
    with pytest.raises(TFLiteConversionError, match=r"cannot run it \(in layer cols \(Im2col\)\)"
                                                    ".*Slice"):
        export_tflite(IM2COL, tmp_path / "cols.tflite")
    assert not os.listdir(tmp_path)
    export_tflite(IM2COL, tmp_path / "cols.tflite", check=False)  # written when asked
    assert (tmp_path / "cols.tflite").exists()
