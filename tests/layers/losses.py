"""Shared by the loss-layer tests."""

import numpy as np
import tensorflow as tf


def loss_and_grads(layer, inputs, wrt=(0,)):
    """The loss (a layer's first output when it has several) and its gradients with respect
    to ``inputs[i]`` for ``i`` in ``wrt``, as numpy (None where the loss does not depend on
    that input)."""
    tensors = [tf.constant(x) for x in inputs]
    with tf.GradientTape() as tape:
        for i in wrt:
            tape.watch(tensors[i])
        out = layer(tensors)
        loss = out[0] if isinstance(out, (list, tuple)) else out
    grads = tape.gradient(loss, [tensors[i] for i in wrt])
    return np.asarray(loss), [None if g is None else np.asarray(g) for g in grads]
