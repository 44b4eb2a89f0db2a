"""``keras-caffe plot-log LOG... -o curves.png``: training curves from Caffe's logs.

Reads glog-style logs (real Caffe's and ``keras-caffe train``'s, on stderr or from
``--log_dir``) and the JSON-lines logs of ``keras-caffe train --log``
(:mod:`keras_caffe.tools.caffe_log`), and draws loss and test outputs against iterations or
seconds, one colour per log (:mod:`keras_caffe.tools.plots`).  Needs matplotlib
(``pip install 'keras-caffe[plot]'``).
"""

from __future__ import annotations

import sys

from ..tools.caffe_log import read_log
from ..tools.plots import X_AXES, plot_logs


def add_parser(sub):
    p = sub.add_parser("plot-log", help="plot loss and test outputs of training logs",
                       description="Plot the train and test outputs of Caffe training logs "
                       "(glog-style, Caffe's or keras-caffe's, or keras-caffe train --log "
                       "JSON lines) against iterations or seconds, one colour per log. "
                       "Needs pip install 'keras-caffe[plot]'.")
    p.add_argument("logs", nargs="+", metavar="LOG", help="training log(s) to overlay")
    p.add_argument("-o", "--output", required=True, metavar="OUT.png",
                   help="image to write (.png; .svg or .pdf also work)")
    p.add_argument("--x", choices=(*X_AXES, "both"), default="iters",
                   help="plot against iterations (default), seconds since 'Solving', or both")
    p.add_argument("--y", action="append", default=[], metavar="NAME",
                   help="output(s) to plot, e.g. loss, accuracy, test:loss (repeatable or "
                        "comma-separated; default: every output)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    """Run ``keras-caffe plot-log``; a log that cannot be read, or missing matplotlib, is a
    :class:`~keras_caffe.errors.CaffeError` (one line)."""
    logs = [read_log(path) for path in args.logs]
    x = tuple(X_AXES) if args.x == "both" else (args.x,)
    y = [name.strip() for item in args.y for name in item.split(",") if name.strip()]
    out = plot_logs(logs, args.output, x=x, y=y)
    rows = sum(len(log.train) + len(log.test) for log in logs)
    print(f"wrote {out} ({len(logs)} log(s), {rows} rows)", file=sys.stderr)
    return 0
