"""Convolution (and its depthwise fork types), Deconvolution and Im2col converters.

Each variant is a branch of converters/conv.py: a stock Conv2D when Keras's 'same' or
'valid' is Caffe's padding, CaffeConv2D otherwise (and for stride with dilation), a
DepthwiseConv2D when group == channels (with a ZeroPadding2D for other paddings), the
fork type names, weight sharing by several bottoms.  Checked: every top against a numpy
conv written from Caffe's loops, the Keras layer picked, blobs in Caffe's OIHW shapes
through a caffemodel round trip, and parameter gradients against finite differences.
"""

import pytest

import keras_caffe

from . import caffe_ref as ref
from .nets import (FILLERS, assert_blob_round_trip, assert_close, build, check_param_grads,
                   euclidean, keras_class, keras_classes, layer, net, randn, run)
from tests.sentinel import refused

# id: (type, convolution_param body, input channels, H x W, Keras class, ZeroPadding2D?)
CONV = {
    "stock_same": ("Convolution", "num_output: 3 kernel_size: 3 pad: 1", 2, (6, 5),
                   "Conv2D", False),
    "stock_valid": ("Convolution", "num_output: 3 kernel_size: 3 stride: 2", 2, (7, 6),
                    "Conv2D", False),
    "caffe_pad_stride": ("Convolution", "num_output: 3 kernel_size: 3 stride: 2 pad: 1", 2,
                         (6, 7), "CaffeConv2D", False),
    "caffe_even_kernel_pad": ("Convolution", "num_output: 2 kernel_size: 2 pad: 1", 3, (5, 4),
                              "CaffeConv2D", False),
    "rect_kernel_same": ("Convolution", "num_output: 3 kernel_h: 3 kernel_w: 1 pad_h: 1 "
                         "pad_w: 0", 2, (5, 4), "Conv2D", False),
    "rect_kernel_caffe": ("Convolution", "num_output: 3 kernel_h: 1 kernel_w: 3 pad_h: 1 "
                          "pad_w: 0 stride_h: 2 stride_w: 1", 2, (5, 6), "CaffeConv2D", False),
    # grouped: CaffeConv2D always (TensorFlow's own grouped kernels, not Keras's XLA cluster)
    "grouped": ("Convolution", "num_output: 4 kernel_size: 3 pad: 1 group: 2", 4, (5, 5),
                "CaffeConv2D", False),
    "grouped_caffe": ("Convolution", "num_output: 6 kernel_size: 3 pad: 2 group: 2 stride: 2",
                      4, (6, 6), "CaffeConv2D", False),
    "dilated_same": ("Convolution", "num_output: 3 kernel_size: 3 pad: 2 dilation: 2", 2,
                     (7, 6), "Conv2D", False),
    "stride_and_dilation": ("Convolution", "num_output: 3 kernel_size: 3 stride: 2 "
                            "dilation: 2", 2, (9, 8), "CaffeConv2D", False),
    "no_bias": ("Convolution", "num_output: 3 kernel_size: 3 pad: 1 bias_term: false", 2,
                (4, 5), "Conv2D", False),
    "depthwise_same": ("Convolution", "num_output: 3 kernel_size: 3 pad: 1 group: 3", 3,
                       (5, 6), "DepthwiseConv2D", False),
    "depthwise_zero_padding": ("Convolution", "num_output: 3 kernel_size: 3 pad: 1 stride: 2 "
                               "group: 3", 3, (6, 7), "DepthwiseConv2D", True),
    "depthwise_multiplier": ("Convolution", "num_output: 6 kernel_size: 3 pad: 1 group: 3", 3,
                             (5, 5), "DepthwiseConv2D", False),
    "depthwise_stride_and_dilation": ("Convolution", "num_output: 3 kernel_size: 3 stride: 2 "
                                      "dilation: 2 group: 3", 3, (9, 9), "CaffeConv2D", False),
    "ConvolutionDepthwise": ("ConvolutionDepthwise", "num_output: 3 kernel_size: 3 pad: 1", 3,
                             (5, 4), "DepthwiseConv2D", False),
    "DepthwiseConvolution": ("DepthwiseConvolution", "num_output: 3 kernel_size: 3 pad: 1 "
                             "stride: 2", 3, (6, 6), "DepthwiseConv2D", True),
}

ALIASES = {"kernel_size": ("kernel_h", "kernel_w"), "pad": ("pad_h", "pad_w"),
           "stride": ("stride_h", "stride_w")}


def _geometry(body):
    """(kernel, stride, pad, dilation, group, bias) read back from a param body."""
    words = body.split()
    f = {words[i].rstrip(":"): words[i + 1] for i in range(0, len(words), 2)}
    get = lambda key, default: int(f.get(key, default))  # noqa: E731
    pair = lambda name, default: tuple(  # noqa: E731
        get(side, get(name, default)) for side in ALIASES[name])
    return (pair("kernel_size", 0), pair("stride", 1), pair("pad", 0), get("dilation", 1),
            get("group", 1), f.get("bias_term", "true") == "true")


