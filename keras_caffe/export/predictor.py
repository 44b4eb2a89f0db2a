"""A net as a plain function for inference, run by the fastest runtime on this machine.

::

    run = keras_caffe.predictor("deploy.prototxt", "net.caffemodel",
                                input_shapes={"data": (1, 3, 224, 224)})
    prob = run(data=images)["prob"]          # or run({"data": images}); NCHW in and out
    run.runtime                               # "keras", "litert" or "onnx": what "auto"
    run.timings, run.reason                   # chose, the ms per call it measured, and why

Every runtime first gets the net with its BatchNorm, Scale and Bias layers folded into the
convolution or inner product before them (``fold=True``; ``run.folds``).

Runtimes:

``"keras"``
    the converted model in one ``tf.function`` traced once for the fixed input shapes (no
    retracing per call, no Keras call path per call), its variables frozen into constants.
``"litert"``
    a fixed-shape TFLite export of the net (converted in memory; the SavedModel it is
    converted from lives in a temporary directory removed at once) run by LiteRT's
    interpreter (``ai_edge_litert``, the ``litert`` extra; else ``tf.lite``'s) with XNNPACK
    and one thread per core.
``"onnx"``
    the Keras runtime's function converted by tf2onnx and run by ONNX Runtime on the CPU
    (the ``onnx`` extra; :mod:`.onnx`).
``"auto"``
    Keras and every other runtime installed that converts the net: each is checked against
    the Keras model on seeded random inputs (a runtime whose outputs differ by more than
    ``tolerance`` times the largest magnitude is not used), timed warm in alternating
    blocks of calls, and the one with the best median per-round ratio to Keras kept.  What
    could not run the net is said in ``reason`` and the log.

The shapes are fixed when the predictor is made (the prototxt's, or ``input_shapes``), batch
included; a call with other shapes, other names or missing inputs is refused with one
:class:`PredictorError`.  The weights are those of the caffemodel (or of the CaffeNet
given) at that moment.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from ..errors import CaffeError
from ..interleaved import time_interleaved
from ..graph.net import Blob
from .common import folded_net
from .onnx import OnnxRunner
from .onnx import available as onnx_available
from .savedmodel import SIGNATURE, prepare, serving_function, shape_in_layout
from .tflite import flatbuffer, interpreter
from .tracing import traceable_model

log = logging.getLogger(__name__)

RUNTIMES = ("auto", "keras", "litert", "onnx")
_LABELS = {"keras": "Keras", "litert": "LiteRT", "onnx": "ONNX Runtime"}


class PredictorError(CaffeError):
    """A predictor that cannot be made as asked, or a call it cannot run."""


def predictor(net, weights=None, input_shapes=None, input_layout: str = "NCHW",
              runtime: str = "auto", *, num_threads: int | None = None,
              tolerance: float = 1e-4, repeats: int = 5, fold: bool = True,
              **build_kwargs) -> "Predictor":
    """A :class:`Predictor` of ``net`` (a prototxt path or text, a NetParameter, a CaffeNet
    or a model from ``load_model``) with ``weights`` (a caffemodel, for a prototxt).
    ``input_shapes``: Caffe's NCHW shapes by input blob name (default: the prototxt's).
    ``input_layout``: ``"NCHW"`` (Caffe's; default) or ``"NHWC"`` for 4-D inputs and
    outputs.  ``runtime``: one of :data:`RUNTIMES`.  ``num_threads``: LiteRT's and ONNX
    Runtime's threads (default: the cores this process may use).  ``tolerance``: how far (relative to the
    largest output magnitude) ``"auto"`` lets another runtime depart from Keras.
    ``repeats``: rounds of timed blocks (about 0.1 s each) per runtime for ``"auto"``.
    TensorFlow's threads are its own settings (``tf.config.threading``), which only the
    process can set.  ``fold``: BatchNorm, Scale and Bias layers after a convolution or
    inner product are folded into its weights first (outputs change by float rounding only;
    ``predictor.folds`` says what folded).  Other keywords go to
    :func:`keras_caffe.build_net`."""
    if runtime not in RUNTIMES:
        raise PredictorError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    layout_name = str(input_layout).upper()
    if input_shapes is not None:
        build_kwargs["input_shapes"] = dict(input_shapes)
    job = prepare(net, weights, layout_name, False, None, "test", build_kwargs, True)
    folds = {}
    if fold:
        cnet, folds = folded_net(job.cnet)
        if folds:
            job = prepare(cnet, None, layout_name, False, None, "test", {}, True)
            log.info("predictor: folded %d layers into %d", sum(map(len, folds.values())),
                     len(folds))
    made = _made(job, runtime, num_threads or _cores(), tolerance, repeats)
    made.folds = folds
    return made


def _made(job, runtime: str, threads: int, tolerance: float, repeats: int) -> "Predictor":
    shapes = _input_shapes(job)
    if runtime == "litert":
        return Predictor(LiteRTRunner(job, shapes, threads), shapes, "litert")
    keras_run = KerasRunner(job, shapes)
    if runtime == "keras":
        return Predictor(keras_run, shapes, "keras")
    if runtime == "onnx":
        return Predictor(OnnxRunner(keras_run, shapes, threads), shapes, "onnx")
    others, notes = [], []
    makers = {"litert": lambda: LiteRTRunner(job, shapes, threads),
              "onnx": lambda: OnnxRunner(keras_run, shapes, threads)}
    for name, make in makers.items():
        if name == "onnx" and not onnx_available():
            continue   # an optional extra: "auto" chooses among what is installed
        try:
            others.append(make())
        except Exception as exc:  # noqa: BLE001  (a conversion error, or a converter crash)
            notes.append(f"{_LABELS[name]} cannot run this net: " + " ".join(str(exc).split()))
    return _fastest(keras_run, others, shapes, tolerance, repeats, notes)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _input_shapes(job) -> dict[str, tuple]:
    """Input blob -> its full shape in the job's layout (what a call must give)."""
    shapes = {}
    for blob in job.model.input:
        caffe = job.cnet.shapes.get(Blob(blob, 0))
        if caffe is None or any(d is None for d in caffe):
            raise PredictorError(f"input blob '{blob}' has no fixed shape ({caffe}); give it "
                                 "in input_shapes")
        shapes[blob] = tuple(int(d) for d in shape_in_layout(tuple(caffe), "NCHW",
                                                             job.input_layout))
    return shapes


