"""Converters of the segmentation and classification forks' types: SegNet's and PSPNet's BN,
SegNet's Upsample by the pooling mask (with Pooling's mask top), DeepLab v2 / PSPNet Interp
size rules, SENet's Axpy, the MobileNetV2 ports' ReLU6, and Dropout's fork fields.

Numpy references follow each fork's Forward_cpu: BN from SegNet's and PSPNet's bn_layer.cpp,
the mask and unpooling from Caffe's MAX pooling loop and SegNet's upsample_layer.cpp, Axpy
from SENet's axpy_layer.cpp, ReLU6 from the Caffe-ReLU6 layer, Dropout from Fast R-CNN's."""

import numpy as np
import pytest

import keras_caffe

from ..layers.test_max_unpool import ref_max_mask, ref_unpool
from .nets import (assert_blob_round_trip, assert_close, build, euclidean, keras_class, layer,
                   net, randn, run, write_blobs)

SHAPE = (2, 3, 4, 5)
SCALE, SHIFT = np.float32([1.5, -0.5, 2.0]), np.float32([0.25, 1.0, -1.0])
MEAN, VAR = np.float32([0.5, -0.25, 1.0]), np.float32([2.0, 0.5, 1.5])


def _bn_ref(x, variant, mode="", blobs=(SCALE, SHIFT), eps=1e-5):
    x = np.float64(x)
    a, b = (np.float64(v).reshape(1, -1, 1, 1) for v in blobs[:2])
    if variant == "segnet" and mode == "INFERENCE":
        return x * a + b
    if variant == "segnet":          # LEARN: the batch, var = E[x^2] - (E x)^2, eps 1e-9
        m = x.mean(axis=(0, 2, 3), keepdims=True)
        v = (x * x).mean(axis=(0, 2, 3), keepdims=True) - m * m
        return (x - m) / np.sqrt(v + 1e-9) * a + b
    m, v = (np.float64(b_).reshape(1, -1, 1, 1) for b_ in blobs[2:])
    return (x - m) / np.sqrt(v + eps) * a + b


BN = {   # id: (bn_param body, variant, mode, blobs, phase)
    "segnet_inference": ("bn_mode: INFERENCE", "segnet", "INFERENCE", [SCALE, SHIFT], "test"),
    "segnet_learn": ('scale_filler { type: "constant" value: 1 }', "segnet", "LEARN",
                     [SCALE, SHIFT], "test"),
    "pspnet_frozen": ("frozen: true momentum: 0.95", "pspnet", "", [SCALE, SHIFT, MEAN, VAR],
                      "train"),
    "pspnet_test": ("eps: 0.001", "pspnet", "", [SCALE, SHIFT, MEAN, VAR], "test"),
}


@pytest.mark.parametrize("variant", BN)
def test_bn_matches_the_fork(variant, tmp_path):
    """Forward, and the blob gradients the forks' Backward_cpu compute: scale / slope
    ``sum(x_norm * dy)``, shift / bias ``sum(dy)``; none for PSPNet's statistics, none at all
    for a frozen PSPNet BN."""
    body, kind, mode, blobs, phase = BN[variant]
    inputs = {"data": randn(*SHAPE, scale=2.0, shift=0.5), "target": randn(*SHAPE, seed=1)}
    text = net(inputs, layer("bn", "BN", "data", "bn", f"bn_param {{ {body} }}"),
               euclidean("bn"))
    cnet = build(text, inputs, phase)
    assert keras_class(cnet, "bn") == "CaffeBN"
    assert_blob_round_trip(cnet, tmp_path, {"bn": [(1, 3, 1, 1)] * len(blobs)})
    weights = write_blobs(tmp_path / "bn.caffemodel", {"bn": [b.reshape(1, 3, 1, 1) for b in blobs]})
    out = keras_caffe.forward(text, inputs, weights=weights, phase=phase, backward=True)
    eps = 1e-3 if variant == "pspnet_test" else 1e-5
    want = _bn_ref(inputs["data"], kind, mode, blobs, eps)
    assert_close(out["bn"], want)
    dy = (np.float64(out["bn"]) - inputs["target"]) / SHAPE[0]      # EuclideanLoss's diff
    normed = (want - np.float64(blobs[1]).reshape(1, 3, 1, 1)) / np.float64(blobs[0]).reshape(1, 3, 1, 1)
    grads = [(normed * dy).sum(axis=(0, 2, 3)), dy.sum(axis=(0, 2, 3))] + [0, 0][:len(blobs) - 2]
    if "frozen" in variant:
        grads = [0] * 4
    for i, g in enumerate(grads):
        assert out[f"param/bn/{i}"].shape == (1, 3, 1, 1)
        assert_close(out[f"param/bn/{i}"].ravel(), np.broadcast_to(g, (3,)), rtol=1e-4, atol=1e-5)