def _conv_case(variant, bottoms=("data",), tops=("conv",)):
    kind, body, channels, hw, _, _ = CONV[variant]
    inputs = {b: randn(2, channels, *hw, seed=i) for i, b in enumerate(bottoms)}
    return layer("conv", kind, bottoms, tops, f"convolution_param {{ {body} {FILLERS} }}"), \
        inputs, body


def _expected(x, blobs, body, kind, channels):
    kernel, stride, pad, dilation, group, _ = _geometry(body)
    if kind != "Convolution":
        group = channels
    return ref.conv2d(x, blobs[0], blobs[1] if len(blobs) > 1 else None, stride, pad,
                      dilation, group)


@pytest.mark.parametrize("variant", CONV)
def test_convolution_matches_caffe_with_the_intended_keras_layer(variant):
    kind, _, channels, _, cls, zero_pad = CONV[variant]
    conv, inputs, body = _conv_case(variant)
    cnet, out = run(net(inputs, conv), inputs)
    assert keras_class(cnet, "conv") == cls
    assert ("ZeroPadding2D" in keras_classes(cnet)) == zero_pad
    if cls == "Conv2D":
        kernel, stride, pad, _, _, _ = _geometry(body)
        want = "valid" if pad == (0, 0) else "same"
        assert cnet.model.get_layer("conv").get_config()["padding"] == want
    blobs = cnet.get_blobs()["conv"]
    assert_close(out["conv"], _expected(inputs["data"], blobs, body, kind, channels))


