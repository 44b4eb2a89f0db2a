"""``keras-caffe compute-image-mean DB [MEAN]``: Caffe's ``compute_image_mean``."""

from __future__ import annotations

import sys

from ..data.image_mean import channel_means, compute_image_mean
from .options import caffe_flag


def add_parser(subparsers):
    q = subparsers.add_parser("compute-image-mean", help="per-pixel mean of a Datum database "
                              "as a .binaryproto, like Caffe's compute_image_mean")
    q.add_argument("db", metavar="DB", help="LMDB or LevelDB folder")
    q.add_argument("mean", metavar="MEAN.binaryproto", nargs="?",
                   help="where to write the mean (omit to only print the channel means)")
    caffe_flag(q, "backend", choices=("lmdb", "leveldb"),
          help="database type (default: detected from the folder)")
    q.set_defaults(func=run)
    return q


def run(args) -> int:
    mean = compute_image_mean(args.db, args.mean, backend=args.backend)
    for c, value in enumerate(channel_means(mean)):
        print(f"mean_value channel [{c}]: {value:g}")
    if args.mean:
        print(f"wrote the {'x'.join(map(str, mean.shape))} mean to {args.mean}", file=sys.stderr)
    return 0
