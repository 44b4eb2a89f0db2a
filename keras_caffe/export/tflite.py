"""A converted net as a TFLite flatbuffer, builtin ops only unless asked otherwise.

The net is first written as a SavedModel (:mod:`.savedmodel`: same signature, keys, layout
and preprocessing), then converted with ``tf.lite.TFLiteConverter`` in float32 (no
quantisation).  Builtin TFLite ops are tried first; when some op has no builtin kernel the
error names each such TF op and the Caffe layers it comes from, e.g.::

    TFLite's builtin ops cannot run 1 op(s) of this net:
      tf.RealDiv (f64): acc_top1 (Accuracy), acc_top5 (Accuracy)
    export with allow_tf_ops=True (--allow-tf-ops) to keep them as TF ops (Flex); the
    interpreter then needs the Flex delegate (tensorflow, or tensorflowlite_flex)

(float64 ops, like Accuracy's and PriorBox's arithmetic, have no builtin kernels.)

With ``allow_tf_ops`` those ops are kept as TF ops and listed in ``ExportResult.tf_ops``.
The signature is ``serving_default``: ``interpreter.get_signature_runner()`` takes and
returns the same keys as the SavedModel.  ``<file>.json`` beside the ``.tflite`` holds the
manifest (names, shapes, layout, preprocessing).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tempfile
import warnings

from ..fileio import atomic_path
from ..graph.net import Blob
from .common import ExportError, check_file_target
from .preprocess import Preprocess
from .savedmodel import SIGNATURE, ExportResult, prepare, shape_in_layout, write_savedmodel
from .tracing import layer_index

log = logging.getLogger(__name__)

DEFAULT_NAME = "model.tflite"


class TFLiteConversionError(ExportError):
    """TFLite could not convert the net; ``blockers`` maps each TF op to the Caffe layers
    (``"name (Type)"``) it comes from."""

    def __init__(self, message: str, blockers: dict[str, list[str]] | None = None):
        self.blockers = dict(blockers or {})
        super().__init__(message)


def export_tflite(net_or_cnet, path, weights=None, input_layout: str = "NHWC",
                  preprocess: bool | Preprocess = False, allow_tf_ops: bool = False,
                  check: bool = True, *, outputs=None, phase="test",
                  fixed_shapes: bool | None = None, **build_kwargs) -> ExportResult:
    """Write a ``.tflite`` of a Caffe net.  ``path`` is the file (``*.tflite``) or a
    directory to write ``model.tflite`` into; other arguments as
    :func:`~keras_caffe.export.export_savedmodel`.

    Raises :class:`TFLiteConversionError` naming the blocking ops and layers when builtin
    ops do not suffice and ``allow_tf_ops`` is False.  With ``check`` (and no TF ops) the
    converted model is run once by the TFLite interpreter on random inputs and compared with
    the Keras model: a model that converts but cannot run (e.g. a 6-D slice) raises, and the
    largest difference is kept in ``manifest["tflite"]["check"]``."""
    target = _target(path)
    job = prepare(net_or_cnet, weights, input_layout, preprocess, outputs, phase, build_kwargs,
                  fixed_shapes)
    content, manifest = flatbuffer(job, allow_tf_ops, check)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with atomic_path(target, suffix=".tflite") as tmp_file:
        with open(tmp_file, "wb") as f:
            f.write(content)
    with atomic_path(target + ".json") as tmp_file:
        with open(tmp_file, "w") as f:
            json.dump(manifest, f, indent=1)
    return ExportResult(target, "tflite", manifest, manifest["tflite"]["tf_ops"])


def flatbuffer(job, allow_tf_ops: bool = False, check: bool = True) -> tuple[bytes, dict]:
    """``(the .tflite bytes, manifest)`` of a prepared export, written nowhere (the
    SavedModel it is converted from lives in a temporary directory, removed after)."""
    with tempfile.TemporaryDirectory(prefix="keras_caffe_tflite_") as tmp:
        traced = write_savedmodel(job, os.path.join(tmp, "saved_model"))
        lookup = _layer_names(job.cnet, traced.scopes)
        content, tf_ops = convert(os.path.join(tmp, "saved_model"), allow_tf_ops, lookup)
    info = {"tf_ops": tf_ops}
    if check and not tf_ops:
        info["check"] = check_interpreter(content, job, traced, lookup)
    elif check:
        info["check"] = "skipped: the model needs TF ops (Flex), which the Python interpreter lacks"
    return content, dict(traced.manifest, tflite=info)


def _target(path) -> str:
    path = os.fspath(path)
    if not path.endswith(".tflite"):
        if os.path.isfile(path):
            raise ExportError(f"{os.path.abspath(path)}: give a .tflite file name or a "
                              "directory; this is another file")
        path = os.path.join(path, DEFAULT_NAME)
    return check_file_target(path)


def convert(saved_model_dir: str, allow_tf_ops: bool, layer_of_scope) -> tuple[bytes, list]:
    """``(flatbuffer, tf_ops)``; ``tf_ops`` describes the ops left to TF (empty if none)."""
    try:
        return _converter(saved_model_dir, tf_ops=False).convert(), []
    except Exception as exc:  # ConverterError, or a crash in the converter's passes
        blockers = blocking_ops(exc, layer_of_scope)
        if not allow_tf_ops or not blockers:
            raise _conversion_error(exc, blockers, allow_tf_ops) from exc
    try:
        content = _converter(saved_model_dir, tf_ops=True).convert()
    except Exception as exc:
        raise _conversion_error(exc, blocking_ops(exc, layer_of_scope), True) from exc
    return content, [f"{op}: {', '.join(layers)}" for op, layers in blockers.items()]


def _converter(saved_model_dir: str, tf_ops: bool):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir,
                                                         signature_keys=[SIGNATURE])
    ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if tf_ops:
        ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
    converter.target_spec.supported_ops = ops
    return converter


def _conversion_error(exc, blockers: dict, allow_tf_ops: bool) -> TFLiteConversionError:
    if not blockers:
        first = str(exc).strip().splitlines()
        return TFLiteConversionError("TFLite could not convert the net: "
                                     + (first[0] if first else type(exc).__name__))
    lines = [f"TFLite's builtin ops cannot run {len(blockers)} op(s) of this net:"]
    lines += [f"  {op}: {', '.join(layers)}" for op, layers in blockers.items()]
    if allow_tf_ops:
        lines.append("and converting them as TF ops (Flex) failed too: "
                     + str(exc).strip().splitlines()[0])
    else:
        lines.append("export with allow_tf_ops=True (--allow-tf-ops) to keep them as TF ops "
                     "(Flex); the interpreter then needs the Flex delegate (tensorflow, or "
                     "tensorflowlite_flex)")
    return TFLiteConversionError("\n".join(lines), blockers)


_OP_IN_MESSAGE = re.compile(r"'(tf\.[A-Za-z0-9_]+)' op")
_TENSOR_TYPE = re.compile(r"tensor<(?:[^<>]*?x)?([a-z]+[0-9]*)>")


def blocking_ops(exc, layer_of_scope) -> dict[str, list[str]]:
    """``{TF op: ["layer (Type)", ...]}`` from a converter error's structured errors."""
    found: dict[str, list[str]] = {}
    for error in getattr(exc, "errors", []) or []:
        op = error.operator.name or ""
        if not op:
            match = _OP_IN_MESSAGE.search(error.error_message)
            op = match.group(1) if match else ""
        if not op:
            continue
        types = sorted(set(_TENSOR_TYPE.findall(error.error_message.split(
            "see current operation", 1)[-1])))
        if types:  # e.g. "tf.RealDiv (f64)": float64 has no builtin kernels
            op = f"{op} ({', '.join(types)})"
        where = "outside the net's layers (preprocessing or layout)"
        for call in error.location.call:
            hit = layer_of_scope(call.name)
            if hit:
                where = hit
                break
        layers = found.setdefault(op, [])
        if where not in layers:
            layers.append(where)
    found = {op: sorted(found[op]) for op in sorted(found)}
    if not found:  # an older converter: only text, "TF Select ops: A, B"
        match = re.search(r"TF Select ops: ([^\n]+)", str(exc))
        if match:
            for op in match.group(1).split(","):
                found[f"tf.{op.strip()}"] = ["(layer unknown)"]
    return found


