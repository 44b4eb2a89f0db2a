"""``type: "Python"`` layers through keras_caffe.register_python_layer.

A registered factory gets ``param_str`` and the layer name; its Keras layer sees the bottoms
in Caffe's NCHW order (as the Python layer did) and its tops go back as Caffe blobs.  The
variants: one bottom / one top, several bottoms and tops, a layer holding weights (blobs as
the layer keeps them, round trip and finite-difference gradients), registration by
``module.layer`` or by bare layer name, and importing ``module.layer`` only when
``allow_python_layers=True``.
"""

import keras
import numpy as np
import pytest

import keras_caffe

from .nets import (assert_blob_round_trip, assert_close, build, check_param_grads, euclidean,
                   layer, net, randn, run, write_blobs)


class ScaleMinusChannel(keras.layers.Layer):
    """x * param_str - c at channel c: only right if the layer sees NCHW."""

    def __init__(self, param_str="1", **kwargs):
        super().__init__(**kwargs)
        self.factor = float(param_str)

    def call(self, x):
        channel = keras.ops.reshape(keras.ops.arange(x.shape[1], dtype=x.dtype),
                                    (1, -1) + (1,) * (len(x.shape) - 2))
        return x * self.factor - channel


class SumAndDifference(keras.layers.Layer):
    def call(self, inputs):
        a, b = inputs
        return [a + b, a - b]


class ChannelGain(keras.layers.Layer):
    """y = x * gain[c] with a learned (C,) weight."""

    def build(self, shape):
        self.gain = self.add_weight(shape=(shape[1],),
                                    initializer=keras.initializers.Constant([0.5, -1.0, 2.0]))

    def call(self, x):
        return x * keras.ops.reshape(self.gain, (1, -1, 1, 1))


def _python(module, name, bottoms, tops, param_str=""):
    body = (f'python_param {{ module: "{module}" layer: "{name}" '
            f'param_str: "{param_str}" }}')
    return layer("py", "Python", bottoms, tops, body)


def test_registered_layer_sees_nchw_and_gets_param_str():
    keras_caffe.register_python_layer("my_layers.ScaleMinusChannel", ScaleMinusChannel,
                                      override=True)
    inputs = {"data": randn(2, 3, 4, 5)}
    cnet, out = run(net(inputs, _python("my_layers", "ScaleMinusChannel", "data", "py", "2.5")),
                    inputs)
    assert type(cnet.model.get_layer("py")).__name__ == "ScaleMinusChannel"
    assert_close(out["py"], inputs["data"] * 2.5 - np.arange(3).reshape(1, 3, 1, 1))


def test_bare_layer_name_matches_any_module_with_several_bottoms_and_tops():
    keras_caffe.register_python_layer("SumAndDifference", lambda **kw: SumAndDifference(
        name=kw["name"]), override=True)
    inputs = {"a": randn(2, 3, 2, 2), "b": randn(2, 3, 2, 2, seed=1)}
    cnet, out = run(net(inputs, _python("anything.here", "SumAndDifference", ["a", "b"],
                                        ["s", "d"])), inputs)
    assert_close(out["s"], inputs["a"] + inputs["b"])
    assert_close(out["d"], inputs["a"] - inputs["b"])


def _gain_case():
    keras_caffe.register_python_layer("gains.ChannelGain", lambda **kw: ChannelGain(
        name=kw["name"]), override=True)
    return _python("gains", "ChannelGain", "data", "py"), {"data": randn(2, 3, 2, 2)}


def test_python_layer_keeps_its_own_initial_weights():
    """Caffe never fills a Python layer's blobs: they keep what the layer made."""
    py, inputs = _gain_case()
    cnet, out = run(net(inputs, py), inputs)
    assert_close(cnet.get_blobs()["py"][0], [0.5, -1.0, 2.0])


def test_python_layer_weights_round_trip_and_get_gradients(tmp_path):
    py, inputs = _gain_case()
    text = net(inputs, py)
    gain = np.array([0.7, -1.3, 2.1], np.float32)
    cnet = keras_caffe.build_net(text, weights=write_blobs(tmp_path / "g.caffemodel",
                                                           {"py": [gain]}),
                                 input_shapes={"data": inputs["data"].shape})
    assert type(cnet.model.get_layer("py")).__name__ == "ChannelGain"
    (held,) = assert_blob_round_trip(cnet, tmp_path, {"py": [(3,)]})["py"]
    assert_close(held, gain)
    out = keras_caffe.forward(cnet, inputs)
    assert_close(out["py"], inputs["data"] * gain.reshape(1, 3, 1, 1))
    inputs["target"] = randn(2, 3, 2, 2, seed=3)
    check_param_grads(net(inputs, py, euclidean("py")), inputs, {"py": [gain]}, tmp_path, "py")


def test_registering_a_name_twice_needs_override():
    keras_caffe.register_python_layer("twice.Layer", ScaleMinusChannel, override=True)
    with pytest.raises(ValueError, match="override=True"):
        keras_caffe.register_python_layer("twice.Layer", ScaleMinusChannel)


def test_unregistered_python_layer_is_a_net_error():
    inputs = {"data": randn(1, 2)}
    text = net(inputs, _python("nowhere_module_xyz", "Nothing", "data", "py"))
    with pytest.raises(keras_caffe.NetError, match="register_python_layer"):
        build(text, inputs)


MODULE = '''
import keras


class Doubler(keras.layers.Layer):
    def __init__(self, param_str="", **kwargs):
        super().__init__(**kwargs)

    def call(self, x):
        return 2 * x
'''


def test_allow_python_layers_imports_module_layer(tmp_path, monkeypatch):
    (tmp_path / "kc_test_python_module.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    inputs = {"data": randn(2, 3)}
    text = net(inputs, _python("kc_test_python_module", "Doubler", "data", "py"))
    with pytest.raises(keras_caffe.NetError, match="allow_python_layers=True"):
        build(text, inputs)
    cnet, out = run(text, inputs, allow_python_layers=True)
    assert_close(out["py"], 2 * inputs["data"])
    missing = net(inputs, _python("kc_test_python_module", "Missing", "data", "py"))
    with pytest.raises(keras_caffe.NetError, match="has no 'Missing'"):
        build(missing, inputs, allow_python_layers=True)
    no_module = net(inputs, _python("kc_no_such_module_here", "Doubler", "data", "py"))
    with pytest.raises(keras_caffe.NetError, match="cannot import"):
        build(no_module, inputs, allow_python_layers=True)
