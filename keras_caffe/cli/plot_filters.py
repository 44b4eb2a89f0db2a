"""``keras-caffe plot-filters NET --weights W --layer conv1 -o filters.png``: a layer's filters
as one image, as Caffe's notebooks draw them with ``vis_square``."""

from __future__ import annotations

import argparse
import sys

from ..tools.filters import CHANNEL_ORDERS, plot_filters
from .options import UsageError

_HELP = """\
Draw a layer's learned filters (its first blob, read straight from W) as one grid image,
as the 00-classification notebook's vis_square: values normalised to [0, 1] over the whole
blob, each tile followed by --padding white rows/columns, tiles in a square grid.

  N x 3 x kh x kw    one colour tile per filter (BGR flipped to RGB unless
                     --channel-order rgb says the model takes RGB)
  N x C x kh x kw    one grey tile per filter and input channel (N*C tiles)
  InnerProduct N x D grey k x k tiles when D = k*k, colour ones when D = 3*k*k

The image is (tiles a side) x (k + padding) pixels a side, times --zoom; its format is the
one OUT's extension names (png by default). Needs pip install 'keras-caffe[plot]'.
"""


def add_parser(sub):
    p = sub.add_parser("plot-filters", help="draw a layer's filters as an image grid "
                       "(vis_square)", description=_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("net", metavar="NET", help="net prototxt (for the layer's name and type)")
    p.add_argument("--weights", required=True, help="caffemodel holding the filters")
    p.add_argument("--layer", required=True, help="layer whose weights to draw (e.g. conv1)")
    p.add_argument("-o", "--out", required=True, metavar="OUT", help="image to write (.png)")
    p.add_argument("--padding", type=int, default=1, help="white pixels after each tile "
                   "(default 1)")
    p.add_argument("--channel-order", choices=CHANNEL_ORDERS, default="bgr",
                   help="channel order the model takes (default bgr, Caffe's): colour filters "
                   "are shown as RGB")
    p.add_argument("--zoom", type=int, default=1, help="draw each value as ZOOM x ZOOM pixels")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    if args.padding < 0:
        raise UsageError(f"--padding must be >= 0, got {args.padding}")
    if args.zoom < 1:
        raise UsageError(f"--zoom must be >= 1, got {args.zoom}")
    shape = plot_filters(args.net, args.weights, args.layer, args.out, padding=args.padding,
                         channel_order=args.channel_order, zoom=args.zoom)
    kind = "colour" if len(shape) == 3 else "grey"
    print(f"wrote {args.layer}'s filters to {args.out} ({shape[1]}x{shape[0]} pixels, {kind})",
          file=sys.stderr)
    return 0
