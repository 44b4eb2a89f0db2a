#!/usr/bin/env python
"""The GPU suite: one table of what keras_caffe costs on an accelerator, and a non-zero exit
on any output mismatch.  Run it through ``benchmarks/gpu_suite.sh``::

    bash benchmarks/gpu_suite.sh                # on a GPU: full sizes (budget: 8 minutes)
    bash benchmarks/gpu_suite.sh --smoke        # every path on the CPU, reduced nets, tiny sizes

Sections: ``time`` (``keras-caffe time`` per layer, in a child process), ``infer`` (latency at
batch 1, images/s at batch 64), ``train`` (one compiled SGD step, float32 / mixed_float16 /
mixed_bfloat16, without and with XLA) -- converted ResNet-50 and GoogLeNet against their
stock-Keras twins from ``train_throughput.py``, same weights, checked equal before timing --
and ``data`` (a ``Solver`` fed by the deferred LMDB pipeline vs the same step fed a cached
batch: images/s and the device's idle fraction).  benchmarks/README.md says what each row
means and how it is checked.  Target: converted / stock >= 0.97 (reported, not an error); a
mismatch exits 1, any other failure 2.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback

import _common as C  # noqa: E402  (puts the repository on sys.path)
import numpy as np  # noqa: E402
import train_throughput as T  # noqa: E402

from keras_caffe.fileio import atomic_path  # noqa: E402

TARGET = 0.97
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
BUDGET_S = 480
HEAD = ["section", "net", "precision", "xla", "batch", "measure", "ours", "reference", "ratio",
        "target", "check"]


class Suite:
    def __init__(self, args):
        self.args, self.rows, self.notes, self.failures = args, [], [], []

    def row(self, section, net, precision, xla, batch, measure, ours, ref="", ratio=None,
            target="", check="ok"):
        fmt = (lambda v: v if isinstance(v, str) else f"{v:.4g}")
        self.rows.append([section, net, precision, "on" if xla else "off", batch, measure,
                          fmt(ours), fmt(ref), "" if ratio is None else f"{ratio:.3f}",
                          target, check])

    def fail(self, kind, what):
        self.failures.append((kind, what))
        self.notes.append(f"{kind}: {what}")


def verdict(ratio):
    return f">= {TARGET}: {'ok' if ratio >= TARGET else 'MISSED'}"


def sync():
    import tensorflow as tf
    tf.test.experimental.sync_devices()


@contextlib.contextmanager
def exact_float32():
    """Checks compare in true float32: TensorFloat-32 (TF's default on Ampere and later GPUs,
    10-bit mantissas in matmuls and convolutions) is off inside, and on again for timing."""
    import tensorflow as tf

    was = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(was)


# ----------------------------------------------------------------------------- time

def section_time(suite, tmp, gpu):
    a = suite.args
    path = os.path.join(tmp, "googlenet_deploy.prototxt")
    with open(path, "w") as f:
        f.write(str(T.deploy_param("googlenet", a.time_batch, a.size, a.tiny)))
    out = os.path.join(tmp, "time.json")
    cmd = [sys.executable, "-m", "keras_caffe.cli", "time", path, "--iterations",
           str(a.time_iterations), "--warmup", "1", "--json", out] + (["--gpu", "0"] if gpu else [])
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=C.ROOT, capture_output=True, text=True,
                              timeout=a.time_timeout)
    except subprocess.TimeoutExpired:
        proc = subprocess.CompletedProcess(cmd, "timeout", "", f"killed after {a.time_timeout} s")
    suite.notes.append(f"time: `keras-caffe {' '.join(cmd[3:])}` took "
                       f"{time.perf_counter() - t0:.0f} s, exit {proc.returncode}")
    if proc.returncode != 0:
        suite.row("time", "googlenet", "float32", False, a.time_batch, "keras-caffe time", "-",
                  check="FAILED")
        suite.fail("error", f"keras-caffe time exited {proc.returncode}: {proc.stderr[-2000:]}")
        return
    with open(out) as f:
        result = json.load(f)
    layers = result["layers"]
    broken = [l["name"] for l in layers if l.get("error") or l["forward_ms"] is None]
    check = "ok" if not broken and layers else "FAILED"
    if check != "ok":
        suite.fail("error", f"keras-caffe time: layers not timed: {broken or 'none listed'}")
    dev = result["device"]
    suite.row("time", "googlenet", result["precision"], False, a.time_batch,
              f"whole net fwd / bwd ms ({dev})", result["forward_ms"], result["backward_ms"],
              check=check)
    per_layer = sum(l["forward_ms"] or 0 for l in layers)
    suite.row("time", "googlenet", result["precision"], False, a.time_batch,
              f"sum of {len(layers)} layers fwd ms ({dev})", per_layer, "", check=check)
    top = sorted(layers, key=lambda l: -((l["forward_ms"] or 0) + (l["backward_ms"] or 0)))[:5]
    ms = (lambda v: "-" if v is None else f"{v:.3g}")
    suite.notes.append("time: slowest layers (fwd / bwd ms): " + "; ".join(
        f"{l['name']} ({l['type']}) {ms(l['forward_ms'])} / {ms(l['backward_ms'])}" for l in top))


# ----------------------------------------------------------------------------- infer, train

def compile_steps(steps, xt, yt, notes, label, threads):
    """Trace every step in turn, then make the first calls (XLA's compilations) in threads
    (one after the other with ``threads`` False, or if a threaded call fails)."""
    t0 = time.perf_counter()
    for step in steps.values():
        step.get_concrete_function(xt, yt)
    how = "in threads"
    try:
        if not threads:
            raise RuntimeError("--serial-compile")
        with concurrent.futures.ThreadPoolExecutor(len(steps)) as pool:
            list(pool.map(lambda s: float(s(xt, yt)), steps.values()))
    except Exception as exc:   # noqa: BLE001 - fall back to the plain order
        how = f"one by one ({type(exc).__name__}: {exc})" if threads else "one by one"
        for step in steps.values():
            float(step(xt, yt))
    notes.append(f"{label}: {len(steps)} train steps traced and compiled in "
                 f"{time.perf_counter() - t0:.0f} s ({how})")


def infer(suite, P, precision):
    import tensorflow as tf

    a = suite.args
    for batch in a.infer_batches:
        x = np.random.default_rng(batch).uniform(-P.scale, P.scale,
                                                 (batch, P.size, P.size, 3)).astype(np.float32)
        t = tf.identity(tf.constant(x))
        fns = {label: tf.function(lambda v, m=m: m({"data": v}, training=False)["prob"])
               for label, m in (("stock", P.stock_deploy), ("converted", P.conv_deploy))}
        with exact_float32():
            d, s, rel = C.rel_diff(fns["converted"](t).numpy(), fns["stock"](t).numpy())
        check = "ok" if rel <= P.tol else "MISMATCH"
        suite.notes.append(f"{P.name} {precision} infer batch {batch}: prob max|diff| {d:.3g}, "
                           f"rel {rel:.2g} (limit {P.tol:.2g}) -> {check}")
        if check != "ok":
            suite.fail("mismatch", f"{P.name} {precision} inference at batch {batch}: "
                       f"prob rel diff {rel:.3g} > {P.tol:.3g}")
        runs = {k: (lambda f=f: f(t).numpy()) for k, f in fns.items()}
        samples, _ = C.time_interleaved(runs, a.repeats, a.min_time, a.warmup)
        ratio = C.paired_ratio(samples["stock"], samples["converted"])
        med = {k: C.median(v) for k, v in samples.items()}
        if batch == 1:
            measure, conv, stock = "latency ms", 1e3 * med["converted"], 1e3 * med["stock"]
        else:
            measure, conv, stock = "img/s", batch / med["converted"], batch / med["stock"]
        suite.row("infer", P.name, precision, False, batch, measure, conv, stock, ratio,
                  verdict(ratio), check)


def train(suite, P, precision):
    import tensorflow as tf

    a = suite.args
    xt, yt = tf.identity(P.xt), tf.identity(P.yt)   # on the device once, not copied per call
    steps = {}
    for xla in a.xla_modes:
        tag = " xla" if xla else ""
        steps["stock" + tag] = T.make_train_step(P.stock_train, P.sloss, precision, xla)
        steps["converted" + tag] = T.make_train_step(P.conv_train, P.closs, precision, xla)
    compile_steps(steps, xt, yt, suite.notes, f"{P.name} {precision}", a.threads)
    runs = {k: (lambda s=s: float(s(xt, yt))) for k, s in steps.items()}
    samples, _ = C.time_interleaved(runs, a.repeats, a.min_time, a.warmup)
    for xla in a.xla_modes:
        tag = " xla" if xla else ""
        conv, stock = samples["converted" + tag], samples["stock" + tag]
        ratio = C.paired_ratio(stock, conv)
        suite.row("train", P.name, precision, xla, P.batch, "img/s", P.batch / C.median(conv),
                  P.batch / C.median(stock), ratio, verdict(ratio))


def section_models(suite):
    import keras

    a = suite.args
    targs = argparse.Namespace(batch=a.train_batch, size=a.size, full=False, tiny=a.tiny,
                               tolerance=a.tolerance, grad_tolerance=a.grad_tolerance,
                               seed=a.seed)
    for name in a.nets:
        for precision in a.precisions:
            label = f"{name} {precision}"
            t0 = time.perf_counter()
            try:
                with exact_float32():
                    P = T.prepare(name, targs, suite.notes, precision=precision,
                                  perturb=a.perturb)
            except T.Mismatch as exc:
                suite.row("check", name, precision, False, a.train_batch,
                          "converted vs stock outputs", "-", check="MISMATCH")
                suite.fail("mismatch", str(exc))
                continue
            # inference first: training moves both models' weights
            if "infer" in a.sections:
                infer(suite, P, precision)
            if "train" in a.sections:
                train(suite, P, precision)
            del P
            keras.backend.clear_session()
            gc.collect()
            suite.notes.append(f"{label}: {time.perf_counter() - t0:.0f} s in all")


# ----------------------------------------------------------------------------- data

def data_net(suite, lmdb_path):
    """The ResNet-50 train net fed by a Data layer (LMDB, TRAIN transform) as a solver."""
    from keras_caffe.proto import caffe_pb2

    a = suite.args
    deploy = T.deploy_param("resnet50", a.data_batch, a.size, a.tiny)
    net = caffe_pb2.NetParameter()
    net.name = deploy.name
    data = net.layer.add()
    data.name, data.type = "data", "Data"
    data.top.extend(["data", "label"])
    data.include.add().phase = caffe_pb2.TRAIN
    data.data_param.source, data.data_param.batch_size = lmdb_path, a.data_batch
    data.data_param.backend = caffe_pb2.DataParameter.LMDB
    tp = data.transform_param
    tp.crop_size, tp.mirror = a.size, True
    tp.mean_value.extend([104.0, 117.0, 123.0])
    for layer in T.train_param(deploy, "fc1000", a.data_batch).layer:   # + SoftmaxWithLoss
        if layer.type != "Input":
            net.layer.add().CopyFrom(layer)
    p = caffe_pb2.SolverParameter()
    p.net_param.CopyFrom(net)
    p.type, p.base_lr, p.momentum, p.lr_policy = "SGD", 1e-5, 0.9, "fixed"
    p.max_iter, p.display, p.snapshot, p.snapshot_after_train = 10 ** 9, 0, 0, False
    p.random_seed = a.seed
    return p, tp


def check_deferred(suite, lmdb_path, transform):
    """The deferred pipeline (finish on the device) gives the host pipeline's batches."""
    from keras_caffe.data.pipelines import lmdb_dataset

    a = suite.args
    kw = dict(phase="train", seed=3, layout="NHWC")
    host = iter(lmdb_dataset(lmdb_path, a.data_batch, transform, deferred=False, **kw))
    ds = lmdb_dataset(lmdb_path, a.data_batch, transform, deferred=True, **kw)
    worst = 0.0
    for (hx, hy), (raw, dy) in zip([next(host) for _ in range(2)], iter(ds)):
        worst = max(worst, C.rel_diff(hx.numpy(), ds.finish(raw).numpy())[2],
                    C.rel_diff(hy.numpy(), dy.numpy())[2])
    ok = worst <= 1e-6
    suite.notes.append(f"data: deferred vs host pipeline, 2 batches: max rel diff {worst:.2g} "
                       f"(limit 1e-6) -> {'same' if ok else 'MISMATCH'}")
    if not ok:
        suite.fail("mismatch", f"deferred and host pipelines differ (rel {worst:.3g})")
    return ok


def section_data(suite, tmp):
    import data_pipeline

    from keras_caffe.data.sources.base import PipelineSource, next_feeds
    from keras_caffe.solvers.runner import Solver

    a = suite.args
    folder = os.path.join(tmp, "data")
    os.makedirs(folder)
    t0 = time.perf_counter()
    data_pipeline.write_lmdb(folder, a.data_records, a.data_raw_size)
    lmdb_path = os.path.join(folder, "lmdb")
    param, transform = data_net(suite, lmdb_path)
    check = "ok" if check_deferred(suite, lmdb_path, transform) else "MISMATCH"
    solver = Solver(param, echo=lambda line: None, precision=a.data_precision)
    sources = solver.sources[id(solver.train)]
    for source in sources.values():
        if isinstance(source, PipelineSource):
            source.defer = True   # what a GPU machine picks; forced so that --smoke runs it
    solver.step(1)
    cached = next_feeds(sources)
    real = solver._next_inputs

    def step_data():
        solver.step(1)

    def step_cached():
        solver._next_inputs = lambda cnet: cached
        try:
            solver.step(1)
        finally:
            solver._next_inputs = real

    def pipeline_alone():
        next_feeds(sources)
        sync()

    runs = {"data": step_data, "cached": step_cached, "pipeline": pipeline_alone}
    samples, _ = C.time_interleaved(runs, a.repeats, a.min_time, a.warmup)
    b, prec = a.data_batch, a.data_precision
    with_data, no_data, pipe = (b / C.median(samples[k]) for k in ("data", "cached", "pipeline"))
    idle = C.median(1 - c / d for c, d in zip(samples["cached"], samples["data"]))
    suite.row("data", "resnet50", prec, False, b, "Solver.step img/s: LMDB vs cached batch",
              with_data, no_data, C.paired_ratio(samples["cached"], samples["data"]), check=check)
    suite.row("data", "resnet50", prec, False, b, "pipeline alone img/s vs cached step", pipe,
              no_data, C.paired_ratio(samples["cached"], samples["pipeline"]), check=check)
    suite.row("data", "resnet50", prec, False, b, "GPU idle fraction (1 - cached/LMDB step)",
              f"{idle:.3f}", check=check)
    suite.notes.append(f"data: {a.data_records} JPEG Datums {a.data_raw_size}x{a.data_raw_size}, "
                       f"crop {a.size}, mirror, mean_value; {os.cpu_count()} CPUs; "
                       f"{time.perf_counter() - t0:.0f} s")
    del solver
    gc.collect()


# ----------------------------------------------------------------------------- main

def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true",
                   help="every path on the CPU: reduced nets (fewer blocks), tiny sizes, few steps")
    p.add_argument("--sections", default="time,infer,train,data", help="(%(default)s)")
    p.add_argument("--nets", default="resnet50,googlenet", help="(%(default)s)")
    p.add_argument("--precisions", default=",".join(PRECISIONS), help="(%(default)s)")
    p.add_argument("--xla", default="off,on", help="XLA modes of the train rows (%(default)s)")
    p.add_argument("--size", type=int, help="image size (224; --smoke 32)")
    p.add_argument("--train-batch", type=int, help="train batch (64; --smoke 2)")
    p.add_argument("--infer-batches", help="inference batches (1,64; --smoke 1,4)")
    p.add_argument("--data-batch", type=int, help="batch of the data section (64; --smoke 4)")
    p.add_argument("--data-precision", default="mixed_float16", choices=PRECISIONS)
    p.add_argument("--repeats", type=int, help="interleaved timing rounds (5; --smoke 1)")
    p.add_argument("--min-time", type=float, help="seconds per timed block (0.3; --smoke 0)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls per variant (%(default)s)")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="float32 check limit (mixed: train_throughput's scaled limit)")
    p.add_argument("--grad-tolerance", type=float, default=5e-2)
    p.add_argument("--perturb", action="store_true",
                   help="self-test: scale the converted classifier after the weight copy; the "
                        "checks must fail and the suite exit 1")
    p.add_argument("--serial-compile", dest="threads", action="store_false",
                   help="compile the train steps one after the other (default: in threads)")
    p.add_argument("--json", metavar="OUT", help="also write the rows and failures as JSON")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    s = a.smoke
    a.tiny = s
    a.size = a.size or (32 if s else 224)
    a.train_batch = a.train_batch or (2 if s else 64)
    a.infer_batches = [int(b) for b in (a.infer_batches or ("1,4" if s else "1,64")).split(",")]
    a.data_batch = a.data_batch or (4 if s else 64)
    a.data_records = 16 if s else 1024
    a.data_raw_size = a.size + (8 if s else 32)
    a.time_batch, a.time_iterations, a.time_timeout = (2, 2, 300) if s else (32, 10, 240)
    a.repeats = a.repeats or (1 if s else 5)
    a.min_time = a.min_time if a.min_time is not None else (0.0 if s else 0.3)
    a.warmup = 1 if s else a.warmup
    a.sections = [x.strip() for x in a.sections.split(",") if x.strip()]
    a.nets = [x.strip() for x in a.nets.split(",") if x.strip()]
    a.precisions = [x.strip() for x in a.precisions.split(",") if x.strip()]
    a.xla_modes = [{"off": False, "on": True}[x.strip()] for x in a.xla.split(",") if x.strip()]
    unknown = (set(a.sections) - {"time", "infer", "train", "data"}) | \
        (set(a.nets) - {"resnet50", "googlenet"}) | (set(a.precisions) - set(PRECISIONS))
    if unknown:
        p.error(f"unknown section, net or precision: {', '.join(sorted(unknown))}")
    return a