def test_bn_fillers_are_the_forks():
    inputs = {"data": randn(*SHAPE)}
    psp = build(net(inputs, layer("bn", "BN", "data", "bn", 'bn_param { frozen: true '
                                  'slope_filler { type: "constant" value: 2 } }')), inputs)
    slope, bias, mean, var = psp.get_blobs()["bn"]
    assert slope.ravel().tolist() == [2, 2, 2] and not bias.any() and not mean.any()
    assert var.ravel().tolist() == [1, 1, 1]          # frozen: 1 (else 0), as PSPNet fills
    seg = build(net(inputs, layer("bn", "BN", "data", "bn", 'bn_param { bn_mode: INFERENCE '
                                  'shift_filler { type: "constant" value: 0.001 } }')), inputs)
    scale, shift = seg.get_blobs()["bn"]
    assert not scale.any() and np.allclose(shift, 0.001)


@pytest.mark.parametrize("body, params, match", [
    ("bn_param { bn_mode: INFERENCE frozen: true }", 0, "mixes SegNet's fields"),
    ("", 0, "cannot tell which fork's BN"),
    ("", 3, "cannot tell which fork's BN"),
])
def test_ambiguous_bn_is_a_net_error(body, params, match):
    inputs = {"data": randn(*SHAPE)}
    text = net(inputs, layer("bn", "BN", "data", "bn", "param { lr_mult: 1 } " * params + body))
    with pytest.raises(keras_caffe.NetError, match=f"layer 'bn'.*{match}"):
        build(text, inputs)


def test_bn_by_param_count():
    inputs = {"data": randn(*SHAPE)}
    cnet = build(net(inputs, layer("bn", "BN", "data", "bn", "param { lr_mult: 1 } " * 4)),
                 inputs)
    assert len(cnet.get_blobs()["bn"]) == 4


@pytest.mark.parametrize("body, out_hw", [("upsample_h: 7 upsample_w: 9", (7, 9)),
                                          ("scale: 2 pad_out_h: true", (7, 10)),
                                          ("scale_h: 2 scale_w: 2", (8, 10))])
def test_segnet_unpools_by_the_pooling_mask(body, out_hw):
    inputs = {"data": randn(2, 3, 7, 9)}
    text = net(inputs, layer("pool", "Pooling", "data", ["pool", "mask"],
                             "pooling_param { pool: MAX kernel_size: 2 stride: 2 }"),
               layer("up", "Upsample", ["pool", "mask"], "up", f"upsample_param {{ {body} }}"))
    cnet, out = run(text, inputs)
    assert keras_class(cnet, "up") == "CaffeMaxUnpool2D"
    top, mask = ref_max_mask(inputs["data"], 2, 2, 0)
    assert_close(out["pool"], top)
    np.testing.assert_array_equal(out["mask"], mask)
    assert_close(out["up"], ref_unpool(top, mask, *out_hw))   # in the output's plane
    if out_hw == (7, 9):       # the pooled input's own plane: each maximum is back in place
        back = out["up"] != 0
        np.testing.assert_array_equal(out["up"][back], inputs["data"][back])
        assert back.sum() == top.size


@pytest.mark.parametrize("bottoms, body, match", [
    ({"x": (2, 3, 4, 5), "mask": (2, 3, 4, 6)}, "scale: 2", "must have the shape"),
    ({"x": (2, 3, 4, 5), "mask": (2, 3, 4, 5)}, "scale: 1", "must be > 1"),
    ({"x": (2, 3, 4, 5), "mask": (2, 3, 4, 5)}, "scale: 3 pad_out_w: true", "scale of 2"),
    ({"x": (2, 3, 4, 5), "mask": (2, 3, 4, 5)}, "scale: 2 scale_h: 2 scale_w: 2",
     "upsample_h and upsample_w are required"),
    ({"x": (2, 3, 4, 5)}, "upsample_h: 8 upsample_w: 10", "belong to SegNet"),
])
def test_bad_upsample_is_a_net_error(bottoms, body, match):
    inputs = {k: randn(*s, seed=i) for i, (k, s) in enumerate(bottoms.items())}
    text = net(inputs, layer("up", "Upsample", list(inputs), "up", f"upsample_param {{ {body} }}"))
    with pytest.raises(keras_caffe.NetError, match=f"layer 'up'.*{match}"):
        build(text, inputs)


