"""``keras-caffe dump-reference NET``: Caffe's own blobs, through pycaffe in a child process."""

from __future__ import annotations

from ..tools.reference import dump_reference
from .options import add_net


def add_parser(sub):
    p = sub.add_parser("dump-reference", help="write Caffe's own blobs with pycaffe (if installed)")
    add_net(p, allow_missing=False)   # pycaffe's own rule: missing layers keep fillers
    p.add_argument("--inputs", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--backward", action="store_true")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    return dump_reference(args.net, args.weights, args.inputs, args.out, args.phase, args.backward)