def main(argv=None):
    a = parse(argv)
    tf, keras = C.quiet_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    try:
        for g in gpus:   # the `time` child needs room on the device too
            tf.config.experimental.set_memory_growth(g, True)
    except RuntimeError as exc:   # the device was initialised already
        print(f"note: memory growth not set: {exc}", file=sys.stderr)
    if a.smoke and gpus:
        tf.config.set_visible_devices([], "GPU")
        gpus = []
    suite = Suite(a)
    start = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="kc_gpu_suite_")
    sections = [("time", lambda: section_time(suite, tmp, bool(gpus)))]
    if {"infer", "train"} & set(a.sections):
        sections.append(("models", lambda: section_models(suite)))
    sections.append(("data", lambda: section_data(suite, tmp)))
    try:
        for name, run in sections:
            if name != "models" and name not in a.sections:
                continue
            try:
                run()
            except Exception as exc:   # one broken section must not hide the others
                traceback.print_exc()
                suite.fail("error", f"section {name}: {type(exc).__name__}: {exc}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = time.perf_counter() - start
    dev = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") \
        if gpus else "CPU only"
    print(f"\nGPU suite{' (--smoke)' if a.smoke else ''}: TF {tf.__version__} / Keras "
          f"{keras.__version__}, {dev}, {os.cpu_count()} CPUs; {a.repeats} interleaved rounds of "
          f">= {a.min_time}s, median; ratio = ours / reference speed, paired per round; "
          "timed with TF's default TF32, checked in exact float32")
    C.print_table(HEAD, suite.rows, ["<"] * 4 + [">", "<", ">", ">", ">", "<", "<"])
    for n in suite.notes:
        print("  " + n)
    over = "" if a.smoke or total <= BUDGET_S else f" -- over the {BUDGET_S} s budget"
    print(f"total {total:.0f} s{over}")
    if a.json:
        with atomic_path(a.json, suffix=".json") as tmp_json:
            with open(tmp_json, "w") as f:
                json.dump({"head": HEAD, "rows": suite.rows, "failures": suite.failures,
                           "seconds": total}, f, indent=1)
    if suite.failures:
        kinds = {k for k, _ in suite.failures}
        print(f"FAILED: {len(suite.failures)} problem(s): " +
              "; ".join(w for _, w in suite.failures)[:2000], file=sys.stderr)
        return 1 if "mismatch" in kinds else 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
