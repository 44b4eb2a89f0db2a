"""``keras-caffe demo``: the bundled example net, converted and checked end to end."""

from __future__ import annotations

from ..tools.demo import run_demo


def add_parser(sub):
    p = sub.add_parser("demo", help="convert the bundled example net and check it end to end")
    p.add_argument("--workdir", default="keras_caffe_demo", help="where to write the outputs")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    return run_demo(args.workdir)
