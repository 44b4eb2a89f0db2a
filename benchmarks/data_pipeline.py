"""Images/s of keras_caffe's LMDB-of-JPEG Data pipeline against the bare JPEG decode limit.

    python benchmarks/data_pipeline.py                      # ~2.5 min on a 2-core machine
    python benchmarks/data_pipeline.py --records 4000 --size 256 --batch 64 --repeats 7

It writes an LMDB of JPEG-encoded ``caffe.Datum`` records (``--size`` x ``--size`` colour
images, smooth patterns plus noise, JPEG quality 90, 4:2:0, as ``convert_imageset --encoded``
stores them) and a ``mean.binaryproto`` into a temporary directory, then times, in
interleaved rounds (a fresh iterator per round, ``--warmup`` batches to fill its buffers
and let tf.data's autotuner settle, then ``--batches`` batches):

* ``decode``: the limit -- ``tf.io.decode_jpeg(dct_method='INTEGER_ACCURATE')`` over the same
  JPEG bytes held in memory, ``tf.data`` map on all cores, batched (uint8, no transform);
* ``lmdb, no transform``: ``lmdb_dataset`` without ``transform_param``: LMDB cursor, Datum
  parsing, decode, BGR, NCHW float32 (what every Data layer pays before any transform);
* ``lmdb+mean_value``: ``lmdb_dataset`` in TRAIN phase with ``crop_size`` 227 (random), ``mirror``
  and per-channel ``mean_value`` plus ``scale``, all on the host: LMDB cursor, Datum parsing,
  decode, crop, mirror, BGR, NCHW float32 (what ``keras-caffe forward --batches`` reads);
* ``lmdb+mean_file``: the same with the full-size ``mean_file`` instead (mean before crop);
* ``..., deferred``: the same pipelines as training reads them (``deferred=True``): the host
  reads, parses, decodes, checks and draws each item's crop and flip, and the batch's array
  work (crop, mirror, BGR, ``(x - mean) * scale``) is left to ``dataset.finish``, which the
  trainer runs where the model runs -- on the accelerator, or on a CPU-only machine in the
  training step; its cost on this CPU is printed below the table;
* with ``--no-jit`` variants also the same pipelines without the XLA batch kernels.

Columns: ``img/s`` (wall clock, median over rounds), ``img/cpu-s`` (images per second of this
process's CPU time, all threads: robust to other processes sharing the machine), and the ratios
pipeline / decode, paired per round and reduced by the median.  Target: ratio >= 0.9.

It also times Datum parsing alone: protobuf in Python (what the readers use) against
``tf.io.decode_proto`` in the graph, per record.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402,F401 - sets sys.path and TF log level  # pyflakes: ignore

import numpy as np  # noqa: E402


def make_images(n, size, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    for i in range(n):
        f = rng.uniform(3, 15, 3)
        img = np.stack([128 + 100 * np.sin(x / f[c] + i + c) * np.cos(y / (f[(c + 1) % 3] + 2))
                        for c in range(3)], -1)
        img += rng.normal(0, 6, img.shape)
        yield np.clip(img, 0, 255).astype(np.uint8)


def write_lmdb(folder, n, size):
    import lmdb
    import tensorflow as tf

    from keras_caffe.proto import caffe_pb2
    from keras_caffe.proto.binary import write_blob

    jpegs, total = [], np.zeros((size, size, 3), np.float64)
    for img in make_images(n, size):
        jpegs.append(tf.io.encode_jpeg(img, quality=90, chroma_downsampling=True).numpy())
        total += img
    env = lmdb.open(os.path.join(folder, "lmdb"), map_size=max(1 << 26, 4 * sum(map(len, jpegs))))
    with env.begin(write=True) as txn:
        for i, jpg in enumerate(jpegs):
            d = caffe_pb2.Datum(data=jpg, label=i % 1000, encoded=True)
            txn.put(f"{i:08d}_img{i}.jpg".encode(), d.SerializeToString())
    env.close()
    mean = (total / n)[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32)  # BGR, 1xCxHxW
    write_blob(os.path.join(folder, "mean.binaryproto"), mean)
    return jpegs


def time_round(ds, batch, batches, warmup=8):
    # The previous round's iterator must be gone, threads included: its read-ahead would
    # otherwise run on the cores this round is timed on.
    gc.collect()
    time.sleep(0.5)
    it = iter(ds)
    for _ in range(warmup):   # fill the buffers and let tf.data's autotuner settle
        next(it)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(batches):
        next(it)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    del it
    return batch * batches / wall, batch * batches / cpu


def finish_cost(ds, batch, calls=20):
    """Microseconds per image of ``ds.finish`` on one prefetched batch."""
    raw, _ = next(iter(ds))
    ds.finish(raw)
    t0 = time.perf_counter()
    for _ in range(calls):
        ds.finish(raw)   # eager on the CPU: returns when done
    return (time.perf_counter() - t0) / calls / batch * 1e6


def parse_speed(jpegs, raw_size=256, n=2000):
    """Microseconds per record: Python protobuf parsing vs tf.io.decode_proto (batched)."""
    import tensorflow as tf

    from keras_caffe.data.formats.datum import decode_datum, parse_datum, record_fields
    from keras_caffe.proto import caffe_pb2

    raw = caffe_pb2.Datum(channels=3, height=raw_size, width=raw_size,
                          data=bytes(3 * raw_size * raw_size), label=1).SerializeToString()
    enc = caffe_pb2.Datum(data=jpegs[0], label=1, encoded=True).SerializeToString()
    out = {}
    for name, value in (("raw 3x256x256", raw), ("jpeg", enc)):
        t0 = time.perf_counter()
        for _ in range(n):
            record_fields(parse_datum(value))
        py = (time.perf_counter() - t0) / n * 1e6
        batch = tf.constant([value] * 256)
        fn = tf.function(decode_datum)
        fn(batch)
        t0 = time.perf_counter()
        for _ in range(20):
            fn(batch)
        graph = (time.perf_counter() - t0) / 20 / 256 * 1e6
        out[name] = (py, graph)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=1000)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--crop", type=int, default=227)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--batches", type=int, default=80, help="timed batches per round")
    ap.add_argument("--warmup", type=int, default=8,
                    help="batches read before timing each round (a fresh iterator per round)")
    ap.add_argument("--repeats", type=int, default=9,
                    help="rounds (the 2-core CI machine's throughput drifts by +-10%% between "
                         "rounds; the medians of 9 are steady to a few percent)")
    ap.add_argument("--no-jit", action="store_true", help="also time the pipelines without XLA")
    ap.add_argument("--layout", default="NCHW", choices=["NCHW", "NHWC"],
                    help="output layout of the pipelines (NCHW: Caffe's)")
    ap.add_argument("--tmpdir", default=None)
    args = ap.parse_args(argv)

    import tensorflow as tf

    from keras_caffe.data.pipelines import lmdb_dataset

    folder = tempfile.mkdtemp(prefix="kc_data_bench_", dir=args.tmpdir)
    try:
        t0 = time.perf_counter()
        jpegs = write_lmdb(folder, args.records, args.size)
        print(f"wrote {args.records} JPEG Datums ({args.size}x{args.size}, "
              f"{np.mean([len(j) for j in jpegs]) / 1024:.1f} KiB each) in "
              f"{time.perf_counter() - t0:.1f} s; {os.cpu_count()} CPUs; TF {tf.__version__}")
        lmdb_path = os.path.join(folder, "lmdb")
        common = {"crop_size": args.crop, "mirror": True, "scale": 0.017}
        decode = (tf.data.Dataset.from_tensor_slices(jpegs).repeat()
                  .map(lambda j: tf.io.decode_jpeg(j, dct_method="INTEGER_ACCURATE"),
                       num_parallel_calls=tf.data.AUTOTUNE)
                  .batch(args.batch).prefetch(tf.data.AUTOTUNE))
        variants = {"decode": decode,
                    "lmdb, no transform": lmdb_dataset(lmdb_path, args.batch, None,
                                                       layout=args.layout)}
        means = {"mean_value": {"mean_value": [104.0, 117.0, 123.0]},
                 "mean_file": {"mean_file": os.path.join(folder, "mean.binaryproto")}}
        for jit in ([True, False] if args.no_jit else [True]):
            for deferred in (True, False):
                for name, mean in means.items():
                    tag = (", deferred" if deferred else "") + ("" if jit else " (no XLA)")
                    variants[f"lmdb+{name}{tag}"] = lmdb_dataset(
                        lmdb_path, args.batch, dict(common, **mean), phase="train", seed=1,
                        jit=jit, layout=args.layout, deferred=deferred)
        for ds in variants.values():   # compile / warm up once
            time_round(ds, args.batch, 2)
        samples = {k: [] for k in variants}
        labels = list(variants)
        for r in range(args.repeats):
            for label in (labels if r % 2 == 0 else labels[::-1]):
                samples[label].append(time_round(variants[label], args.batch, args.batches,
                                                 args.warmup))
        base = samples["decode"]
        print(f"\nbatch {args.batch}, crop {args.crop}, TRAIN (random crop + mirror), "
              f"{args.layout} float32, {args.repeats} rounds x {args.batches} batches")
        print(f"{'variant':28s} {'img/s':>8s} {'img/cpu-s':>10s} {'ratio':>7s} {'ratio(cpu)':>11s}")
        for label, vals in samples.items():
            wall = statistics.median(v[0] for v in vals)
            cpu = statistics.median(v[1] for v in vals)
            ratio = statistics.median(v[0] / b[0] for v, b in zip(vals, base))
            ratio_cpu = statistics.median(v[1] / b[1] for v, b in zip(vals, base))
            print(f"{label:28s} {wall:8.0f} {cpu:10.0f} {ratio:7.3f} {ratio_cpu:11.3f}")
        finish_us = finish_cost(variants["lmdb+mean_file, deferred"], args.batch)
        print(f"\nthe deferred float pass (dataset.finish, mean_file) on this CPU: "
              f"{finish_us:.1f} us per image, one thread")
        print("\nDatum parsing, microseconds per record:")
        for name, (py, graph) in parse_speed(jpegs).items():
            print(f"  {name:14s} python protobuf {py:6.1f}   tf.io.decode_proto {graph:6.1f}")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
