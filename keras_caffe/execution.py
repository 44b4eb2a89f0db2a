"""One forward (and backward) pass of a built net, reported as pycaffe reports it.

``net.forward()`` leaves every blob's final value; ``net.backward()`` after it leaves the
diff of the total weighted loss with respect to every input blob and parameter blob.
Parameter gradients are mapped back to Caffe's blob layout by each converter's saver,
which is exact because our weight transforms only move values around.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from .errors import NetError
from .fileio import WritePolicy
from .graph import layout
from .graph.backward import backward_plan
from .proto import caffe_pb2
from .weights.loader import as_caffe_blobs
from .xla import choose, xla_mode


def run(cnet, inputs: Mapping[str, np.ndarray], backward: bool = False,
        xla: bool = False, writes: WritePolicy | None = None) -> dict[str, np.ndarray]:
    """Blobs (NCHW) by name; with ``backward`` also ``diff/<input>`` and
    ``param/<layer>/<i>`` as Caffe's ``net.backward()`` computes them.  ``xla`` compiles the
    forward pass with XLA where that is faster (``keras_caffe.xla``: True or ``"auto"``
    measures, ``"always"`` compiles regardless).  The net's sinks write where ``writes`` allows
    (default: a new :class:`~keras_caffe.fileio.WritePolicy`)."""
    import tensorflow as tf

    training = cnet.phase == caffe_pb2.TRAIN
    feeds = {k: tf.convert_to_tensor(layout.to_internal_array(np.asarray(v, np.float32)))
             for k, v in inputs.items()}
    model = cnet.blob_model()
    if not backward:
        def call(f):
            return model(f, training=training)

        if xla_mode(xla) is not None:
            call, _ = choose(tf.function(call), tf.function(call, jit_compile=True), (feeds,),
                             mode=xla, what="forward", state=model.variables)
        out = _caffe_blobs(call(feeds), inputs)
        write_sinks(cnet.graph, cnet.sinks, out, writes)
        return out

    if not cnet.loss_terms:
        raise NetError("--backward needs a loss: no top of the net has a loss_weight "
                       "(loss layers weigh 1 by default)")
    contexts = cnet.param_contexts
    owners, variables = [], []
    seen = {}
    for ctx in contexts:
        for v in ctx.weights:
            key = id(v)
            if key not in seen:
                seen[key] = len(variables)
                variables.append(v)
        owners.append(ctx)
    with tf.GradientTape(persistent=True) as tape:
        for x in feeds.values():
            tape.watch(x)
        for v in variables:
            tape.watch(v.value)
        blobs = model(feeds, training=training)
        total = objective(model)
    out = _caffe_blobs(blobs, inputs)
    # An input blob gets a diff only where Caffe's backward pass propagates into it (with
    # force_backward, and never into a loss's labels); without force_backward no lr_mult 0
    # parameter gets one either: they keep the zeros of a fresh net.
    force = cnet.graph.param.force_backward
    frozen = {id(v) for v, lr, _ in cnet.param_multipliers() if lr == 0}
    plan = backward_plan(cnet.graph, {b for b, w in cnet.loss_terms if w}, lambda node: False)
    names = list(feeds)
    input_grads = tape.gradient(total, [feeds[n] for n in names])
    for name, g in zip(names, input_grads):
        g = (np.zeros(feeds[name].shape, np.float32) if g is None or not plan.input_needs.get(name)
             else np.asarray(tf.convert_to_tensor(g)))
        out[f"diff/{name}"] = layout.to_caffe_array(g).astype(np.float32)
    var_grads = tape.gradient(total, [v.value for v in variables])
    del tape
    for ctx in owners:
        grads = []
        for v in ctx.weights:
            g = var_grads[seen[id(v)]]
            # BatchNorm's statistics are no learnable blobs: Caffe never writes their diffs.
            learnable = v.trainable or getattr(v, "_caffe_frozen", False)
            skip = g is None or not learnable or (id(v) in frozen and not force)
            # A gather's gradient comes as IndexedSlices: densify it.
            grads.append(np.zeros(v.shape, np.float32) if skip
                         else np.asarray(tf.convert_to_tensor(g)))
        for i, g in enumerate(as_caffe_blobs(ctx, grads)):
            out[f"param/{ctx.name}/{i}"] = np.asarray(g, np.float32)
    write_sinks(cnet.graph, cnet.sinks, out, writes)
    return out


def write_sinks(graph, sinks: Mapping, blobs: Mapping[str, np.ndarray],
                writes: WritePolicy | None = None) -> None:
    """Hand a forward pass's blobs (NCHW, by name) to the sinks (HDF5Output writers, by layer
    key): each gets the values of its bottoms, and writes where ``writes`` allows (default: a
    new :class:`~keras_caffe.fileio.WritePolicy`: under the working directory, replacing
    nothing)."""
    writes = WritePolicy() if writes is None else writes
    for node in graph.layers:
        sink = sinks.get(node.key)
        if sink is None:
            continue
        for b in node.bottoms:
            if graph.last[b.name] != b:
                raise NetError(f"{node.type} reads '{b.name}' before a later in-place layer "
                               "changes it; saving that earlier value is not supported",
                               layer=node.name)
        sink.write(*(blobs[b.name] for b in node.bottoms), writes=writes)


def _caffe_blobs(blobs, inputs) -> dict[str, np.ndarray]:
    out = {k: layout.to_caffe_array(np.asarray(tf_float32(v))) for k, v in blobs.items()}
    for k, v in inputs.items():
        out.setdefault(k, np.asarray(v, np.float32))
    return out


def tf_float32(value):
    """A model output as float32 numpy (mixed-precision outputs may be float16/bfloat16)."""
    import tensorflow as tf

    return tf.cast(value, tf.float32).numpy()


def objective(model):
    """Caffe's total loss after a call of ``model``: the sum of every weighted top
    (``CaffeLossWeight`` adds each to ``model.losses``), in float32; 0 without losses."""
    import tensorflow as tf

    if not model.losses:
        return tf.constant(0.0)
    return tf.add_n([tf.reshape(tf.cast(l, tf.float32), []) for l in model.losses])
