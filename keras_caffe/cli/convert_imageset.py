"""``keras-caffe convert-imageset ROOT LIST DB``: Caffe's ``convert_imageset``.

It takes Caffe's flag spellings (``--resize_height=32``, ``--encode_type=png``,
``--backend=leveldb``; dashes work too), so a recorded Caffe command line runs unchanged
after the command name.  Paths are relative to the working directory, as in Caffe.
"""

from __future__ import annotations

import argparse
import sys

from ..data.writers import convert_imageset
from .options import caffe_flag

_IMAGESET_HELP = """\
Build an LMDB/LevelDB of Datums from a list of '<image path> <label>' lines (split at the
last space), like Caffe's convert_imageset. Keys are %08d_<path>. Images are read from
ROOT + path (string concatenation: keep ROOT's trailing '/') as BGR, resized with OpenCV's
INTER_LINEAR when both --resize_height and --resize_width are given, and stored raw (C,H,W)
or, with --encoded/--encode_type, encoded (original file bytes when no re-encoding is
needed). DB must not exist; it appears only once complete."""


def add_parser(subparsers):
    p = subparsers.add_parser("convert-imageset", help="image list -> LMDB/LevelDB of Datums, "
                              "like Caffe's convert_imageset", description=_IMAGESET_HELP,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("root", metavar="ROOT", help="prefix of every image path (e.g. 'images/')")
    p.add_argument("list", metavar="LIST", help="list file: '<image path> <label>' per line")
    p.add_argument("db", metavar="DB", help="database folder to create")
    caffe_flag(p, "resize_height", type=int, default=0, metavar="H")
    caffe_flag(p, "resize_width", type=int, default=0, metavar="W")
    caffe_flag(p, "gray", action="store_true", help="read images as grey (1 channel)")
    caffe_flag(p, "shuffle", action="store_true", help="shuffle the lines first")
    caffe_flag(p, "seed", type=int, help="seed for --shuffle (keras-caffe only)")
    caffe_flag(p, "encoded", action="store_true", help="store encoded images, not raw pixels")
    caffe_flag(p, "encode_type", default="", metavar="png|jpg",
          help="encode as this format (implies --encoded); default: each file's own")
    caffe_flag(p, "backend", default="lmdb", choices=("lmdb", "leveldb"))
    caffe_flag(p, "check_size", action="store_true",
          help="require every image to have the same channels x height x width")
    caffe_flag(p, "skip_unreadable", action="store_true",
          help="skip missing or undecodable images with a warning, as Caffe does, instead of "
               "stopping (keras-caffe only)")
    caffe_flag(p, "workers", type=int, help="decoding threads (default: up to 8)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    summary = convert_imageset(
        args.root, args.list, args.db, resize_height=args.resize_height,
        resize_width=args.resize_width, gray=args.gray, shuffle=args.shuffle, seed=args.seed,
        encoded=args.encoded, encode_type=args.encode_type, backend=args.backend,
        check_size=args.check_size, skip_unreadable=args.skip_unreadable, workers=args.workers)
    shape = "x".join(map(str, summary.shape)) if summary.shape else "-"
    skipped = f", skipped {len(summary.skipped)}" if summary.skipped else ""
    print(f"wrote {summary.written} records to {summary.db_path} ({args.backend}, first image "
          f"{shape}){skipped}", file=sys.stderr)
    return 0