class _Keyed:
    """Feeds by blob name -> the signature's keys, and its outputs back to blob names."""

    def keyed(self, manifest: dict) -> None:
        self.key_of = {e["blob"]: e["key"] for e in manifest["inputs"]}
        self.blob_of = {e["key"]: e["blob"] for e in manifest["outputs"]}
        self.dtypes = {e["blob"]: e["dtype"] for e in manifest["inputs"]}


class KerasRunner(_Keyed):
    """The export's serving function (the model between the layouts) in one
    ``tf.function`` with a fixed input signature, its variables frozen into constants.

    Frozen, oneDNN sees constant filters (it keeps them in its own blocked layout instead
    of reordering every weight on every call) and Grappler folds what depends on weights
    alone; a graph that cannot be frozen runs with its variables (``frozen`` False)."""

    name = "keras"

    def __init__(self, job, shapes: dict[str, tuple]):
        import tensorflow as tf

        model, _ = traceable_model(job.model)
        serve, spec, manifest = serving_function(job.cnet, model, job.input_layout, None, True)
        self.keyed(manifest)
        self.function = tf.function(serve, input_signature=[spec])
        concrete = self.function.get_concrete_function()
        self.structure = concrete.structured_outputs
        # The flat argument order and the flat order of the outputs, by key
        self.order = tf.nest.flatten({key: key for key in spec})
        self.output_order = tf.nest.flatten({key: key for key in self.structure})
        self.frozen = _frozen(concrete)

    def __call__(self, feeds: dict) -> dict:
        import tensorflow as tf

        keyed = {self.key_of[b]: v for b, v in feeds.items()}
        if self.frozen is None:
            got = self.function(keyed)
        else:
            flat = self.frozen(*(tf.convert_to_tensor(keyed[key]) for key in self.order))
            got = tf.nest.pack_sequence_as(self.structure, tf.nest.flatten(flat))
        return {self.blob_of[k]: v.numpy() for k, v in got.items()}

    @property
    def traces(self) -> int:
        """How many times the function was traced (1 after any number of calls)."""
        return self.function.experimental_get_tracing_count()


