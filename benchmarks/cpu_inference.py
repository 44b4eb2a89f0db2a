"""CPU inference: ``keras_caffe.predictor`` (runtime auto, keras, litert, onnx) vs OpenCV's dnn.

Per net and batch: the deploy prototxt (``cpu_nets.py``: AlexNet and GoogLeNet from
``../shared/zoo``, ResNet-50, SqueezeNet 1.0, MobileNet v2 and MobileNet-SSD generated as their
published deploy files) and one caffemodel of random weights (He-scaled convolutions, BatchNorm
statistics measured on a random input, seeded; written with ``keras_caffe.save_caffemodel``
into a temporary directory removed at the end) are loaded by OpenCV (``cv2.dnn.readNetFromCaffe``) and by
``keras_caffe.predictor`` once per runtime.  Every runtime's output (``prob``; MobileNet-SSD's ``detection_out``) is checked against
OpenCV's (largest difference relative to the largest value <= ``--tolerance``; nothing is
timed otherwise), then all are timed in interleaved rounds (``_common.time_interleaved``)
with the same NCHW batch.  TensorFlow, LiteRT and OpenCV each get ``--threads`` threads.

Columns: ``ms`` = median ms per batch over rounds; ``img/s``; ``cv/ours`` = median of the
per-round ratios OpenCV time / ours (above 1: ours is faster); ``r(best)`` = fastest OpenCV
round / fastest round of ours; ``ours/ort`` = median of the per-round ratios of each runtime's
time to ONNX Runtime's (the ``onnx`` row: the net converted by tf2onnx, run by ONNX Runtime;
when the ``onnx`` extra is installed).  ``auto`` says which runtime it chose and the times it
measured when choosing.

::

    python benchmarks/cpu_inference.py                                  # all six, batch 1 and 8
    python benchmarks/cpu_inference.py --nets squeezenet --batches 1 --repeats 3
    python benchmarks/cpu_inference.py --runtimes auto --threads 4
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import _common as C  # noqa: E402  (puts the repository on sys.path)
import numpy as np  # noqa: E402

import cpu_nets  # noqa: E402

NETS = tuple(cpu_nets.SIZES)
RUNTIMES = ("auto", "keras", "litert", "onnx")


def random_weights(prototxt: str, path: str, seed: int, scaled=None) -> None:
    """A caffemodel of random weights that keep activations in range through deep nets
    (``scaled``: (layer name suffix, factor) for weights to scale up)."""
    import keras_caffe
    from keras_caffe.weights.loader import expected_blob_shapes, set_layer_blobs

    rng = np.random.default_rng(seed)
    cnet = keras_caffe.build_net(prototxt, seed=seed, free_spatial=False)
    for ctx in cnet.param_contexts:
        shapes = expected_blob_shapes(ctx)
        kind = ctx.node.type
        if kind == "BatchNorm":
            blobs = [rng.normal(0, 0.1, shapes[0]), rng.uniform(0.5, 1.5, shapes[1]),
                     np.ones(shapes[2])]
        elif kind == "Scale":
            blobs = [rng.uniform(0.8, 1.2, s) if i == 0 else rng.normal(0, 0.1, s)
                     for i, s in enumerate(shapes)]
        else:   # Convolution, InnerProduct: He-normal weights, small biases
            blobs = [rng.normal(0, np.sqrt(2.0 / max(1, int(np.prod(s[1:])))), s) if i == 0
                     else rng.normal(0, 0.01, s) for i, s in enumerate(shapes)]
        if scaled and ctx.name.endswith(scaled[0]):
            blobs = [b * scaled[1] for b in blobs]
        set_layer_blobs(ctx, [np.asarray(b, np.float32) for b in blobs])
    calibrate_batch_norms(cnet, rng)
    keras_caffe.save_caffemodel(cnet, path)


def calibrate_batch_norms(cnet, rng) -> None:
    """Each BatchNorm's mean and variance set, in net order, to the per-channel statistics
    of what it sees on a random input (random statistics let residual nets blow up until
    ``prob`` is one-hot, and a one-hot output checks nothing)."""
    import keras
    import tensorflow as tf

    from keras_caffe.weights.loader import set_layer_blobs

    norms = [ctx for ctx in cnet.param_contexts if ctx.node.type == "BatchNorm"]
    if not norms:
        return
    seen = keras.Model(cnet.inputs, [cnet.tensors[ctx.node.bottoms[0]] for ctx in norms])
    run = tf.function(lambda feeds: seen(feeds, training=False))
    feeds = {name: rng.uniform(-1, 1, (2,) + tuple(t.shape[1:])).astype(np.float32)
             for name, t in cnet.inputs.items()}
    for i, ctx in enumerate(norms):
        x = np.asarray(run(feeds)[i], np.float64)   # NHWC: channels last
        axes = tuple(range(x.ndim - 1))
        set_layer_blobs(ctx, [x.mean(axes).astype(np.float32),
                              x.var(axes).astype(np.float32) + 1e-3, np.ones(1, np.float32)])


def comparable(name: str, value, batch: int):
    """An output as rows to compare: per image, or (detections) one row per detection in a
    fixed order (sorted by image, class, score), since runtimes may order ties apart."""
    value = np.asarray(value, np.float64)
    if cpu_nets.OUTPUTS.get(name) != "detection_out":
        return value.reshape(batch, -1)
    rows = value.reshape(-1, 7)
    # Caffe marks "no detection" by a row of label -1, OpenCV pads with rows of zeros.
    rows = rows[(rows[:, 1] >= 0) & np.any(rows != 0, axis=1)]
    return rows[np.lexsort((-rows[:, 2], rows[:, 1], rows[:, 0]))]


def set_threads(threads: int):
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)


def bench(name, batch, args, cv2, weights, tmpdir, rows, notes):
    import keras_caffe

    prototxt = os.path.join(tmpdir, f"{name}_b{batch}.prototxt")
    with open(prototxt, "w") as f:
        f.write(cpu_nets.deploy_text(name, batch))
    size = cpu_nets.SIZES[name]
    x = np.random.default_rng(args.seed + batch).uniform(-1, 1, (batch, 3, size, size))
    x = x.astype(np.float32)

    cv2.setNumThreads(args.threads)
    net = cv2.dnn.readNetFromCaffe(prototxt, weights)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)

    output = cpu_nets.OUTPUTS.get(name, "prob")

    def cv_run():
        net.setInput(x, "data")
        return net.forward(output)

    want = comparable(name, cv_run(), batch)
    runs = {"opencv": cv_run}
    for runtime in args.runtimes:
        t0 = time.perf_counter()
        run = keras_caffe.predictor(prototxt, weights, runtime=runtime,
                                    num_threads=args.threads)
        made = time.perf_counter() - t0
        got = comparable(name, run(data=x)[output], batch)
        if got.shape != want.shape:
            raise SystemExit(f"{name} batch {batch}: {runtime} gives {output} of shape "
                             f"{got.shape}, OpenCV {want.shape}; not timing")
        d, s, rel = C.rel_diff(got, want)
        label = runtime if runtime != "auto" else f"auto={run.runtime}"
        chose = f"; {run.reason}" if runtime == "auto" else ""
        notes.append(f"{name} b{batch} {label}: made in {made:.1f} s; {output} vs OpenCV max|diff| "
                     f"{d:.2g} (rel {rel:.2g}; largest {s:.2g}){chose}")
        if not rel <= args.tolerance:
            raise SystemExit(f"{name} batch {batch}: {label} differs from OpenCV (rel {rel:.3g} "
                             f"> {args.tolerance}); not timing")
        runs[label] = (lambda r=run: r(data=x))
    samples, iters = C.time_interleaved(runs, args.repeats, args.min_time, args.warmup)
    ref, ort = samples["opencv"], samples.get("onnx")
    for label, s in samples.items():
        ratio = None if label == "opencv" else C.paired_ratio(ref, s)
        best = None if label == "opencv" else min(ref) / min(s)
        to_ort = None if ort is None or label in ("opencv", "onnx") else C.paired_ratio(s, ort)
        rows.append((name, batch, label, iters, 1e3 * C.median(s), batch / C.median(s), ratio,
                     best, to_ort))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nets", default=",".join(NETS), help="comma-separated (%(default)s)")
    p.add_argument("--batches", default="1,8", help="comma-separated batch sizes (%(default)s)")
    p.add_argument("--runtimes", default=",".join(RUNTIMES),
                   help="predictor runtimes to time (%(default)s)")
    p.add_argument("--threads", type=int, default=2, help="threads of every runtime (2)")
    p.add_argument("--repeats", type=int, default=5, help="interleaved rounds (%(default)s)")
    p.add_argument("--min-time", type=float, default=0.5, help="seconds per timed block")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--tolerance", type=float, default=1e-3)
    p.add_argument("--tmpdir", default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.runtimes = [r.strip() for r in args.runtimes.split(",") if r.strip()]
    from keras_caffe.export.onnx import available

    if "onnx" in args.runtimes and not available():
        print("ONNX Runtime or tf2onnx is not installed (pip install 'keras-caffe[onnx]'): "
              "no onnx row")
        args.runtimes.remove("onnx")
    nets = [n.strip() for n in args.nets.split(",") if n.strip()]
    bad = [n for n in nets if n not in NETS] + [r for r in args.runtimes if r not in RUNTIMES]
    if bad:
        raise SystemExit(f"unknown net or runtime {bad} (nets: {NETS}; runtimes: {RUNTIMES})")
    try:
        import cv2
    except ImportError:
        raise SystemExit("OpenCV is not installed: pip install opencv-python-headless") from None
    set_threads(args.threads)
    tf, keras = C.quiet_tensorflow()
    from keras_caffe.export.tflite import interpreter_name

    start, rows, notes = time.perf_counter(), [], []
    tmpdir = tempfile.mkdtemp(prefix="kc_cpu_inference_", dir=args.tmpdir)
    try:
        for name in nets:
            weights = os.path.join(tmpdir, f"{name}.caffemodel")
            random_weights(cpu_nets.deploy_text(name, 1), weights, args.seed,
                           cpu_nets.WEIGHT_SCALES.get(name))
            for batch in [int(b) for b in args.batches.split(",")]:
                bench(name, batch, args, cv2, weights, tmpdir, rows, notes)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)

    print(f"\nCPU inference, {args.threads} threads each: keras_caffe.predictor (TF "
          f"{tf.__version__}, {interpreter_name()}) vs OpenCV {cv2.__version__} dnn; "
          f"{os.cpu_count()} CPU(s), {args.repeats} interleaved rounds of >= {args.min_time}s")
    C.print_table(["net", "batch", "runtime", "iters", "ms", "img/s", "cv/ours", "r(best)",
                   "ours/ort"],
                  [[n, b, label, it, f"{ms:.2f}", f"{ips:.1f}",
                    "" if r is None else f"{r:.2f}", "" if bb is None else f"{bb:.2f}",
                    "" if o is None else f"{o:.2f}"]
                   for n, b, label, it, ms, ips, r, bb, o in rows])
    print("cv/ours: median of per-round OpenCV time / ours (above 1: ours faster); r(best): "
          "fastest OpenCV round / fastest round of ours; ours/ort: median of per-round time / "
          "ONNX Runtime's (the onnx row; at most 1.3 is the goal)")
    for n in notes:
        print("  " + n)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
