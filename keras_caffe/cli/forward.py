"""``keras-caffe forward NET``: run a net once (or on K batches of its data layers) and write
every blob, as Caffe shows it (NCHW), to an npz."""

from __future__ import annotations

import sys

import numpy as np

from ..api import forward, forward_batches
from ..fileio import save_npz
from .options import UsageError, add_net, add_speed, add_writes, read_npz, write_policy


def add_parser(sub):
    p = sub.add_parser("forward", help="run a net once and write every blob (NCHW) to an npz")
    add_net(p)
    p.add_argument("--inputs", help="npz of input blobs (NCHW), keyed by Caffe blob name")
    p.add_argument("--out", required=True)
    p.add_argument("--backward", action="store_true", help="also write gradients (diff/, param/)")
    p.add_argument("--batches", type=int, help="read K batches from the net's data layers and "
                   "write every blob as <blob>/<k>")
    p.add_argument("--seed", type=int, help="seed of TRAIN-phase random crops and mirrors")
    add_speed(p)
    add_writes(p)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    if args.batches is not None:
        if args.inputs is not None or args.backward:
            raise UsageError("--batches reads the net's data layers; it takes neither "
                             "--inputs nor --backward")
        blobs = forward_batches(args.net, args.batches, weights=args.weights, phase=args.phase,
                                seed=args.seed, allow_missing=args.allow_missing,
                                writes=write_policy(args))
        save_npz(args.out, {k: np.asarray(v, np.float32) for k, v in blobs.items()})
        print(f"wrote {len(blobs)} arrays ({args.batches} batches) to {args.out}", file=sys.stderr)
        return 0
    if args.inputs is None:
        raise UsageError("give --inputs IN.npz, or --batches K for a net with data layers")
    inputs = read_npz(args.inputs, "--inputs")
    blobs = forward(args.net, inputs, weights=args.weights, phase=args.phase,
                    backward=args.backward, xla=args.xla, precision=args.precision,
                    allow_missing=args.allow_missing, writes=write_policy(args))
    save_npz(args.out, {k: np.asarray(v, np.float32) for k, v in blobs.items()})
    print(f"wrote {len(blobs)} blobs to {args.out}", file=sys.stderr)
    return 0
