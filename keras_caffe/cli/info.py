"""``keras-caffe info NET``: a table of layers, tops, NCHW shapes and parameter counts."""

from __future__ import annotations

from ..tools.info import net_table
from .options import add_net, add_shapes, parse_shapes


def add_parser(sub):
    p = sub.add_parser("info", help="table of layers, tops, NCHW shapes and parameter counts")
    add_net(p)
    add_shapes(p, help="shape of a data layer's top (its source is not read)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    shapes = parse_shapes(args.input_shape)
    print(net_table(args.net, weights=args.weights, phase=args.phase, input_shapes=shapes or None,
                    allow_missing=args.allow_missing))
    return 0