def _layer_names(cnet, scopes: dict[str, str]):
    """A function: an op name in the traced graph -> ``"caffe layer (Type)"`` or None."""
    index = layer_index(cnet)

    def lookup(op_name: str):
        # "<model scope>/<layer scope>/.../<op>@<function>"; ops of the serving function
        # itself (preprocessing, transposes) have no model scope.
        parts = op_name.split("@", 1)[0].split("/")
        for part in parts[1:-1]:
            for candidate in (part, re.sub(r"_\d+\Z", "", part)):
                keras = scopes.get(candidate)
                if keras is not None and keras in index:
                    layer, kind = index[keras]
                    return f"{layer} ({kind})"
        return None

    return lookup


def interpreter(model_content: bytes, num_threads: int | None = None):
    """A TFLite interpreter: LiteRT's (``ai_edge_litert``, the ``litert`` extra) when
    installed, else ``tf.lite``'s (deprecated there, with a warning we silence).  Both apply
    XNNPACK to float models by default; ``num_threads`` is its thread count (None: the
    interpreter's default)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Interpreter(model_content=model_content, num_threads=num_threads)


def interpreter_name() -> str:
    """Which interpreter :func:`interpreter` uses here: ``"ai_edge_litert"`` or ``"tf.lite"``."""
    import importlib.util

    return "ai_edge_litert" if importlib.util.find_spec("ai_edge_litert") else "tf.lite"


def sample_inputs(cnet, manifest: dict, transform, input_layout: str, seed: int = 0) -> dict:
    """Random inputs for the signature at the prototxt's shapes (raw images a little larger
    than a crop), values in [0, 1) (valid indices for Embed/BatchReindex inputs) or 0..255
    for uint8 images."""
    import numpy as np

    rng = np.random.default_rng(seed)
    feeds = {}
    for entry in manifest["inputs"]:
        blob = entry["blob"]
        caffe = tuple(cnet.shapes[Blob(blob, 0)])
        if transform is not None and blob == transform.blob:
            known = list(transform.crop or caffe[2:])
            extra = (3, 2) if transform.crop else (0, 0)
            full = [caffe[0]] + [d if d is not None else known[i] + extra[i]
                                 for i, d in enumerate(entry["shape"][1:3])] + [transform.channels]
        else:
            full = list(shape_in_layout(caffe, "NCHW", input_layout))
        full = [1 if d is None else int(d) for d in full]
        if entry["dtype"] == "uint8":
            feeds[entry["key"]] = rng.integers(0, 256, full, dtype=np.uint8)
        else:
            feeds[entry["key"]] = rng.random(full).astype(entry["dtype"])
    return feeds


def check_interpreter(content: bytes, job, traced, lookup) -> dict:
    """Run the converted model once; raise if TFLite cannot, else ``{"max_abs_diff": ..}``."""
    import numpy as np

    feeds = sample_inputs(job.cnet, traced.manifest, job.transform, job.input_layout)
    runner_host = interpreter(content)
    try:
        got = runner_host.get_signature_runner(SIGNATURE)(**feeds)
    except (RuntimeError, ValueError) as exc:
        message = str(exc).strip()
        layer = _failing_layer(runner_host, message, lookup)
        where = f" (in layer {layer})" if layer else ""
        raise TFLiteConversionError(f"TFLite converted the net, but its interpreter cannot run "
                                    f"it{where}: {message}") from exc
    want = traced.serve(feeds)
    worst, ok = 0.0, True
    for key, value in want.items():
        ref, out = np.asarray(value), np.asarray(got[key])
        if ref.size:
            diff = np.abs(out.astype(np.float64) - ref)
            diff = diff[np.isfinite(diff)]
            worst = max(worst, float(diff.max()) if diff.size else 0.0)
            ok = ok and bool(np.allclose(out, ref, rtol=1e-4, atol=1e-5, equal_nan=True))
    if not ok:
        log.warning("the TFLite model differs from the Keras model by up to %.3g on random "
                    "inputs", worst)
    return {"max_abs_diff": worst, "within_1e-4": ok, "inputs": "random, at the prototxt's shapes"}


def _failing_layer(host, message: str, lookup):
    match = re.search(r"Node number (\d+)", message)
    if not match:
        return None
    try:  # private API of the interpreter; only used to name the layer
        op = host._get_ops_details()[int(match.group(1))]
        names = [host._get_tensor_details(t, 0)["name"] for t in op["outputs"]]
    except Exception:
        return None
    for name in names:
        for part in name.split(";"):
            hit = lookup(part)
            if hit:
                return hit
    return None