def _frozen(concrete):
    """``concrete`` with its variables as constants, or None where that fails (a stateful
    or resource op the freezer does not know)."""
    from tensorflow.python.framework.convert_to_constants import \
        convert_variables_to_constants_v2

    try:
        return convert_variables_to_constants_v2(concrete)
    except Exception as exc:  # noqa: BLE001  (any failure keeps the variables)
        log.info("predictor: running with variables; freezing failed (%s)",
                 str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        return None


class LiteRTRunner(_Keyed):
    """A fixed-shape TFLite export in LiteRT's interpreter (XNNPACK, ``threads`` threads)."""

    name = "litert"

    def __init__(self, job, shapes: dict[str, tuple], threads: int):
        content, manifest = flatbuffer(job, check=False)
        if manifest["tflite"]["tf_ops"]:
            raise PredictorError("LiteRT's builtin ops cannot run it")
        self.threads = threads
        self.host = interpreter(content, num_threads=threads)
        self.run = self.host.get_signature_runner(SIGNATURE)
        self.keyed(manifest)

    def __call__(self, feeds: dict) -> dict:
        got = self.run(**{self.key_of[b]: v for b, v in feeds.items()})
        return {self.blob_of[k]: v for k, v in got.items()}


class Predictor:
    """``predictor(**feeds)`` or ``predictor({blob: array})`` -> ``{output blob: array}``.

    ``runtime``: the runtime that runs it; ``timings``: ms per call of each runtime
    ``"auto"`` timed; ``reason``: why ``"auto"`` chose as it did (a fallback, a mismatch);
    ``inputs``: the shape each input must have; ``folds``: the layers folded into each
    convolution or inner product (``fold=True``)."""

    def __init__(self, runner, shapes: dict[str, tuple], runtime: str, timings=None,
                 reason: str = ""):
        self.runner, self.inputs, self.runtime = runner, dict(shapes), runtime
        self.timings, self.reason = dict(timings or {}), reason
        self.folds: dict[str, list[str]] = {}

    def __call__(self, feeds: dict | None = None, **kwargs) -> dict:
        given = dict(feeds or {}, **kwargs)
        missing = [b for b in self.inputs if b not in given]
        unknown = [b for b in given if b not in self.inputs]
        if missing or unknown:
            raise PredictorError(f"inputs {sorted(given)} do not match the net's input blobs "
                                 f"{list(self.inputs)}"
                                 + (f" (unknown: {unknown})" if unknown else "")
                                 + (f" (missing: {missing})" if missing else ""))
        arrays = {}
        for blob, value in given.items():
            try:
                array = np.asarray(value, self.runner.dtypes[blob])
            except (TypeError, ValueError) as exc:
                raise PredictorError(f"input blob '{blob}': not an array of numbers "
                                     f"({exc})") from None
            if array.shape != self.inputs[blob]:
                raise PredictorError(f"input blob '{blob}' has shape {array.shape}; this "
                                     f"predictor was made for {self.inputs[blob]} (make another "
                                     "with input_shapes for other shapes)")
            arrays[blob] = array
        return self.runner(arrays)

    def __repr__(self):
        return f"<Predictor runtime={self.runtime} inputs={self.inputs}>"


def sample_feeds(shapes: dict[str, tuple], seed: int = 0) -> dict:
    """Seeded random inputs in [0, 1) at ``shapes`` (valid indices for Embed inputs too)."""
    rng = np.random.default_rng(seed)
    return {b: rng.random(s).astype(np.float32) for b, s in shapes.items()}


def worst_difference(got: dict, want: dict) -> float:
    """Largest ``|got - want|`` over the outputs, relative to the largest ``|want|`` (>= 1)."""
    worst = 0.0
    for blob, ref in want.items():
        ref = np.asarray(ref, np.float64)
        if ref.size:
            diff = np.abs(np.asarray(got[blob], np.float64) - ref)
            worst = max(worst, float(np.nanmax(diff)) / max(1.0, float(np.nanmax(np.abs(ref)))))
    return worst


def time_calls(run, feeds: dict, repeats: int, warmup: int = 2) -> float:
    """Median ms per call of ``run(feeds)`` after ``warmup`` calls."""
    for _ in range(warmup):
        run(feeds)
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        run(feeds)
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times))


def _fastest(keras_run, others: list, shapes, tolerance: float, repeats: int,
             notes: list) -> Predictor:
    """The fastest of Keras and the ``others`` that compute its outputs within
    ``tolerance``, by the median per-round ratio of its time to Keras's."""
    feeds = sample_feeds(shapes)
    want = keras_run(feeds)
    usable = []
    for runner in others:
        label = _LABELS[runner.name]
        try:
            worst = worst_difference(runner(feeds), want)
        except Exception as exc:  # noqa: BLE001  (an interpreter refusing the net at run time)
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            notes.append(f"{label} cannot run this net: {first}")
            continue
        if not worst <= tolerance:
            notes.append(f"{label}'s outputs differ from Keras's by {worst:.3g} of the largest "
                         f"magnitude (tolerance {tolerance:g})")
            continue
        usable.append(runner)
    if not usable:
        reason = "; ".join(notes)
        log.info("predictor: using keras; %s", reason)
        return Predictor(keras_run, shapes, "keras", reason=reason)
    runners = {r.name: r for r in [keras_run] + usable}
    rounds, _ = time_interleaved({name: lambda r=r: r(feeds) for name, r in runners.items()},
                                 repeats, 0.1, warmup=2)
    timings = {name: float(np.median(t)) * 1e3 for name, t in rounds.items()}
    # Paired: each round's blocks ran within a fraction of a second of each other.
    ratios = {r.name: float(np.median(np.divide(rounds["keras"], rounds[r.name])))
              for r in usable}
    best = max(ratios, key=ratios.get)
    best = best if ratios[best] > 1.0 else "keras"
    reason = (", ".join(f"{name} {ms:.2f} ms" for name, ms in timings.items())
              + " (median per-round ratio " + ", ".join(f"keras / {n}: {r:.3f}"
                                                       for n, r in ratios.items()) + ")")
    log.info("predictor: using %s (%s per call)", best, reason)
    reason = f"fastest here: {reason}" + "".join(f"; {n}" for n in notes)
    return Predictor(runners[best], shapes, best, timings, reason)
