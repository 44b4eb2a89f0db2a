"""The memory projection (``graph.memory``): sizes, limits, and the bytes of a small net
counted by hand (shared parameters once, in-place tops again, a padded copy)."""

from __future__ import annotations

import os

import pytest

import keras_caffe
from keras_caffe.errors import MemoryLimitError, NetError
from keras_caffe.graph import memory
from keras_caffe.graph.shapes import infer_shapes
from keras_caffe.graph.shapes import input_shapes as settle_input_shapes

# Values per layer (float32: 4 bytes each):
#   data  2x3x4x4 top                                          96
#   c1    weight 2x3x3x3 + bias 2 = 56 params; top 2x2x2x2      16
#   c2    the same parameters by name (counted once); top      16
#   r     ReLU in place on c1: a new version of c1             16
#   ip    weight 5x8 + bias 5 = 45 params; top 2x5              10
#   p     MAX pool 2x2, stride 1, pad 1 of c2: top 2x2x3x3      36;
#         its working copy, c2 padded by 1 (and stride-1 = 0): 2x2x4x4 = 64
NET = """name: "m"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 4 } } }
layer { name: "c1" type: "Convolution" bottom: "data" top: "c1" param { name: "w" } param { name: "b" }
        convolution_param { num_output: 2 kernel_size: 3 } }
layer { name: "c2" type: "Convolution" bottom: "data" top: "c2" param { name: "w" } param { name: "b" }
        convolution_param { num_output: 2 kernel_size: 3 } }
layer { name: "r" type: "ReLU" bottom: "c1" top: "c1" }
layer { name: "ip" type: "InnerProduct" bottom: "c1" top: "ip" inner_product_param { num_output: 5 } }
layer { name: "p" type: "Pooling" bottom: "c2" top: "p"
        pooling_param { pool: MAX kernel_size: 2 stride: 1 pad: 1 } }
"""
BY_LAYER = {  # name: (param bytes, activation bytes, working-copy bytes)
    "data": (0, 96 * 4, 0), "c1": (56 * 4, 16 * 4, 0), "c2": (0, 16 * 4, 0),
    "r": (0, 16 * 4, 0), "ip": (45 * 4, 10 * 4, 0), "p": (0, 36 * 4, 64 * 4)}
TOTAL = 1420   # 404 B of parameters + 760 B of activations + 256 B of working copies


def _project(net):
    graph = keras_caffe.resolve_net(net)
    return memory.project(graph, infer_shapes(graph, settle_input_shapes(graph)))


def test_a_small_net_counted_by_hand():
    projection = _project(NET)
    assert {l.name: (l.params, l.activations, l.workspace) for l in projection.layers} == BY_LAYER
    assert (projection.params, projection.activations, projection.workspace) == (404, 760, 256)
    # the values of each layer's parameter blobs, shared ones at every layer holding them
    # (what ``info``'s table shows)
    assert [l.param_values for l in projection.layers] == [0, 56, 56, 0, 45, 0]
    assert projection.total == TOTAL and projection.batch == 2
    assert projection.describe() == ("1.4 KiB (404 B of parameters, 760 B of activations, "
                                     "256 B of working copies at batch 2)")
    assert [l.name for l in projection.largest(3)] == ["p", "data", "c1"]


def test_a_padded_and_dilated_strided_convolution_counts_its_working_copies():
    net = ('layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 1 dim: 1 '
           'dim: 10 dim: 10 } } }\n'
           'layer { name: "c" type: "Convolution" bottom: "x" top: "y" convolution_param { '
           'num_output: 3 kernel_size: 3 pad: 2 stride: 4 dilation: 2 } }\n')
    c = {l.name: l for l in _project(net).layers}["c"]
    # the input padded by 2 (1x1x14x14) and the stride-1 convolution the stride samples:
    # 14 - (2 * 2 + 1) + 1 = 10, so 1x3x10x10; the top is 1x3x3x3
    assert (c.params, c.activations, c.workspace) == ((27 + 3) * 4, 27 * 4, (196 + 300) * 4)
    assert "working copies" not in _project(net.replace("pad: 2 stride: 4 dilation: 2",
                                                        "")).describe()


def test_blobs_without_a_known_shape_count_nothing():
    graph = keras_caffe.resolve_net(NET)
    shapes = infer_shapes(graph, settle_input_shapes(graph))
    del shapes[graph.last["c2"]]
    by_layer = {l.name: (l.params, l.activations, l.workspace)
                for l in memory.project(graph, shapes).layers}
    assert by_layer["c2"] == (0, 0, 0)
    assert by_layer["p"] == (0, 36 * 4, 0)   # its top; its copy of c2 needs c2's shape


