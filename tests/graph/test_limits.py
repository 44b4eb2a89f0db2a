"""Caffe's blob bounds (``graph.limits``): at most 32 axes and INT_MAX values per blob, and
the bound on a count read from a field, each an error naming what broke it."""

from __future__ import annotations

import pytest

from keras_caffe.errors import NetError
from keras_caffe.graph import limits
from keras_caffe.proto import caffe_pb2


def test_the_largest_blob_caffe_allows_passes():
    limits.check_blob((1, 2**31 - 1, 1, 1), "top 'x'")
    limits.check_blob((1,) * 32, "top 'x'")
    limits.check_blob((), "top 'loss'")
    limits.check_blob(None, "top 'x'")


def test_one_value_more_than_int_max_is_refused_with_the_shape_and_the_count():
    with pytest.raises(NetError) as err:
        limits.check_blob((2, 2**30, 1, 1), "top 'x'", layer="in", path="n.prototxt")
    assert str(err.value) == (
        "n.prototxt: layer 'in': top 'x' would have shape 2x1073741824x1x1 = 2,147,483,648 "
        "elements; Caffe allows at most 2,147,483,647 (INT_MAX) in one blob")
    assert (err.value.layer, err.value.path) == ("in", "n.prototxt")


def test_33_axes_are_refused():
    with pytest.raises(NetError, match=r"^top 'x' would have 33 axes; Caffe allows at most 32 "
                                       r"\(kMaxBlobAxes\)$"):
        limits.check_blob((1,) * 33, "top 'x'")


def test_unknown_dimensions_count_as_one_and_negative_ones_are_left_to_their_own_check():
    limits.check_blob((None, 2**31 - 1), "input blob 'x'")
    with pytest.raises(NetError, match=r"shape \?x3x1073741824 = 3,221,225,472 elements"):
        limits.check_blob((None, 3, 2**30), "input blob 'x'")
    limits.check_blob((-1, 2**40), "top 'x'")   # check_dims names the negative dimension


def test_check_field_names_layer_field_value_bound_and_reason():
    layer = caffe_pb2.LayerParameter(name="s", type="SPP")
    limits.check_field(layer, "spp_param.pyramid_height", 4, 4, "why")
    with pytest.raises(NetError) as err:
        limits.check_field(layer, "spp_param.pyramid_height", 5, 4, "because")
    assert str(err.value) == "layer 's': spp_param.pyramid_height: 5 is over its bound 4 (because)"
    with pytest.raises(NetError, match=r"^layer 'by name': f: 2 is over its bound 1 \(r\)$"):
        limits.check_field("by name", "f", 2, 1, "r")
