"""Fixtures for the export tests: weights files, and the CLI with ``export`` registered."""

from __future__ import annotations

import argparse
import os

import numpy as np
import pytest

import keras_caffe

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def random(shape, seed=0, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def build_odd(seed=1, **kwargs):
    """ODD_NAMES built, with BatchNorm statistics that keep its outputs near 1."""
    from tests.export.nets import ODD_NAMES

    cnet = keras_caffe.build_net(ODD_NAMES, seed=seed, **kwargs)
    from keras_caffe.weights.loader import set_layer_blobs

    set_layer_blobs(cnet.contexts["bn"], [
        np.array([0.5, -1.0, 2.0], np.float32), np.array([1.0, 2.0, 0.5], np.float32),
        np.array([2.0], np.float32)])
    return cnet


@pytest.fixture
def caffemodel(tmp_path):
    """``caffemodel(net_text)``: the prototxt and a .caffemodel of seeded filler weights."""
    def write(net, seed=3, name="net"):
        path = tmp_path / f"{name}.prototxt"
        path.write_text(net)
        weights = tmp_path / f"{name}.caffemodel"
        keras_caffe.save_caffemodel(keras_caffe.build_net(path, seed=seed), weights)
        return path, weights
    return write


@pytest.fixture
def run_cli():
    """``run_cli(argv)``: ``keras_caffe.cli.main``."""
    from keras_caffe import cli

    return cli.main
