"""``keras-caffe convert NET -o OUT``: a net and its weights as ``.keras`` or ``.weights.h5``."""

from __future__ import annotations

import os
import sys

from ..api import build_net
from ..fileio import atomic_path
from .options import UsageError, add_net


def add_parser(sub):
    p = sub.add_parser("convert", help="convert a net and its weights to .keras or .weights.h5")
    add_net(p)
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--input-layout", choices=("NHWC", "NCHW"), default="NHWC")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    out = os.fspath(args.output)
    suffix = next((s for s in (".weights.h5", ".keras") if out.endswith(s)), None)
    if suffix is None:
        raise UsageError(f"{out}: the output must end in .keras or .weights.h5")
    cnet = build_net(args.net, args.weights, phase=args.phase, input_layout=args.input_layout)
    with atomic_path(out, suffix=suffix) as tmp:
        if suffix == ".keras":
            cnet.model.save(tmp)
        else:
            cnet.model.save_weights(tmp)
    print(f"wrote {out} ({cnet.model.count_params():,} parameters)", file=sys.stderr)
    return 0
