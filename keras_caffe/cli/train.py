"""``keras-caffe train --solver S``: train as ``caffe train`` does, logging Caffe's lines with
glog's prefix to stderr (and with ``--log_dir`` to glog's file), so Caffe's
``tools/extra/parse_log.py`` reads the log."""

from __future__ import annotations

import os

from ..solvers import glog
from ..solvers.distribute import make_strategy
from ..solvers.runner import Solver
from ..tools.workers import launch, launched_worker
from .options import UsageError, add_gpu, add_log_dir, add_max_memory, add_speed, select_device


def add_parser(sub):
    p = sub.add_parser("train", help="train with a Caffe solver prototxt, like caffe train")
    p.add_argument("--solver", required=True)
    p.add_argument("--weights", help="caffemodel to fine-tune from (layers matched by name)")
    p.add_argument("--snapshot", help=".solverstate to resume from")
    p.add_argument("--log", help="also write a JSON-lines log (iteration, lr, loss, outputs)")
    add_log_dir(p)
    add_gpu(p)
    p.add_argument("--snapshot-prefix", help="override the solver's snapshot_prefix")
    p.add_argument("--snapshot-at", help="extra iterations to snapshot after, e.g. 1,2,5")
    p.add_argument("--distribute", choices=("mirrored", "multi-worker"),
                   help="tf.distribute over the visible devices (the prototxt's batch is the "
                        "global batch; --gpu all implies mirrored), or over the workers of "
                        "TF_CONFIG (each reads its share of the data in batches of the "
                        "prototxt's size, as Caffe's multi-GPU training)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="start N multi-worker training processes on this machine (TF_CONFIG on "
                        "free local ports; the global batch is N x batch_size)")
    p.add_argument("--continue-on-nan", action="store_true",
                   help="train on through a NaN/Inf loss, as Caffe does (default: stop at the "
                        "first one, naming the iteration and lr, before it is snapshotted)")
    add_speed(p)
    add_max_memory(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    if args.weights and args.snapshot:
        raise UsageError("give --weights or --snapshot, not both")
    worker = launched_worker()
    if args.workers is not None:
        if args.workers < 1:
            raise UsageError(f"--workers must be at least 1, got {args.workers}")
        if args.distribute not in (None, "multi-worker"):
            raise UsageError("--workers starts multi-worker training; it does not go with "
                             f"--distribute {args.distribute}")
        if worker is None and os.environ.get("TF_CONFIG"):
            raise UsageError("--workers starts its own workers, but TF_CONFIG is set: start each "
                             "worker of TF_CONFIG with --distribute multi-worker instead")
        if worker is None:
            return launch(args.argv, args.workers)
        args.distribute = "multi-worker"
    with glog.Sink(args.log_dir if not worker else None) as echo:   # the chief's log only
        gpus = select_device(args.gpu)
        echo(glog.line(glog.TRAIN_USING_GPUS, f"Using GPUs {', '.join(map(str, gpus))}") if gpus
             else glog.line(glog.TRAIN_USE_CPU, "Use CPU."))
        solver = Solver(args.solver, weights=args.weights, snapshot_prefix=args.snapshot_prefix,
                        log_path=args.log, echo=echo, precision=args.precision, xla=args.xla,
                        strategy=make_strategy(args.distribute, args.gpu),
                        snapshot_at=[int(i) for i in (args.snapshot_at or "").split(",") if i],
                        continue_on_nan=args.continue_on_nan)
        if args.snapshot:
            echo(glog.line(glog.RESUMING, f"Resuming from {args.snapshot}"))
            solver.restore(args.snapshot)
        echo(glog.line(glog.STARTING, "Starting Optimization"))
        solver.solve()
        echo(glog.line(glog.TRAIN_DONE, "Optimization Done."))
    return 0
