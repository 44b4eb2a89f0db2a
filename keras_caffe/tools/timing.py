"""Benchmark a net like ``caffe time``: whole-net and per-layer forward and backward times.

The whole net is timed as one compiled ``tf.function`` (with XLA where ``xla`` finds it faster):
``forward`` is ``model(inputs)``; ``forward-backward`` also takes the gradient of Caffe's
weighted objective (``model.losses``) with respect to every trainable variable, and to the
input blobs too when the net sets ``force_backward``.  TensorFlow cannot run a backward pass
on its own (the tape lives inside one call), so the backward time is the forward-backward
time less the forward time, an estimate of what Caffe's own backward timer shows.

Per layer, the Keras layers made for one Caffe layer are cut out of the model (a sub-model
from the layer's bottom tensors to its top tensors) and run alone, compiled, on the very
tensors they see in the net.  Backward there is the gradient of ``sum(top * g)``, with a
fixed random ``g``, with respect to the layer's trainable weights and to the bottoms Caffe
would propagate into (its ``bottom_need_backward``: no diff for the data or the labels
unless ``force_backward``, none into a ``propagate_down: false`` bottom); a layer Caffe
skips in backward (one that feeds no loss, or has nothing to learn below it) gets 0.
Per-layer times do not add up to the whole-net times: the compiled net fuses and overlaps
work across layers, and each layer timed alone pays its own launch overhead.

Inputs are random: normal values for data, and class indices in range for the blobs that
loss and accuracy layers read as labels (and for Embed's indices).  Data layers give the
shapes Caffe would read, where the layer's parameters fix them (batch size, crop, colour
or the number of mean values), else their source is read for one batch, else the caller
must give the shape.  ``--precision`` only sets Keras's global dtype policy while the model
is built; which layers Caffe's numerics need kept in float32 is decided by the converters
and layers, not here.
"""

from __future__ import annotations

import time
from typing import Mapping

import keras
import numpy as np

from ..api import open_net
from ..execution import objective
from ..graph import layout, types
from ..graph.backward import backward_plan
from ..model import PRECISIONS
from ..proto import caffe_pb2
from ..xla import choose
from .random_inputs import random_inputs
from .timing_report import NOTE, format_report  # noqa: F401  (the report goes with it)


