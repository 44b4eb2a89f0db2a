"""Train a net as ``caffe train --solver`` does: the solver's nets, data, schedule, display,
tests, snapshots and resume.

One iteration = ``iter_size`` forward/backward passes on successive batches, the
gradients summed, then one optimizer step (Caffe's clip -> normalize -> regularize ->
update, see :mod:`keras_caffe.solvers.base`).  The loss of an iteration is the mean of its
passes' objectives; the displayed loss is smoothed over ``average_loss`` iterations.

What it prints are Caffe's log lines with glog's prefix (:mod:`.glog`), at the iterations
Caffe prints them: ``display``, ``test_interval`` / ``test_initialization``, snapshots, and
the last display and test after ``max_iter``.  ``echo`` receives each whole line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import time
from collections import deque

import keras
import numpy as np

from ..api import open_net, read_net, read_weights
from ..data.sources import next_feeds
from ..execution import objective
from ..errors import CaffemodelError
from ..proto import caffe_pb2
from ..proto.text import source_path
from ..proto.upgrade import read_upgraded_solver
from ..xla import XlaChoice, choose, xla_mode
from . import glog, guards
from . import snapshot as snapshots
from .distribute import is_chief, shard_sources
from .factory import check_solver, optimizer_from_solver
from .nets import test_nets, train_net

log = logging.getLogger("keras_caffe.train")


class Solver:
    """A Caffe solver over Keras models (TRAIN and TEST nets share their variables)."""

    def __init__(self, solver, weights=None, snapshot_prefix: str | None = None,
                 log_path: str | None = None, echo=print, precision: str | None = None,
                 xla: bool = False, strategy=None, snapshot_at=(), continue_on_nan: bool = False,
                 path: str | None = None):
        # The solver file (None for prototxt text), or the file a SolverParameter came from.
        if not isinstance(solver, caffe_pb2.SolverParameter):
            solver, path = read_upgraded_solver(solver), source_path(solver) or path
        self.param, self.solver_path = solver, None if path is None else os.fspath(path)
        # What Caffe aborts on, before any net is built: the solver's fields and where its
        # snapshots go (Caffe's CheckSnapshotWritePermissions; solve() checks the prefix for
        # snapshot_after_train's snapshot too).
        self.schedule = check_solver(self.param, self.solver_path)
        self.chief = is_chief(strategy)
        self.prefix = snapshot_prefix if snapshot_prefix is not None else self._default_prefix()
        if self.chief and (self.param.snapshot or snapshot_at):
            snapshots.check_prefix(self.prefix, self.solver_path)
        self.echo = echo
        self.precision, self.xla = precision, xla
        self.extra_snapshots = frozenset(snapshot_at)  # iterations to snapshot after, too
        # Caffe trains on through a NaN/Inf loss; we stop there unless asked to go on.
        self.continue_on_nan = continue_on_nan
        self._nan_warned = False
        seed = self.param.random_seed if self.param.random_seed >= 0 else None
        if seed is not None:
            keras.utils.set_random_seed(seed)
        # With a tf.distribute strategy every replica takes an equal slice of each batch and
        # the gradients are averaged: under `mirrored` the prototxt's batch_size is the global
        # batch; under `multi-worker` it is each worker's, read from its share of the data as
        # Caffe's data-parallel readers do (see .distribute).
        self.strategy = strategy
        scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
        spec = train_net(self.param)
        self.sources = {}
        self._parsed = {}
        with scope:
            self.train = self._build(spec, weights=weights, seed=seed or 0)
            self.tests = [self._build(s, share_with=self.train, seed=seed or 0)
                          for s in test_nets(self.param)]
            self.optimizer = optimizer_from_solver(self.param, self.train.param_multipliers(),
                                                   path=self.solver_path)
            self.variables = list(self.train.model.trainable_variables)
            self.optimizer.build(self.variables)
            # float16 needs loss scaling (bfloat16 has float32's range and does not).
            self.scaler = (keras.optimizers.LossScaleOptimizer(self.optimizer)
                           if precision == "mixed_float16" else None)
        self.local_replicas = 1
        if strategy is not None:   # tests run undistributed, unsplit
            self.local_replicas = shard_sources(self.sources[id(self.train)], strategy)
        self.iter = 0
        self.log_file = open(log_path, "a") if log_path and self.chief else None
        self._losses = deque(maxlen=max(1, self.param.average_loss))
        self._step_fn = None
        self.xla_choice = XlaChoice(False, None)   # what --xla chose, at the first step
        self._timer = time.perf_counter()   # Caffe's iteration_timer_ and iterations_last_
        self._iterations_last = 0
        self._started = False   # the first step removes stale snapshot temporaries
        if isinstance(weights, (str, os.PathLike)):
            self._info(glog.FINETUNING, f"Finetuning from {os.fspath(weights)}")
            self._report_copied(os.fspath(weights), self.train.weights_report)

    # ------------------------------------------------------------------ building
    def _build(self, spec, weights=None, share_with=None, seed=0):
        net, path = spec.source, None
        if not isinstance(net, caffe_pb2.NetParameter):   # one parse per file, for all phases
            path = os.fspath(net)
            if path not in self._parsed:
                self._parsed[path] = read_net(path)
            net = self._parsed[path]
        # Fine-tuning copies by name, as Caffe does: layers the weights lack keep their
        # fillers (reported by _report_copied).
        opened = open_net(net, weights, spec.state.phase, stages=list(spec.state.stage),
                          level=spec.state.level, data=True, data_seed=seed, seed=seed,
                          share_with=share_with, precision=self.precision, path=path,
                          allow_missing=True)
        self.sources[id(opened.cnet)] = opened.sources
        return opened.cnet

    def _report_copied(self, path: str, report) -> None:
        """Caffe's "Ignoring source layer" lines for layers of the weights the net lacks, and
        a line naming the net's layers the weights lack (they keep their fillers)."""
        if report is None:
            return
        for name in report.unused:
            self._info(glog.IGNORING_SOURCE, f"Ignoring source layer {name}")
        if report.missing:
            self._info(glog.FINETUNING, f"Not copied from {path} (no weights of that name; they "
                       f"keep their fillers): {', '.join(report.missing)}")

    def _default_prefix(self) -> str:
        if self.param.snapshot_prefix:
            return self.param.snapshot_prefix
        if self.solver_path:
            return os.path.splitext(self.solver_path)[0]
        return "snapshot"

    # ------------------------------------------------------------------ data
    def _next_inputs(self, cnet) -> dict:
        return next_feeds(self.sources[id(cnet)])

    # ------------------------------------------------------------------ one iteration
    def _step_model(self):
        """The model an iteration runs (its outputs come back from the step)."""
        return self.train.model

    def _stepped(self, outputs: dict) -> dict:
        """What an iteration's outputs are reported as (a subclass may keep the rest)."""
        return outputs

    def _make_step(self, batches):
        import tensorflow as tf

        model, variables = self._step_model(), self.variables
        optimizer = self.scaler or self.optimizer
        strategy = self.strategy
        scalars = [k for k, t in model.output.items() if len(t.shape) == 0]

        def gradients(feeds):
            with tf.GradientTape() as tape:
                outputs = model(feeds, training=True)
                loss = objective(model)
                scaled = optimizer.scale_loss(loss) if self.scaler is not None else loss
            grads = tape.gradient(scaled, variables)
            grads = [tf.zeros_like(v) if g is None else tf.convert_to_tensor(g)
                     for g, v in zip(grads, variables)]
            return loss, grads, outputs

        def replicated(feeds):
            if strategy is None:
                return gradients(feeds)
            n = self.local_replicas   # this process's replicas share its batch

            def part(context):
                r = context.replica_id_in_sync_group % n
                return {k: v[r * (v.shape[0] // n):(r + 1) * (v.shape[0] // n)]
                        for k, v in feeds.items()}

            loss, grads, outputs = strategy.run(
                gradients, args=(strategy.experimental_distribute_values_from_function(part),))
            mean = tf.distribute.ReduceOp.MEAN
            grads = [strategy.reduce(mean, g, axis=None) for g in grads]
            # Scalar outputs (losses, accuracies) are averaged; per-sample blobs are not kept.
            outputs = {k: strategy.reduce(mean, outputs[k], axis=None) for k in scalars}
            return strategy.reduce(mean, loss, axis=None), grads, outputs

        def step(batches):
            total, losses, outputs = None, [], None
            for feeds in batches:
                loss, grads, outputs = replicated(feeds)
                total = grads if total is None else [a + b for a, b in zip(total, grads)]
                losses.append(loss)
            optimizer.apply(total, variables)
            return tf.stack(losses), outputs

        return self._with_xla(step, model, optimizer, batches)

    def _with_xla(self, step, model, optimizer, batches):
        """``step`` compiled, with XLA where ``self.xla`` asks for it and (``"auto"``) it
        makes this iteration faster: measured on its first batches, every variable the
        steps changed restored after (``keras_caffe.xla``)."""
        import tensorflow as tf

        plain, mode = tf.function(step), xla_mode(self.xla)
        if mode == "auto" and isinstance(self.strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Workers measuring apart could choose apart, and their collectives would differ.
            log.warning("--xla: not measured across workers; training without XLA (--xla "
                        "always compiles regardless)")
            return plain
        if not optimizer.built:
            optimizer.build(self.variables)
        state = list({id(v): v for v in list(model.variables) + list(optimizer.variables)
                      }.values())
        step_fn, self.xla_choice = choose(plain, tf.function(step, jit_compile=True), (batches,),
                                          mode=mode, what="training step", state=state)
        return step_fn

    def step(self, iterations: int = 1) -> None:
        """Run ``iterations`` solver iterations (with display, tests and snapshots), as
        Caffe's ``Solver::Step``: the displayed loss is smoothed over this call's iterations."""
        self._start_steps()
        for _ in range(iterations):
            self._iteration()

    def _start_steps(self) -> None:
        """What Caffe's ``Step`` does first: forget the smoothed loss, start the timer.  The
        first time, remove the temporaries that killed runs' snapshots of this prefix left."""
        if not self._started and self.chief:
            snapshots.remove_stale_temporaries(self.prefix)
        self._started = True
        self._losses.clear()
        self._timer = time.perf_counter()

    def _iteration(self) -> None:
        if self._should_test():
            self.test_all()
        batches = [self._next_inputs(self.train) for _ in range(self.param.iter_size)]
        if self._step_fn is None:
            self._step_fn = self._make_step(batches)
        start = time.perf_counter()
        lr = self.schedule.value(self.iter)  # Caffe's rate, computed as Caffe does
        losses, outputs = self._step_fn(batches)
        outputs = self._stepped(outputs)
        self._end_iteration(lr, float(np.mean(losses.numpy())), outputs,
                            time.perf_counter() - start)
        self.iter += 1
        if self._snapshot_due():
            self.snapshot()

    def _end_iteration(self, lr: float, loss: float, outputs: dict, seconds: float) -> None:
        """What follows an iteration's update, before ``iter`` moves on: the smoothed loss,
        Caffe's display lines, and the stop at a NaN/Inf loss (:meth:`_non_finite`)."""
        self._losses.append(loss)
        self._report(lr, loss, outputs, seconds)
        if not math.isfinite(loss):
            self._non_finite(loss, lr, outputs)

    def _snapshot_due(self) -> bool:
        """Whether the iteration just counted is snapshotted (once, even when both ask)."""
        return bool((self.param.snapshot and self.iter % self.param.snapshot == 0)
                    or self.iter in self.extra_snapshots)

    def _non_finite(self, loss: float, lr: float, outputs: dict) -> None:
        """A NaN/Inf loss: stop before anything of it is saved (:mod:`.guards`), or with
        ``continue_on_nan`` go on as Caffe does, warning once."""
        if not self.continue_on_nan:
            raise guards.non_finite_loss(self.train, loss, lr, outputs, self.iter,
                                         self.solver_path)
        if not self._nan_warned:
            log.warning("%s; going on, as Caffe does",
                        guards.describe(self.train, loss, lr, outputs, self.iter))
            self._nan_warned = True

    def _should_test(self) -> bool:
        interval = self.param.test_interval
        if not self.tests or not interval:
            return False
        if self.iter == 0:
            return self.param.test_initialization
        return self.iter % interval == 0

    def solve(self, resume: str | None = None) -> None:
        """Train to ``max_iter`` (optionally resuming from a .solverstate), then test and
        snapshot as Caffe does at the end."""
        if self.chief and self.param.snapshot_after_train:   # before training, not after it
            snapshots.check_prefix(self.prefix, self.solver_path)
        self._info(glog.SOLVING, f"Solving {self.train.graph.name}")
        self._info(glog.LR_POLICY, f"Learning Rate Policy: {self.param.lr_policy}")
        if resume:
            self._info(glog.RESTORING, f"Restoring previous solver status from {resume}")
            self.restore(resume)
        self.step(max(0, self.param.max_iter - self.iter))
        if self.param.snapshot_after_train and (not self.param.snapshot or
                                                self.iter % self.param.snapshot != 0):
            self.snapshot()
        if self.param.display and self.iter % self.param.display == 0:
            # Caffe's last display: the train net's loss on one more batch, forward only.
            outputs = self.train.model(self._next_inputs(self.train), training=True)
            self._losses.append(net_loss(self.train, outputs))
            self._info(glog.FINAL_LOSS, f"Iteration {self.iter}, loss = "
                       f"{glog.number(np.mean(self._losses))}")
        if self.tests and self.param.test_interval and self.iter % self.param.test_interval == 0:
            self.test_all()
        self._info(glog.SOLVER_DONE, "Optimization Done.")
        if self.log_file:
            self.log_file.close()
            self.log_file = None

    # ------------------------------------------------------------------ reporting
    def _info(self, where: str, message: str) -> None:
        """Log ``message`` as Caffe logs it at ``where`` (glog's prefix, then the message)."""
        self.echo(glog.line(where, message))

    def _report(self, lr, loss, outputs, seconds):
        """Caffe's lines for the iteration just run (display, then ApplyUpdate's), and the
        JSON-lines record."""
        smoothed = float(np.mean(self._losses))
        display = bool(self.param.display) and self.iter % self.param.display == 0
        values = ({k: np.asarray(v) for k, v in outputs.items()}
                  if display or self.log_file else {})
        if display:
            lapse = time.perf_counter() - self._timer
            per_s = (self.iter - self._iterations_last) / (lapse or 1)
            self._info(glog.DISPLAY, f"Iteration {self.iter} ({glog.number(per_s)} iter/s, "
                       f"{glog.number(lapse)}s/{self.param.display} iters), loss = "
                       f"{glog.number(smoothed)}")
            self._timer, self._iterations_last = time.perf_counter(), self.iter
            for text in _output_lines("Train", self.train, values):
                self._info(glog.TRAIN_OUTPUT, text)
        step = self.schedule.current_step(self.iter)
        if self.schedule.policy == "multistep" and step > self.schedule.current_step(self.iter - 1):
            self._info(glog.MULTISTEP, f"MultiStep Status: Iteration {self.iter}, step = {step}")
        if display:
            self._info(glog.LR, f"Iteration {self.iter}, lr = {glog.number(lr)}")
        if not self.log_file:
            return
        self._log({"iteration": self.iter, "lr": lr, "loss": loss, "smoothed_loss": smoothed,
                   "seconds": seconds,
                   "outputs": {k: _jsonable(v) for k, v in values.items()}})

    def _log(self, record):
        if self.log_file:
            self.log_file.write(json.dumps(record) + "\n")
            self.log_file.flush()

    def test_all(self) -> list[dict]:
        results = []
        for k, cnet in enumerate(self.tests):
            results.append(self.test(k))
        return results

    def test(self, index: int) -> dict:
        """Average each output of test net ``index`` over ``test_iter`` batches."""
        cnet = self.tests[index]
        iterations = self.param.test_iter[index]
        self._info(glog.TESTING, f"Iteration {self.iter}, Testing net (#{index})")
        sums, loss = None, 0.0
        for _ in range(iterations):
            outs = cnet.model(self._next_inputs(cnet), training=False)
            values = {k: np.asarray(v, np.float64) for k, v in outs.items()}
            loss += net_loss(cnet, values)
            sums = values if sums is None else {k: sums[k] + v for k, v in values.items()}
        means = {k: v / max(iterations, 1) for k, v in (sums or {}).items()}
        if self.param.test_compute_loss:
            self._info(glog.TEST_LOSS, f"Test loss: {glog.number(loss / max(iterations, 1))}")
        for text in _output_lines("Test", cnet, means):
            self._info(glog.TEST_OUTPUT, text)
        self._log({"iteration": self.iter, "test_net": index,
                   "outputs": {k: _jsonable(v) for k, v in means.items()}})
        return means

    # ------------------------------------------------------------------ snapshots
    def data_state(self) -> dict:
        return {f"{net}/{key}": source.state() for net, sources in
                (("train", self.sources[id(self.train)]),) for key, source in sources.items()}

    def snapshot(self) -> tuple[str, str] | None:
        if not self.chief:  # in a multi-worker run only the chief writes files
            return None
        extra = {"data": self.data_state(), "iteration": self.iter,
                 "current_step": self.schedule.current_step(self.iter - 1) if self.iter else 0}
        model_path, state_path = snapshots.write(self.train, self.optimizer, self.iter, self.prefix,
                                                 extra)
        self._info(glog.SNAPSHOT_MODEL, f"Snapshotting to binary proto file {model_path}")
        self._info(glog.SNAPSHOT_STATE,
                   f"Snapshotting solver state to binary proto file {state_path}")
        return model_path, state_path

    def restore(self, path: str) -> None:
        """Resume from a .solverstate (Caffe's or ours): its weights, iteration and solver
        history, and where the data layers had got to.  A state that is empty, truncated,
        without its history or its caffemodel, or made for another net or solver is refused
        (a CaffemodelError naming the file), as Caffe's history-length check does."""
        path = os.fspath(path)
        state, extra = snapshots.read(path)
        learned = state.learned_net
        if not os.path.isabs(learned) and not os.path.isfile(learned):
            learned = os.path.join(os.path.dirname(path), os.path.basename(learned))
        if not os.path.isfile(learned):
            raise CaffemodelError(f"its learned_net '{state.learned_net}' (the weights to resume "
                                  "from) is not there", path)
        snapshots.restore_history(self.train, self.optimizer, state, path)
        self.train.load_blobs(read_weights(learned), path=learned)   # every layer, or refused
        self.iter = self._iterations_last = state.iter
        self.optimizer.iterations.assign(state.iter)
        for key, source in self.sources[id(self.train)].items():
            saved = extra.get("data", {}).get(f"train/{key}")
            if saved is not None:
                source.restore(saved)
            else:  # a Caffe-written state: Caffe's readers also restart (we approximate it)
                source.seek(state.iter * self.param.iter_size)


def net_loss(cnet, outputs: dict) -> float:
    """Caffe's loss of one forward pass (``Net::Forward(&loss)``): every weighted top's sum
    times its weight."""
    return sum(float(w) * float(np.sum(np.asarray(outputs[b.name], np.float64)))
               for b, w in cnet.loss_terms if b.name in outputs)


def _output_lines(kind, cnet, values):
    """Caffe's ``    Train net output #k: name = v (* w = x loss)`` messages: every element
    of every net output (the unconsumed tops, by name), numbered on."""
    weights = {b.name: w for b, w in cnet.loss_terms}
    lines, k = [], 0
    for name in (b.name for b in cnet.graph.outputs if b.name in values):
        for x in np.ravel(values[name]):
            lines.append(f"    {kind} net output #{k}: "
                         f"{glog.output_line(name, x, weights.get(name, 0.0))}")
            k += 1
    return lines


def _jsonable(value):
    value = np.asarray(value)
    return float(value) if value.ndim == 0 else value.tolist()


def default_echo(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
