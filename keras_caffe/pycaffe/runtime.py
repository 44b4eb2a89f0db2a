"""How ``caffe.Net`` runs: its layers' forward and backward passes over the blob store.

A pass over the whole net is one compiled call of the converted Keras model (every blob
comes back as a tensor, in the model's layout, and only exposed ones are copied into their
numpy arrays).  A pass over a range of layers (``forward(start=, end=)``, ``backward(start=,
end=)``) runs the Keras layers of those Caffe layers alone, as a sub-model cut from the
net, on the blobs' current data.

``backward`` is Caffe's ``BackwardFromTo``: each layer in the range reads its tops' diffs
as they are stored (a loss top holds its loss weight, a script may seed any blob) and writes
its bottoms' diffs, and parameter diffs accumulate.  The range is run forward again under a
gradient tape from the data of its bottoms; the model's non-trainable state (BatchNorm
statistics, dropout's random state) is first put back as it was before the last forward
pass, so that the second run draws the same masks and updates the statistics once.

A net used as a training loop does ``forward(); backward()`` on the whole net again and
again: after one such pair, forward passes also compute the backward pass, in the same
compiled call, with the diffs then stored as seeds.  ``backward`` uses that result when
nothing it depends on changed since (the seeds, the input blobs, the parameters), and runs
as above otherwise; a net whose forward passes stop being followed by a backward stops
speculating after two of them.
"""

from __future__ import annotations

import numpy as np

from ..graph import layout, types
from ..graph.backward import backward_plan


def internal_feed(value):
    """A store value as the model takes it (NHWC tensor)."""
    import tensorflow as tf

    if isinstance(value, np.ndarray):
        return tf.convert_to_tensor(layout.to_internal_array(np.asarray(value, np.float32)))
    return value


