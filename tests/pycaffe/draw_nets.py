"""Nets and helpers for the drawing tests (``caffe.draw`` and ``keras-caffe draw``), written
for this project."""

from __future__ import annotations

import os
import re
import shutil

import pytest

# A train_val net: data layers per phase, a TEST-only accuracy, a layer excluded from TEST,
# an in-place ReLU, learning layers with lr multipliers.
PHASED_NET = """name: 'phased'
layer { name: 'data' type: 'Data' top: 'data' top: 'label' include { phase: TRAIN }
  data_param { source: 'train_lmdb' batch_size: 64 } }
layer { name: 'data' type: 'Data' top: 'data' top: 'label' include { phase: TEST }
  data_param { source: 'test_lmdb' batch_size: 100 } }
layer { name: 'conv1' type: 'Convolution' bottom: 'data' top: 'conv1'
  param { lr_mult: 1 } param { lr_mult: 2 }
  convolution_param { num_output: 20 kernel_size: 5 stride: 2 pad: 1 } }
layer { name: 'relu1' type: 'ReLU' bottom: 'conv1' top: 'conv1' }
layer { name: 'pool1' type: 'Pooling' bottom: 'conv1' top: 'pool1'
  pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: 'drop1' type: 'Dropout' bottom: 'pool1' top: 'drop1' exclude { phase: TEST } }
layer { name: 'ip1' type: 'InnerProduct' bottom: 'pool1' top: 'ip1'
  param { lr_mult: 1 } param { lr_mult: 2 } inner_product_param { num_output: 10 } }
layer { name: 'accuracy' type: 'Accuracy' bottom: 'ip1' bottom: 'label' top: 'accuracy'
  include { phase: TEST } }
layer { name: 'loss' type: 'SoftmaxWithLoss' bottom: 'ip1' bottom: 'label' top: 'loss' }
"""

# Names that dot and record labels treat specially.
AWKWARD_NAMES = ("a|b", "{x}", '"q"', "conv1/7x7_s2", "<relu>", "back\\slash", "x y")
AWKWARD_NET = """name: 'odd "net" {1}'
layer { name: 'a|b' type: 'Input' top: 'a|b' input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: 'conv1/7x7_s2' type: 'Convolution' bottom: 'a|b' top: '{x}'
  convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: '<relu>' type: 'ReLU' bottom: '{x}' top: '{x}' }
layer { name: 'back\\\\slash' type: 'Pooling' bottom: '{x}' top: '"q"'
  pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layer { name: '{x}' type: 'InnerProduct' bottom: '"q"' top: 'x y'
  inner_product_param { num_output: 3 } }
"""

_NODE = re.compile(r'^(layer\d+|blob\d+) \[label=("(?:[^"\\]|\\.)*"), (.*)\];$', re.M)
_EDGE = re.compile(r"^(\w+) -> (\w+) \[label=(.*)\];$", re.M)


def nodes(dot_text: str) -> dict[str, tuple[str, str]]:
    """Node id -> (its quoted label, the rest of its attributes) in pydot's dot text."""
    return {node: (label, rest) for node, label, rest in _NODE.findall(dot_text)}


def layer_labels(dot_text: str) -> list[str]:
    return [label for node, (label, _) in nodes(dot_text).items() if node.startswith("layer")]


def blob_labels(dot_text: str) -> list[str]:
    return [label for node, (label, _) in nodes(dot_text).items() if node.startswith("blob")]


def edges(dot_text: str) -> list[tuple[str, str, str]]:
    return _EDGE.findall(dot_text)


def require_dot() -> None:
    """Skip the calling test when Graphviz's dot is missing (CI installs it: there, fail)."""
    if shutil.which("dot") is None:
        if os.environ.get("KERAS_CAFFE_REQUIRE_SHARED"):
            pytest.fail("Graphviz's dot is required in CI (.ci/run installs it)")
        pytest.skip("Graphviz's dot program is not installed (apt install graphviz)")
