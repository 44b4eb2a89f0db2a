#!/usr/bin/env python
"""Time and peak memory of reading, resolving, describing and building nets of 1k-100k layers.

Run from the repository root::

    python benchmarks/net_scale.py                         # 1k, 10k, 100k layers (~3 min)
    python benchmarks/net_scale.py --sizes 1000,10000 --build-max 10000
    python benchmarks/net_scale.py --kind chain --profile resolve --sizes 10000

The net is generated (written into a temporary directory removed at the end): an Input of
1x4x4x4, then blocks of small layers in Caffe's usual shapes, so every blob is tiny and only
the layer count grows:

* ``chain``: Convolution 3x3 (4 outputs, pad 1) + in-place ReLU, repeated;
* ``dag`` (default): the chain, with every fourth block a branch instead: the blob feeds two
  Convolutions (an implicit split), an Eltwise SUM joins them, an in-place ReLU follows, and
  every eighth block a Concat of the two branches and a 1x1 Convolution back to 4 channels.

Each step runs in a FRESH Python subprocess that first imports keras_caffe (TensorFlow
start-up is not charged to the step); "peak" is the peak RSS during the step minus the RSS
just before it (VmHWM after ``echo 5 > /proc/self/clear_refs``; where that is not allowed the
lifetime peak is shown and marked ``*``).  Steps, each from the prototxt's path, as a user
calls them:

* ``read``: ``keras_caffe.read_net(path)`` (parse + upgrade);
* ``resolve``: ``keras_caffe.resolve_net(path)`` (read + phase filter + blob graph);
* ``info``: ``keras_caffe.tools.info.net_table(path)`` (what ``keras-caffe info`` prints);
* ``build``: ``keras_caffe.build_net(path)`` (the Keras model, with filler values); only up to
  ``--build-max`` layers (default 10k: a build costs about 2.6 ms of CPU per layer, and more
  per layer past that, where Keras's functional-model constructor is quadratic; see
  README.md).

Columns: seconds (wall), CPU seconds of the process, microseconds of CPU per layer, the
ratio to the previous size's CPU time (linear: about the ratio of the layer counts, 10 for
10x; CPU time, not wall time, so that other processes sharing the machine do not move it)
and the peak extra memory.  A step that
runs past ``--timeout`` (default 900 s) is shown as such and not run at larger sizes.
``--profile STEP`` runs one more child with cProfile at the largest size and prints the
20 functions with the most cumulative time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from _common import proc_status, reset_peak  # also puts the repository on sys.path

STEPS = ("read", "resolve", "info", "build")


# --------------------------------------------------------------------------- the nets

def _conv(name, bottom, top, out=4, kernel=3, pad=1):
    return (f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{top}"\n'
            f'  convolution_param {{ num_output: {out} kernel_size: {kernel} pad: {pad}\n'
            f'    weight_filler {{ type: "constant" value: 0.01 }} }} }}\n')


def _relu(name, blob):
    return f'layer {{ name: "{name}" type: "ReLU" bottom: "{blob}" top: "{blob}" }}\n'


def generate(layers: int, kind: str = "dag") -> str:
    """A net of about ``layers`` layers (never fewer) with 1x4x4x4 blobs."""
    out = ['name: "scale"\n',
           'layer { name: "data" type: "Input" top: "data" '
           'input_param { shape { dim: 1 dim: 4 dim: 4 dim: 4 } } }\n']
    count, block, x = 1, 0, "data"
    while count < layers:
        b = f"b{block}"
        if kind == "dag" and block % 8 == 7:
            out += [_conv(f"{b}_l", x, f"{b}_l"), _conv(f"{b}_r", x, f"{b}_r"),
                    f'layer {{ name: "{b}_cat" type: "Concat" bottom: "{b}_l" bottom: "{b}_r" '
                    f'top: "{b}_cat" }}\n',
                    _conv(f"{b}_mix", f"{b}_cat", b, kernel=1, pad=0), _relu(f"{b}_relu", b)]
            count += 5
        elif kind == "dag" and block % 4 == 3:
            out += [_conv(f"{b}_l", x, f"{b}_l"), _conv(f"{b}_r", x, f"{b}_r"),
                    f'layer {{ name: "{b}_sum" type: "Eltwise" bottom: "{b}_l" '
                    f'bottom: "{b}_r" top: "{b}" }}\n', _relu(f"{b}_relu", b)]
            count += 4
        else:
            out += [_conv(b, x, b), _relu(f"{b}_relu", b)]
            count += 2
        x, block = b, block + 1
    return "".join(out)


# --------------------------------------------------------------------------- a child's step

def _step(step: str, path: str):
    import keras_caffe
    from keras_caffe.tools.info import net_table

    if step == "read":
        return lambda: keras_caffe.read_net(path)
    if step == "resolve":
        return lambda: keras_caffe.resolve_net(path)
    if step == "info":
        return lambda: net_table(path)
    if step == "build":
        return lambda: keras_caffe.build_net(path)
    raise SystemExit(f"unknown step {step}")


def child(step: str, path: str, profile: bool) -> None:
    import keras_caffe

    keras_caffe.build_net('layer { name: "d" type: "Input" top: "d" '
                          'input_param { shape { dim: 1 dim: 1 } } }')   # warm up TF and Keras
    run = _step(step, path)
    base = proc_status()["VmRSS"]
    exact = reset_peak()
    t0, c0 = time.perf_counter(), time.process_time()
    if profile:
        import cProfile
        import pstats

        prof = cProfile.Profile()
        prof.runcall(run)
        pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(20)
    else:
        run()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"seconds": seconds, "cpu": cpu, "peak": proc_status()["VmHWM"] - base,
                      "exact": exact}))


def run_child(step: str, path: str, timeout: float, profile: bool = False) -> dict | None:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", step, path]
    if profile:
        cmd.append("--profile-child")
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if profile:
        sys.stdout.write(done.stderr[-12000:])
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-3:])
        return {"error": tail or f"exit status {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- the table

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="layer counts, comma-separated")
    parser.add_argument("--kind", choices=("dag", "chain"), default="dag")
    parser.add_argument("--steps", default=",".join(STEPS), help="steps to run, comma-separated")
    parser.add_argument("--build-max", type=int, default=10000,
                        help="largest net built into a Keras model (default 10000)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per step")
    parser.add_argument("--profile", choices=STEPS, help="cProfile this step at the largest size")
    parser.add_argument("--child", nargs=2, metavar=("STEP", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--profile-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(*args.child, profile=args.profile_child)
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    steps = [s for s in args.steps.split(",") if s]
    tmp = tempfile.mkdtemp(prefix="net_scale_")
    try:
        paths = {}
        for n in sizes:
            paths[n] = os.path.join(tmp, f"net_{n}.prototxt")
            with open(paths[n], "w") as f:
                f.write(generate(n, args.kind))
        print(f"{args.kind} nets; sizes in layers (file size): " + ", ".join(
            f"{n} ({os.path.getsize(paths[n]) / 1e6:.1f} MB)" for n in sizes))
        print(f"{'step':8} {'layers':>8} {'seconds':>9} {'cpu s':>9} {'us/layer':>9} "
              f"{'x prev':>7} {'peak MB':>8}")
        for step in steps:
            previous, given_up = None, False
            for n in sizes:
                if step == "build" and n > args.build_max:
                    continue
                if given_up:
                    print(f"{step:8} {n:>8} {'(skipped: smaller size timed out)':>36}")
                    continue
                r = run_child(step, paths[n], args.timeout)
                if r is None:
                    print(f"{step:8} {n:>8} {'> ' + format(args.timeout, '.0f'):>9} (timed out)")
                    given_up = True
                    continue
                if "error" in r:
                    print(f"{step:8} {n:>8} error: {r['error']}")
                    given_up = True
                    continue
                ratio = f"{r['cpu'] / previous:7.1f}" if previous else f"{'':7}"
                peak = f"{r['peak'] / 2**20:8.1f}" + ("" if r["exact"] else "*")
                print(f"{step:8} {n:>8} {r['seconds']:9.2f} {r['cpu']:9.2f} "
                      f"{r['cpu'] / n * 1e6:9.1f} {ratio} {peak}", flush=True)
                previous = r["cpu"]
        if args.profile:
            largest = max(n for n in sizes if args.profile != "build" or n <= args.build_max)
            print(f"\ncProfile of {args.profile} at {largest} layers:")
            run_child(args.profile, paths[largest], args.timeout, profile=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
