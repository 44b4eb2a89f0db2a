"""Multi-worker training as Caffe's data-parallel training does it: each worker reads its own
share of the data (item ``o`` of the stream to worker ``o % workers``) in batches of the
prototxt's size, and the run follows one process trained on the global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from keras_caffe import cli
from keras_caffe.api import resolve_net
from keras_caffe.data import source_for
from keras_caffe.data.formats.db import open_db
from keras_caffe.data.sources.hdf5_data import HDF5Source
from keras_caffe.errors import NetError
from keras_caffe.proto import binary, caffe_pb2
from keras_caffe.solvers.distribute import local_cluster
from keras_caffe.tools import workers
from tests.data.helpers import images, raw_datum, write_lmdb

RECORDS = 11   # odd: the stream wraps in the middle of the workers' batches

NET = """
name: "tiny"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
  transform_param { crop_size: 6 mirror: true scale: 0.00390625 }
  data_param { source: "db" batch_size: %(batch)d backend: LMDB } }
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TEST }
  transform_param { crop_size: 6 scale: 0.00390625 }
  data_param { source: "db" batch_size: 4 backend: LMDB } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "fc" type: "InnerProduct" bottom: "conv" top: "fc"
  inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
layer { name: "acc" type: "Accuracy" bottom: "fc" bottom: "label" top: "acc"
  include { phase: TEST } }