def time_net(net, weights=None, iterations: int = 50, batch: int | None = None,
             phase: str = "train", precision: str | None = None, xla: bool = False, *,
             shapes: Mapping[str, tuple] | None = None, stages=(), level=None,
             warmup: int = 2, seed: int = 0, per_layer: bool = True,
             allow_missing: bool = False) -> dict:
    """Time ``iterations`` forward and forward-backward passes of a net, as ``caffe time``.

    ``net`` is a prototxt path or text; ``weights`` an optional .caffemodel (fillers
    otherwise; one lacking some parameter layers is refused unless ``allow_missing``).
    ``batch`` replaces the batch size of every input and data layer;
    ``shapes`` gives Caffe (N, C, H, W) shapes by input blob name where the prototxt does
    not fix them (a data layer reading a database, say).  ``precision`` is a Keras dtype
    policy name (``mixed_float16``, ``mixed_bfloat16``), set while the model is built and
    restored after.  ``xla``: the forward and the forward-backward pass are each compiled with
    XLA where that is faster (True or ``"auto"``: both measured, ``xla_choice`` holds the
    figures; see :mod:`keras_caffe.xla`) or regardless (``"always"``); layers timed alone
    follow the forward pass's choice.  Runs on TensorFlow's
    default device (wrap the call in ``tf.device`` to choose).

    Returns ``{"forward_ms", "backward_ms", "forward_backward_ms", "total_ms", "layers":
    [{"name", "type", "forward_ms", "backward_ms", "forward_backward_ms", "dtype"}], ...}``
    with every Caffe layer in net order (``dtype``: of its first top as computed; ``error``
    and None times for a layer that could not be run alone), times in milliseconds per
    iteration; ``total_ms`` is the wall time of all forward-backward iterations, as Caffe's
    "Total Time".  ``warmup`` calls (at least one, which compiles) precede each timing.
    """
    import tensorflow as tf

    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, got {iterations}")
    if batch is not None and batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    if precision is not None and precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    cnet = open_net(net, weights, phase, stages=stages, level=level, read_shapes=True,
                    input_shapes=shapes, batch=batch, precision=precision,
                    allow_missing=allow_missing).cnet
    graph = cnet.graph
    input_shapes = {t.name: cnet.shapes[t] for n in graph.input_layers for t in n.tops}

    rng = np.random.default_rng(seed)
    training = cnet.phase == caffe_pb2.TRAIN
    # tf.identity places each array on the default device once, as Caffe's blobs already
    # are on the GPU when its timers run (a host tensor would be copied on every call).
    feeds = {name: tf.identity(layout.to_internal_array(value))
             for name, value in random_inputs(cnet, rng).items()}
    plan = backward_plan(graph, {b for b, w in cnet.loss_terms if w}, lambda node: any(
        v.trainable for layer in getattr(cnet.contexts.get(node.key), "keras_layers", ())
        for v in layer.weights))

    # -- the whole net --------------------------------------------------------------------
    model = cnet.model
    surrogate = None
    if not cnet.loss_terms:
        outs = model(feeds, training=training)
        surrogate = {k: tf.identity(tf.constant(rng.standard_normal(tuple(v.shape)), dtype=v.dtype))
                     for k, v in outs.items() if v.dtype.is_floating}
    watched_inputs = [n for n in feeds if plan.input_needs.get(n)]

    def net_call(x):
        return model(x, training=training)

    def net_inputs(x):
        return [x[n] for n in watched_inputs]

    def net_loss(outs):
        return objective(model) if surrogate is None else _weighted_sum(outs, surrogate)

    variables = list(model.trainable_variables)
    plain = _compiled(net_call, None, net_inputs, variables, net_loss)
    compiled = _compiled(net_call, True, net_inputs, variables, net_loss)
    net_forward, forward_xla = choose(plain[0], compiled[0], (feeds,), mode=xla,
                                      what="forward", sync=_sync)
    net_forward_backward, backward_xla = choose(plain[1], compiled[1], (feeds,), mode=xla,
                                                what="forward-backward", sync=_sync)
    jit = True if forward_xla.used else None   # each layer alone: as the forward pass chose

    forward_ms, _ = _bench(net_forward, (feeds,), iterations, warmup)
    forward_backward_ms, total_ms = _bench(net_forward_backward, (feeds,), iterations, warmup)

    # -- layer by layer -------------------------------------------------------------------
    layers = []
    if per_layer:
        values = _blob_values(cnet, feeds, training)
        tf_log = tf.get_logger()
        log_level = tf_log.level
        tf_log.setLevel("ERROR")  # one tf.function per layer is meant, not a retracing slip
        try:
            for node in graph.layers:
                layers.append(_time_layer(cnet, node, values, feeds, plan, training, jit, rng,
                                          iterations, warmup))
        finally:
            tf_log.setLevel(log_level)

    device = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"
    notes = [NOTE, "backward = forward-backward less forward (TensorFlow runs no backward "
             "pass on its own)"]
    for choice, what in ((forward_xla, "forward"), (backward_xla, "forward-backward")):
        if choice.mode is not None:
            notes.append(f"--xla {choice.mode}: {choice.summary(what)}")
    if surrogate is not None:
        notes.append("the net has no loss: backward is timed for sum(output * fixed random "
                     "gradient) over its outputs (Caffe would skip every layer)")
    return {
        "net": cnet.graph.name,
        "phase": "train" if training else "test",
        "iterations": iterations,
        "warmup": warmup,
        "precision": precision or keras.mixed_precision.global_policy().name,
        "xla": forward_xla.used or backward_xla.used,
        "xla_choice": {"forward": forward_xla.as_dict(),
                       "forward_backward": backward_xla.as_dict()},
        "device": device,
        "input_shapes": {k: list(v) for k, v in input_shapes.items()},
        "forward_ms": forward_ms,
        "backward_ms": max(forward_backward_ms - forward_ms, 0.0),
        "forward_backward_ms": forward_backward_ms,
        "total_ms": total_ms,
        "layers": layers,
        "notes": notes,
    }


# -- timing ---------------------------------------------------------------------------------

def _sync() -> None:
    import tensorflow as tf

    tf.test.experimental.sync_devices()


def _bench(fn, args, iterations: int, warmup: int) -> tuple[float, float]:
    """(mean ms per call, total ms) over ``iterations`` calls after ``warmup`` calls."""
    for _ in range(max(warmup, 1)):  # the first call traces and compiles
        fn(*args)
    _sync()
    start = time.perf_counter()
    for _ in range(iterations):
        fn(*args)
    _sync()
    total = (time.perf_counter() - start) * 1000.0
    return total / iterations, total


