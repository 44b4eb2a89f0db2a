"""``keras-caffe draw NET OUT``: draw a net as Caffe's ``python/draw_net.py`` does.

NET is read with the package's prototxt reader (legacy V0/V1 nets are upgraded; a parse error
names file and line) and drawn with ``caffe.draw`` (:mod:`keras_caffe.pycaffe.draw`) in the
format OUT's extension names: png, svg, pdf, ... whatever Graphviz's ``dot`` writes, or raw for
the dot text.  Needs pydot (``pip install 'keras-caffe[draw]'``) and Graphviz.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DrawError
from ..proto.caffe_pb2 import TEST, TRAIN
from ..proto.upgrade import read_upgraded_net
from .options import UsageError, caffe_flag

RANKDIRS = ("LR", "TB", "BT", "RL")
PHASES = {"TRAIN": TRAIN, "TEST": TEST, "ALL": None}


def add_parser(sub):
    p = sub.add_parser("draw", help="draw a net's graph to an image (pydot + Graphviz)",
                       description="Draw NET's layers and blobs as Caffe's draw_net.py does, in "
                       "the format OUT's extension names (.png, .svg, .pdf, ...; .raw: the dot "
                       "text). Needs pip install 'keras-caffe[draw]' and Graphviz's dot.")
    p.add_argument("net", metavar="NET", help="net prototxt")
    p.add_argument("out", metavar="OUT", help="image to write (.png, .svg, .pdf, .raw, ...)")
    p.add_argument("--rankdir", default="LR", metavar="|".join(RANKDIRS),
                   help="direction of the graph: LR (left to right, the default), TB (top to "
                   "bottom), BT or RL")
    p.add_argument("--phase", default="ALL", metavar="TRAIN|TEST|ALL",
                   help="draw the layers of this phase only (default ALL: every layer)")
    caffe_flag(p, "display_lrm", action="store_true",
               help="show the lr multipliers of Convolution, Deconvolution and InnerProduct")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    """Run ``keras-caffe draw`` for parsed ``args``; returns 0.

    A bad option is a :class:`UsageError`; a bad prototxt, missing pydot or Graphviz, or an
    extension Graphviz does not write is a :class:`~keras_caffe.errors.CaffeError` (one line).
    """
    rankdir = args.rankdir.upper()
    if rankdir not in RANKDIRS:
        raise UsageError(f"unknown --rankdir {args.rankdir!r}: use one of {', '.join(RANKDIRS)}")
    if args.phase.upper() not in PHASES:
        raise UsageError(f"unknown phase {args.phase!r}: use TRAIN, TEST or ALL")
    phase = PHASES[args.phase.upper()]
    try:
        from ..pycaffe import draw  # optional dependency: pydot (only this command needs it)
    except ImportError as exc:
        if exc.name != "pydot":
            raise
        raise DrawError(str(exc)) from None
    net = read_upgraded_net(Path(args.net))   # a path, even one with '{' in its name
    print(f"Drawing net to {args.out}")
    draw.draw_net_to_file(net, args.out, rankdir, phase, args.display_lrm)
    return 0