def test_pooling_mask_only_for_max_and_round_modes_must_agree():
    inputs = {"data": randn(*SHAPE)}
    ave = net(inputs, layer("pool", "Pooling", "data", ["pool", "mask"],
                            "pooling_param { pool: AVE kernel_size: 2 stride: 2 }"))
    with pytest.raises(keras_caffe.NetError, match="only MAX pooling has a second"):
        build(ave, inputs)
    both = net(inputs, layer("pool", "Pooling", "data", "pool", "pooling_param { pool: MAX "
                             "kernel_size: 3 stride: 2 ceil_mode: true round_mode: FLOOR }"))
    with pytest.raises(keras_caffe.NetError, match="ceil_mode: true.*round_mode: FLOOR"):
        build(both, inputs)


@pytest.mark.parametrize("body, second, out_hw", [
    ("zoom_factor: 2", True, (5, 7)),             # DeepLab v2: the factors win
    ("height: 6 width: 4", True, (6, 4)),
    ("", True, (7, 9)),                          # nothing else: the second bottom's size
    ("shrink_factor: 2 height: 9 width: 9", False, (2, 2)),   # factors before height/width
])
def test_interp_picks_the_size_as_deeplab_v2(body, second, out_hw):
    inputs = {"data": randn(2, 3, 3, 4)}
    if second:
        inputs["like"] = randn(1, 1, 7, 9, seed=1)
    cnet, out = run(net(inputs, layer("interp", "Interp", list(inputs), "interp",
                                      f"interp_param {{ {body} }}")), inputs)
    assert out["interp"].shape == (2, 3) + out_hw


def test_interp_cropping_everything_is_a_net_error():
    inputs = {"data": randn(1, 2, 3, 3)}
    text = net(inputs, layer("interp", "Interp", "data", "interp",
                             "interp_param { zoom_factor: 2 pad_beg: -2 pad_end: -1 }"))
    with pytest.raises(keras_caffe.NetError, match="crop away the whole 3 x 3 input"):
        build(text, inputs)


@pytest.mark.parametrize("a_shape", [(2, 3, 1, 1), (2, 3)])
def test_axpy_matches_senet(a_shape):
    inputs = {"a": randn(*a_shape), "x": randn(*SHAPE, seed=1), "y": randn(*SHAPE, seed=2)}
    cnet, out = run(net(inputs, layer("axpy", "Axpy", ["a", "x", "y"], "axpy")), inputs)
    assert keras_class(cnet, "axpy") == "CaffeAxpy"
    assert_close(out["axpy"], inputs["a"].reshape(2, 3, 1, 1) * inputs["x"] + inputs["y"])


def test_axpy_shapes_are_checked():
    inputs = {"a": randn(2, 3, 2, 1), "x": randn(*SHAPE, seed=1), "y": randn(*SHAPE, seed=2)}
    with pytest.raises(keras_caffe.NetError, match="layer 'axpy'.*be 1 beyond"):
        build(net(inputs, layer("axpy", "Axpy", ["a", "x", "y"], "axpy")), inputs)


@pytest.mark.parametrize("slope", [0.0, 0.1])
def test_relu6_matches_the_port(slope):
    inputs = {"data": randn(*SHAPE, scale=5.0)}
    cnet, out = run(net(inputs, layer("r", "ReLU6", "data", "r",
                                      f"relu6_param {{ negative_slope: {slope} }}")), inputs)
    assert keras_class(cnet, "r") == "ReLU"
    x = np.float64(inputs["data"])
    assert_close(out["r"], np.minimum(np.maximum(x, 0) + slope * np.minimum(x, 0), 6))
    assert (out["r"] == 6).any() and (out["r"] < 0).any() == (slope > 0)


@pytest.mark.parametrize("body, cls, factor", [
    ("dropout_ratio: 0.4", "Dropout", 1.0),
    ("dropout_ratio: 0.4 scale_train: false", "CaffeDropout", np.float32(0.6)),
])
def test_dropout_scale_train_at_test_time(body, cls, factor):
    inputs = {"data": randn(*SHAPE)}
    cnet, out = run(net(inputs, layer("drop", "Dropout", "data", "drop",
                                      f"dropout_param {{ {body} }}")), inputs)
    assert keras_class(cnet, "drop") == cls
    assert_close(out["drop"], inputs["data"] * factor, rtol=1e-6, atol=0)
