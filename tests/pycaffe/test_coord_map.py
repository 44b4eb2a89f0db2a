"""``caffe.coord_map``: maps through conv/pool/deconv/crop, and ``crop`` making FCN-style Crop
layers whose output lines up with the reference top when the net runs."""

from __future__ import annotations

import numpy as np
import pytest

import keras_caffe.pycaffe as caffe
from keras_caffe.pycaffe import layers as L, params as P
from keras_caffe.pycaffe.coord_map import (AxisMismatchException, UndefinedMapException,
                                           compose, coord_map, coord_map_from_to, crop, inverse)


def conv_pool_deconv(ks=3, stride=1, pad=0, pool=2, dstride=2, dpad=0, nested=False):
    """data (2x1x100x100) -> conv -> max pool -> deconv (kernel twice its stride)."""
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[2, 1, 100, 100]))
    n.aux = L.Input(shape=dict(dim=[2, 1, 20, 20]))
    n.conv = L.Convolution(n.data, num_output=2, kernel_size=ks, stride=stride, pad=pad)
    n.pool = L.Pooling(n.conv, pool=P.Pooling.MAX, kernel_size=pool, stride=pool, pad=0)
    deconv_ks = [s * 2 for s in dstride] if isinstance(dstride, list) else dstride * 2
    deconv = dict(num_output=2, kernel_size=deconv_ks, stride=dstride, pad=dpad)
    n.deconv = (L.Deconvolution(n.pool, convolution_param=deconv) if nested
                else L.Deconvolution(n.pool, **deconv))
    return n


@pytest.mark.parametrize("pool,dstride,shift", [(2, 2, 0), (4, 4, -1), (8, 8, -3)])
def test_conv_pool_deconv_maps_back_to_the_data(pool, dstride, shift):
    n = conv_pool_deconv(pool=pool, dstride=dstride)
    ax, a, b = coord_map_from_to(n.deconv, n.data)
    assert (ax, float(a[0]), float(b[0])) == (1, 1.0, shift)


def test_pointwise_layers_and_1x1_convolutions_map_as_identity():
    n = conv_pool_deconv()
    base = coord_map_from_to(n.deconv, n.data)
    n.relu = L.ReLU(n.deconv)
    n.bn = L.BatchNorm(n.relu)
    n.conv1x1 = L.Convolution(n.bn, num_output=2, kernel_size=1)
    for top in (n.relu, n.bn, n.conv1x1):
        ax, a, b = coord_map_from_to(top, n.data)
        assert (ax, a, b) == base


@pytest.mark.parametrize("pad", [1, 4, 10])
def test_conv_padding_adds_and_deconv_padding_subtracts_offset(pad):
    n = conv_pool_deconv()
    _, a, b = coord_map_from_to(n.deconv, n.data)
    n = conv_pool_deconv(pad=pad)
    assert coord_map_from_to(n.deconv, n.data)[1:] == (a, b - pad)
    n = conv_pool_deconv(dpad=pad)
    assert coord_map_from_to(n.deconv, n.data)[1:] == (a, b + pad)
    n = conv_pool_deconv(pad=pad, dpad=pad)
    assert coord_map_from_to(n.deconv, n.data)[1:] == (a, b)


def test_each_bottom_of_a_multi_bottom_layer_maps_the_same_way():
    n = conv_pool_deconv()
    n.conv_data, n.conv_aux = L.Convolution(n.data, n.aux, ntop=2, num_output=2,
                                            kernel_size=5, stride=2)
    assert coord_map_from_to(n.conv_data, n.data) == coord_map_from_to(n.conv_aux, n.aux)


def test_anisotropic_maps_are_their_isotropic_parts_and_nested_params_are_read():
    n33 = conv_pool_deconv(ks=3, stride=1, pad=0)
    n55 = conv_pool_deconv(ks=5, stride=2, pad=10, nested=True)
    n35 = conv_pool_deconv(ks=[3, 5], stride=[1, 2], pad=[0, 10])
    ax33, a33, b33 = coord_map_from_to(n33.deconv, n33.data)
    ax55, a55, b55 = coord_map_from_to(n55.deconv, n55.data)
    ax35, a35, b35 = coord_map_from_to(n35.deconv, n35.data)
    assert ax33 == ax55 == ax35 == 1
    assert (a35[0], b35[0], a35[1], b35[1]) == (a33[0], b33[0], a55[0], b55[0])


def test_three_spatial_axes_map_per_axis():
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[2, 3, 20, 20, 20]))
    n.conv = L.Convolution(n.data, num_output=2, kernel_size=[3, 3, 3], stride=[1, 1, 1],
                           pad=[0, 1, 2])
    n.pool = L.Pooling(n.conv, pool=P.Pooling.MAX, kernel_size=2, stride=2)
    n.deconv = L.Deconvolution(n.pool, convolution_param=dict(num_output=2, kernel_size=4,
                                                              stride=2))
    ax, a, b = coord_map_from_to(n.deconv, n.data)
    assert ax == 1 and np.all(a == 1) and list(b) == [0, -1, -2]   # pad 0, 1, 2


