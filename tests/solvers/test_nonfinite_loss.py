"""A NaN/Inf loss stops ``keras-caffe train`` at that iteration, naming it, the loss output and
the lr, before anything of it is snapshotted; ``--continue-on-nan`` trains on as Caffe does,
and pycaffe's solvers keep Caffe's behaviour."""

from __future__ import annotations

import json
import logging

import h5py
import numpy as np

from keras_caffe import cli
from keras_caffe.proto import binary
from tests.sentinel import tree_state

NET = """
name: "diverges"
layer { name: "data" type: "HDF5Data" top: "x" top: "y"
  hdf5_data_param { source: "list.txt" batch_size: 4 } }
layer { name: "fc" type: "InnerProduct" bottom: "x" top: "fc"
  inner_product_param { num_output: 2 bias_term: false weight_filler { type: "xavier" } } }
layer { name: "loss" type: "EuclideanLoss" bottom: "fc" bottom: "y" top: "loss" }
"""

SOLVER = """
net: "net.prototxt"
base_lr: 50
lr_policy: "fixed"
momentum: 0.9
max_iter: 40
display: 1
snapshot: 1
snapshot_prefix: "snap/run"
random_seed: 2
"""


def _setup(tmp):
    rng = np.random.default_rng(3)
    with h5py.File(tmp / "d.h5", "w") as f:
        f["x"] = rng.standard_normal((8, 4)).astype(np.float32) * 3
        f["y"] = rng.standard_normal((8, 2)).astype(np.float32)
    (tmp / "list.txt").write_text("d.h5\n")
    (tmp / "net.prototxt").write_text(NET)
    (tmp / "solver.prototxt").write_text(SOLVER)
    (tmp / "snap").mkdir()


def _first_non_finite(log_path) -> tuple[int, float, int]:
    """Iteration and lr of the first non-finite loss in a JSON-lines log, and how many
    iterations the log has."""
    records = [json.loads(l) for l in log_path.read_text().splitlines() if '"lr"' in l]
    bad = [r for r in records if not np.isfinite(r["loss"])]
    return bad[0]["iteration"], bad[0]["lr"], len(records)


def test_a_diverging_run_stops_at_the_first_non_finite_loss(tmp_path, monkeypatch, capsys):
    caffe_like, ours = tmp_path / "caffe_like", tmp_path / "ours"
    for d in (caffe_like, ours):
        d.mkdir()
        _setup(d)
    # Caffe's behaviour, kept by --continue-on-nan: it trains on to max_iter.
    monkeypatch.chdir(caffe_like)
    assert cli.main(["train", "--solver", "solver.prototxt", "--log", "log.jsonl",
                     "--continue-on-nan"]) == 0
    iteration, lr, count = _first_non_finite(caffe_like / "log.jsonl")
    assert count == 40 and 0 < iteration < 39
    assert (caffe_like / "snap/run_iter_40.caffemodel").is_file()
    capsys.readouterr()

    monkeypatch.chdir(ours)
    assert cli.main(["train", "--solver", "solver.prototxt"]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    message = [l for l in err.splitlines() if l.startswith("keras-caffe train: error: ")]
    assert len(message) == 1
    # Caffe's display line: "Iteration 7 (467 iter/s, 0.002s/1 iters), loss = inf"
    loss = [l for l in (out + err).splitlines() if f"] Iteration {iteration} (" in l and "loss = " in l]
    value = loss[0].rsplit("= ", 1)[1]             # what the display line said: inf, nan, -nan
    assert message[0] == (
        f"keras-caffe train: error: solver.prototxt: iteration {iteration}: the loss is {value} "
        f"(loss output 'loss' = {value}) at lr {lr:g}; training stopped, and nothing of this "
        "iteration was saved (lower base_lr, set clip_gradients or check the data; "
        "continue_on_nan=True / --continue-on-nan trains on as Caffe does)")
    # Snapshots up to the last finite iteration, none after: every saved weight is finite.
    saved = sorted(p.name for p in (ours / "snap").iterdir())
    assert saved == sorted(f"run_iter_{k}.{ext}" for k in range(1, iteration + 1)
                           for ext in ("caffemodel", "solverstate", "solverstate.json"))
    for k in range(1, iteration + 1):
        for layer in binary.read_weights(ours / f"snap/run_iter_{k}.caffemodel"):
            assert all(np.isfinite(b).all() for b in layer.blobs)


def test_pycaffe_solvers_train_on_as_caffe_does_and_warn_once(tmp_path, monkeypatch, caplog):
    import keras_caffe.pycaffe as caffe

    _setup(tmp_path)
    (tmp_path / "solver.prototxt").write_text(SOLVER.replace("snapshot: 1", "snapshot: 0")
                                              .replace("display: 1", "display: 0"))
    monkeypatch.chdir(tmp_path)
    before = tree_state(tmp_path)
    solver = caffe.get_solver("solver.prototxt")
    with caplog.at_level(logging.WARNING):
        solver.step(40)
    assert solver.iter == 40
    assert not np.isfinite(solver.net.blobs["loss"].data).all()
    warned = [r.getMessage() for r in caplog.records if "going on, as Caffe does" in r.getMessage()]
    assert len(warned) == 1 and "the loss is" in warned[0]
    assert tree_state(tmp_path) == before