class Runtime:
    """Runs the passes of one built net (``cnet``) over a blob store and its parameters."""

    def __init__(self, cnet, store, params):
        self.cnet, self.store, self.params = cnet, store, params
        self.training = cnet.phase == 0
        self._full = None
        self._ranges: dict = {}
        self._state_before = None
        self._plan = None
        self._speculate, self._misses, self._speculated = False, 0, None
        self.allow_speculation = True
        self.speculation_hits = 0

    # -- the whole net -------------------------------------------------------------------
    def forward_all(self, feeds: dict) -> None:
        """One forward pass of the whole net on ``feeds`` (NCHW arrays by input blob)."""
        import tensorflow as tf

        if self._speculated is not None:   # the last speculation went unused
            self._misses += 1
            self._speculate = self._misses < 2
        self._speculated = None
        self._state_before = self._non_trainable()
        last = len(self.cnet.graph.layers) - 1
        if self._speculate and self.allow_speculation and self._range(0, last)[0] is not None:
            self._forward_backward(feeds, last)
            return
        if self._full is None:
            model = self.cnet.blob_model()
            self._full = tf.function(lambda f: model(f, training=self.training),
                                     reduce_retracing=True)
        values = self._full({k: internal_feed(v) for k, v in feeds.items()})
        self.store.set_values({k: v for k, v in values.items() if k not in feeds})

    def _forward_backward(self, feeds: dict, last: int) -> None:
        """The forward pass of the whole net, and its backward pass for the stored seeds."""
        _, needed, outputs, _ = self._range(0, last)
        run, terminal, written, variables = self._backward_fn(0, last)
        seeds = [np.array(self.store.diff_value(t.name), np.float32)
                 if isinstance(self.store.diff_value(t.name), np.ndarray)
                 else self.store.diff_value(t.name) for t in terminal]
        inputs = {b.name: np.array(feeds[b.name], np.float32) for b in needed}
        values, diffs, grads = run([internal_feed(inputs[b.name]) for b in needed],
                                   [internal_feed(s) for s in seeds])
        self.store.set_values({b.name: v for b, v in zip(outputs, values)})
        self._speculated = (seeds, inputs, diffs, grads)

    # -- a range of layers ---------------------------------------------------------------
    def _range(self, start: int, end: int):
        """(sub-model, input versions, output versions) of layers ``start..end``."""
        key = (start, end)
        if key not in self._ranges:
            import keras

            nodes = [n for n in self.cnet.graph.layers[start:end + 1]
                     if n.key in self.cnet.contexts]
            made = {t for n in nodes for t in n.tops}
            needed = list(dict.fromkeys(b for n in nodes for b in n.bottoms if b not in made))
            outputs = [t for n in nodes for t in n.tops if t in self.cnet.tensors]
            model = None
            if outputs:
                model = keras.Model([self.cnet.tensors[b] for b in needed],
                                    [self.cnet.tensors[t] for t in outputs],
                                    name="pycaffe_range")
            self._ranges[key] = (model, needed, outputs, nodes)
        return self._ranges[key]

    def forward_range(self, start: int, end: int) -> None:
        model, needed, outputs, _ = self._range(start, end)
        if model is None:
            return
        self._state_before = self._non_trainable()
        key = ("forward", start, end)
        if key not in self._ranges:
            import tensorflow as tf

            training = self.training
            self._ranges[key] = tf.function(lambda xs: model(xs, training=training),
                                            reduce_retracing=True)
        values = self._ranges[key]([internal_feed(self.store.value(b.name)) for b in needed])
        values = values if isinstance(values, (list, tuple)) else [values]
        final = {}
        for blob, value in zip(outputs, values):
            final[blob.name] = value   # the last version of a name in the range wins
        self.store.set_values(final)

    # -- backward ------------------------------------------------------------------------
    def backward(self, start: int, end: int, params_changed: bool = False) -> None:
        """Caffe's ``BackwardFromTo(start, end)`` (``start >= end``); ``params_changed``: a
        script changed parameters since the forward pass."""
        model, needed, outputs, nodes = self._range(end, start)
        if model is None:
            return
        run, terminal, written, variables = self._backward_fn(end, start)
        whole = end == 0 and start == len(self.cnet.graph.layers) - 1
        speculated, self._speculated = self._speculated, None
        if whole and speculated is not None and not params_changed and \
                self._still_valid(speculated, terminal, needed):
            diffs, grads = speculated[2], speculated[3]
            self._misses = 0
            self.speculation_hits += 1
        else:
            seeds = [internal_feed(self.store.diff_value(t.name)) for t in terminal]
            inputs = [internal_feed(self.store.value(b.name)) for b in needed]
            if self._state_before is not None:
                self._restore(self._state_before)
            _, diffs, grads = run(inputs, seeds)
            if whole:
                self._speculate, self._misses = True, 0
        self.store.set_diffs({b.name: g for b, g in zip(written, diffs)})
        for (variable, blob_layout), grad in zip(variables, grads):
            self.params.accumulate(variable, blob_layout, grad)

    def _still_valid(self, speculated, terminal, needed) -> bool:
        """Whether the seeds and the input blobs are what the speculation ran on."""
        seeds, inputs = speculated[0], speculated[1]
        for t, used in zip(terminal, seeds):
            now = self.store.diff_value(t.name)
            if now is not used and not np.array_equal(np.asarray(now), np.asarray(used)):
                return False
        return all(np.array_equal(np.asarray(self.store.value(b.name)), inputs[b.name])
                   for b in needed if isinstance(self.store.value(b.name), np.ndarray))

    def _backward_fn(self, start: int, end: int):
        """A compiled ``(inputs, seeds) -> (bottom diffs, parameter gradients)`` for the
        range, with the blobs whose diffs it writes and the variables it accumulates into."""
        key = ("backward", start, end)
        if key not in self._ranges:
            import tensorflow as tf

            model, needed, outputs, nodes = self._range(start, end)
            plan = self.plan()
            consumed = {b for n in nodes for b in n.bottoms}
            terminal = [t for t in outputs if t not in consumed]
            # A name's diff ends as the earliest (forward order) layer in the range wrote it.
            written = {}
            for node in nodes:
                for blob, need in zip(node.bottoms, plan.bottom_needs.get(node.key, ())):
                    if need and blob.name not in written:
                        written[blob.name] = blob
            written = list(written.values())
            variables = self._diff_variables(nodes, plan)
            training, position = self.training, {b: i for i, b in enumerate(outputs)}
            index = {b: i for i, b in enumerate(needed)}

            @tf.function(reduce_retracing=True)
            def run(inputs, seeds):
                with tf.GradientTape() as tape:
                    for x in inputs:
                        tape.watch(x)
                    for v, _ in variables:
                        tape.watch(v.value)
                    values = model(inputs, training=training)
                    values = values if isinstance(values, (list, tuple)) else [values]
                    total = tf.add_n([tf.reduce_sum(tf.cast(values[position[t]], tf.float32) *
                                                    tf.cast(s, tf.float32))
                                      for t, s in zip(terminal, seeds)] or [tf.constant(0.0)])
                targets = [inputs[index[b]] if b in index else values[position[b]]
                           for b in written] + [v.value for v, _ in variables]
                grads = tape.gradient(total, targets)
                dense = [tf.zeros_like(t, tf.float32) if g is None else
                         tf.cast(tf.convert_to_tensor(g), tf.float32)
                         for g, t in zip(grads, targets)]
                return values, dense[:len(written)], dense[len(written):]

            self._ranges[key] = (run, terminal, written, variables)
        return self._ranges[key]

    def _diff_variables(self, nodes, plan) -> list:
        """(variable, layout) of the parameters Caffe writes diffs for in these layers: a
        layer that runs backward, a learnable blob (not BatchNorm's statistics), with
        lr_mult != 0 unless force_backward."""
        force = self.cnet.graph.param.force_backward
        lr = {id(v): m for v, m, _ in self.cnet.param_multipliers()}
        out, seen = [], set()
        for node in nodes:
            ctx = self.cnet.contexts[node.key]
            if not plan.layer_needs.get(node.key, False):
                continue
            for variable, blob_layout in zip(ctx.weights, ctx.blob_layouts):
                learnable = variable.trainable or getattr(variable, "_caffe_frozen", False)
                if id(variable) in seen or not learnable or \
                        (lr.get(id(variable), 1.0) == 0 and not force):
                    continue
                seen.add(id(variable))
                out.append((variable, blob_layout))
        return out

    def plan(self):
        if self._plan is None:
            cnet = self.cnet
            self._plan = backward_plan(
                cnet.graph, {b for b, w in cnet.loss_terms if w},
                lambda node: any(v.trainable for v in getattr(
                    cnet.contexts.get(node.key), "weights", ())))
        return self._plan

    # -- state ---------------------------------------------------------------------------
    def _non_trainable(self):
        """What a forward pass may change besides the blobs: statistics and random state (not
        frozen parameters, which a script may have changed since)."""
        return [(v, np.array(v.numpy())) for v in self.cnet.model.non_trainable_variables
                if not getattr(v, "_caffe_frozen", False)]

    @staticmethod
    def _restore(state) -> None:
        for variable, value in state:
            variable.assign(value)


def data_layer_nodes(graph) -> list:
    return [n for n in graph.input_layers if types.source_of(n.param) == "data"]