@pytest.mark.parametrize("body, message", [
    # Pooling's working copy needs a 4-D bottom (its shape function, leniently run, said so)
    ('type: "Pooling" pooling_param { pool: MAX kernel_size: 2 }',
     "layer 'l': needs a 4-D (N,C,H,W) bottom, got shape (1, 4)"),
    # BN's parameter blobs depend on which fork's BN it is
    ('type: "BN"', "layer 'l': cannot tell which fork's BN this is"),
])
def test_an_error_of_a_declared_function_names_the_file(tmp_path, body, message):
    path = tmp_path / "n.prototxt"
    path.write_text('layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 '
                    'dim: 4 } } }\n'
                    f'layer {{ name: "l" bottom: "x" top: "y" {body} }}\n')
    with pytest.raises(NetError) as err:
        keras_caffe.build_net(path)
    assert str(err.value).startswith(f"{path}: {message}")
    assert (err.value.layer, err.value.path) == ("l", str(path))


def test_check_refuses_over_the_limit_naming_the_largest_layers():
    projection = _project(NET)
    memory.check(projection, TOTAL, "m.prototxt")
    memory.check(projection, None)
    memory.check(projection, 0)
    with pytest.raises(MemoryLimitError) as err:
        memory.check(projection, 1000, "m.prototxt", "a test's limit")
    assert str(err.value) == (
        "m.prototxt: the net would take about 1.4 KiB (404 B of parameters, 760 B of "
        "activations, 256 B of working copies at batch 2), over the memory limit of 1000 B (a "
        "test's limit); largest layers: 'p' (Pooling) 400 B, 'data' (Input) 384 B, 'c1' "
        "(Convolution) 288 B. Give --max-memory SIZE (max_memory= in Python; 0 for no limit) "
        "to change the limit")
    assert (err.value.needed, err.value.limit, err.value.layer) == (TOTAL, 1000, "p")
    assert isinstance(err.value, keras_caffe.CaffeError)


@pytest.mark.parametrize("text,size", [
    ("8G", 8 * 2**30), ("512M", 512 * 2**20), ("1.5GiB", 3 * 2**29), ("100k", 102400),
    ("4096", 4096), ("0", 0), (" 2 gb ", 2 * 2**30), ("1T", 2**40), (".5K", 512)])
def test_parse_size(text, size):
    assert memory.parse_size(text) == size


@pytest.mark.parametrize("text", ["8X", "-1", "", "G", "1e9", "8 G B", "eight"])
def test_parse_size_refuses_what_is_not_a_size(text):
    with pytest.raises(ValueError) as err:
        memory.parse_size(text)
    assert str(err.value) == f"not a memory size: {text!r} (e.g. 8G, 512M, 0 for no limit)"


def test_format_size():
    assert [memory.format_size(n) for n in (0, 1023, 1024, 3 * 2**29, 2**40 + 2**39)] == [
        "0 B", "1023 B", "1.0 KiB", "1.5 GiB", "1.5 TiB"]


def test_the_default_limit_is_a_fraction_of_the_memory_available(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 10 * 2**30)
    assert memory.memory_limit(None) == (8 * 2**30, "80% of the 10.0 GiB available")
    monkeypatch.setattr(memory, "available_memory", lambda: None)
    assert memory.memory_limit(None) == (None, "available memory unknown")


def test_an_explicit_limit_and_a_commands_default(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 10 * 2**30)
    assert memory.memory_limit(0) == (None, "--max-memory / max_memory")
    assert memory.memory_limit("2G") == (2 * 2**30, "--max-memory / max_memory")
    assert memory.memory_limit(4096)[0] == 4096
    with memory.default_limit("1G"):
        assert memory.memory_limit(None)[0] == 2**30
        assert memory.memory_limit(5)[0] == 5        # an explicit one still wins
        with memory.default_limit(None):              # None leaves the default as it is
            assert memory.memory_limit(None)[0] == 2**30
        with memory.default_limit(0):
            assert memory.memory_limit(None)[0] is None
    assert memory.memory_limit(None)[0] == 8 * 2**30
    with pytest.raises(ValueError, match=r"max_memory must be >= 0 \(0: no limit\), got -1"):
        memory.memory_limit(-1)


def test_available_memory_is_a_positive_figure_here():
    found = memory.available_memory()
    if os.path.exists("/proc/meminfo"):      # Linux: MemAvailable is always there
        assert found is not None
    assert found is None or found > 0
