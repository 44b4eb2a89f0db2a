#!/usr/bin/env python
"""``caffe.Net`` (keras_caffe.pycaffe) against the same converted Keras model called directly.

Run from the repository root::

    python benchmarks/pycaffe_net.py                    # AlexNet (CaffeNet-shaped), batch 10
    python benchmarks/pycaffe_net.py --repeats 9 --min-time 1.5

Two comparisons, each in interleaved rounds (paired per round, median over rounds):

* ``forward``: ``net.forward()`` after ``net.blobs['data'].data[...] = x`` (the NCHW input
  copied in, the output ``prob`` copied out into its persistent array) against the
  converted model compiled with ``tf.function`` and called on the same batch already in
  NHWC.  Target: ratio >= 0.9.
* ``forward + backward``: ``net.forward(); net.backward()`` on the TRAIN net (dropout, a
  SoftmaxWithLoss on an Input label; parameter diffs accumulated into their arrays) against
  one compiled ``GradientTape`` step of the same model (loss and gradients of every
  trainable variable).  Target: ratio >= 0.9.

The ``sync`` rows time what keeping numpy arrays in step costs: a forward after every
blob's ``data`` and every parameter array has been asked for (each pass then copies every
blob into its NCHW array and writes every parameter array into its variable).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common as C  # noqa: E402  (puts the repository on sys.path)
import numpy as np  # noqa: E402

TARGET = 0.9


def _alexnet(train: bool) -> str:
    import forward_throughput as ft

    text = ft.ALEXNET
    if not train:
        return text
    text = text.replace('layer { name: "data" type: "Input" top: "data"',
                        'layer { name: "data" type: "Input" top: "data" top: "label"')
    text = text.replace("input_param { shape: { dim: 10 dim: 3 dim: 227 dim: 227 } }",
                        "input_param { shape: { dim: 10 dim: 3 dim: 227 dim: 227 } "
                        "shape: { dim: 10 } }")
    head, _, _ = text.rpartition('layer { name: "prob"')
    return head + ('layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc8" '
                   'bottom: "label" top: "loss" }\n')


def _write(text: str, directory: str, name: str) -> str:
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--min-time", type=float, default=1.0)
    p.add_argument("--warmup", type=int, default=3)
    args = p.parse_args(argv)
    tf, keras = C.quiet_tensorflow()
    import keras_caffe
    import keras_caffe.pycaffe as caffe
    from keras_caffe.execution import objective
    from keras_caffe.graph import layout

    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 3, 227, 227)).astype(np.float32)
    labels = rng.integers(0, 1000, (10,)).astype(np.float32)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # -- forward ------------------------------------------------------------------------
        deploy = _write(_alexnet(False), tmp, "deploy.prototxt")
        net = caffe.Net(deploy, caffe.TEST)
        net.blobs["data"].data[...] = x
        model = keras_caffe.build_net(deploy).model
        feeds = {"data": tf.constant(layout.to_internal_array(x))}
        direct = tf.function(lambda f: model(f, training=False))
        for name, blobs in net.params.items():   # the same weights in both
            model.get_layer(name).set_weights(
                net._cnet.contexts[name].param_layer.get_weights())

        def run_net():
            net.forward()

        def run_direct():
            np.asarray(direct(feeds)["prob"])

        samples, iters = C.time_interleaved({"caffe.Net.forward()": run_net,
                                             "model (tf.function)": run_direct},
                                            args.repeats, args.min_time, args.warmup)
        ratio = C.paired_ratio(samples["model (tf.function)"], samples["caffe.Net.forward()"])
        rows.append(("forward", samples, iters, ratio))
        got = net.forward()["prob"]
        diff = C.rel_diff(got, np.asarray(direct(feeds)["prob"]))

        # -- the cost of exposing everything ------------------------------------------------
        exposed = caffe.Net(deploy, caffe.TEST)
        exposed.blobs["data"].data[...] = x
        for blob in exposed.blobs.values():
            blob.data
        for blobs in exposed.params.values():
            for blob in blobs:
                blob.data
        sync, sync_iters = C.time_interleaved({"forward, all exposed": exposed.forward,
                                               "caffe.Net.forward()": run_net},
                                              args.repeats, args.min_time, args.warmup)
        sync_ratio = C.paired_ratio(sync["caffe.Net.forward()"], sync["forward, all exposed"])
        rows.append(("sync", sync, sync_iters, sync_ratio))

        # -- forward + backward -------------------------------------------------------------
        train = _write(_alexnet(True), tmp, "train.prototxt")
        tnet = caffe.Net(train, caffe.TRAIN)
        tnet.blobs["data"].data[...] = x
        tnet.blobs["label"].data[...] = labels
        tmodel = keras_caffe.build_net(train, phase="train").model
        tfeeds = {"data": feeds["data"], "label": tf.constant(labels)}
        variables = tmodel.trainable_variables

        @tf.function
        def tape_step(f):
            with tf.GradientTape() as tape:
                tmodel(f, training=True)
                loss = objective(tmodel)
            return loss, tape.gradient(loss, variables)

        def run_fb():
            tnet.forward()
            tnet.backward()

        def run_tape():
            loss, grads = tape_step(tfeeds)
            float(loss)

        fb, fb_iters = C.time_interleaved({"forward(); backward()": run_fb,
                                           "GradientTape step": run_tape},
                                          args.repeats, args.min_time, args.warmup)
        fb_ratio = C.paired_ratio(fb["GradientTape step"], fb["forward(); backward()"])
        rows.append(("forward + backward", fb, fb_iters, fb_ratio))

    print(f"\ncaffe.Net vs the converted model, AlexNet batch 10, TF {tf.__version__}, "
          f"{os.cpu_count()} CPU(s), {args.repeats} interleaved rounds, median")
    table = []
    for what, samples, iters, ratio in rows:
        for label, times in samples.items():
            table.append([what, label, str(iters), f"{1000 * C.median(times):.2f}",
                          f"{10 / C.median(times):.1f}", ""])
        target = f">= {TARGET}: {'ok' if ratio >= TARGET else 'MISSED'}" if what != "sync" else ""
        table[-1][-1] = f"ratio {ratio:.3f} {target}"
    C.print_table(["pass", "variant", "iters", "ms/batch", "img/s", "ratio = ours / direct"],
                  table)
    print(f"  forward outputs: caffe.Net vs model max|diff| {diff[0]:.3g} (rel {diff[2]:.3g})")
    print(f"  sync row: ratio = plain caffe.Net / every blob and parameter exposed (the cost "
          f"of copying all of them each pass)")
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
