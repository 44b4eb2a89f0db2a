"""``keras-caffe test --model NET --weights W``: score a net over its data layers, as
``caffe test`` does, logging its lines with glog's prefix to stderr (and with ``--log_dir`` to
glog's file)."""

from __future__ import annotations

from ..solvers import glog
from ..solvers.evaluate import evaluate
from .options import add_allow_missing, add_gpu, add_log_dir, add_max_memory, select_device


def add_parser(sub):
    p = sub.add_parser("test", help="score a net over its data layers, like caffe test")
    p.add_argument("--model", required=True)
    p.add_argument("--weights", required=True)
    add_allow_missing(p)
    p.add_argument("--iterations", type=int, default=50)
    p.add_argument("--phase", choices=("test", "train"), default="test")
    add_gpu(p)
    add_log_dir(p)
    add_max_memory(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    with glog.Sink(args.log_dir) as echo:
        gpus = select_device(args.gpu)
        echo(glog.line(glog.TEST_USE_GPU, f"Use GPU with device ID {gpus[0]}") if gpus
             else glog.line(glog.TEST_USE_CPU, "Use CPU."))
        evaluate(args.model, args.weights, args.iterations, phase=args.phase, echo=echo,
                 allow_missing=args.allow_missing)
    return 0