def _compiled(call, jit, watched, variables, loss):
    """``forward(x)`` and ``forward_backward(x)`` of ``call``, compiled: the second also
    takes the gradient of ``loss(outputs)`` with respect to ``variables`` and the tensors
    ``watched(x)`` (what Caffe's backward pass computes)."""
    import tensorflow as tf

    @tf.function(jit_compile=jit, reduce_retracing=True)
    def forward(x):
        return call(x)

    @tf.function(jit_compile=jit, reduce_retracing=True)
    def forward_backward(x):
        with tf.GradientTape() as tape:
            inputs = watched(x)
            for t in inputs:
                tape.watch(t)
            total = loss(call(x))
        grads = tape.gradient(total, list(variables) + inputs)
        return [total] + [g for g in grads if g is not None]

    return forward, forward_backward


def _weighted_sum(outs, upstream):
    import tensorflow as tf

    if isinstance(outs, Mapping):
        pairs = [(outs[k], upstream[k]) for k in upstream]
    else:
        pairs = list(zip(outs, upstream))
    terms = [tf.reduce_sum(tf.cast(o, tf.float32) * tf.cast(g, tf.float32)) for o, g in pairs
             if g is not None]
    return tf.add_n(terms) if terms else tf.constant(0.0)


def _blob_values(cnet, feeds, training) -> dict:
    """Every blob version's value in one forward pass (internal layout)."""
    keys = {f"{b.name}@{b.version}": b for b in cnet.tensors}
    capture = keras.Model(cnet.inputs, {k: cnet.tensors[b] for k, b in keys.items()},
                          name="keras_caffe_timing_blobs")
    values = capture(feeds, training=training)
    return {keys[k]: v for k, v in values.items()}


def _time_layer(cnet, node, values, feeds, plan, training, jit, rng, iterations, warmup) -> dict:
    import tensorflow as tf

    row = {"name": node.name, "type": node.type, "forward_ms": 0.0, "backward_ms": 0.0,
           "forward_backward_ms": 0.0, "dtype": None}
    source = types.source_of(node.param)
    if source is not None:
        row["dtype"] = "float32"
        if source != "caller":  # a data layer's forward: its batch onto the device
            host = [np.asarray(feeds[t.name]) for t in node.tops]
            copy = lambda: [tf.identity(tf.constant(h)) for h in host]  # noqa: E731
            row["forward_ms"], _ = _bench(copy, (), iterations, warmup)
            row["forward_backward_ms"] = row["forward_ms"]
        return row
    bottoms = list(dict.fromkeys(node.bottoms))
    try:
        sub = keras.Model([cnet.tensors[b] for b in bottoms], [cnet.tensors[t] for t in node.tops],
                          name="keras_caffe_timing_layer")
    except Exception as exc:  # noqa: BLE001  (a layer Keras cannot cut out, e.g. no bottoms)
        row.update(forward_ms=None, backward_ms=None, forward_backward_ms=None,
                   error=f"cannot run its Keras layers alone ({exc.__class__.__name__}: {exc})")
        return row
    args = [values[b] for b in bottoms]
    tops = [values[t] for t in node.tops]
    row["dtype"] = tops[0].dtype.name if tops else None
    upstream = [tf.identity(tf.constant(rng.standard_normal(tuple(t.shape)), dtype=t.dtype))
                if t.dtype.is_floating else None for t in tops]
    needs = dict.fromkeys(bottoms, False)
    for b, need in zip(node.bottoms, plan.bottom_needs[node.key]):
        needs[b] = needs[b] or need
    watch = [i for i, b in enumerate(bottoms) if needs[b] and args[i].dtype.is_floating]
    variables = list(sub.trainable_variables) if plan.layer_needs[node.key] else []

    def call(xs):
        outs = sub(xs, training=training)
        return outs if isinstance(outs, (list, tuple)) else [outs]

    def inputs(xs):
        return [xs[i] for i in watch]

    def loss(outs):
        return _weighted_sum(outs, upstream)

    forward, forward_backward = _compiled(call, jit, inputs, variables, loss)

    try:
        row["forward_ms"], _ = _bench(forward, (args,), iterations, warmup)
        if plan.layer_needs[node.key] and (watch or variables):
            fb, _ = _bench(forward_backward, (args,), iterations, warmup)
            row["forward_backward_ms"] = fb
            row["backward_ms"] = max(fb - row["forward_ms"], 0.0)
        else:
            row["forward_backward_ms"] = row["forward_ms"]
    except Exception as exc:  # noqa: BLE001  (one layer failing alone should not end the run)
        first = (str(exc).splitlines() or [""])[0]
        row.update(forward_ms=None, backward_ms=None, forward_backward_ms=None,
                   error=f"{exc.__class__.__name__}: {first}")
    return row
