"""Phase/stage/level rules, blob versions (in-place, fan-out), and net outputs."""

from __future__ import annotations

import pytest

from keras_caffe import NetError, resolve_net
from keras_caffe.graph.net import Blob

RULES = """
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 } } }
layer { name: "train_only" type: "ReLU" bottom: "data" top: "a" include { phase: TRAIN } }
layer { name: "test_only" type: "ReLU" bottom: "data" top: "a" include { phase: TEST } }
layer { name: "staged" type: "ReLU" bottom: "a" top: "s" include { stage: "deploy" } }
layer { name: "not_staged" type: "ReLU" bottom: "a" top: "n" exclude { stage: "deploy" } }
layer { name: "level2" type: "ReLU" bottom: "a" top: "l" include { min_level: 2 } }
"""


def names(graph):
    return [l.name for l in graph.layers]


def test_phase_rules():
    assert names(resolve_net(RULES, "train")) == ["data", "train_only", "not_staged"]
    assert names(resolve_net(RULES, "test")) == ["data", "test_only", "not_staged"]


def test_stage_and_level_rules():
    assert names(resolve_net(RULES, "test", stages=["deploy"])) == ["data", "test_only", "staged"]
    assert names(resolve_net(RULES, "test", level=2)) == ["data", "test_only", "not_staged", "level2"]


def test_net_state_in_the_prototxt_is_the_default():
    net = 'state { phase: TRAIN stage: "deploy" }\n' + RULES
    assert names(resolve_net(net, phase=None)) == ["data", "train_only", "staged"]


def test_include_and_exclude_together_is_an_error():
    net = RULES + 'layer { name: "both" type: "ReLU" bottom: "a" top: "b" include { phase: TEST } exclude { phase: TRAIN } }'
    with pytest.raises(NetError, match="both"):
        resolve_net(net, "test")


def test_in_place_layers_version_blobs_and_readers_see_the_latest():
    net = """
layer { name: "data" type: "Input" top: "x" input_param { shape { dim: 1 dim: 3 } } }
layer { name: "a" type: "ReLU" bottom: "x" top: "y" }
layer { name: "b" type: "TanH" bottom: "y" top: "y" }
layer { name: "c" type: "Sigmoid" bottom: "y" top: "c" }
layer { name: "d" type: "AbsVal" bottom: "y" top: "y" }
"""
    g = resolve_net(net)
    assert g.layer("b").bottoms == [Blob("y", 0)] and g.layer("b").tops == [Blob("y", 1)]
    assert g.layer("c").bottoms == [Blob("y", 1)]
    assert g.last["y"] == Blob("y", 2)
    assert [b.name for b in g.outputs] == ["c", "y"]


def test_fan_out_is_recorded_as_several_consumers():
    net = """
layer { name: "data" type: "Input" top: "x" input_param { shape { dim: 1 dim: 3 } } }
layer { name: "a" type: "ReLU" bottom: "x" top: "a" }
layer { name: "b" type: "ReLU" bottom: "x" top: "b" }
"""
    g = resolve_net(net)
    assert [n.name for n in g.consumers[Blob("x", 0)]] == ["a", "b"]
    assert [b.name for b in g.outputs] == ["a", "b"]


def test_duplicate_layer_names_get_unique_keys_as_caffe_allows_them():
    dup = """
layer { name: "data" type: "Input" top: "x" input_param { shape { dim: 1 dim: 3 } } }
layer { name: "a" type: "ReLU" bottom: "x" top: "a" }
layer { name: "a" type: "ReLU" bottom: "x" top: "b" }
"""
    assert [n.key for n in resolve_net(dup).layers] == ["data", "a", "a__2"]


def test_reused_tops_are_errors():
    reuse = """
layer { name: "data" type: "Input" top: "x" input_param { shape { dim: 1 dim: 3 } } }
layer { name: "a" type: "ReLU" bottom: "x" top: "a" }
layer { name: "b" type: "TanH" bottom: "x" top: "a" }
"""
    with pytest.raises(NetError, match="layer 'b'.*already produced by layer 'a'"):
        resolve_net(reuse)
