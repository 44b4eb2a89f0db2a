#!/usr/bin/env python
"""Training images/s of one process against two local workers (``keras-caffe train
--workers 2``) on this machine, on a self-made LMDB and a small convnet.

Run from the repository root::

    python benchmarks/multi_worker.py                       # ~2 min on 2 cores
    python benchmarks/multi_worker.py --batch 64 --iterations 60 --repeats 2

Variants, each a ``keras-caffe train`` run of ``--iterations`` iterations on the same data
(an LMDB of raw 3x40x40 Datums made in a temporary folder, Data layer with a random 32x32
crop and mirror; conv 32 3x3 - ReLU - max pool - conv 64 3x3 - ReLU - max pool - fc 10 -
SoftmaxWithLoss; SGD with momentum):

* ``1 worker``: one process, ``batch_size = B``;
* ``1 worker, batch 2B``: one process doing the work of one 2-worker iteration;
* ``2 workers``: ``--workers 2``, each reading its share of the LMDB in batches of ``B``
  (the global batch is ``2B``).

images/s = global batch x iterations per second between the chief's display lines after the
first (start-up, tracing and the first iterations are not counted; data reading is).  The
rounds alternate the order of the variants; the table shows medians over rounds.

The run also checks that ``2 workers`` trains as ``1 worker, batch 2B`` (each global batch
holds the same records, with the same crops): the losses of the first ``--display``
iterations equal within 1e-4 (relative), else it exits 1.  Later the two drift apart as any
two summation orders of the same arithmetic do on this net (random labels, max pooling and
ReLU switch on last-bit differences): after 60 iterations their weights differ by ~1e-3 (L2,
relative) and their losses by ~2e-4, and so do those of ``1 worker, batch 2B`` and one
process with batch B and ``iter_size: 2`` (the same gradients summed in another order), so
the final difference is printed, not judged.

Two workers on one machine share its cores and its memory bandwidth: each process's
TensorFlow uses every core for its ops, and the workers exchange gradients over localhost
gRPC each iteration.  The table says what that costs or gains here; scale-out pays on
several machines, or on one machine with a device per worker.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import _common as C  # noqa: E402  (puts the repository on sys.path)
import numpy as np  # noqa: E402

NET = """
name: "bench"
layer { name: "data" type: "Data" top: "data" top: "label"
  transform_param { crop_size: 32 mirror: true scale: 0.00390625 }
  data_param { source: "%(db)s" batch_size: %(batch)d backend: LMDB } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 32 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
  convolution_param { num_output: 64 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool2" top: "fc"
  inner_product_param { num_output: 10 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
"""

SOLVER = """
net: "%(net)s"
base_lr: 0.01 momentum: 0.9 weight_decay: 0.0005 lr_policy: "fixed"
max_iter: %(iterations)d display: %(display)d
snapshot_after_train: true snapshot_prefix: "%(prefix)s" random_seed: 1
"""

DISPLAY = re.compile(r"Iteration (\d+) \(([\d.e+-]+) iter/s")


def write_db(path, records: int) -> None:
    import lmdb

    from keras_caffe.proto import caffe_pb2

    rng = np.random.default_rng(0)
    env = lmdb.open(path, map_size=1 << 30)
    with env.begin(write=True) as txn:
        for i in range(records):
            img = rng.integers(0, 256, (3, 40, 40), np.uint8)
            txn.put(b"%08d" % i, caffe_pb2.Datum(channels=3, height=40, width=40,
                                                 data=img.tobytes(),
                                                 label=int(i % 10)).SerializeToString())
    env.close()


def run(work, name, batch, workers, args) -> tuple[float, str]:
    """One training run; returns (images/s of the global batch, final caffemodel)."""
    folder = os.path.join(work, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "net.prototxt"), "w") as f:
        f.write(NET % {"db": os.path.join(work, "db"), "batch": batch})
    with open(os.path.join(folder, "solver.prototxt"), "w") as f:
        f.write(SOLVER % {"net": "net.prototxt", "iterations": args.iterations,
                          "display": args.display, "prefix": "snap"})
    command = [sys.executable, "-m", "keras_caffe.cli", "train", "--solver", "solver.prototxt",
               "--log", "log.jsonl"]
    if workers > 1:
        command += ["--workers", str(workers)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"{name} failed:\n{result.stderr[-3000:]}")
    rates = [float(m.group(2)) for m in DISPLAY.finditer(result.stderr)
             if int(m.group(1)) > args.display]   # after the first display: warmed up
    return statistics.median(rates) * batch * workers, folder


def losses(folder) -> np.ndarray:
    with open(os.path.join(folder, "log.jsonl")) as f:
        return np.array([r["loss"] for r in map(json.loads, f) if "lr" in r])


def weight_difference(a_folder, b_folder, iterations) -> float:
    """``||a - b|| / ||b||`` over all parameters of the two final snapshots."""
    from keras_caffe.proto import binary

    def flat(folder):
        path = os.path.join(folder, f"snap_iter_{iterations}.caffemodel")
        return np.concatenate([np.ravel(np.asarray(blob, np.float64))
                               for layer in binary.read_weights(path) for blob in layer.blobs])

    a, b = flat(a_folder), flat(b_folder)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32, help="per-worker batch B")
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--display", type=int, default=10)
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    if args.iterations < 3 * args.display:
        parser.error("--iterations must be at least 3 x --display (two timed displays)")
    variants = [("1 worker", args.batch, 1), ("1 worker, batch 2B", 2 * args.batch, 1),
                ("2 workers", args.batch, 2)]
    work = tempfile.mkdtemp(prefix="keras_caffe_multi_worker_")
    try:
        write_db(os.path.join(work, "db"), args.records)
        rates = {name: [] for name, _, _ in variants}
        models = {}
        start = time.perf_counter()
        for r in range(args.repeats):
            for name, batch, workers in (variants if r % 2 == 0 else variants[::-1]):
                rate, models[name] = run(work, f"{name}-{r}".replace(" ", "_").replace(",", ""),
                                         batch, workers, args)
                rates[name].append(rate)
        two, one = models["2 workers"], models["1 worker, batch 2B"]
        early = float(np.max(np.abs(losses(two)[:args.display] / losses(one)[:args.display] - 1)))
        drift = weight_difference(two, one, args.iterations)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(rates["1 worker"])
    print(f"\nkeras-caffe train, B = {args.batch}, {args.iterations} iterations, "
          f"{os.cpu_count()} CPUs, {args.repeats} round(s), {time.perf_counter() - start:.0f} s")
    print("| variant | processes | global batch | images/s | vs 1 worker |")
    print("|---|---|---|---|---|")
    for name, batch, workers in variants:
        rate = statistics.median(rates[name])
        print(f"| {name} | {workers} | {batch * workers} | {rate:.0f} | {rate / base:.2f} |")
    ok = early <= 1e-4
    print(f"\n2 workers vs 1 worker with batch 2B: losses of the first {args.display} iterations "
          f"within {early:.1e} (relative; {'equal' if ok else 'MISMATCH'}); weights after "
          f"{args.iterations} iterations {drift:.1e} apart (L2, relative; rounding drift, see "
          "the docstring)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
