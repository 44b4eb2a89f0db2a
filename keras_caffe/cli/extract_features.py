"""``keras-caffe extract-features NET --weights W --blobs fc7 --batches K -o DB``: Caffe's
``extract_features`` (also in its positional form)."""

from __future__ import annotations

import argparse
import sys

from ..tools.features import BACKENDS, extract_features
from .options import (UsageError, add_allow_missing, add_gpu, add_max_memory, add_writes,
                      select_device, write_policy)

_USAGE = """\
%(prog)s NET --weights W --blobs B[,B...] --batches K -o OUT[,OUT...]
         [--backend lmdb|leveldb|hdf5] [--force] [--gpu ID]
       %(prog)s W NET B[,B...] OUT[,OUT...] K lmdb|leveldb|hdf5 [CPU|GPU] [ID]"""

_HELP = """\
Run NET in the TEST phase with the weights W over K batches of its data layers and write
every item of each blob (Caffe's NCHW layout) to its own output, as Caffe's extract_features:

  LMDB/LevelDB  one Datum per item, key %010d of the item's index (0000000000, ...),
                channels/height/width = the blob's axes 1-3 (1 where it has fewer),
                values in float_data. A Data layer reads them back.
  HDF5          one float32 dataset per blob, named after it, shaped (K*N, C, H, W):
                an HDF5Data layer with that top reads it back.

Give one output per blob (-o a,b), or one for all: an HDF5 file then holds every dataset;
a database DB becomes DB's name + _<blob> per blob (feats.lmdb -> feats_fc7.lmdb, ...).
Outputs appear only when complete; existing ones are an error unless --force.

Caffe's positional form also works, after the command name:
  keras-caffe extract-features W.caffemodel NET fc7,prob feats_fc7,feats_prob K lmdb [CPU|GPU] [ID]
"""


def add_parser(sub):
    p = sub.add_parser("extract-features", help="write blobs of K batches to LMDB/LevelDB/HDF5, "
                       "like Caffe's extract_features", description=_HELP, usage=_USAGE,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("positional", nargs="+", metavar="NET",
                   help="net prototxt with data layers (or Caffe's 6 to 8 positional arguments)")
    p.add_argument("--weights", help="caffemodel with the trained weights")
    p.add_argument("--blobs", metavar="NAME[,NAME...]", help="blobs to extract (e.g. fc7,prob)")
    p.add_argument("--batches", type=int, metavar="K", help="number of mini-batches")
    p.add_argument("-o", "--out", metavar="OUT[,OUT...]",
                   help="one output per blob, or one for all (see above)")
    p.add_argument("--backend", default="lmdb", metavar="|".join(BACKENDS),
                   help="output format (default lmdb; leveldb needs plyvel, hdf5 h5py)")
    p.add_argument("--force", action="store_true", help="replace existing outputs")
    add_allow_missing(p)
    add_writes(p)
    add_gpu(p)
    add_max_memory(p)
    p.set_defaults(func=run)
    return p


def _caffe_form(args):
    """Caffe's ``weights net blobs datasets num_mini_batches db_type [CPU|GPU] [DEVICE_ID]``."""
    given = [o for o, v in (("--weights", args.weights), ("--blobs", args.blobs),
                            ("--batches", args.batches), ("-o", args.out)) if v is not None]
    if given:
        raise UsageError(f"{' '.join(given)}: not with Caffe's positional form")
    items = args.positional
    if not 6 <= len(items) <= 8:
        raise UsageError(f"expected NET, or Caffe's 6 to 8 positional arguments (weights net "
                         f"blobs datasets batches db_type [CPU|GPU] [device]); got {len(items)}")
    weights, net, blobs, datasets, batches, backend = items[:6]
    try:
        batches = int(batches)
    except ValueError:
        raise UsageError(f"num_mini_batches {batches!r} is not a number") from None
    gpu = args.gpu
    if len(items) > 6 and items[6].upper() == "GPU":
        gpu = items[7] if len(items) > 7 else "0"
    elif len(items) > 6 and items[6].upper() != "CPU":
        raise UsageError(f"expected CPU or GPU after db_type, got {items[6]!r}")
    blobs, datasets = blobs.split(","), datasets.split(",")
    if len(blobs) != len(datasets):
        raise UsageError("the number of blob names and dataset names must be equal")
    return net, weights, blobs, batches, datasets, backend.lower(), gpu


def run(args) -> int:
    if len(args.positional) > 1:
        net, weights, blobs, batches, outputs, backend, gpu = _caffe_form(args)
    else:
        missing = [o for o, v in (("--weights", args.weights), ("--blobs", args.blobs),
                                  ("--batches", args.batches), ("-o", args.out)) if v is None]
        if missing:
            raise UsageError(f"missing {', '.join(missing)} (or give Caffe's positional form)")
        net, weights, batches, backend, gpu = (args.positional[0], args.weights, args.batches,
                                               args.backend, args.gpu)
        blobs, outputs = args.blobs.split(","), args.out.split(",")
    if backend not in BACKENDS:
        raise UsageError(f"unknown backend {backend!r}: use one of {', '.join(BACKENDS)}")
    if batches < 1:
        raise UsageError(f"the number of batches must be positive, got {batches}")
    select_device(gpu)
    for r in extract_features(net, weights, blobs, batches, outputs, backend, force=args.force,
                              allow_missing=args.allow_missing, writes=write_policy(args)):
        shape = "x".join(map(str, r.shape)) or "1"
        print(f"wrote {r.count} features of blob {r.blob} ({shape} each) to {r.path} "
              f"({r.backend})", file=sys.stderr)
    return 0
