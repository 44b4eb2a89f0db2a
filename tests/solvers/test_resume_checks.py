"""Resuming from a .solverstate that cannot give the exact trajectory back is refused with one
error naming the file, as Caffe's ``CHECK_EQ(state.history_size(), history_.size())`` does:
no history, a history of the wrong length or shapes, an empty or truncated state, a state
without its caffemodel, a corrupt ``.solverstate.json``, a directory."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

import keras_caffe
from keras_caffe import cli
from keras_caffe.proto import caffe_pb2
from tests.model.test_train import _setup
from tests.sentinel import refused

STATE = "snap/tiny_iter_10.solverstate"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A folder where ``keras-caffe train`` ran 10 SGD iterations and snapshotted them."""
    root = tmp_path_factory.mktemp("trained")
    _setup(root, 10)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        assert cli.main(["train", "--solver", "solver.prototxt"]) == 0
    finally:
        os.chdir(cwd)
    return root


@pytest.fixture
def work(trained, tmp_path, monkeypatch):
    """A copy of the trained folder, with the solver set to go on to iteration 20."""
    shutil.copytree(trained, tmp_path, dirs_exist_ok=True)
    solver = tmp_path / "solver.prototxt"
    solver.write_text(solver.read_text().replace("max_iter: 10", "max_iter: 20"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _state(path=STATE) -> caffe_pb2.SolverState:
    state = caffe_pb2.SolverState()
    with open(path, "rb") as f:
        state.ParseFromString(f.read())
    return state


def _write(state, path=STATE) -> None:
    with open(path, "wb") as f:
        f.write(state.SerializeToString())


def _resume_fails(work, capsys, snapshot=STATE, solver="solver.prototxt") -> str:
    """Resume; assert it fails with one message and trains nothing (no new file anywhere in
    the folder, nothing changed); return the message."""
    return refused(["train", "--solver", solver, "--snapshot", snapshot], work, capsys)


def test_an_intact_state_resumes(work, capsys):
    assert cli.main(["train", "--solver", "solver.prototxt", "--snapshot", STATE]) == 0
    assert (work / "snap/tiny_iter_20.solverstate").is_file()


def test_a_state_without_history_is_refused(work, capsys):
    state = _state()
    del state.history[:]
    _write(state)
    message = _resume_fails(work, capsys)
    assert message == (f"{STATE}: the solver state holds no history; the SGD solver keeps 1 per "
                       "learnable blob (history) and the net has 4, so 4 are needed (Caffe: "
                       "'Incorrect length of history blobs'). Resuming without them would restart "
                       "the solver's history from zero: resume from a state this solver wrote for "
                       "this net, or fine-tune from its .caffemodel (--weights)")


def test_a_state_of_another_solver_type_is_refused(work, capsys):
    solver = work / "adam.prototxt"
    solver.write_text((work / "solver.prototxt").read_text().replace('type: "SGD"', 'type: "Adam"'))
    message = _resume_fails(work, capsys, solver="adam.prototxt")
    assert "holds 4 history blobs; the Adam solver keeps 2 per learnable blob (m, v) and the net " \
           "has 4, so 8 are needed" in message


def test_a_history_blob_of_the_wrong_shape_is_refused(work, capsys):
    state = _state()
    state.history[2].shape.dim[:] = [36, 3]          # fc's weight is (3, 36)
    _write(state)
    message = _resume_fails(work, capsys)
    assert message == (f"{STATE}: history blob 2 (history of layer 'fc', blob 0) has shape "
                       "(36, 3); the net's blob has shape (3, 36): the state belongs to another net")


def test_a_history_blob_missing_data_is_refused(work, capsys):
    state = _state()
    del state.history[1].data[1:]
    _write(state)
    message = _resume_fails(work, capsys)
    assert message == (f"{STATE}: history blob 1 (history of layer 'conv', blob 1): its data does "
                       "not fill its shape (4,) (truncated?)")


def test_an_empty_state_is_refused(work, capsys):
    (work / STATE).write_bytes(b"")
    assert _resume_fails(work, capsys) == (f"{STATE}: the solver state is empty (0 bytes): an "
                                           "interrupted write? resume from an earlier snapshot")


@pytest.mark.parametrize("keep", [0.5, 0.97])
def test_a_truncated_state_is_refused(work, capsys, keep):
    data = (work / STATE).read_bytes()
    (work / STATE).write_bytes(data[:int(len(data) * keep)])
    message = _resume_fails(work, capsys)
    assert message.startswith(f"{STATE}: not a Caffe SolverState, or truncated (")


def test_a_state_cut_at_a_field_boundary_is_refused_by_the_history_check(work, capsys):
    state = _state()
    del state.history[3:]                       # what a cut after the third blob leaves
    _write(state)
    assert "holds 3 history blobs; the SGD solver keeps 1 per learnable blob" in \
        _resume_fails(work, capsys)


def test_a_state_without_its_caffemodel_is_refused(work, capsys):
    state = _state()
    state.ClearField("learned_net")
    _write(state)
    assert _resume_fails(work, capsys) == (
        f"{STATE}: the solver state names no learned_net (the .caffemodel with the weights to "
        "resume from): not a complete solver state")
    state.learned_net = "snap/gone.caffemodel"
    _write(state)
    assert _resume_fails(work, capsys) == (
        f"{STATE}: its learned_net 'snap/gone.caffemodel' (the weights to resume from) is not "
        "there")


def test_a_learned_net_lacking_layers_is_refused(work, capsys):
    from keras_caffe.proto import binary

    blobs = {l.name: [np.array(b) for b in l.blobs]
             for l in binary.read_weights("snap/tiny_iter_10.caffemodel") if l.blobs}
    binary.write_caffemodel("snap/tiny_iter_10.caffemodel", {"conv": blobs["conv"]})
    message = _resume_fails(work, capsys)
    assert message.startswith("snap/tiny_iter_10.caffemodel: no weights for 1 of the net's 2 "
                              "parameter layer(s): 'fc';")


@pytest.mark.parametrize("text,why", [
    ('{"data": {"train/data": {"batches', "not the JSON a keras-caffe snapshot writes (Unterminated"),
    ('[1, 2]', "not the JSON a keras-caffe snapshot writes (expected"),
    ('{"data": {"train/data": {"batches_read": "x"}}}', "not the JSON a keras-caffe snapshot "
                                                        "writes (expected"),
    ('{"data": {}, "iteration": 30}', "written at iteration 30, but its solver state is at "
                                      "iteration 10: it belongs to another snapshot"),
])
def test_a_corrupt_json_sidecar_is_refused(work, capsys, text, why):
    (work / (STATE + ".json")).write_text(text)
    assert _resume_fails(work, capsys).startswith(f"{STATE}.json: {why}")


def test_a_directory_given_to_snapshot_is_refused(work, capsys):
    assert _resume_fails(work, capsys, snapshot="snap") == (
        "snap: is a directory; give the .solverstate file a snapshot wrote "
        "(<prefix>_iter_<N>.solverstate)")


def test_pycaffe_solver_restore_refuses_a_state_without_history(work):
    import keras_caffe.pycaffe as caffe

    state = _state()
    del state.history[:]
    _write(state)
    solver = caffe.get_solver("solver.prototxt")
    with pytest.raises(keras_caffe.CaffemodelError, match="holds no history"):
        solver.restore(STATE)
