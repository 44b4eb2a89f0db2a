"""SegNet- and PSPNet-style nets end to end (tests/model/rcnn_nets.py): BN (both forks'),
MAX pooling masks and Upsample, AVE pyramid pooling, Interp by size, zoom and shrink with
crops.  Each stage is checked against its numpy reference applied to the blobs it reads."""

from __future__ import annotations

import numpy as np
import pytest

import keras_caffe
from tests.converters import caffe_ref
from tests.converters.nets import write_blobs
from tests.converters.test_forks import _interp
from tests.layers.test_max_unpool import ref_max_mask, ref_unpool
from tests.model.rcnn_nets import PSPNET, SEGNET


def _close(actual, expected, rtol=1e-4, atol=1e-5):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def test_segnet_encoder_decoder():
    cnet = keras_caffe.build_net(SEGNET, seed=2)
    x = np.random.default_rng(0).standard_normal((2, 3, 12, 14)).astype(np.float32)
    out = keras_caffe.forward(cnet, {"data": x})
    w = cnet.get_blobs()

    def conv_bn_relu(x, name):
        y = caffe_ref.conv2d(x, *w[name], pad=1)
        scale, shift = (b.reshape(1, -1, 1, 1) for b in w[f"{name}_bn"])
        return np.maximum(y * scale + shift, 0)

    _close(out["conv1"], conv_bn_relu(x, "conv1"))
    pool1, mask1 = ref_max_mask(out["conv1"], 2, 2, 0)
    _close(out["pool1"], pool1)
    np.testing.assert_array_equal(out["pool1_mask"], mask1)
    _close(out["conv2"], conv_bn_relu(out["pool1"], "conv2"))
    pool2, mask2 = ref_max_mask(out["conv2"], 2, 2, 0)   # 6 x 7 -> 3 x 4 (ceil mode)
    np.testing.assert_array_equal(out["pool2_mask"], mask2)
    assert out["pool2_D"].shape == (2, 8, 6, 7)                # 3 * 2 by 4 * 2 - 1 (pad_out_w)
    _close(out["pool2_D"], ref_unpool(out["pool2"], out["pool2_mask"], 6, 7))
    _close(out["conv2_D"], conv_bn_relu(out["pool2_D"], "conv2_D"))
    _close(out["pool1_D"], ref_unpool(out["conv2_D"], out["pool1_mask"], 12, 14))
    scores = caffe_ref.conv2d(out["pool1_D"], *w["conv1_D"], pad=1)
    _close(out["prob"], caffe_ref.softmax(scores), atol=1e-6)
    assert [b.shape for b in w["conv1_bn"]] == [(1, 6, 1, 1)] * 2


@pytest.mark.parametrize("bn_values", [False, True])
def test_pspnet_pyramid(bn_values, tmp_path):
    cnet = keras_caffe.build_net(PSPNET, seed=4)
    if bn_values:   # trained-looking statistics, written to and read from a caffemodel
        rng = np.random.default_rng(5)
        blobs = cnet.get_blobs()
        for name in ("conv1/bn", "pool1_conv/bn"):
            c = blobs[name][0].shape[1]
            blobs[name] = [rng.uniform(0.5, 1.5, (1, c, 1, 1)), rng.normal(0, 0.1, (1, c, 1, 1)),
                           rng.normal(0, 0.5, (1, c, 1, 1)), rng.uniform(0.5, 2, (1, c, 1, 1))]
        path = write_blobs(tmp_path / "psp.caffemodel", blobs)
        cnet = keras_caffe.build_net(PSPNET, weights=path)
    x = np.random.default_rng(1).standard_normal((1, 3, 33, 33)).astype(np.float32)
    out = keras_caffe.forward(cnet, {"data": x})
    w = cnet.get_blobs()

    def bn(y, name):
        slope, bias, mean, var = (np.float64(b).reshape(1, -1, 1, 1) for b in w[name])
        return (y - mean) / np.sqrt(var + 1e-5) * slope + bias

    conv1 = np.maximum(bn(caffe_ref.conv2d(x, *w["conv1"], stride=2, pad=1), "conv1/bn"), 0)
    _close(out["conv1"], conv1)
    _close(out["pool1"], caffe_ref.pool2d(out["conv1"], "ave", 17, 17))
    p1 = bn(caffe_ref.conv2d(out["pool1"], *w["pool1_conv"]), "pool1_conv/bn")
    _close(out["pool1_conv"], p1)
    _close(out["pool1_interp"], _interp(out["pool1_conv"], 17, 17))
    assert out["pool2"].shape == (1, 8, 2, 2)
    _close(out["pool2_interp"], _interp(out["pool2_conv"], 17, 17))
    concat = np.concatenate([out["conv1"], out["pool1_interp"], out["pool2_interp"]], axis=1)
    conv5 = caffe_ref.conv2d(concat, *w["conv5"], pad=1)
    _close(out["conv5"], conv5, atol=1e-4)
    _close(out["conv5_interp"], _interp(out["conv5"], 33, 33))
    assert out["conv5_small"].shape == (1, 3, 10, 10)   # crop 17 -> 15, shrink 4 -> 4, zoom 3 -> 10
    _close(out["conv5_small"], _interp(out["conv5"], 10, 10, -1, -1))
