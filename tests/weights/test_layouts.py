"""The named blob layouts (each exact both ways) and Caffe's fillers."""

from __future__ import annotations

import numpy as np
import pytest

from keras_caffe.graph import layout
from keras_caffe.proto import caffe_pb2
from keras_caffe.weights import layouts
from keras_caffe.weights.fillers import fill

rng = np.random.default_rng(0)


@pytest.mark.parametrize("layout,shape,keras_shape", [
    (layouts.CONV_KERNEL, (6, 2, 3, 5), (3, 5, 2, 6)),
    (layouts.DECONV_KERNEL, (4, 3, 2, 2), (2, 2, 3, 4)),
])
def test_layout_round_trips(layout, shape, keras_shape):
    w = rng.standard_normal(shape).astype(np.float32)
    k = layout.to_keras(w, keras_shape)
    assert k.shape == keras_shape and layout.caffe_shape(k.shape) == shape
    np.testing.assert_array_equal(layout.to_caffe(k), w)


def test_depthwise_round_trip_and_channel_order():
    w = rng.standard_normal((6, 1, 3, 3)).astype(np.float32)  # C=3, multiplier 2
    k = layouts.DEPTHWISE_KERNEL.to_keras(w, (3, 3, 3, 2))
    assert k.shape == (3, 3, 3, 2)
    np.testing.assert_array_equal(k[:, :, 1, 0], w[2, 0])  # output 1*2+0 reads channel 1
    np.testing.assert_array_equal(layouts.DEPTHWISE_KERNEL.to_caffe(k), w)
    assert layouts.DEPTHWISE_KERNEL.caffe_shape((3, 3, 3, 2)) == (6, 1, 3, 3)


@pytest.mark.parametrize("layout,keras_shape,caffe_shape", [
    (layouts.Flattened(), (1, 1, 4), (4,)),
    (layouts.Flattened(scalar=True), (1, 1, 1), ()),
    (layouts.INTERNAL_ORDER, (2, 5, 6, 3), (2, 3, 5, 6)),
    (layouts.CHANNEL_VECTOR, (5,), (1, 5, 1, 1)),
])
def test_reshaping_layouts_round_trip(layout, keras_shape, caffe_shape):
    assert layout.caffe_shape(keras_shape) == caffe_shape
    blob = rng.standard_normal(caffe_shape).astype(np.float32)
    k = layout.to_keras(blob, keras_shape)
    assert k.shape == keras_shape
    np.testing.assert_array_equal(layout.to_caffe(k), blob)


@pytest.mark.parametrize("transpose", [False, True])
def test_inner_product_rows_follow_our_flatten_order(transpose):
    c, h, w, out = 3, 2, 4, 5
    x = rng.standard_normal((2, c, h, w)).astype(np.float32)
    weight = rng.standard_normal((c * h * w, out) if transpose else (out, c * h * w)).astype(np.float32)
    caffe = x.reshape(2, -1) @ (weight if transpose else weight.T)
    dense = layouts.DenseKernel(transpose, (c, h, w))
    kernel = dense.to_keras(weight, (c * h * w, out))
    ours = layout.to_internal_array(x).reshape(2, -1) @ kernel
    np.testing.assert_allclose(ours, caffe, rtol=1e-5)
    np.testing.assert_array_equal(dense.to_caffe(kernel), weight)
    assert dense.caffe_shape(kernel.shape) == weight.shape


def _filler(**kw):
    f = caffe_pb2.FillerParameter(**kw)
    return f


def test_constant_is_caffes_default_filler():
    assert np.all(fill(caffe_pb2.FillerParameter(), (2, 3), rng) == 0)


def test_xavier_and_msra_use_caffes_fan_in():
    shape = (64, 32, 3, 3)  # fan_in = 32*9
    x = fill(_filler(type="xavier"), shape, np.random.default_rng(1))
    assert abs(x.max()) <= np.sqrt(3.0 / 288) + 1e-6
    m = fill(_filler(type="msra", variance_norm=caffe_pb2.FillerParameter.FAN_OUT), shape,
             np.random.default_rng(1))
    assert abs(m.std() - np.sqrt(2.0 / (64 * 9))) < 0.01


def test_bilinear_filler_matches_caffes_upsampling_kernel():
    k = fill(_filler(type="bilinear"), (1, 1, 4, 4), rng)[0, 0]
    ramp = np.array([0.25, 0.75, 0.75, 0.25])
    np.testing.assert_allclose(k, np.outer(ramp, ramp))


def test_positive_unitball_rows_sum_to_one():
    x = fill(_filler(type="positive_unitball"), (5, 7), rng)
    np.testing.assert_allclose(x.sum(axis=1), 1.0, rtol=1e-5)
    assert x.min() >= 0


def test_sparse_gaussian_keeps_about_sparse_over_num_outputs():
    x = fill(_filler(type="gaussian", sparse=2), (10, 10000), np.random.default_rng(2))
    assert abs(np.mean(x != 0) - 0.2) < 0.01
