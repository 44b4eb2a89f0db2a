"""``keras-caffe verify NET``: where does a conversion depart from a reference dump?"""

from __future__ import annotations

from ..api import build_net, forward
from ..tools.verify import compare, format_rows
from .options import add_net, read_npz


def add_parser(sub):
    p = sub.add_parser("verify", help="compare every blob (and gradient) with a reference dump")
    add_net(p)
    p.add_argument("--inputs", required=True)
    p.add_argument("--reference", required=True, help="npz of blobs by name (diff/, param/ too)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    inputs = read_npz(args.inputs, "--inputs")
    reference = read_npz(args.reference, "--reference")
    backward = any(k.startswith(("diff/", "param/")) for k in reference)
    cnet = build_net(args.net, args.weights, phase=args.phase, allow_missing=args.allow_missing,
                     input_shapes={k: v.shape for k, v in inputs.items()})
    ours = forward(cnet, inputs, backward=backward)
    order = list(inputs) + [t.name for n in cnet.graph.layers for t in n.tops]
    order += [f"diff/{k}" for k in inputs] + [f"param/{c.name}/{i}" for c in cnet.param_contexts
                                              for i in range(len(c.weights))]
    producers = {t.name: n.name for n in cnet.graph.layers for t in n.tops}
    rows = compare(ours, reference, list(dict.fromkeys(order)))
    print(format_rows(rows, producers))
    return 0 if all(r.ok for r in rows) else 1
