"""``keras-caffe upgrade OLD -o NEW``: rewrite a legacy Caffe file in today's format.

OLD may be a net prototxt, a solver prototxt (told apart by content), or a binary
``.caffemodel`` (told by its extension, or by not being text). Prototxt is written as prototxt,
a caffemodel as a binary caffemodel, like Caffe's ``upgrade_net_proto_text`` /
``upgrade_solver_proto_text`` / ``upgrade_net_proto_binary``. NEW is replaced atomically.
"""

from __future__ import annotations

import sys

from ..tools.upgrade import upgrade_file


def add_parser(subparsers):
    p = subparsers.add_parser(
        "upgrade", help="upgrade a legacy net/solver prototxt or caffemodel to the current format",
        description="Upgrade a V0/V1 net, a net with input fields or old BatchNorm params, a "
                    "solver with solver_type, or a legacy binary .caffemodel, as Caffe's "
                    "upgrade_* tools do.")
    p.add_argument("old", metavar="OLD", help="legacy .prototxt (net or solver) or .caffemodel")
    p.add_argument("-o", "--output", metavar="NEW", required=True,
                   help="where to write the upgraded file (same kind as OLD)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    """Run ``keras-caffe upgrade`` for parsed ``args`` (``old``, ``output``); returns 0.

    Bad input raises :class:`~keras_caffe.errors.CaffeError` (the CLI prints it and exits 1).
    """
    print(f"keras-caffe upgrade: {upgrade_file(args.old, args.output)}", file=sys.stderr)
    return 0
