"""Pooling and SPP converters.

Pooling's branches: a stock MaxPooling2D / AveragePooling2D with 'valid' (no window runs
past the edge) or 'same' (exactly one row/column missing at the end) when H and W are fixed
(``free_spatial=False``); CaffePooling2D for padding, other ceil-mode overhangs, FLOOR
rounding, STOCHASTIC, and any model that runs at free H/W; GlobalMax/GlobalAverage for
global MAX/AVE.  Checked against Caffe's pooling loops (ceil-mode sizes, clipped windows,
AVE divisor counting the padding but not what lies past it).  SPP against its pyramid of
such poolings, flattened and concatenated.
"""

import numpy as np
import pytest

import keras_caffe

from . import caffe_ref as ref
from .nets import assert_close, build, keras_class, layer, net, randn, run

# id: (pooling_param body, H x W, free_spatial, Keras class, padding of a stock layer)
POOL = {
    "stock_valid_max": ("pool: MAX kernel_size: 2 stride: 2", (6, 4), False,
                        "MaxPooling2D", "valid"),
    "stock_valid_ave": ("pool: AVE kernel_size: 3 stride: 1", (5, 6), False,
                        "AveragePooling2D", "valid"),
    "stock_same_max": ("pool: MAX kernel_size: 3 stride: 2", (8, 6), False,
                       "MaxPooling2D", "same"),
    "stock_same_ave_clipped_divisor": ("pool: AVE kernel_size: 2 stride: 2", (5, 7), False,
                                       "AveragePooling2D", "same"),
    "caffe_pad_max": ("pool: MAX kernel_size: 3 stride: 2 pad: 1", (6, 7), False,
                      "CaffePooling2D", None),
    "caffe_pad_ave_divisor": ("pool: AVE kernel_size: 3 stride: 2 pad: 1", (7, 6), False,
                              "CaffePooling2D", None),
    "caffe_ceil_overhang_max": ("pool: MAX kernel_size: 4 stride: 3", (8, 11), False,
                                "CaffePooling2D", None),
    "caffe_ceil_overhang_ave": ("pool: AVE kernel_size: 4 stride: 3", (11, 8), False,
                                "CaffePooling2D", None),
    "caffe_rect_ave": ("pool: AVE kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 "
                       "pad_w: 0", (6, 5), False, "CaffePooling2D", None),
    "caffe_floor_round_mode": ("pool: AVE kernel_size: 3 stride: 2 pad: 1 round_mode: FLOOR",
                               (6, 6), False, "CaffePooling2D", None),
    "free_spatial_keeps_caffe_pooling": ("pool: MAX kernel_size: 2 stride: 2", (6, 4), "auto",
                                         "CaffePooling2D", None),
    "global_max": ("pool: MAX global_pooling: true", (5, 3), False, "GlobalMaxPooling2D", None),
    "global_ave": ("pool: AVE global_pooling: true", (4, 6), "auto",
                   "GlobalAveragePooling2D", None),
    "stochastic_test_rule": ("pool: STOCHASTIC kernel_size: 3 stride: 2", (7, 6), False,
                             "CaffePooling2D", None),
    "global_stochastic": ("pool: STOCHASTIC global_pooling: true", (3, 4), False,
                          "CaffePooling2D", None),
}


def _params(body):
    words = body.split()
    f = {words[i].rstrip(":"): words[i + 1] for i in range(0, len(words), 2)}
    pair = lambda name, default: tuple(int(f.get(k, f.get(name, default)))  # noqa: E731
                                       for k in (name + "_h", name + "_w"))
    kernel = pair("kernel", 0) if "kernel_h" in f else (int(f.get("kernel_size", 0)),) * 2
    return (f["pool"].lower(), kernel, pair("stride", 1), pair("pad", 0),
            f.get("round_mode") != "FLOOR", f.get("global_pooling") == "true")


def _expected(body, x):
    kind, kernel, stride, pad, ceil, global_pooling = _params(body)
    if global_pooling:
        kernel, stride, pad = x.shape[2:], (1, 1), (0, 0)
    return ref.pool2d(x, kind, kernel, stride, pad, ceil)


@pytest.mark.parametrize("variant", list(POOL))
def test_pooling_matches_caffe_with_the_intended_keras_layer(variant):
    body, hw, free, cls, padding = POOL[variant]
    x = randn(2, 3, *hw)
    if "STOCHASTIC" in body:
        x = np.abs(x) + 0.1  # the TEST rule is sum(x^2)/sum(x), for activations >= 0
    inputs = {"data": x}
    cnet, out = run(net(inputs, layer("pool", "Pooling", "data", "pool",
                                      f"pooling_param {{ {body} }}")),
                    inputs, free_spatial=free)
    assert keras_class(cnet, "pool") == cls
    if padding:
        assert cnet.model.get_layer("pool").get_config()["padding"] == padding
    assert_close(out["pool"], _expected(body, x))


