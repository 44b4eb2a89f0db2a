"""``keras-caffe train --solver S``: train as ``caffe train`` does."""

from __future__ import annotations

from ..solvers.runner import Solver, default_echo, make_strategy
from .options import UsageError, add_gpu, add_speed, select_device


def add_parser(sub):
    p = sub.add_parser("train", help="train with a Caffe solver prototxt, like caffe train")
    p.add_argument("--solver", required=True)
    p.add_argument("--weights", help="caffemodel to fine-tune from (layers matched by name)")
    p.add_argument("--snapshot", help=".solverstate to resume from")
    p.add_argument("--log", help="also write a JSON-lines log (iteration, lr, loss, outputs)")
    add_gpu(p)
    p.add_argument("--snapshot-prefix", help="override the solver's snapshot_prefix")
    p.add_argument("--snapshot-at", help="extra iterations to snapshot after, e.g. 1,2,5")
    p.add_argument("--distribute", choices=("mirrored", "multi-worker"),
                   help="tf.distribute over the visible devices, or over the workers of TF_CONFIG "
                        "(the global batch stays the prototxt's; --gpu all implies mirrored)")
    add_speed(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    if args.weights and args.snapshot:
        raise UsageError("give --weights or --snapshot, not both")
    select_device(args.gpu)
    solver = Solver(args.solver, weights=args.weights, snapshot_prefix=args.snapshot_prefix,
                    log_path=args.log, echo=default_echo, precision=args.precision, xla=args.xla,
                    strategy=make_strategy(args.distribute, args.gpu),
                    snapshot_at=[int(i) for i in (args.snapshot_at or "").split(",") if i])
    solver.solve(resume=args.snapshot)
    return 0
