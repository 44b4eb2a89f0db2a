"""``kill -9`` during training, then resume: the pieces shared by the crash test
(``test_crash_resume.py``, three kills) and ``scripts/crash_resume.py`` (many).

A tiny net that snapshots every iteration (``snapshot: 1``: its 80k parameters and their
momentum history) is trained by ``keras-caffe train`` in a child process that
is killed with SIGKILL at a seeded moment: as soon as a temporary snapshot file appears (in
the middle of a write), or after a random delay once training has begun.  The next run resumes
from the newest ``.solverstate``; every file under a snapshot's final name must read back
whole, and the end of the chain must equal an uninterrupted run bit for bit.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

from keras_caffe.proto import binary
from keras_caffe.solvers import snapshot as snapshots

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PREFIX = "snap/tiny"

NET = """name: "crash"
layer { name: "data" type: "HDF5Data" top: "data" top: "label"
  hdf5_data_param { source: "train_list.txt" batch_size: 4 } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "xavier" } } }
layer { name: "hidden" type: "InnerProduct" bottom: "conv" top: "hidden"
  inner_product_param { num_output: 2000 weight_filler { type: "xavier" } } }
layer { name: "relu" type: "ReLU" bottom: "hidden" top: "hidden" }
layer { name: "fc" type: "InnerProduct" bottom: "hidden" top: "fc"
  inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
"""

SOLVER = """net: "net.prototxt"
type: "SGD" base_lr: 0.01 momentum: 0.9 weight_decay: 0.0005
lr_policy: "step" gamma: 0.5 stepsize: 7
max_iter: %(max_iter)d display: 0 snapshot: 1 snapshot_prefix: "%(prefix)s"
random_seed: 7
"""


def setup(folder, max_iter: int) -> None:
    """Data, net and solver for a training run in ``folder``."""
    os.makedirs(os.path.join(folder, os.path.dirname(PREFIX)), exist_ok=True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((22, 2, 5, 5)).astype(np.float32)
    with h5py.File(os.path.join(folder, "train.h5"), "w") as f:
        f["data"] = x
        f["label"] = (x[:, 0].mean(axis=(1, 2)) > 0).astype(np.float32) + (x[:, 1, 0, 0] > 1)
    for name, text in (("train_list.txt", "train.h5\n"), ("net.prototxt", NET),
                       ("solver.prototxt", SOLVER % {"max_iter": max_iter, "prefix": PREFIX})):
        with open(os.path.join(folder, name), "w") as f:
            f.write(text)


def train_args(resume: str | None = None) -> list[str]:
    """``keras-caffe train``'s arguments (resuming from ``resume``, a .solverstate)."""
    return ["train", "--solver", "solver.prototxt"] + (["--snapshot", resume] if resume else [])


def iterations(folder, ext: str = ".solverstate") -> list[int]:
    """The iterations with a file ``<prefix>_iter_<N><ext>`` in ``folder``, ascending."""
    directory, base = os.path.split(os.path.join(folder, PREFIX))
    pattern = re.compile(re.escape(base) + r"_iter_(\d+)" + re.escape(ext))
    found = [pattern.fullmatch(n) for n in os.listdir(directory)]
    return sorted(int(m.group(1)) for m in found if m)


def newest_state(folder) -> str | None:
    """The newest ``.solverstate`` (relative to ``folder``), or None."""
    done = iterations(folder)
    return snapshots.snapshot_paths(PREFIX, done[-1])[1] if done else None


def temporaries(folder) -> list[str]:
    directory = os.path.join(folder, os.path.dirname(PREFIX))
    return sorted(n for n in os.listdir(directory) if n.endswith(".tmp"))


def run_killed(folder, rng, *, max_delay: float = 0.2, timeout: float = 120.0) -> dict:
    """Start ``keras-caffe train`` in ``folder`` (resuming from its newest solverstate) and
    SIGKILL it at a moment drawn from ``rng``: once the run has completed 1 to 5 snapshots of
    its own, either as soon as a temporary file appears ("in-write") or after a random delay
    ("delay").  Returns what happened."""
    resume = newest_state(folder)
    done = iterations(folder)
    goal = (done[-1] if done else 0) + rng.randint(1, 5)
    mode = rng.choice(["in-write", "delay"])
    delay = rng.uniform(0.0, max_delay)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    with open(os.path.join(folder, "runs.log"), "ab") as log:
        child = subprocess.Popen([sys.executable, "-m", "keras_caffe.cli"] + train_args(resume),
                                 cwd=folder, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        try:
            while (iterations(folder) or [0])[-1] < goal and child.poll() is None:
                if time.monotonic() > deadline:
                    raise TimeoutError("the training run wrote no snapshot in time")
                time.sleep(0.005)
            if mode == "in-write":
                while not temporaries(folder) and child.poll() is None:
                    time.sleep(0.0005)
            else:
                time.sleep(delay)
            finished = child.poll() is not None
            if not finished:
                os.kill(child.pid, signal.SIGKILL)
            child.wait()
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
    return {"resumed_from": resume, "mode": mode, "delay": round(delay, 3),
            "finished": finished, "returncode": child.returncode,
            "temporaries_left": temporaries(folder), "newest_state": newest_state(folder)}


def check_snapshots(folder) -> list[str]:
    """What is wrong with the files under snapshots' final names (empty: each reads whole)."""
    problems = []
    for n in iterations(folder, ".caffemodel"):
        model_path, state_path = (os.path.join(folder, p) for p in
                                  snapshots.snapshot_paths(PREFIX, n))
        try:
            names = [l.name for l in binary.read_weights(model_path) if l.blobs]
            if names != ["conv", "hidden", "fc"]:
                problems.append(f"{model_path}: layers {names}")
        except Exception as exc:  # noqa: BLE001  (any failure is a corrupt file)
            problems.append(f"{model_path}: {exc}")
    for n in iterations(folder):
        state_path = os.path.join(folder, snapshots.snapshot_paths(PREFIX, n)[1])
        try:
            state, extra = snapshots.read(state_path)
            if state.iter != n or len(state.history) != 6 or extra.get("iteration") != n:
                problems.append(f"{state_path}: iter {state.iter}, {len(state.history)} history "
                                f"blobs, sidecar {extra.get('iteration')}")
            if not os.path.isfile(os.path.join(folder, state.learned_net)):
                problems.append(f"{state_path}: its caffemodel is missing")
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{state_path}: {exc}")
    for n in iterations(folder, ".solverstate.json"):
        path = os.path.join(folder, snapshots.snapshot_paths(PREFIX, n)[1] + ".json")
        try:
            with open(path) as f:
                json.load(f)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{path}: {exc}")
    return problems


def final_values(folder, iteration: int) -> dict[str, np.ndarray]:
    """Every weight blob and history blob of the snapshot at ``iteration``."""
    model_path, state_path = (os.path.join(folder, p) for p in
                              snapshots.snapshot_paths(PREFIX, iteration))
    out = {f"{l.name}/{i}": np.asarray(b)
           for l in binary.read_weights(model_path) for i, b in enumerate(l.blobs)}
    state, _ = snapshots.read(state_path)
    out.update({f"history/{i}": binary.blob_array(h) for i, h in enumerate(state.history)})
    return out


def differences(a: dict, b: dict) -> list[str]:
    """Names of the blobs that are not bit-identical."""
    if sorted(a) != sorted(b):
        return [f"blob names differ: {sorted(a)} vs {sorted(b)}"]
    return [k for k in a if a[k].shape != b[k].shape or a[k].tobytes() != b[k].tobytes()]
