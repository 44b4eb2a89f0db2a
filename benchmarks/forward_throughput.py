#!/usr/bin/env python
"""Forward throughput of converted Caffe nets against the same nets written by hand in Keras.

Run from the repository root::

    python benchmarks/forward_throughput.py                       # AlexNet, CIFAR-10 quick, LeNet
    python benchmarks/forward_throughput.py --nets alexnet --batch 32 --repeats 15
    python benchmarks/forward_throughput.py --net path/to/deploy.prototxt --batch 8

For each built-in net the prototxt below is converted with ``keras_caffe.build_net`` (weights
from Caffe's fillers, no caffemodel needed) and the same architecture is written by hand with
stock Keras layers.  The converted weights are copied into the hand-written model and both
models' outputs are compared on the same batch, so the two models do the same work.  Both take
NHWC input and run through the same compiled path (``model.predict_on_batch`` by default, or a
``tf.function`` with ``--mode tf_function``).  After warm-up the models are timed in
interleaved rounds (the order alternates every round) and the median images/s over rounds is
reported, with ``ratio = converted / stock`` taken per round (paired) and reduced by the median.

Stock Keras has no LRN layer.  For AlexNet the hand-written model is measured twice by default
(``--stock-lrn both``): once with ``tf.nn.local_response_normalization`` (TensorFlow's fused LRN
op, what one would use writing the net by hand) and once with keras_caffe's own ``CaffeLRN``
layer (which isolates the cost of everything except LRN).  The output names which is which.

Speed goals live here, not in tests: the target is ratio >= 0.97.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import paired_ratio, time_interleaved  # noqa: E402 - also sets sys.path, log level

import numpy as np  # noqa: E402

TARGET_RATIO = 0.97

# ----------------------------------------------------------------------------- prototxts

ALEXNET = """
name: "AlexNet"
layer { name: "data" type: "Input" top: "data"
        input_param { shape: { dim: 10 dim: 3 dim: 227 dim: 227 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 96 kernel_size: 11 stride: 4
                            weight_filler { type: "msra" } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "norm1" type: "LRN" bottom: "conv1" top: "norm1"
        lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }
layer { name: "pool1" type: "Pooling" bottom: "norm1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
        convolution_param { num_output: 256 pad: 2 kernel_size: 5 group: 2
                            weight_filler { type: "msra" } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "norm2" type: "LRN" bottom: "conv2" top: "norm2"
        lrn_param { local_size: 5 alpha: 0.0001 beta: 0.75 } }
layer { name: "pool2" type: "Pooling" bottom: "norm2" top: "pool2"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "conv3" type: "Convolution" bottom: "pool2" top: "conv3"
        convolution_param { num_output: 384 pad: 1 kernel_size: 3
                            weight_filler { type: "msra" } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu3" type: "ReLU" bottom: "conv3" top: "conv3" }
layer { name: "conv4" type: "Convolution" bottom: "conv3" top: "conv4"
        convolution_param { num_output: 384 pad: 1 kernel_size: 3 group: 2
                            weight_filler { type: "msra" } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu4" type: "ReLU" bottom: "conv4" top: "conv4" }
layer { name: "conv5" type: "Convolution" bottom: "conv4" top: "conv5"
        convolution_param { num_output: 256 pad: 1 kernel_size: 3 group: 2
                            weight_filler { type: "msra" } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu5" type: "ReLU" bottom: "conv5" top: "conv5" }
layer { name: "pool5" type: "Pooling" bottom: "conv5" top: "pool5"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "fc6" type: "InnerProduct" bottom: "pool5" top: "fc6"
        inner_product_param { num_output: 4096
                              weight_filler { type: "msra" } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu6" type: "ReLU" bottom: "fc6" top: "fc6" }
layer { name: "drop6" type: "Dropout" bottom: "fc6" top: "fc6" dropout_param { dropout_ratio: 0.5 } }
layer { name: "fc7" type: "InnerProduct" bottom: "fc6" top: "fc7"
        inner_product_param { num_output: 4096
                              weight_filler { type: "msra" } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu7" type: "ReLU" bottom: "fc7" top: "fc7" }
layer { name: "drop7" type: "Dropout" bottom: "fc7" top: "fc7" dropout_param { dropout_ratio: 0.5 } }
layer { name: "fc8" type: "InnerProduct" bottom: "fc7" top: "fc8"
        inner_product_param { num_output: 1000
                              weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0 } } }
layer { name: "prob" type: "Softmax" bottom: "fc8" top: "prob" }
"""

# Caffe's examples/cifar10/cifar10_quick.prototxt (deploy form).  Its 3x3/2 poolings of 32, 16
# and 8 use Caffe's ceil rounding (32 -> 16), so the converter emits CaffePooling2D; the
# hand-written net uses MaxPooling2D / AveragePooling2D with padding="same", which gives the
# same sizes and values here (the padded part of a window is ignored by max and not counted by
# TF's average, exactly as Caffe clips the last window to the image).
CIFAR10_QUICK = """
name: "CIFAR10_quick"
layer { name: "data" type: "Input" top: "data"
        input_param { shape: { dim: 1 dim: 3 dim: 32 dim: 32 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 32 pad: 2 kernel_size: 5 stride: 1
                            weight_filler { type: "msra" } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "relu1" type: "ReLU" bottom: "pool1" top: "pool1" }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
        convolution_param { num_output: 32 pad: 2 kernel_size: 5 stride: 1
                            weight_filler { type: "msra" } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2"
        pooling_param { pool: AVE kernel_size: 3 stride: 2 } }
layer { name: "conv3" type: "Convolution" bottom: "pool2" top: "conv3"
        convolution_param { num_output: 64 pad: 2 kernel_size: 5 stride: 1
                            weight_filler { type: "msra" } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu3" type: "ReLU" bottom: "conv3" top: "conv3" }
layer { name: "pool3" type: "Pooling" bottom: "conv3" top: "pool3"
        pooling_param { pool: AVE kernel_size: 3 stride: 2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool3" top: "ip1"
        inner_product_param { num_output: 64 weight_filler { type: "msra" }
                              bias_filler { type: "constant" value: 0.1 } } }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
        inner_product_param { num_output: 10 weight_filler { type: "xavier" } } }
layer { name: "prob" type: "Softmax" bottom: "ip2" top: "prob" }
"""

# Caffe's examples/mnist/lenet.prototxt (deploy form).
LENET = """
name: "LeNet"
layer { name: "data" type: "Input" top: "data"
        input_param { shape: { dim: 64 dim: 1 dim: 28 dim: 28 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 20 kernel_size: 5 stride: 1
                            weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
        convolution_param { num_output: 50 kernel_size: 5 stride: 1
                            weight_filler { type: "xavier" } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2"
        pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "ip1" type: "InnerProduct" bottom: "pool2" top: "ip1"
        inner_product_param { num_output: 500 weight_filler { type: "xavier" }
                              bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu1" type: "ReLU" bottom: "ip1" top: "ip1" }
layer { name: "ip2" type: "InnerProduct" bottom: "ip1" top: "ip2"
        inner_product_param { num_output: 10 weight_filler { type: "xavier" } } }
layer { name: "prob" type: "Softmax" bottom: "ip2" top: "prob" }
"""


# ----------------------------------------------------------------------------- stock models

def _lrn_layer(kind, name, local_size=5, alpha=1e-4, beta=0.75, k=1.0):
    """An across-channel LRN for the hand-written model: TF's fused op or keras_caffe's layer."""
    import keras

    if kind == "caffe":
        from keras_caffe.layers import CaffeLRN
        return CaffeLRN(local_size=local_size, alpha=alpha, beta=beta, k=k, name=name)

    class TFLocalResponseNormalization(keras.layers.Layer):
        """tf.nn.local_response_normalization with Caffe's parameters:
        depth_radius = (n - 1) / 2, bias = k, alpha = alpha / n."""

        def call(self, x):
            import tensorflow as tf
            return tf.nn.local_response_normalization(
                x, depth_radius=(local_size - 1) // 2, bias=k, alpha=alpha / local_size, beta=beta)

        def compute_output_shape(self, input_shape):
            return input_shape

    return TFLocalResponseNormalization(name=name)


def stock_alexnet(lrn_kind):
    import keras
    L = keras.layers
    inp = keras.Input((227, 227, 3), name="data")
    x = L.Conv2D(96, 11, strides=4, padding="valid", name="conv1")(inp)
    x = L.ReLU(name="relu1")(x)
    x = _lrn_layer(lrn_kind, "norm1")(x)
    x = L.MaxPooling2D(3, 2, name="pool1")(x)
    x = L.Conv2D(256, 5, padding="same", groups=2, name="conv2")(x)
    x = L.ReLU(name="relu2")(x)
    x = _lrn_layer(lrn_kind, "norm2")(x)
    x = L.MaxPooling2D(3, 2, name="pool2")(x)
    x = L.Conv2D(384, 3, padding="same", name="conv3")(x)
    x = L.ReLU(name="relu3")(x)
    x = L.Conv2D(384, 3, padding="same", groups=2, name="conv4")(x)
    x = L.ReLU(name="relu4")(x)
    x = L.Conv2D(256, 3, padding="same", groups=2, name="conv5")(x)
    x = L.ReLU(name="relu5")(x)
    x = L.MaxPooling2D(3, 2, name="pool5")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(4096, name="fc6")(x)
    x = L.ReLU(name="relu6")(x)
    x = L.Dropout(0.5, name="drop6")(x)
    x = L.Dense(4096, name="fc7")(x)
    x = L.ReLU(name="relu7")(x)
    x = L.Dropout(0.5, name="drop7")(x)
    x = L.Dense(1000, name="fc8")(x)
    y = L.Softmax(name="prob")(x)
    return keras.Model({"data": inp}, {"prob": y}, name="alexnet_stock")


def stock_cifar10_quick(_lrn_kind=None):
    import keras
    L = keras.layers
    inp = keras.Input((32, 32, 3), name="data")
    x = L.Conv2D(32, 5, padding="same", name="conv1")(inp)
    x = L.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
    x = L.ReLU(name="relu1")(x)
    x = L.Conv2D(32, 5, padding="same", name="conv2")(x)
    x = L.ReLU(name="relu2")(x)
    x = L.AveragePooling2D(3, 2, padding="same", name="pool2")(x)
    x = L.Conv2D(64, 5, padding="same", name="conv3")(x)
    x = L.ReLU(name="relu3")(x)
    x = L.AveragePooling2D(3, 2, padding="same", name="pool3")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(64, name="ip1")(x)
    x = L.Dense(10, name="ip2")(x)
    y = L.Softmax(name="prob")(x)
    return keras.Model({"data": inp}, {"prob": y}, name="cifar10_quick_stock")


def stock_lenet(_lrn_kind=None):
    import keras
    L = keras.layers
    inp = keras.Input((28, 28, 1), name="data")
    x = L.Conv2D(20, 5, name="conv1")(inp)
    x = L.MaxPooling2D(2, 2, name="pool1")(x)
    x = L.Conv2D(50, 5, name="conv2")(x)
    x = L.MaxPooling2D(2, 2, name="pool2")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(500, name="ip1")(x)
    x = L.ReLU(name="relu1")(x)
    x = L.Dense(10, name="ip2")(x)
    y = L.Softmax(name="prob")(x)
    return keras.Model({"data": inp}, {"prob": y}, name="lenet_stock")


# name -> (prototxt, stock builder, default batch, logits layer, uses LRN, input scale)
NETS = {
    "alexnet": (ALEXNET, stock_alexnet, 16, "fc8", True, 128.0),
    "cifar10_quick": (CIFAR10_QUICK, stock_cifar10_quick, 128, "ip2", False, 128.0),
    "lenet": (LENET, stock_lenet, 256, "ip2", False, 1.0),
}


# ----------------------------------------------------------------------------- helpers

def _input_specs(cnet):
    """(name, Caffe NCHW shape) of each input blob of a built CaffeNet."""
    specs = []
    for node in cnet.graph.input_layers:
        for top in node.tops:
            specs.append((top.name, tuple(cnet.shapes[top])))
    return specs


def _make_feeds(specs, batch, scale, rng):
    from keras_caffe.graph import layout
    feeds = {}
    for name, shape in specs:
        caffe_shape = (batch,) + tuple(shape[1:])
        if any(d is None for d in caffe_shape):
            raise SystemExit(f"input '{name}' has an unknown dimension {caffe_shape}; "
                             "give the prototxt a full input shape")
        x = rng.uniform(-scale, scale, caffe_shape).astype(np.float32)
        feeds[name] = np.ascontiguousarray(layout.to_internal_array(x))   # NHWC
    return feeds


def _copy_weights(src, dst):
    """Copy every weighted layer of ``dst`` from the layer of ``src`` with the same name."""
    copied = 0
    for layer in dst.layers:
        if not layer.weights:
            continue
        layer.set_weights(src.get_layer(layer.name).get_weights())
        copied += sum(int(np.prod(w.shape)) for w in layer.weights)
    total = sum(int(np.prod(w.shape)) for w in src.weights)
    if copied != total:
        raise SystemExit(f"copied {copied} of the converted model's {total} parameters: "
                         "the hand-written model does not match")


def _compare(converted, stock, feeds, logits_layer):
    """Max abs difference of the logits and of the outputs, relative to their scale."""
    import keras
    out = {}
    sub_c = keras.Model(converted.input, converted.get_layer(logits_layer).output)
    sub_s = keras.Model(stock.input, stock.get_layer(logits_layer).output)
    a = np.asarray(sub_c.predict_on_batch(feeds))
    b = np.asarray(sub_s.predict_on_batch(feeds))
    out["logits"] = (float(np.max(np.abs(a - b))), float(np.max(np.abs(a))))
    pa = converted.predict_on_batch(feeds)
    pb = stock.predict_on_batch(feeds)
    for k in pa:
        x, y = np.asarray(pa[k]), np.asarray(pb[k])
        out[k] = (float(np.max(np.abs(x - y))), float(np.max(np.abs(x))))
    return out


def _runner(model, feeds, mode):
    if mode == "predict_on_batch":
        def run():
            return model.predict_on_batch(feeds)
        return run
    import tensorflow as tf
    tensors = {k: tf.constant(v) for k, v in feeds.items()}
    fn = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)

    def run():
        out = fn(tensors)
        return {k: v.numpy() for k, v in out.items()}   # wait for the result
    return run


def _time(runs, batch, repeats, min_time, warmup):
    """Interleaved timing (``_common.time_interleaved``), with ``converted`` placed in the
    middle so that it runs next to every reference in every round.  Returns label -> list of
    images/s (one per round) and the number of batches per timed block."""
    labels = list(runs)
    if "converted" in labels and len(labels) > 2:
        others = [l for l in labels if l != "converted"]
        labels = others[:1] + ["converted"] + others[1:]
    seconds, iters = time_interleaved({l: runs[l] for l in labels}, repeats, min_time, warmup)
    return {l: [batch / t for t in ts] for l, ts in seconds.items()}, iters


# ----------------------------------------------------------------------------- main

def bench_builtin(name, args, rows, notes):
    import keras_caffe
    proto, stock_fn, default_batch, logits, uses_lrn, scale = NETS[name]
    batch = args.batch or default_batch
    rng = np.random.default_rng(args.seed)
    cnet = keras_caffe.build_net(proto, seed=args.seed)
    converted = cnet.model
    feeds = _make_feeds(_input_specs(cnet), batch, scale, rng)

    variants = ["tf", "caffe"] if args.stock_lrn == "both" else [args.stock_lrn]
    if not uses_lrn:
        variants = [None]
    stocks = {}
    for v in variants:
        label = "stock" if v is None else f"stock[{'tf.nn.lrn' if v == 'tf' else 'CaffeLRN'}]"
        model = stock_fn(v)
        _copy_weights(converted, model)
        diffs = _compare(converted, model, feeds, logits)
        for k, (d, s) in diffs.items():
            rel = d / s if s else d
            ok = rel <= args.tolerance
            notes.append(f"{name}: {label} vs converted, {k}: max|diff| {d:.3g} "
                         f"(max|value| {s:.3g}, rel {rel:.2g}) -> {'same outputs' if ok else 'MISMATCH'}")
            if not ok:
                raise SystemExit(f"{name}: the hand-written model does not compute what the converted "
                                 f"one does ({k}: rel diff {rel:.3g} > {args.tolerance}); not timing it")
        stocks[label] = model
    if uses_lrn:
        notes.append(f"{name}: LRN in the stock models: "
                     + ", ".join({"tf": "stock[tf.nn.lrn] = tf.nn.local_response_normalization "
                                        "(TensorFlow's fused LRN op)",
                                  "caffe": "stock[CaffeLRN] = keras_caffe.layers.CaffeLRN "
                                           "(the layer the converter uses)"}[v] for v in variants)
                     + "; the converted model uses CaffeLRN")

    if args.layer_detail:
        _layer_detail(name, converted, stocks, feeds, batch, args, notes, rows_detail=args._detail)

    runs = {"converted": _runner(converted, feeds, args.mode)}
    runs.update({label: _runner(m, feeds, args.mode) for label, m in stocks.items()})
    samples, iters = _time(runs, batch, args.repeats, args.min_time, args.warmup)
    conv = samples["converted"]
    for label in runs:
        s = samples[label]
        med = statistics.median(s)
        ratio = None if label == "converted" else paired_ratio(conv, s)
        best = None if label == "converted" else max(conv) / max(s)
        rows.append((name, label, batch, iters, med, min(s), max(s), 1000.0 * batch / med, ratio, best))


def _lrn_exp_log(layer):
    """CaffeLRN's arithmetic with ``scale ** -beta`` computed as ``exp(-beta * log(scale))``
    (a candidate fix: TF's CPU pow kernel is several times slower than exp + log)."""
    from keras import ops

    n, r = layer.local_size, (layer.local_size - 1) // 2

    def call(x):
        shape = ops.shape(x)
        folded = ops.reshape(ops.square(x), (-1, shape[3], 1))
        folded = ops.pad(folded, ((0, 0), (r, r), (0, 0)))
        mean = ops.reshape(ops.average_pool(folded, n, 1, padding="valid"), shape)
        scale = ops.add(layer.k, ops.multiply(layer.alpha, mean))
        return ops.multiply(x, ops.exp(ops.multiply(-layer.beta, ops.log(scale))))
    return call


def _layer_detail(name, converted, stocks, feeds, batch, args, notes, rows_detail):
    """Time alone every layer whose class differs between the converted and a stock model, on
    the very tensor it sees inside the net (one batch), interleaved like the whole models."""
    import keras
    import tensorflow as tf

    pairs = {}
    for label, stock in stocks.items():
        for layer in stock.layers:
            try:
                mine = converted.get_layer(layer.name)
            except ValueError:
                continue
            if type(mine) is not type(layer):
                pairs.setdefault(layer.name, {"converted": mine})[label] = layer
    for lname, impls in pairs.items():
        mine = impls["converted"]
        x = keras.Model(converted.input, mine.input).predict_on_batch(feeds)
        x = tf.constant(np.asarray(x))
        runs, kinds = {}, {}
        for label, layer in impls.items():
            fn = tf.function(layer.__call__, autograph=False)
            runs[label] = (lambda f=fn: f(x).numpy())
            kinds[label] = type(layer).__name__
        if type(mine).__name__ == "CaffeLRN" and mine.norm_region == "across_channels":
            fn = tf.function(_lrn_exp_log(mine), autograph=False)
            ref, got = runs["converted"](), fn(x).numpy()
            rel = float(np.max(np.abs(ref - got)) / max(np.max(np.abs(ref)), 1e-30))
            runs["candidate"] = (lambda f=fn: f(x).numpy())
            kinds["candidate"] = f"CaffeLRN with exp(-b*log s) (rel diff {rel:.1g})"
        samples, _ = _time(runs, batch, args.repeats, args.min_time / 4, args.warmup)
        for label in runs:
            ms = 1000.0 * batch / statistics.median(samples[label])
            rows_detail.append((name, lname, label, kinds[label], tuple(x.shape), ms))


def bench_prototxt(path, args, rows, notes):
    import keras_caffe
    cnet = keras_caffe.build_net(path, seed=args.seed)
    specs = _input_specs(cnet)
    batch = args.batch or specs[0][1][0] or 1
    feeds = _make_feeds(specs, batch, args.input_scale, np.random.default_rng(args.seed))
    samples, iters = _time({"converted": _runner(cnet.model, feeds, args.mode)}, batch,
                           args.repeats, args.min_time, args.warmup)
    s = samples["converted"]
    med = statistics.median(s)
    label = os.path.basename(path)
    rows.append((label, "converted", batch, iters, med, min(s), max(s), 1000.0 * batch / med, None, None))
    notes.append(f"{label}: inputs " + ", ".join(f"{n} {(batch,) + tuple(s[1:])} (NCHW, fed as NHWC)"
                                                  for n, s in specs)
                 + "; throughput only (no hand-written reference)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nets", default="alexnet,cifar10_quick,lenet",
                   help="comma-separated built-in nets (%(default)s)")
    p.add_argument("--net", metavar="PATH.prototxt",
                   help="benchmark this deploy prototxt alone (throughput only; replaces --nets)")
    p.add_argument("--batch", type=int, default=None,
                   help="batch size for every net (default: alexnet 16, cifar10_quick 128, "
                        "lenet 256, --net: the prototxt's)")
    p.add_argument("--repeats", type=int, default=11, help="timed rounds per model (%(default)s)")
    p.add_argument("--min-time", type=float, default=0.6,
                   help="seconds per timed block; batches per block are chosen to fill it (%(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed batches per model (%(default)s)")
    p.add_argument("--mode", choices=("predict_on_batch", "tf_function"), default="predict_on_batch",
                   help="compiled path both models run through (%(default)s)")
    p.add_argument("--stock-lrn", choices=("both", "tf", "caffe"), default="both",
                   help="LRN in the hand-written AlexNet (%(default)s)")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="max relative output difference converted vs hand-written (%(default)s)")
    p.add_argument("--input-scale", type=float, default=1.0,
                   help="--net inputs are uniform in [-scale, scale) (%(default)s)")
    p.add_argument("--no-layer-detail", dest="layer_detail", action="store_false",
                   help="skip timing alone the layers that differ between converted and stock")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args._detail = []

    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    if keras.backend.backend() != "tensorflow":
        raise SystemExit("this benchmark needs KERAS_BACKEND=tensorflow")
    start = time.perf_counter()
    rows, notes = [], []
    if args.net:
        bench_prototxt(args.net, args, rows, notes)
    else:
        for name in [n.strip() for n in args.nets.split(",") if n.strip()]:
            if name not in NETS:
                raise SystemExit(f"unknown net '{name}' (choose from {', '.join(NETS)})")
            bench_builtin(name, args, rows, notes)

    cpu = os.cpu_count()
    print(f"\nforward throughput, TF {tf.__version__} / Keras {keras.__version__}, {cpu} CPU(s), "
          f"mode={args.mode}, NHWC, {args.repeats} interleaved rounds of >= {args.min_time}s, "
          f"median")
    nw = max([14] + [len(r[0]) for r in rows])
    head = (f"{'net':<{nw}} {'model':<20} {'batch':>5} {'iters':>5} {'img/s':>9} {'min':>9} "
            f"{'max':>9} {'ms/batch':>9} {'ratio':>7} {'r(best)':>7}  target (ratio)")
    print(head)
    print("-" * len(head))
    for net, label, batch, iters, med, lo, hi, ms, ratio, best in rows:
        if ratio is None:
            rtxt, btxt, verdict = "", "", ""
        else:
            rtxt, btxt = f"{ratio:.3f}", f"{best:.3f}"
            verdict = f">= {TARGET_RATIO}: {'ok' if ratio >= TARGET_RATIO else 'MISSED'}"
        print(f"{net:<{nw}} {label:<20} {batch:>5} {iters:>5} {med:>9.1f} {lo:>9.1f} {hi:>9.1f} "
              f"{ms:>9.2f} {rtxt:>7} {btxt:>7}  {verdict}")
    print("img/s: median over rounds (min, max: the slowest and fastest round); iters: batches per "
          "timed block\nratio = converted / stock images/s, median over rounds of the per-round "
          "(paired) ratio;\nr(best) = fastest converted round / fastest stock round (least "
          "disturbed by other load on the machine)")
    for n in notes:
        print("  " + n)
    if args._detail:
        print("\nlayers that differ between converted and stock, each timed alone on the tensor it sees "
              "in the net\n(one batch, interleaved rounds, median; 'x conv' = time / the converted layer's time)")
        head = f"{'net':<14} {'layer':<7} {'model':<20} {'input (NHWC)':<20} {'ms/batch':>9} {'x conv':>7}  class"
        print(head)
        print("-" * len(head))
        conv_ms = {(r[0], r[1]): r[5] for r in args._detail if r[2] == "converted"}
        gap = {}
        for net, lname, label, kind, shape, ms in args._detail:
            ref = conv_ms[(net, lname)]
            print(f"{net:<14} {lname:<7} {label:<20} {str(shape):<20} {ms:>9.2f} {ms / ref:>7.2f}  {kind}")
            if label.startswith("stock"):
                gap.setdefault((net, label), 0.0)
                gap[(net, label)] += ref - ms
        whole = {(r[0], r[1]): r[7] for r in rows}   # ms/batch
        for (net, label), g in gap.items():
            if (net, label) in whole:
                print(f"  {net}: layers alone, converted - {label} = {g:+.2f} ms/batch; "
                      f"whole models: {whole[(net, 'converted')] - whole[(net, label)]:+.2f} ms/batch")
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