@pytest.mark.parametrize("variant", CONV)
def test_convolution_blobs_round_trip_in_oihw(variant, tmp_path):
    kind, _, channels, _, _, _ = CONV[variant]
    conv, inputs, body = _conv_case(variant)
    num_output = int(body.split()[1])
    kernel, _, _, _, group, bias = _geometry(body)
    group = channels if kind != "Convolution" else group
    shapes = [(num_output, channels // group) + kernel] + ([(num_output,)] if bias else [])
    text = net(inputs, conv)
    blobs = assert_blob_round_trip(build(text, inputs), tmp_path, {"conv": shapes})
    # Loaded back from the file, the net computes with exactly these blobs.
    out = keras_caffe.forward(text, inputs, weights=tmp_path / "roundtrip.caffemodel")
    assert_close(out["conv"], _expected(inputs["data"], blobs["conv"], body, kind, channels))


@pytest.mark.parametrize("variant", CONV)
def test_convolution_param_gradients_match_finite_differences(variant, tmp_path):
    conv, inputs, _ = _conv_case(variant)
    cnet, out = run(net(inputs, conv), inputs)
    inputs["target"] = randn(*out["conv"].shape, seed=7)
    text = net(inputs, conv, euclidean("conv"))
    check_param_grads(text, inputs, cnet.get_blobs(), tmp_path, "conv")


@pytest.mark.parametrize("variant, shapes", [
    ("caffe_pad_stride", [(3, 2, 3, 3), (3,)]),
    ("depthwise_zero_padding", [(3, 1, 3, 3), (3,)]),
])
def test_two_bottoms_share_one_weight(variant, shapes, tmp_path):
    kind, _, channels, _, cls, _ = CONV[variant]
    conv, inputs, body = _conv_case(variant, ("a", "b"), ("ya", "yb"))
    cnet, out = run(net(inputs, conv), inputs)
    assert keras_class(cnet, "conv") == cls
    blobs = assert_blob_round_trip(cnet, tmp_path, {"conv": shapes})["conv"]
    for bottom, top in (("a", "ya"), ("b", "yb")):
        assert_close(out[top], _expected(inputs[bottom], blobs, body, kind, channels))
    # Both tops feed one loss: the gradient of the shared blob sums both uses.
    inputs["target"] = randn(*out["ya"].shape, seed=5)
    text = net(inputs, conv, layer("sum", "Eltwise", ["ya", "yb"]),
               euclidean("sum"))
    check_param_grads(text, inputs, cnet.get_blobs(), tmp_path, "conv")


@pytest.mark.parametrize("kind, body, channels, match", [
    ("Convolution", "num_output: 4 kernel_size: 3 group: 3", 3, "group 3 must divide"),
    ("Convolution", "num_output: 3 kernel_size: 3 group: 2", 4, "group 2 must divide"),
    ("Convolution", "num_output: 4 kernel_size: 1 axis: 2", 3, "axis 2 is not supported"),
    ("Deconvolution", "num_output: 3 kernel_size: 2 group: 2", 4, "group 2 must divide"),
])
def test_bad_convolution_geometry_is_a_net_error(kind, body, channels, match):
    inputs = {"data": randn(1, channels, 4, 4)}
    text = net(inputs, layer("conv", kind, "data", "conv", f"convolution_param {{ {body} }}"))
    with pytest.raises(keras_caffe.NetError, match=match):
        build(text, inputs)


@pytest.mark.parametrize("kind", ["Convolution", "Deconvolution"])
@pytest.mark.parametrize("command", [["info"], ["time", "--iterations", "1"],
                                     ["convert", "-o", "m.keras"]])
def test_group_0_is_one_message_not_a_division_by_zero(kind, command, tmp_path, monkeypatch,
                                                         capsys):
    monkeypatch.chdir(tmp_path)
    inputs = {"data": (1, 4, 8, 8)}
    (tmp_path / "g.prototxt").write_text(net(inputs, layer(
        "c", kind, "data", "c", "convolution_param { num_output: 4 kernel_size: 3 group: 0 }")))
    argv = command[:1] + ["g.prototxt"] + command[1:]
    assert refused(argv, tmp_path, capsys) == (
        "g.prototxt: layer 'c': group 0 must be at least 1 (it divides the input channels (4) "
        "and num_output (4) into groups)")


@pytest.mark.xfail(strict=True, reason="Caffe's BaseConvolutionLayer accepts pad_h without "
                   "pad_w (pad_w keeps its proto default 0); keras_caffe's geometry.conv_window "
                   "raises 'pad_h and pad_w must be given together'")
def test_pad_h_alone_means_pad_w_zero_as_in_caffe():
    inputs = {"data": randn(1, 2, 5, 4)}
    conv = layer("conv", "Convolution", "data", "conv",
                 "convolution_param { num_output: 2 kernel_h: 3 kernel_w: 1 pad_h: 1 "
                 f"{FILLERS} }}")
    cnet, out = run(net(inputs, conv), inputs)
    w, b = cnet.get_blobs()["conv"]
    assert_close(out["conv"], ref.conv2d(inputs["data"], w, b, 1, (1, 0)))


def test_more_bottoms_than_tops_is_a_net_error():
    inputs = {"a": randn(1, 2, 4, 4), "b": randn(1, 2, 4, 4, seed=1)}
    text = net(inputs, layer("conv", "Convolution", ["a", "b"], "conv",
                             "convolution_param { num_output: 2 kernel_size: 1 }"))
    with pytest.raises(keras_caffe.NetError, match="as many tops as bottoms"):
        build(text, inputs)


# id: (convolution_param body, input channels, H x W)
DECONV = {
    "stride_pad": ("num_output: 3 kernel_size: 4 stride: 2 pad: 1", 2, (3, 4)),
    "group": ("num_output: 4 kernel_size: 3 stride: 2 group: 2", 4, (3, 3)),
    "dilation_no_bias": ("num_output: 2 kernel_h: 3 kernel_w: 2 dilation: 2 pad_h: 1 "
                         "pad_w: 0 bias_term: false", 3, (4, 3)),
}


def _deconv_case(variant, bottoms=("data",), tops=("up",)):
    body, channels, hw = DECONV[variant]
    inputs = {b: randn(2, channels, *hw, seed=i) for i, b in enumerate(bottoms)}
    return layer("up", "Deconvolution", bottoms, tops,
                 f"convolution_param {{ {body} {FILLERS} }}"), inputs, body


def _deconv_expected(x, blobs, body):
    kernel, stride, pad, dilation, group, _ = _geometry(body)
    return ref.deconv2d(x, blobs[0], blobs[1] if len(blobs) > 1 else None, stride, pad,
                        dilation, group)


@pytest.mark.parametrize("variant", DECONV)
def test_deconvolution_matches_caffe_and_round_trips_iohw(variant, tmp_path):
    body, channels, _ = DECONV[variant]
    up, inputs, _ = _deconv_case(variant)
    cnet, out = run(net(inputs, up), inputs)
    assert keras_class(cnet, "up") == "CaffeDeconv2D"
    kernel, _, _, _, group, bias = _geometry(body)
    num_output = int(body.split()[1])
    shapes = [(channels, num_output // group) + kernel] + ([(num_output,)] if bias else [])
    blobs = assert_blob_round_trip(cnet, tmp_path, {"up": shapes})["up"]
    assert_close(out["up"], _deconv_expected(inputs["data"], blobs, body))
    inputs["target"] = randn(*out["up"].shape, seed=3)
    text = net(inputs, up, euclidean("up"))
    check_param_grads(text, inputs, cnet.get_blobs(), tmp_path, "up")


def test_deconvolution_two_bottoms_share_one_weight():
    up, inputs, body = _deconv_case("stride_pad", ("a", "b"), ("ua", "ub"))
    cnet, out = run(net(inputs, up), inputs)
    blobs = cnet.get_blobs()["up"]
    for bottom, top in (("a", "ua"), ("b", "ub")):
        assert_close(out[top], _deconv_expected(inputs[bottom], blobs, body))


@pytest.mark.parametrize("body, hw", [
    ("kernel_size: 3 stride: 2 pad: 1", (5, 6)),
    ("kernel_h: 2 kernel_w: 3 dilation: 2 stride_h: 1 stride_w: 2", (6, 7)),
])
def test_im2col_matches_caffe_column_order(body, hw):
    inputs = {"data": randn(2, 3, *hw)}
    cnet, out = run(net(inputs, layer("cols", "Im2col", "data", "cols",
                                      f"convolution_param {{ {body} }}")), inputs)
    assert keras_class(cnet, "cols") == "CaffeIm2col"
    kernel, stride, pad, dilation, _, _ = _geometry(body)
    assert_close(out["cols"], ref.im2col(inputs["data"], kernel, stride, pad, dilation))
