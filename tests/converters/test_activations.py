"""Element-wise converters (ReLU, PReLU, ELU, Sigmoid, TanH, AbsVal, Power, Exp, Log, BNLL,
Threshold, Clip, Swish), Dropout and Softmax, each with non-default parameters.

Checked against Caffe's formulas (neuron layers' Forward_cpu), including the edge rules:
Power's constant output when power * scale == 0, Threshold's strict ``>``, BNLL's stable
form at large |x|, Dropout's identity in TEST and inverted scaling in TRAIN.  PReLU holds
parameters: its blob is (C,) or, channel-shared, a blob with no axes; both round-trip and
get finite-difference-checked gradients.
"""

import numpy as np
import pytest

import keras_caffe

from . import caffe_ref as ref
from .nets import (assert_blob_round_trip, assert_close, build, check_param_grads, euclidean,
                   keras_class, layer, net, randn, run)


def _sample(shape=(2, 3, 4, 5)):
    x = randn(*shape, scale=1.5)
    x.flat[:4] = [0.0, 0.3, -50.0, 50.0]  # zero, the Threshold below, and large |x|
    return x


def _power(x, power, scale, shift):
    if power * scale == 0:  # Caffe ignores the input
        return np.full(x.shape, 1.0 if power == 0 else shift ** power)
    return (shift + scale * np.float64(x)) ** power


# id: (type, param body, numpy reference, Keras class, input transform)
ELEMENTWISE = {
    "relu_negative_slope": ("ReLU", "relu_param { negative_slope: 0.1 }",
                            lambda x: np.maximum(x, 0) + 0.1 * np.minimum(x, 0), "ReLU", None),
    "relu_default": ("ReLU", "", lambda x: np.maximum(x, 0), "ReLU", None),
    "elu_alpha": ("ELU", "elu_param { alpha: 0.5 }",
                  lambda x: np.where(x > 0, x, 0.5 * (np.exp(np.minimum(x, 0)) - 1)), "ELU",
                  None),
    "sigmoid": ("Sigmoid", "", ref.sigmoid, "Activation", None),
    "tanh": ("TanH", "", np.tanh, "Activation", None),
    "absval": ("AbsVal", "", np.abs, "CaffeAbsVal", None),
    "power_cubic_negative_base": ("Power", "power_param { power: 3 scale: -0.5 shift: 0.3 }",
                                  lambda x: _power(x, 3, -0.5, 0.3), "CaffePower",
                                  lambda x: np.clip(x, -4, 4)),
    "power_sqrt": ("Power", "power_param { power: 0.5 scale: 2 shift: 0.5 }",
                   lambda x: _power(x, 0.5, 2, 0.5), "CaffePower", np.abs),
    "power_scale_zero_is_constant": ("Power", "power_param { power: 2 scale: 0 shift: 1.5 }",
                                     lambda x: _power(x, 2, 0, 1.5), "CaffePower", None),
    "power_zero_is_one": ("Power", "power_param { power: 0 scale: 2 shift: -1 }",
                          lambda x: _power(x, 0, 2, -1), "CaffePower", None),
    "exp_base2": ("Exp", "exp_param { base: 2 scale: 0.5 shift: 0.1 }",
                  lambda x: 2.0 ** (0.1 + 0.5 * x), "CaffeExp", lambda x: np.clip(x, -5, 5)),
    "exp_natural": ("Exp", "exp_param { scale: -0.7 shift: 0.2 }",
                    lambda x: np.exp(0.2 - 0.7 * x), "CaffeExp", lambda x: np.clip(x, -5, 5)),
    "log_base10": ("Log", "log_param { base: 10 scale: 2 shift: 0.5 }",
                   lambda x: np.log10(0.5 + 2 * x), "CaffeLog", lambda x: np.abs(x) + 0.01),
    "log_natural": ("Log", "log_param { scale: 0.5 shift: 3 }",
                    lambda x: np.log(3 + 0.5 * x), "CaffeLog", lambda x: np.clip(x, -4, 4)),
    "bnll": ("BNLL", "", lambda x: np.where(x > 0, x + np.log1p(np.exp(-np.abs(x))),
                                            np.log1p(np.exp(np.minimum(x, 0)))),
             "CaffeBNLL", None),
    "threshold_strict": ("Threshold", "threshold_param { threshold: 0.3 }",
                         lambda x: (x > np.float32(0.3)).astype(np.float64), "CaffeThreshold",
                         None),
    "clip": ("Clip", "clip_param { min: -0.5 max: 0.7 }",
             lambda x: np.maximum(-0.5, np.minimum(x, 0.7)), "CaffeClip", None),
    "swish_beta": ("Swish", "swish_param { beta: 1.5 }", lambda x: x * ref.sigmoid(1.5 * x),
                   "CaffeSwish", None),
    "dropout_test_identity": ("Dropout", "dropout_param { dropout_ratio: 0.3 }",
                              lambda x: x, "Dropout", None),
}


@pytest.mark.parametrize("variant", ELEMENTWISE)
def test_elementwise_matches_caffe_formula(variant):
    kind, body, formula, cls, prepare = ELEMENTWISE[variant]
    x = _sample()
    if prepare is not None:
        x = prepare(x).astype(np.float32)
    inputs = {"data": x}
    cnet, out = run(net(inputs, layer("act", kind, "data", "act", body)), inputs)
    assert keras_class(cnet, "act") == cls
    assert_close(out["act"], formula(np.float64(x)))