"""

SOLVER = """
net: "net.prototxt"
base_lr: 0.05 momentum: 0.9 weight_decay: 0.001 lr_policy: "fixed"
max_iter: 8 display: 4
snapshot: 8 snapshot_prefix: "snap/tiny" random_seed: 3
"""


def _write_db(path):
    rng = np.random.default_rng(1)
    write_lmdb(path, [(b"%03d" % i, raw_datum(img, i % 3))
                      for i, img in enumerate(images(RECORDS, rng, sizes=((8, 8),)))])


def _lmdb_source(batch, phase=caffe_pb2.TRAIN):
    layer = ('name: "data" type: "Data" top: "data" top: "label" transform_param { crop_size: 6 '
             f'mirror: true }} data_param {{ source: "db" batch_size: {batch} backend: LMDB }}')
    (node,) = resolve_net(f"name: 'n' layer {{ {layer} }}", phase).input_layers
    return source_for(node, phase, seed=5)


def test_workers_read_disjoint_shares_of_one_global_stream(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write_db(tmp_path / "db")
    whole = _lmdb_source(6)                      # one reader with the global batch
    workers = [_lmdb_source(3) for _ in range(2)]
    for rank, source in enumerate(workers):
        source.shard(rank, 2)
    # Each worker's batch k is items rank, rank + 2, ... of the global batch k: the same
    # records with the same random crops and mirrors (keyed by the offset in the stream).
    seen = [[], []]
    for k in range(4):   # 24 items: the 11 records wrap twice, mid-batch
        batch = whole.next_batch()
        for rank, source in enumerate(workers):
            part = source.next_batch()
            assert part["data"].shape == (3, 3, 6, 6)
            np.testing.assert_array_equal(part["data"], batch["data"][rank::2])
            np.testing.assert_array_equal(part["label"], batch["label"][rank::2])
            seen[rank] += [(k * 3 + j) * 2 + rank for j in range(3)]
    # In the first epoch (offsets 0..10) no record goes to both, and every one is read.
    first = [{o for o in s if o < RECORDS} for s in seen]
    assert not first[0] & first[1] and first[0] | first[1] == set(range(RECORDS))
    # The records themselves: describe_item names each worker's record (offset % 11).
    assert workers[1].describe_item(0, 2).endswith("record 5 (key '005')")
    assert workers[0].describe_item(1, 0).endswith("record 6 (key '006')")
    # A resumed worker goes on with its own share.
    again = _lmdb_source(3)
    again.shard(1, 2)
    again.seek(2)
    whole.seek(2)
    np.testing.assert_array_equal(again.next_batch()["data"], whole.next_batch()["data"][1::2])


@pytest.mark.parametrize("shuffle", [False, True])
def test_hdf5_workers_share_every_pass(tmp_path, monkeypatch, shuffle):
    monkeypatch.chdir(tmp_path)
    for i, rows in enumerate((4, 3)):   # 7 rows in two files
        with h5py.File(f"f{i}.h5", "w") as f:
            f["data"] = np.arange(rows, dtype=np.float32)[:, None] + 10 * i
            f["label"] = np.arange(rows, dtype=np.float32) + 10 * i
    (tmp_path / "list.txt").write_text("f0.h5\nf1.h5\n")
    whole = HDF5Source("list.txt", ["data", "label"], 4, shuffle=shuffle, seed=2)
    parts = [HDF5Source("list.txt", ["data", "label"], 2, shuffle=shuffle, seed=2)
             for _ in range(2)]
    for rank, source in enumerate(parts):
        source.shard(rank, 2)
    labels = [[], []]
    for _ in range(7):   # 28 items: four passes, each reshuffled with shuffle
        batch = whole.next_batch()
        for rank, source in enumerate(parts):
            part = source.next_batch()["label"]
            np.testing.assert_array_equal(part, batch["label"][rank::2])
            labels[rank] += part.tolist()
    stream = [x for pair in zip(*labels) for x in pair]   # offsets 0, 1, 2, ... in order
    for start in (0, 7, 14, 21):   # in each pass every row is read once, by one worker
        assert sorted(stream[start:start + 7]) == [0, 1, 2, 3, 10, 11, 12]
    assert (stream[7:14] != stream[:7]) == shuffle
    resumed = HDF5Source("list.txt", ["data", "label"], 2, shuffle=shuffle, seed=2)
    resumed.shard(1, 2)
    resumed.seek(5)   # replays the reshuffles of the passes before it
    parts[1].seek(5)
    np.testing.assert_array_equal(resumed.next_batch()["label"], parts[1].next_batch()["label"])


def test_a_source_that_cannot_be_split_is_refused():
    layer = ('name: "noise" type: "DummyData" top: "x" dummy_data_param { shape { dim: 2 dim: 3 } '
             'data_filler { type: "gaussian" } }')
    (node,) = resolve_net(f"name: 'n' layer {{ {layer} }}", caffe_pb2.TRAIN).input_layers
    source = source_for(node, caffe_pb2.TRAIN, seed=0)
    source.shard(0, 1)   # one worker: nothing to split
    with pytest.raises(NetError, match=r"layer 'noise'.*cannot be split over 2 workers \(Data, "
                                       r"HDF5Data layers can"):
        source.shard(0, 2)


def _params(path):
    return {l.name: l.blobs for l in binary.read_weights(path) if l.blobs}


def _setup(path, batch):
    path.mkdir()
    _write_db(path / "db")
    (path / "net.prototxt").write_text(NET % {"batch": batch})
    (path / "solver.prototxt").write_text(SOLVER)
    (path / "snap").mkdir()


def _losses(log):
    return [r["loss"] for r in map(json.loads, log.read_text().splitlines()) if "lr" in r]


def test_two_local_workers_follow_one_process_on_the_global_batch(tmp_path, monkeypatch):
    two, one = tmp_path / "two", tmp_path / "one"
    _setup(two, 3)     # each worker: batch 3; global batch 6
    monkeypatch.chdir(two)   # the workers are started from here, in this directory
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cli.main(["train", "--solver", "solver.prototxt", "--workers", "2", "--log",
                     "log.jsonl", "--log_dir", "logs"]) == 0
    _setup(one, 6)     # one process, the global batch
    monkeypatch.chdir(one)
    assert cli.main(["train", "--solver", "solver.prototxt", "--log", "log.jsonl"]) == 0
    a, b = _params(two / "snap/tiny_iter_8.caffemodel"), _params(one / "snap/tiny_iter_8.caffemodel")
    assert a.keys() == b.keys() == {"conv", "fc"}
    for name in a:
        for x, y in zip(a[name], b[name]):
            # float32: the mean of two 3-item means is not summed in the order of one 6-item
            # mean; measured at most 3e-8 apart (an ulp of the largest weight, 0.35) after the
            # 8 steps, where training on batches of 3 instead of 6 moves a weight by 6e-2
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=2e-7)
    losses = _losses(two / "log.jsonl")
    assert len(losses) == 8 and losses[-1] != losses[0]
    np.testing.assert_allclose(losses, _losses(one / "log.jsonl"), rtol=1e-5)
    # Only the chief writes: one snapshot, one glog file (with Caffe's lines).
    assert sorted(os.listdir(two / "snap")) == sorted(os.listdir(one / "snap")) == [
        "tiny_iter_8.caffemodel", "tiny_iter_8.solverstate", "tiny_iter_8.solverstate.json"]
    logs = [f for f in os.listdir(two / "logs") if not f.endswith(".INFO")]
    assert len(logs) == 1
    assert "Iteration 4 (" in (two / "logs" / logs[0]).read_text()


@pytest.mark.parametrize("extra,message", [
    (["--workers", "0"], "--workers must be at least 1, got 0"),
    (["--workers", "2", "--distribute", "mirrored"],
     "--workers starts multi-worker training; it does not go with --distribute mirrored"),
])
def test_workers_usage_errors(extra, message, capsys):
    assert cli.main(["train", "--solver", "solver.prototxt", *extra]) == 2
    assert capsys.readouterr().err.strip() == f"keras-caffe train: {message}"


def test_workers_refused_when_tf_config_names_a_cluster(monkeypatch, capsys):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {"worker": ["h:1"]}}')
    monkeypatch.delenv("KERAS_CAFFE_WORKER", raising=False)
    assert cli.main(["train", "--solver", "solver.prototxt", "--workers", "2"]) == 2
    assert "TF_CONFIG is set" in capsys.readouterr().err


def test_a_failing_worker_stops_the_others_and_shows_its_output():
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    failing = subprocess.Popen([sys.executable, "-c", "print('bad record'); raise SystemExit(3)"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    started = time.perf_counter()
    code = workers.supervise([sleeper, failing], [None, workers.tail_of(failing)], lines.append)
    assert code == 3 and sleeper.poll() is not None   # stopped, not left waiting
    assert time.perf_counter() - started < 30
    assert lines == ["[worker 1] bad record",
                     "worker 1 of 2 failed (exit status 3); stopping the others"]


def test_local_cluster_names_every_worker_once():
    configs = [json.loads(c) for c in local_cluster(3)]
    addresses = configs[0]["cluster"]["worker"]
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    assert all(c["cluster"] == configs[0]["cluster"] for c in configs)


@pytest.mark.parametrize("backend", ["lmdb", "leveldb"])
def test_a_database_walk_steps_over_other_workers_records(tmp_path, backend):
    """Offsets 1, 4, 7, ... of a 7-record walk: positions 1, 4, then 0, 3, 6, 2 after wraps."""
    if backend == "lmdb":
        write_lmdb(tmp_path / "db", [(b"%02d" % i, b"v%d" % i) for i in range(7)])
    else:
        plyvel = pytest.importorskip("plyvel")
        db = plyvel.DB(str(tmp_path / "db"), create_if_missing=True)
        for i in range(7):
            db.put(b"%02d" % i, b"v%d" % i)
        db.close()
    walk = open_db(tmp_path / "db", backend).records(1, step=3)
    assert [next(walk)[::2] for _ in range(6)] == [(1, b"v1"), (4, b"v4"), (0, b"v0"),
                                                   (3, b"v3"), (6, b"v6"), (2, b"v2")]
