#!/usr/bin/env python
"""Time and memory of converting a VGG-16-sized Caffe model (~550 MB caffemodel).

Run from the repository root::

    python benchmarks/convert_large.py                      # VGG-16, one run of each step
    python benchmarks/convert_large.py --net vgg19 --repeats 3
    python benchmarks/convert_large.py --fillers gaussian   # prototxt with train-style fillers
    python benchmarks/convert_large.py --no-profile         # skip the phase breakdown

The script writes the VGG deploy prototxt (generated below from the real layer table: 13 conv,
5 max pool, 3 fc, 224x224 input; ``--net vgg19`` for 16 conv) and a caffemodel with the real
VGG blob shapes and random float32 values, written with
``keras_caffe.proto.binary.write_caffemodel`` into a temporary directory that is removed at the
end.  Each step is then measured in a FRESH Python subprocess (so nothing of the parent's
memory or caches counts):

  (a)  ``keras_caffe.read_weights(caffemodel)`` alone;
  (a') the same, then every value touched once (sums every blob: the cost of faulting the
       memory-mapped file in, which the conversion pays later);
  (b0) ``keras_caffe.load_model(prototxt)`` without weights (model build + filler init);
  (b)  ``keras_caffe.load_model(prototxt, caffemodel)``: the full conversion.

Before each measured step the child imports TensorFlow/keras_caffe and builds a tiny net once,
so one-time TensorFlow start-up is not charged to the step.  Memory: "peak extra" is the peak
RSS during the step minus the RSS just before it.  The peak is read exactly from VmHWM in
/proc/self/status after resetting it with ``echo 5 > /proc/self/clear_refs`` right before the
step.  A thread additionally samples /proc/self/statm every 2 ms to split the peak into
anonymous memory (arrays, TF buffers) and file-backed pages (the mmap'ed caffemodel counts in
RSS once its pages are touched); the split is approximate, the total is exact.  The page cache
is warm (the file was just written).

Targets (speed goals live in benchmarks, not tests): conversion (b) under 10 s, and its peak
extra memory under 1.5x the caffemodel's size.

Unless ``--no-profile`` is given, one more fresh child runs (b) with timers wrapped around the
keras_caffe functions on the path (prototxt parsing, Keras layer build, Keras's own
initializers, filler init, read_weights, load_blobs, get_weights, the layout transforms,
set_weights, ...) and a 2 ms RSS timeline, and prints where the time and memory go.  Timings
under the profiler include its (small) overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
from _common import ROOT as _ROOT, proc_status, reset_peak  # also puts the repository on sys.path

TARGET_SECONDS = 10.0
TARGET_MEMORY = 1.5          # x file size
MB = 1e6
_MARK = "@@RESULT "

# ----------------------------------------------------------------------------- the net

_VGG_BLOCKS = {
    # (block, number of 3x3 convs, channels)
    "vgg16": [(1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512)],
    "vgg19": [(1, 2, 64), (2, 2, 128), (3, 4, 256), (4, 4, 512), (5, 4, 512)],
}
_FC = [("fc6", 4096), ("fc7", 4096), ("fc8", 1000)]


def vgg_layers(net):
    """[(name, type, blob shapes)] of the parameter layers, Caffe shapes (out, in, kh, kw)."""
    layers, channels = [], 3
    for block, convs, width in _VGG_BLOCKS[net]:
        for i in range(1, convs + 1):
            layers.append((f"conv{block}_{i}", "Convolution", [(width, channels, 3, 3), (width,)]))
            channels = width
    inputs = channels * 7 * 7
    for name, width in _FC:
        layers.append((name, "InnerProduct", [(width, inputs), (width,)]))
        inputs = width
    return layers


def vgg_prototxt(net, fillers="none"):
    """The VGG deploy prototxt (as in VGG_ILSVRC_16_layers_deploy.prototxt, new-style layers)."""
    def fill(std):
        if fillers == "none":
            return ""
        return (f' weight_filler {{ type: "gaussian" std: {std} }}'
                f' bias_filler {{ type: "constant" value: 0 }}')

    out = [f'name: "VGG_ILSVRC_{net[3:]}_layers"',
           'layer { name: "data" type: "Input" top: "data" '
           'input_param { shape: { dim: 1 dim: 3 dim: 224 dim: 224 } } }']
    bottom = "data"
    for block, convs, width in _VGG_BLOCKS[net]:
        for i in range(1, convs + 1):
            name = f"conv{block}_{i}"
            out.append(f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{name}" '
                       f'convolution_param {{ num_output: {width} pad: 1 kernel_size: 3{fill(0.01)} }} }}')
            out.append(f'layer {{ name: "relu{block}_{i}" type: "ReLU" bottom: "{name}" top: "{name}" }}')
            bottom = name
        out.append(f'layer {{ name: "pool{block}" type: "Pooling" bottom: "{bottom}" top: "pool{block}" '
                   'pooling_param { pool: MAX kernel_size: 2 stride: 2 } }')
        bottom = f"pool{block}"
    for name, width in _FC:
        out.append(f'layer {{ name: "{name}" type: "InnerProduct" bottom: "{bottom}" top: "{name}" '
                   f'inner_product_param {{ num_output: {width}{fill(0.005)} }} }}')
        bottom = name
        if name != "fc8":
            n = name[2:]
            out.append(f'layer {{ name: "relu{n}" type: "ReLU" bottom: "{name}" top: "{name}" }}')
            out.append(f'layer {{ name: "drop{n}" type: "Dropout" bottom: "{name}" top: "{name}" '
                       'dropout_param { dropout_ratio: 0.5 } }')
    out.append('layer { name: "prob" type: "Softmax" bottom: "fc8" top: "prob" }')
    return "\n".join(out) + "\n"


_TINY = """
name: "tiny"
layer { name: "data" type: "Input" top: "data" input_param { shape: { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "c" type: "Convolution" bottom: "data" top: "c" convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "fc" type: "InnerProduct" bottom: "c" top: "fc" inner_product_param { num_output: 2 } }
"""


# ----------------------------------------------------------------------------- memory

def _status():
    return proc_status(("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"))


_PAGE = os.sysconf("SC_PAGE_SIZE")


class MemWatch:
    """Peak RSS of a step (exact, VmHWM after clear_refs) and a sampled anon/file split."""

    def __init__(self, interval=0.002, timeline=False):
        self.interval = interval
        self.keep = timeline
        self.timeline = []            # (t, rss, anon) when timeline=True

    def _sample(self):
        fd = os.open("/proc/self/statm", os.O_RDONLY)
        try:
            while not self._stop.is_set():
                fields = os.pread(fd, 200, 0).split()
                rss, shared = int(fields[1]) * _PAGE, int(fields[2]) * _PAGE
                anon = rss - shared
                self.max_anon = max(self.max_anon, anon)
                self.max_file = max(self.max_file, shared)
                if self.keep:
                    self.timeline.append((time.perf_counter(), rss, anon))
                time.sleep(self.interval)
        finally:
            os.close(fd)

    def __enter__(self):
        self.before = _status()
        self.max_anon = self.before["RssAnon"]
        self.max_file = self.before["RssFile"] + self.before.get("RssShmem", 0)
        self.exact = reset_peak()  # else VmHWM holds the process's lifetime peak
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        after = _status()
        self._stop.set()
        self._thread.join()
        base = self.before["VmRSS"]
        self.peak_extra = after["VmHWM"] - base
        self.anon_extra = self.max_anon - self.before["RssAnon"]
        self.file_extra = self.max_file - self.before["RssFile"] - self.before.get("RssShmem", 0)
        self.after_extra = after["VmRSS"] - base
        return False

    def result(self):
        return {"seconds": self.seconds, "peak_extra": self.peak_extra, "anon_extra": self.anon_extra,
                "file_extra": self.file_extra, "after_extra": self.after_extra, "exact": self.exact}


# ----------------------------------------------------------------------------- children

def _warm_up():
    import keras_caffe
    keras_caffe.load_model(_TINY)
    import gc
    gc.collect()


def child_read(args):
    import gc

    import keras_caffe
    keras_caffe.read_weights  # noqa: B018  (imported, nothing else to warm up)
    with MemWatch() as m:
        layers = keras_caffe.read_weights(args.weights)
    res = {"read": m.result()}
    res["blob_bytes"] = int(sum(b.nbytes for layer in layers for b in layer.blobs))
    res["layers"] = len(layers)
    del layers
    gc.collect()
    with MemWatch() as m:
        layers = keras_caffe.read_weights(args.weights)
        total = sum(float(np.add.reduce(b, axis=None, dtype=np.float64)) for l in layers for b in l.blobs)
    res["read_touch"] = m.result()
    res["checksum"] = total
    return res


def child_load(args, with_weights):
    import gc

    import keras_caffe
    _warm_up()
    weights = args.weights if with_weights else None
    with MemWatch() as m:
        model = keras_caffe.load_model(args.prototxt, weights)
    res = {"load": m.result()}
    res["param_bytes"] = int(sum(np.prod(v.shape) * np.dtype(v.dtype).itemsize for v in model.weights))
    res["params"] = int(model.count_params())
    gc.collect()
    res["retained_extra_after_gc"] = _status()["VmRSS"] - m.before["VmRSS"]
    return res


class _Profiler:
    """Inclusive/self time, calls and RSS peaks of wrapped functions (nested calls allowed)."""

    def __init__(self, watch):
        self.watch = watch
        self.stats = {}              # label -> dict
        self.stack = []
        self.calls = []              # (label, t0, t1, depth, detail)
        self.order = []

    def wrap(self, owner, attr, label, detail=None):
        original = getattr(owner, attr)
        prof = self

        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            prof.stack.append(0.0)
            try:
                return original(*a, **kw)
            finally:
                t1 = time.perf_counter()
                children = prof.stack.pop()
                if prof.stack:
                    prof.stack[-1] += t1 - t0
                s = prof.stats.get(label)
                if s is None:
                    s = prof.stats[label] = {"calls": 0, "incl": 0.0, "self": 0.0}
                    prof.order.append(label)
                s["calls"] += 1
                s["incl"] += t1 - t0
                s["self"] += t1 - t0 - children
                prof.calls.append((label, t0, t1, len(prof.stack), detail(*a, **kw) if detail else None))

        wrapper.__wrapped__ = original
        setattr(owner, attr, wrapper)
        return original

    def memory(self):
        """label -> max over calls of (peak sampled RSS during the call - RSS at its start)."""
        line = self.watch.timeline
        times = np.array([t for t, _, _ in line])
        rss = np.array([r for _, r, _ in line], dtype=np.int64)
        out = {}
        for label, t0, t1, _, _ in self.calls:
            i, j = np.searchsorted(times, t0), np.searchsorted(times, t1, side="right")
            if j <= i or i == 0:
                continue
            extra = int(rss[i - 1:j].max() - rss[i - 1])
            out[label] = max(out.get(label, 0), extra)
        return out


def child_profile(args):
    import keras

    import keras_caffe
    from keras_caffe import api
    from keras_caffe.proto import binary
    from keras_caffe.weights import layouts, loader

    _warm_up()
    watch = MemWatch(timeline=True)
    prof = _Profiler(watch)
    w = prof.wrap
    w(api, "resolve_net", "parse + upgrade + resolve prototxt")
    w(api, "build", "build: Keras model (incl. below)")
    w(keras.initializers.VarianceScaling, "__call__", "  Keras default initializers (glorot)")
    w(keras.initializers.Zeros, "__call__", "  Keras default initializers (zeros)")
    w(loader, "initialize_from_fillers", "  initialize_from_fillers (incl. below)")
    w(loader, "fill", "    fillers.fill (Caffe filler values)")
    w(api, "read_weights", "read_weights (mmap walk)")
    w(loader, "load_blobs", "load_blobs (incl. below)")
    w(loader, "set_layer_blobs", "  set_layer_blobs [fillers+weights] (incl.)",
      detail=lambda ctx, blobs: ctx.name)
    w(loader, "expected_blob_shapes", "    expected_blob_shapes (from variable shapes)")
    w(keras.layers.Layer, "get_weights", "      Layer.get_weights (copies to numpy)")
    w(loader, "fit_blob", "    fit_blob")
    for cls in (type(layouts.CONV_KERNEL), layouts.DenseKernel):
        w(cls, "to_keras", f"    layout {cls.__name__.lstrip('_')}.to_keras")
    w(keras.layers.Layer, "set_weights", "    Layer.set_weights (assign into TF variables)")
    w(binary, "read_weights", "  binary.read_weights")
    with watch as m:
        model = keras_caffe.load_model(args.prototxt, args.weights)
    res = {"total": m.result(), "order": prof.order, "stats": prof.stats, "memory": prof.memory()}
    per_layer = {}
    for label, t0, t1, depth, detail in prof.calls:
        if detail is not None:
            phase = "load" if any(l == "load_blobs (incl. below)" and a <= t0 and t1 <= b
                                  for l, a, b, _, _ in prof.calls) else "init"
            per_layer.setdefault(detail, {"init": 0.0, "load": 0.0})[phase] += t1 - t0
    res["per_layer"] = per_layer
    line = watch.timeline
    k = int(np.argmax([r for _, r, _ in line]))
    t_peak = line[k][0]
    res["timeline_max_rss_extra"] = int(line[k][1] - m.before["VmRSS"])
    active = sorted(((depth, label, detail) for label, t0, t1, depth, detail in prof.calls
                     if t0 <= t_peak <= t1), key=lambda c: c[0])
    res["peak_inside"] = [f"{label.strip()}" + (f"({detail})" if detail else "")
                          for _, label, detail in active]
    # RSS above the start when each top-level phase begins and ends
    times = np.array([t for t, _, _ in line])
    steps = []
    for label, t0, t1, depth, _ in prof.calls:
        if depth == 0:
            i, j = np.searchsorted(times, t0), np.searchsorted(times, t1)
            at = lambda n: int(line[min(max(n - 1, 0), len(line) - 1)][1] - m.before["VmRSS"])
            steps.append((label.strip(), at(i), at(j + 1)))
    res["steps"] = steps
    del model
    return res


# ----------------------------------------------------------------------------- what-if

WHAT_IF = [
    ("zeros", "weighted Keras layers start from zeros, not glorot_uniform"),
    ("no_fill", "no Caffe filler init for layers the caffemodel provides"),
]


def _apply_what_if(changes):
    """Monkeypatch, in this child process only, the changes the report suggests, to measure
    what they would buy.  Valid for this benchmark's nets (every layer has its blobs in the
    caffemodel, blobs already in their Caffe shapes); not a general implementation."""
    import keras
    from keras import ops

    from keras_caffe.weights import loader

    if "zeros" in changes:
        keras.initializers.VarianceScaling.__call__ = \
            lambda self, shape, dtype=None: ops.zeros(shape, dtype=dtype or "float32")
    if "no_fill" in changes:
        loader.initialize_from_fillers = lambda contexts, seed=0: None


def child_what_if(args):
    import keras_caffe
    _apply_what_if(args.what_if_changes.split(","))
    _warm_up()
    with MemWatch() as m:
        model = keras_caffe.load_model(args.prototxt, args.weights)
    del model
    return {"load": m.result()}


# ----------------------------------------------------------------------------- parent

def _run_child(mode, prototxt, weights, extra=()):
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode,
           "--prototxt", prototxt, "--weights", weights, *extra]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=_ROOT)
    for line in proc.stdout.splitlines():
        if line.startswith(_MARK):
            return json.loads(line[len(_MARK):])
    sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
    raise SystemExit(f"the '{mode}' child failed (exit {proc.returncode})")


def _median_result(results, key):
    """Median of each number over repeated runs of one step."""
    runs = [r[key] for r in results]
    return {k: statistics.median(run[k] for run in runs) if not isinstance(runs[0][k], bool)
            else all(run[k] for run in runs) for k in runs[0]}


def write_model(net, directory, fillers, seed):
    proto = os.path.join(directory, f"{net}_deploy.prototxt")
    with open(proto, "w") as f:
        f.write(vgg_prototxt(net, fillers))
    weights = os.path.join(directory, f"{net}.caffemodel")
    from keras_caffe.proto import binary

    rng = np.random.default_rng(seed)

    def entries():    # one layer's arrays alive at a time
        for name, kind, shapes in vgg_layers(net):
            blobs = []
            for shape in shapes:
                a = rng.standard_normal(shape, dtype=np.float32)
                a *= 0.01
                blobs.append(a)
            yield binary.LayerBlobs(name, kind, blobs)

    t0 = time.perf_counter()
    binary.write_caffemodel(weights, entries(), name=f"VGG_ILSVRC_{net[3:]}_layers")
    return proto, weights, time.perf_counter() - t0


def _fmt_mb(b):
    return f"{b / MB:8.1f}"


def report(args, size, write_s, reads, builds, loads, profile, what_if):
    n_params = sum(int(np.prod(s)) for _, _, shapes in vgg_layers(args.net) for s in shapes)
    param_bytes = loads[0]["param_bytes"]
    print(f"\n{args.net.upper()} conversion, caffemodel {size / MB:.1f} MB "
          f"({n_params:,} float32 blob values), written in {write_s:.1f} s; "
          f"the converted model holds {loads[0]['params']:,} params = {param_bytes / MB:.1f} MB")
    print(f"each step in a fresh subprocess, median of {args.repeats} run(s); "
          f"peak extra = peak RSS during the step - RSS just before it "
          f"(VmHWM after clear_refs{'' if loads[0]['load']['exact'] else ' -- NOT resettable here: lifetime peak'})")
    head = (f"{'step':<44} {'time s':>7} {'target':>13} {'peak extra MB':>13} {'x file':>7} "
            f"{'x params':>8} {'target':>14} {'anon MB':>8} {'file MB':>8} {'kept MB':>8}")
    print(head)
    print("-" * len(head))

    def row(label, r, target):
        t, pe = r["seconds"], r["peak_extra"]
        tt = tm = ""
        if target:
            tt = f"<{TARGET_SECONDS:g}s " + ("ok" if t < TARGET_SECONDS else "MISSED")
            tm = f"<{TARGET_MEMORY:g}x " + ("ok" if pe < TARGET_MEMORY * size else "MISSED")
        print(f"{label:<44} {t:>7.2f} {tt:>13} {_fmt_mb(pe):>13} {pe / size:>7.2f} "
              f"{pe / param_bytes:>8.2f} {tm:>14} {_fmt_mb(r['anon_extra'])} {_fmt_mb(r['file_extra'])} "
              f"{_fmt_mb(r['after_extra'])}")

    row("(a)  read_weights", _median_result(reads, "read"), False)
    row("(a') read_weights + touch every value", _median_result(reads, "read_touch"), False)
    row("(b0) load_model(prototxt) [no weights]", _median_result(builds, "load"), False)
    row("(b)  load_model(prototxt, caffemodel)", _median_result(loads, "load"), True)
    print("x file / x params: peak extra / caffemodel size, / the model's own parameter bytes.  anon / "
          "file: sampled peaks (2 ms) of\nanonymous and file-backed RSS above the start (mmap'ed "
          "caffemodel pages count as file RSS once touched).  kept: RSS\nstill added when the step "
          "returned (the model's variables; for (a) the mapped pages).")
    print(f"read_weights: {reads[0]['layers']} layers, {reads[0]['blob_bytes'] / MB:.1f} MB of blob "
          f"views; retained after load_model + gc: {loads[0]['retained_extra_after_gc'] / MB:.1f} MB")

    if profile:
        print(f"\nwhere (b) goes (one profiled run; incl = inclusive, self = exclusive of the wrapped "
              f"calls below it; mem = max over calls of\npeak sampled RSS during a call - RSS at its "
              f"start). Total {profile['total']['seconds']:.2f} s, exact peak extra "
              f"{profile['total']['peak_extra'] / MB:.1f} MB (sampled {profile['timeline_max_rss_extra'] / MB:.1f} MB)")
        head = f"{'phase':<52} {'calls':>5} {'incl s':>7} {'self s':>7} {'% of total':>10} {'mem MB':>8}"
        print(head)
        print("-" * len(head))
        total = profile["total"]["seconds"]
        for label in profile["order_sorted"]:
            s = profile["stats"][label]
            mem = profile["memory"].get(label)
            print(f"{label:<52} {s['calls']:>5} {s['incl']:>7.2f} {s['self']:>7.2f} "
                  f"{100 * s['incl'] / total:>9.1f}% {'' if mem is None else _fmt_mb(mem):>8}")
        print("RSS above the start, entering -> leaving each top-level phase (MB): " + "; ".join(
            f"{label.split(' (')[0]} {a / MB:.0f} -> {b / MB:.0f}" for label, a, b in profile["steps"]))
        print("the peak was reached inside: " + " > ".join(profile["peak_inside"]))
        layers = sorted(profile["per_layer"].items(), key=lambda kv: -(kv[1]["init"] + kv[1]["load"]))
        print("set_layer_blobs by Caffe layer (s): " + ", ".join(
            f"{n} {v['init']:.2f}+{v['load']:.2f}" for n, v in layers[:6])
            + "  (filler init + weight load)")

    if what_if:
        print("\nwhat the suggested changes would buy: (b) again, each in a fresh child with the changes "
              "monkeypatched in\n(cumulative, top to bottom; benchmark-only patches valid for this net, "
              "not library code)")
        head = (f"{'change (cumulative)':<82} {'time s':>7} {'peak extra MB':>13} {'x file':>7} "
                f"{'anon MB':>8} {'file MB':>8}")
        print(head)
        print("-" * len(head))
        r = _median_result(loads, "load")
        print(f"{'none (as measured in (b))':<82} {r['seconds']:>7.2f} {_fmt_mb(r['peak_extra']):>13} "
              f"{r['peak_extra'] / size:>7.2f} {_fmt_mb(r['anon_extra'])} {_fmt_mb(r['file_extra'])}")
        for (key, text), r in what_if:
            r = r["load"]
            print(f"{'+ ' + text:<82} {r['seconds']:>7.2f} {_fmt_mb(r['peak_extra']):>13} "
                  f"{r['peak_extra'] / size:>7.2f} {_fmt_mb(r['anon_extra'])} {_fmt_mb(r['file_extra'])}")


_ORDER = [
    "parse + upgrade + resolve prototxt",
    "build: Keras model (incl. below)",
    "  Keras default initializers (glorot)",
    "  Keras default initializers (zeros)",
    "  initialize_from_fillers (incl. below)",
    "    fillers.fill (Caffe filler values)",
    "read_weights (mmap walk)",
    "  binary.read_weights",
    "load_blobs (incl. below)",
    "  set_layer_blobs [fillers+weights] (incl.)",
    "    expected_blob_shapes (from variable shapes)",
    "      Layer.get_weights (copies to numpy)",
    "    fit_blob",
    "    layout SpatialFirst.to_keras",
    "    layout DenseKernel.to_keras",
    "    Layer.set_weights (assign into TF variables)",
]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--net", choices=sorted(_VGG_BLOCKS), default="vgg16",
                   help="VGG-16 (138M params, ~553 MB) or VGG-19 (144M, ~575 MB) (%(default)s)")
    p.add_argument("--repeats", type=int, default=1,
                   help="fresh-process runs of each step; the table shows medians (%(default)s)")
    p.add_argument("--fillers", choices=("none", "gaussian"), default="none",
                   help="fillers in the prototxt: none (as VGG's deploy file: Caffe's default "
                        "constant 0) or gaussian (as a train_val file) (%(default)s)")
    p.add_argument("--no-profile", dest="profile", action="store_false",
                   help="skip the profiled run that breaks (b) into phases")
    p.add_argument("--what-if", choices=("auto", "always", "never"), default="auto",
                   help="measure (b) with the suggested changes monkeypatched in: auto = when a "
                        "target is missed (%(default)s)")
    p.add_argument("--tmpdir", default=None, help="where to write the temporary files")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--prototxt", help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    p.add_argument("--what-if-changes", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        import tensorflow as tf
        tf.get_logger().setLevel("ERROR")
        res = {"read": child_read, "build": lambda a: child_load(a, False),
               "load": lambda a: child_load(a, True), "profile": child_profile,
               "what_if": child_what_if}[args.child](args)
        print(_MARK + json.dumps(res), flush=True)
        return

    start = time.perf_counter()
    directory = tempfile.mkdtemp(prefix="keras_caffe_convert_large_", dir=args.tmpdir)
    try:
        proto, weights, write_s = write_model(args.net, directory, args.fillers, args.seed)
        size = os.path.getsize(weights)
        reads, builds, loads = [], [], []
        for _ in range(args.repeats):
            reads.append(_run_child("read", proto, weights))
            builds.append(_run_child("build", proto, weights))
            loads.append(_run_child("load", proto, weights))
        profile = None
        if args.profile:
            profile = _run_child("profile", proto, weights)
            profile["order_sorted"] = [l for l in _ORDER if l in profile["stats"]] + \
                [l for l in profile["order"] if l not in _ORDER]
        what_if = []
        r = _median_result(loads, "load")
        missed = r["seconds"] >= TARGET_SECONDS or r["peak_extra"] >= TARGET_MEMORY * size
        if args.what_if == "always" or (args.what_if == "auto" and missed):
            keys = []
            for key, text in WHAT_IF:
                keys.append(key)
                what_if.append(((key, text), _run_child(
                    "what_if", proto, weights, ["--what-if-changes", ",".join(keys)])))
        report(args, size, write_s, reads, builds, loads, profile, what_if)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(f"temporary files removed ({directory}); total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
