"""``keras-caffe test --model NET --weights W``: score a net over its data layers, as
``caffe test`` does."""

from __future__ import annotations

from ..solvers.evaluate import evaluate
from .options import add_gpu, select_device


def add_parser(sub):
    p = sub.add_parser("test", help="score a net over its data layers, like caffe test")
    p.add_argument("--model", required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--iterations", type=int, default=50)
    p.add_argument("--phase", choices=("test", "train"), default="test")
    add_gpu(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    select_device(args.gpu)
    for line in evaluate(args.model, args.weights, args.iterations, phase=args.phase):
        print(line)
    return 0
