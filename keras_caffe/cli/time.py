"""``keras-caffe time NET``: benchmark a net's forward and backward passes, like ``caffe time``.

Prints the average time per Caffe layer (forward and backward), then the average forward,
backward and forward-backward pass of the whole compiled net and the total time, in
Caffe's wording; ``--json OUT`` also writes every number.  See :mod:`keras_caffe.tools.timing`.
"""

from __future__ import annotations

import json
import os
import sys

from ..fileio import atomic_path
from ..export import RUNTIMES
from ..tools.predict_timing import format_runtime_report, time_runtime
from ..tools.timing import time_net
from ..tools.timing_report import format_report
from .options import (UsageError, add_gpu, add_net, add_shapes, add_speed, parse_shapes,
                      select_device)


def add_parser(subparsers):
    p = subparsers.add_parser(
        "time", help="benchmark forward/backward per layer and for the whole net, like caffe time",
        description="Time a net on random inputs: the whole net compiled with tf.function "
                    "(--xla: jit_compile) and each Caffe layer's Keras layers run alone on the "
                    "tensors they see in the net. Per-layer times do not add up to the whole-net "
                    "times (the compiled net fuses across layers). Backward is forward-backward "
                    "less forward. Runs on the CPU unless --gpu is given, as caffe time does.")
    add_net(p, weights_help="caffemodel (default: the prototxt's fillers)",
            phase_default="train", stages=True)
    p.add_argument("--iterations", type=int, default=50, help="timed iterations (default 50)")
    p.add_argument("--warmup", type=int, default=2,
                   help="untimed iterations first, after compiling (default 2)")
    p.add_argument("--batch", type=int, help="batch size for every input and data layer")
    add_shapes(p)
    add_gpu(p)
    add_speed(p)
    p.add_argument("--no-layers", dest="per_layer", action="store_false",
                   help="time only the whole net")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs")
    p.add_argument("--runtime", choices=RUNTIMES,
                   help="time inference instead: the TEST phase's forward pass as "
                        "keras_caffe.predictor runs it (auto: the fastest here; keras: one "
                        "tf.function; litert: a fixed-shape TFLite export in LiteRT)")
    p.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    shapes = parse_shapes(args.input_shape, "--shape")
    if args.iterations < 1 or (args.batch is not None and args.batch < 1) or args.warmup < 0:
        raise UsageError("--iterations and --batch must be at least 1, --warmup at least 0")
    select_device(args.gpu)
    if args.runtime:
        if args.precision or args.xla:
            raise UsageError("--runtime times float32 inference; --precision and --xla are "
                             "for timing the training net")
        result = time_runtime(args.net, args.weights, args.runtime, args.iterations,
                              args.batch, shapes=shapes, warmup=args.warmup, seed=args.seed,
                              allow_missing=args.allow_missing, stages=tuple(args.stage),
                              level=args.level)
        return _report(format_runtime_report(result), result, args)
    result = time_net(args.net, weights=args.weights, iterations=args.iterations,
                      batch=args.batch, phase=args.phase, precision=args.precision, xla=args.xla,
                      shapes=shapes, stages=tuple(args.stage), level=args.level,
                      warmup=args.warmup, seed=args.seed, per_layer=args.per_layer,
                      allow_missing=args.allow_missing)
    return _report(format_report(result), result, args)


def _report(text: str, result: dict, args) -> int:
    print(text)
    if args.json:
        out = os.fspath(args.json)
        with atomic_path(out, suffix=".json") as tmp:
            with open(tmp, "w") as f:
                json.dump(result, f, indent=2)
                f.write("\n")
        print(f"wrote {out}", file=sys.stderr)
    return 0
