"""``max_memory=`` reaches the memory projection from every Python entry point that builds a
net (``build_net``, ``load_model``, ``open_net``, ``forward``, pycaffe's ``caffe.Net``), and
the default limit comes from the memory available (or a command's ``--max-memory``)."""

from __future__ import annotations

import numpy as np
import pytest

import keras_caffe
import keras_caffe.pycaffe as caffe
from keras_caffe.errors import MemoryLimitError
from keras_caffe.graph import memory
from tests.graph.test_memory import NET, TOTAL

# The net of tests/graph/test_memory.py: 1420 bytes projected, 'p' the largest layer.
UNDER, OVER = TOTAL - 1, TOTAL


def _refused(build, limit, limit_bytes=None) -> MemoryLimitError:
    with pytest.raises(MemoryLimitError) as err:
        build(limit)
    assert (err.value.needed, err.value.limit, err.value.layer) == (
        TOTAL, limit if limit_bytes is None else limit_bytes, "p")
    assert "largest layers: 'p' (Pooling) 400 B" in str(err.value)
    return err.value


@pytest.mark.parametrize("entry", ["build_net", "load_model", "open_net", "forward"])
def test_each_entry_point_takes_max_memory(entry):
    build = {
        "build_net": lambda m: keras_caffe.build_net(NET, max_memory=m),
        "load_model": lambda m: keras_caffe.load_model(NET, max_memory=m),
        "open_net": lambda m: keras_caffe.open_net(NET, max_memory=m),
        "forward": lambda m: keras_caffe.forward(
            NET, {"data": np.zeros((2, 3, 4, 4), np.float32)}, max_memory=m),
    }[entry]
    _refused(build, UNDER)
    _refused(build, "1K", 1024)
    assert build(OVER) is not None
    assert build(0) is not None            # 0: no limit
    assert build("2K") is not None


def test_pycaffe_net_takes_max_memory_and_keeps_it_when_it_reshapes(tmp_path):
    path = tmp_path / "m.prototxt"
    path.write_text(NET)
    _refused(lambda m: caffe.Net(str(path), caffe.TEST, max_memory=m), UNDER)
    net = caffe.Net(str(path), caffe.TEST, max_memory=OVER)
    assert net.blobs["data"].data.shape == (2, 3, 4, 4)
    net.blobs["data"].reshape(3, 3, 4, 4)     # rebuilt at a batch of 3: 1.5 times the figure
    with pytest.raises(MemoryLimitError, match=r"over the memory limit of 1.4 KiB"):
        net.forward()


def test_the_default_is_80_percent_of_the_memory_available(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 1700)
    with pytest.raises(MemoryLimitError) as err:      # 80% of 1700 = 1360 < 1420
        keras_caffe.build_net(NET)
    assert "over the memory limit of 1.3 KiB (80% of the 1.7 KiB available)" in str(err.value)
    monkeypatch.setattr(memory, "available_memory", lambda: 1800)    # 1440 >= 1420
    assert keras_caffe.build_net(NET).model is not None
    monkeypatch.setattr(memory, "available_memory", lambda: None)
    assert keras_caffe.build_net(NET).model is not None              # unknown: no limit


def test_a_commands_limit_reaches_nets_built_without_one(tmp_path, monkeypatch):
    """What ``cli.main`` does with ``--max-memory``: pycaffe scripts (``keras-caffe python``)
    and commands build their nets without passing a limit."""
    monkeypatch.setattr(memory, "available_memory", lambda: 2**40)
    path = tmp_path / "m.prototxt"
    path.write_text(NET)
    with memory.default_limit(UNDER):
        with pytest.raises(MemoryLimitError) as err:
            keras_caffe.build_net(NET)
        assert (err.value.needed, err.value.limit) == (TOTAL, UNDER)
        with pytest.raises(MemoryLimitError, match=r"over the memory limit of 1.4 KiB \(--max"):
            caffe.Net(str(path), caffe.TEST)
        assert keras_caffe.build_net(NET, max_memory=0).model is not None   # explicit wins
    assert keras_caffe.build_net(NET).model is not None
