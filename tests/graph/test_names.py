"""Caffe names survive the trip through Keras and TensorFlow name scopes."""

from __future__ import annotations

import re

import pytest

from keras_caffe.graph.names import caffe_name, keras_name

NAMES = ["conv1/7x7_s2", "inception_3a/1x1", "a-b", "a b:c", "_x", "x%2Fy", "é/ü", "🙂", "."]
TF_SCOPE = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\-/>]*")


@pytest.mark.parametrize("name", NAMES)
def test_round_trip_and_valid_tf_scope(name):
    encoded = keras_name(name)
    assert caffe_name(encoded) == name
    assert "/" not in encoded and TF_SCOPE.fullmatch(encoded)


def test_plain_names_are_unchanged():
    assert keras_name("res2a_branch2a") == "res2a_branch2a"
    assert keras_name("conv1/7x7_s2") == "conv1.s7x7_s2"
    assert keras_name("res2a-bn") == "res2a-bn"
