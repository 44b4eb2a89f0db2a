"""A long chain of layers is read, resolved and described (``keras-caffe info``) in time
linear in its layers and without recursion (``benchmarks/net_scale.py`` measures 1k-100k)."""

from __future__ import annotations

import sys
import time

import keras_caffe
from keras_caffe.tools.info import net_table

LAYERS = 20_000


def chain(layers: int) -> str:
    """An Input, then Convolution 3x3 + in-place ReLU pairs: ``layers`` layers in all."""
    out = ['layer { name: "data" type: "Input" top: "data" '
           'input_param { shape { dim: 1 dim: 4 dim: 4 dim: 4 } } }\n']
    x = "data"
    for i in range((layers - 1) // 2):
        out.append(f'layer {{ name: "c{i}" type: "Convolution" bottom: "{x}" top: "c{i}" '
                   'convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }\n'
                   f'layer {{ name: "r{i}" type: "ReLU" bottom: "c{i}" top: "c{i}" }}\n')
        x = f"c{i}"
    return "".join(out)


def test_a_20k_layer_chain_is_read_resolved_and_described(tmp_path):
    path = tmp_path / "chain.prototxt"
    path.write_text(chain(LAYERS))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(1000)   # Python's default: nothing here may recurse per layer
    try:
        start = time.perf_counter()
        assert len(keras_caffe.read_net(path).layer) == LAYERS - 1
        graph = keras_caffe.resolve_net(path)
        table = net_table(graph, max_memory=0)
        seconds = time.perf_counter() - start
    finally:
        sys.setrecursionlimit(limit)
    assert len(graph.layers) == LAYERS - 1
    assert table.splitlines()[-2:] == [
        f"{LAYERS - 1} layers, {9_999 * 148:,} parameters; outputs: c9998",
        "projected memory: 10.5 MiB (5.6 MiB of parameters, 4.9 MiB of activations at batch "
        "1); no memory limit"]
    assert seconds < 60, seconds   # about 3 s on two cores
