"""One declaration per Caffe type: a type registered with its traits is known everywhere
(loss weight, float32 under mixed precision, automatic top, info, time, the README table)
with no other edit."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_caffe
from keras_caffe.graph import types
from keras_caffe.proto import caffe_pb2
from keras_caffe.tools import readme_table, timing
from keras_caffe.tools.info import net_table


class SquaredGap(keras.layers.Layer):
    """sum((a - b)^2) / 2N, like Caffe's EuclideanLoss (a user's own loss layer)."""

    def call(self, inputs):
        a, b = inputs
        n = keras.ops.cast(keras.ops.shape(a)[0], a.dtype)
        return keras.ops.sum(keras.ops.square(a - b)) / (2.0 * n)


NET = """
name: "user_loss"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 4 dim: 3 } } }
layer { name: "target" type: "Input" top: "target" input_param { shape { dim: 4 dim: 2 } } }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
  inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "gap" type: "SquaredGap" bottom: "fc" bottom: "target" %s }
"""


@pytest.fixture
def user_loss(monkeypatch):
    """Register ``SquaredGap`` (loss=True) for one test; the registry is restored after."""
    monkeypatch.setattr(types, "_TYPES", dict(types._TYPES))

    @keras_caffe.register_converter("SquaredGap", bottoms=2, loss=True,
                                    shape=lambda layer, bottoms: [()])
    def squared_gap(ctx, a, b):
        return ctx.add(SquaredGap(name=ctx.keras_name))([a, b])

    return squared_gap


def test_a_users_loss_type_weighs_one_and_gets_an_automatic_top(user_loss):
    cnet = keras_caffe.build_net(NET % "", seed=1)   # no top: Caffe's AutoTopBlobs
    assert [(b.name, w) for b, w in cnet.loss_terms] == [("(automatic) gap", 1.0)]
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    t = np.zeros((4, 2), np.float32)
    blobs = keras_caffe.forward(cnet, {"data": x, "target": t})
    w, b = cnet.get_blobs()["fc"]
    fc = x @ w.T + b
    np.testing.assert_allclose(blobs["fc"], fc, rtol=1e-5)
    cnet.model({"data": x, "target": t})
    np.testing.assert_allclose(float(sum(cnet.model.losses)), np.sum(fc ** 2) / 8, rtol=1e-5)


def test_a_users_loss_type_computes_in_float32_under_mixed_precision(user_loss):
    cnet = keras_caffe.build_net(NET % 'top: "gap"', precision="mixed_float16")
    assert cnet.contexts["gap"].keras_layers[0].dtype_policy.name == "float32"
    assert cnet.contexts["fc"].param_layer.dtype_policy.name == "mixed_float16"


def test_a_users_type_shows_in_info_time_and_the_readme_table(user_loss):
    table = net_table(NET % 'top: "gap"')
    assert "gap" in table and "SquaredGap" in table
    result = timing.time_net(NET % 'top: "gap"', iterations=1, warmup=0, phase="test")
    row = next(r for r in result["layers"] if r["name"] == "gap")
    assert row["type"] == "SquaredGap" and row["forward_ms"] > 0
    assert row["backward_ms"] is not None and "no loss" not in " ".join(result["notes"])
    assert ("| SquaredGap (user) | converted (`tests.graph.test_types`) |"
            in readme_table.markdown_table())


def test_a_type_without_loss_weighs_nothing(monkeypatch):
    monkeypatch.setattr(types, "_TYPES", dict(types._TYPES))

    @keras_caffe.register_converter("SquaredGap", bottoms=2, shape=lambda layer, b: [()])
    def squared_gap(ctx, a, b):
        return ctx.add(SquaredGap(name=ctx.keras_name))([a, b])

    cnet = keras_caffe.build_net(NET % 'top: "gap"')
    assert cnet.loss_terms == [] and not types.get("SquaredGap").float32


def test_registering_a_declared_type_twice_needs_override(user_loss):
    with pytest.raises(ValueError, match="already registered"):
        keras_caffe.register_converter("SquaredGap")(lambda ctx, x: x)
    with pytest.raises(ValueError, match="already registered"):
        keras_caffe.register_converter("Convolution")(lambda ctx, x: x)


def test_every_type_of_caffes_layer_factory_is_declared():
    """BVLC Caffe's layer catalogue (its layer factory's registrations)."""
    catalogue = (
        "AbsVal Accuracy ArgMax BatchNorm BatchReindex Bias BNLL Clip Concat ContrastiveLoss "
        "Convolution Crop Data Deconvolution Dropout DummyData Eltwise ELU Embed EuclideanLoss "
        "Exp Filter Flatten HDF5Data HDF5Output HingeLoss Im2col ImageData InfogainLoss "
        "InnerProduct Input Log LRN LSTM LSTMUnit MemoryData MultinomialLogisticLoss MVN "
        "Parameter Pooling Power PReLU Python Reduction ReLU Reshape RNN Scale Sigmoid "
        "SigmoidCrossEntropyLoss Silence Slice Softmax SoftmaxWithLoss Split SPP Swish TanH "
        "Threshold Tile WindowData").split()
    missing = [t for t in catalogue if types.get(t) is None or types.get(t).origin != types.BVLC]
    assert missing == []
    assert types.get("SoftmaxWithLoss").labels == (1,) and types.get("Softmax").float32
    assert types.get("Data").reader is not None and types.get("WindowData").reader is not None
    assert types.get("AnnotatedData").reader is None   # (the SSD fork's: not read yet)
    assert types.get("HDF5Output").sink is not None and types.get("Input").source == "caller"
    assert types.source_of(caffe_pb2.LayerParameter(type="Python")) == "data"
    assert types.source_of(caffe_pb2.LayerParameter(type="Python", bottom=["x"])) is None
