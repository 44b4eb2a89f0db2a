"""``keras-caffe convert NET -o OUT``: a net and its weights as ``.keras`` or ``.weights.h5``."""

from __future__ import annotations

import sys

from ..tools.convert import convert, keras_suffix
from .options import UsageError, add_net


def add_parser(sub):
    p = sub.add_parser("convert", help="convert a net and its weights to .keras or .weights.h5")
    add_net(p)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--input-layout", choices=("NHWC", "NCHW"), default="NHWC")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    if keras_suffix(args.output) is None:
        raise UsageError(f"{args.output}: the output must end in .keras or .weights.h5")
    print(convert(args.net, args.weights, args.output, phase=args.phase,
                  input_layout=args.input_layout, allow_missing=args.allow_missing),
          file=sys.stderr)
    return 0