def test_max_pooling_ignores_padding_even_for_negative_inputs():
    """MAX over a window that is mostly padding takes the real values only (no zeros)."""
    x = -np.abs(randn(1, 2, 5, 5)) - 1.0
    inputs = {"data": x}
    body = "pool: MAX kernel_size: 3 stride: 2 pad: 2"
    cnet, out = run(net(inputs, layer("pool", "Pooling", "data", "pool",
                                      f"pooling_param {{ {body} }}")), inputs)
    assert (out["pool"] < 0).all()
    assert_close(out["pool"], _expected(body, x))


@pytest.mark.parametrize("pool", ["MAX", "AVE"])
def test_ceil_mode_window_wholly_past_the_edge_keeps_caffes_values(pool):
    """Without padding Caffe does not drop a last window that starts past the edge (6 with
    kernel 2, stride 3 gives 3 windows): MAX leaves -FLT_MAX there and AVE divides 0 by 0."""
    x = randn(1, 2, 6, 6)
    inputs = {"data": x}
    body = f"pool: {pool} kernel_size: 2 stride: 3"
    cnet, out = run(net(inputs, layer("pool", "Pooling", "data", "pool",
                                      f"pooling_param {{ {body} }}")), inputs)
    want = _expected(body, x)
    assert want.shape == (1, 2, 3, 3) and not (np.abs(want[..., 2]) < 1e38).any()
    assert_close(out["pool"], want)


def test_pooling_mask_top_is_max_pooling_only():
    """MAX pooling's second top is its mask (tests/converters/test_segmentation.py); Caffe
    allows no second top for the others."""
    inputs = {"data": randn(1, 2, 4, 4)}
    text = net(inputs, layer("pool", "Pooling", "data", ["pool", "mask"],
                             "pooling_param { pool: AVE kernel_size: 2 stride: 2 }"))
    with pytest.raises(keras_caffe.NetError, match="layer 'pool'.*only MAX pooling has a second"):
        build(text, inputs)


def test_global_max_pooling_mask_top():
    """Global MAX with a mask top: the maximum of each plane and the index h * W + w of its
    first occurrence (the window is the whole plane)."""
    x = randn(2, 3, 4, 5)
    x[1, 2] = 0.5                                     # all equal: the first, index 0
    inputs = {"data": x}
    cnet, out = run(net(inputs, layer("pool", "Pooling", "data", ["pool", "mask"],
                                      "pooling_param { pool: MAX global_pooling: true }")), inputs)
    assert keras_class(cnet, "pool") == "CaffePooling2D"
    flat = x.reshape(2, 3, -1)
    assert_close(out["pool"], flat.max(axis=2).reshape(2, 3, 1, 1))
    np.testing.assert_array_equal(out["mask"], flat.argmax(axis=2).reshape(2, 3, 1, 1))
    assert out["mask"][1, 2, 0, 0] == 0


def _spp_reference(x, levels, kind):
    h, w = x.shape[2:]
    parts = []
    for level in range(levels):
        bins = 2 ** level
        kh, kw = -(-h // bins), -(-w // bins)
        pad = ((kh * bins - h + 1) // 2, (kw * bins - w + 1) // 2)
        pooled = ref.pool2d(x, kind, (kh, kw), (kh, kw), pad)
        if levels == 1:
            return pooled  # Caffe hands back its single pooling's top as it is
        parts.append(pooled.reshape(len(x), -1))
    return np.concatenate(parts, axis=1)


@pytest.mark.parametrize("levels, pool", [(1, "MAX"), (2, "AVE"), (3, "MAX"), (3, "AVE")])
def test_spp_matches_caffe_pyramid(levels, pool):
    x = randn(2, 3, 6, 7)
    inputs = {"data": x}
    cnet, out = run(net(inputs, layer("spp", "SPP", "data", "spp",
                                      f"spp_param {{ pyramid_height: {levels} pool: {pool} }}")),
                    inputs)
    assert keras_class(cnet, "spp") == "CaffeSPP"
    assert_close(out["spp"], _spp_reference(x, levels, pool.lower()))


def test_spp_stochastic_is_a_net_error():
    inputs = {"data": randn(1, 2, 4, 4)}
    text = net(inputs, layer("spp", "SPP", "data", "spp",
                             "spp_param { pyramid_height: 2 pool: STOCHASTIC }"))
    with pytest.raises(keras_caffe.NetError, match="MAX and AVE"):
        build(text, inputs)