def test_in_place_activation_rewrites_its_bottom_blob():
    x = _sample()
    inputs = {"data": x}
    cnet, out = run(net(inputs, layer("relu", "ReLU", "data", "data",
                                      "relu_param { negative_slope: 0.2 }")), inputs)
    assert_close(out["data"], np.maximum(x, 0) + 0.2 * np.minimum(x, 0))


def test_dropout_in_train_zeroes_or_scales_by_one_over_keep():
    x = np.abs(randn(4, 8, 8, 8)) + 0.5
    inputs = {"data": x}
    cnet, out = run(net(inputs, layer("drop", "Dropout", "data", "drop",
                                      "dropout_param { dropout_ratio: 0.3 }")),
                    inputs, phase="train")
    y = out["drop"]
    kept = y != 0
    assert_close(y[kept], x[kept] / 0.7)
    assert 0.2 < 1 - kept.mean() < 0.4


def test_dropout_ratio_of_one_is_a_net_error():
    inputs = {"data": randn(1, 2)}
    text = net(inputs, layer("drop", "Dropout", "data", "drop",
                             "dropout_param { dropout_ratio: 1.0 }"))
    with pytest.raises(keras_caffe.NetError, match="dropout_ratio"):
        build(text, inputs)


@pytest.mark.parametrize("shape, axis", [((2, 3, 4, 5), None), ((2, 3, 4, 5), 2),
                                         ((2, 3, 4), -1), ((3, 5), 1), ((2, 3, 2, 4), 0)])
def test_softmax_over_its_axis(shape, axis):
    x = randn(*shape, scale=2.0)
    inputs = {"data": x}
    body = "" if axis is None else f"softmax_param {{ axis: {axis} }}"
    cnet, out = run(net(inputs, layer("prob", "Softmax", "data", "prob", body)), inputs)
    assert keras_class(cnet, "prob") == "Softmax"
    assert_close(out["prob"], ref.softmax(x, 1 if axis is None else axis))


def test_softmax_computes_in_float32_under_a_mixed_policy():
    inputs = {"data": randn(2, 3, 4, 4)}
    text = net(inputs, layer("conv", "Convolution", "data", "conv",
                             "convolution_param { num_output: 4 kernel_size: 1 }"),
               layer("prob", "Softmax", "conv", "prob"))
    cnet = build(text, inputs, precision="mixed_float16")
    assert cnet.model.get_layer("conv").dtype_policy.name == "mixed_float16"
    assert cnet.model.get_layer("prob").dtype_policy.name == "float32"
    out = keras_caffe.forward(cnet, inputs)
    w, b = cnet.get_blobs()["conv"]
    logits = np.einsum("nchw,oc->nohw", inputs["data"], w[:, :, 0, 0]) + b.reshape(1, -1, 1, 1)
    assert_close(out["prob"], ref.softmax(logits), rtol=1e-2, atol=2e-3)  # float16 conv


# id: (bottom shape, channel_shared, blob shape)
PRELU = {
    "channelwise_4d": ((2, 3, 4, 5), False, (3,)),
    "channelwise_3d": ((2, 4, 3), False, (4,)),
    "channelwise_2d": ((5, 3), False, (3,)),
    "channel_shared": ((2, 3, 4, 5), True, ()),
}


def _prelu(variant):
    shape, shared, _ = PRELU[variant]
    inputs = {"data": randn(*shape)}
    body = (f"prelu_param {{ channel_shared: {str(shared).lower()} "
            'filler { type: "gaussian" mean: 0.3 std: 0.4 } }')
    return layer("prelu", "PReLU", "data", "prelu", body), inputs


@pytest.mark.parametrize("variant", PRELU)
def test_prelu_slopes_per_channel_or_shared(variant, tmp_path):
    prelu, inputs = _prelu(variant)
    cnet, out = run(net(inputs, prelu), inputs)
    assert keras_class(cnet, "prelu") == "PReLU"
    blob_shape = PRELU[variant][2]
    slope = assert_blob_round_trip(cnet, tmp_path, {"prelu": [blob_shape]})["prelu"][0]
    x = np.float64(inputs["data"])
    a = slope.reshape((1, -1) + (1,) * (x.ndim - 2)) if slope.ndim else slope
    assert_close(out["prelu"], np.maximum(x, 0) + a * np.minimum(x, 0))


def test_prelu_needs_a_channel_axis():
    inputs = {"data": randn(5)}
    with pytest.raises(keras_caffe.NetError, match="needs a bottom with a channel axis"):
        build(net(inputs, layer("prelu", "PReLU", "data", "prelu")), inputs)


@pytest.mark.parametrize("variant", ["channelwise_4d", "channelwise_3d", "channel_shared"])
def test_prelu_param_gradients_match_finite_differences(variant, tmp_path):
    prelu, inputs = _prelu(variant)
    cnet, out = run(net(inputs, prelu), inputs)
    inputs["target"] = randn(*out["prelu"].shape, seed=3)
    check_param_grads(net(inputs, prelu, euclidean("prelu")), inputs, cnet.get_blobs(),
                      tmp_path, "prelu")