def test_dilation_widens_the_kernel_extent():
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 30, 30]))
    n.conv = L.Convolution(n.data, num_output=1, kernel_size=3, dilation=4)
    assert float(coord_map_from_to(n.conv, n.data)[2][0]) == 4.0      # (3-1)*4+1 = 9: 4 each side


@pytest.mark.parametrize("offset", [0, 3, 7])
def test_a_crop_of_a_crop_adds_its_offset(offset):
    n = conv_pool_deconv()
    ax, a, b = coord_map_from_to(n.deconv, n.data)
    n.crop = L.Crop(n.deconv, n.data, axis=2, offset=offset)
    assert coord_map_from_to(n.crop, n.data) == (ax, a, b + offset)


@pytest.mark.parametrize("ks,pad,pool,dpad", [(3, 0, 2, 0), (3, 4, 2, 0), (5, 30, 4, 0),
                                              (3, 50, 2, 2), (1, 0, 4, 0)])
def test_crop_makes_a_layer_whose_output_lines_up_with_the_reference(tmp_path, ks, pad, pool,
                                                                     dpad):
    """Run the net: the Crop output is the deconv output from the computed offset on, the
    size of the data (the FCN score alignment)."""
    n = conv_pool_deconv(ks=ks, pad=pad, pool=pool, dstride=pool, dpad=dpad, nested=True)
    n.score = crop(n.deconv, n.data)
    layer = n.to_proto().layer[-1]
    assert layer.type == "Crop" and list(layer.bottom) == ["deconv", "data"]
    assert layer.crop_param.axis == 2
    _, _, b = coord_map_from_to(n.deconv, n.data)
    expected = int(-b[0])
    assert list(layer.crop_param.offset) == [expected]
    path = tmp_path / "fcn.prototxt"
    path.write_text(str(n.to_proto()))
    net = caffe.Net(str(path), caffe.TEST)
    net.blobs["data"].data[...] = np.random.default_rng(0).normal(size=(2, 1, 100, 100))
    out = net.forward()
    deconv = net.blobs["deconv"].data
    assert out["score"].shape == (2, 2, 100, 100)
    np.testing.assert_array_equal(out["score"],
                                  deconv[:, :, expected:expected + 100, expected:expected + 100])


def test_crop_between_pointwise_neighbours_is_an_offset_zero_crop():
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 5, 5]))
    n.relu = L.ReLU(n.data)
    params = crop(n.relu, n.data).fn.params["crop_param"]
    assert params == dict(axis=2, offset=[0])


def test_unconnected_tops_are_a_runtime_error():
    n = conv_pool_deconv()
    n.ip = L.InnerProduct(n.deconv, num_output=10)
    with pytest.raises(RuntimeError, match="connected by spatial layers"):
        coord_map_from_to(n.ip, n.data)
    n.gpool = L.Pooling(n.deconv, pool=P.Pooling.AVE, global_pooling=True)
    with pytest.raises(RuntimeError, match="connected by spatial layers"):
        coord_map_from_to(n.gpool, n.data)


@pytest.mark.parametrize("kwargs,message", [
    (dict(pool=3, dstride=2), "scale mismatch on crop"),            # pool 3x but deconv 2x
    (dict(dpad=10), "cannot crop negative offset"),                 # output smaller than input
    (dict(ks=2), "cannot crop noninteger offset"),                  # b = -0.5,
])
def test_impossible_crops_are_assertion_errors(kwargs, message):
    n = conv_pool_deconv(**kwargs)
    with pytest.raises(AssertionError, match=message):
        crop(n.deconv, n.data)


def test_flat_deconvolution_keywords_map_but_do_not_write():
    """As in pycaffe: the map reads them, but Deconvolution has no message of its own, so
    to_proto asks for convolution_param."""
    n = conv_pool_deconv()
    assert coord_map_from_to(n.deconv, n.data)[0] == 1
    with pytest.raises(AttributeError, match="convolution_param=dict"):
        n.to_proto()


def test_legacy_h_w_parameters_are_refused():
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 9, 9]))
    n.conv = L.Convolution(n.data, num_output=1, kernel_h=3, kernel_w=3)
    with pytest.raises(AssertionError, match="legacy _h/_w"):
        coord_map_from_to(n.conv, n.data)


def test_compose_inverse_and_single_layer_maps():
    assert compose((None, 1, 0), (1, 0.5, 2)) == (1, 0.5, 2)
    assert compose((1, 2, 1), (None, 1, 0)) == (1, 2, 1)
    assert compose((1, 2, 1), (1, 0.5, 3)) == (1, 1.0, 7)
    with pytest.raises(AxisMismatchException):
        compose((1, 1, 0), (2, 1, 0))
    assert inverse((1, 0.5, 2)) == (1, 2.0, -4.0)
    data = L.Input()
    assert coord_map(L.ReLU(data).fn) == (None, 1, 0)
    ax, a, b = coord_map(L.Pooling(data, kernel_size=3, stride=2, pad=1).fn)
    assert (ax, list(a), list(b)) == (1, [0.5], [0.0])
    ax, a, b = coord_map(L.Crop(data, data, crop_param=dict(axis=3, offset=[4])).fn)
    assert (ax, a, list(b)) == (2, 1, [-4])
    with pytest.raises(UndefinedMapException):
        coord_map(L.InnerProduct(data, num_output=1).fn)
