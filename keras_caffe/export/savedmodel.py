"""A converted net as a TensorFlow SavedModel that loads without keras_caffe (or Keras).

The model is traced through Keras's ``ExportArchive``: the SavedModel holds the graph of
every custom layer's ops and the variables, no Python classes.  It has two signatures:

``serving_default``
    takes the net's input blobs and returns its output blobs, each under its signature key
    (the Caffe name, escaped when TensorFlow would refuse it: see :mod:`.names`).  4-D (5-D)
    blobs are ``N,H,W,C`` (``N,D,H,W,C``) with ``input_layout="NHWC"``, Caffe's own
    ``N,C,H,W`` with ``"NCHW"``; other ranks are Caffe's.  The batch is free, and so are
    H and W when every layer allows it -- unless the shapes are fixed (``input_shapes``
    given, ``--input-shape``; or ``fixed_shapes=True``): then every input and output has
    its full shape, batch included, as NPU delegates and XNNPACK want (a raw-image input's
    H and W stay free only where a crop lets any size in).  With preprocessing one input
    takes raw images (see :mod:`.preprocess`).
``caffe_names``
    takes nothing and returns the name table as string tensors ``input_keys``,
    ``input_blobs``, ``output_keys``, ``output_blobs`` (key i is blob i).

``assets.extra/keras_caffe.json`` repeats the table with shapes, dtypes, the layout and the
preprocessing, for readers that do not run TensorFlow.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os

from ..graph import layout, types
from ..layers.python_layer import CaffePythonLayer
from ..graph.names import keras_name
from ..graph.net import Blob
from . import names
from .common import (ExportError, atomic_directory, caffe_net, check_directory_target,
                     is_built)
from .preprocess import Preprocess, Transform, resolve
from .tracing import traceable_model

LAYOUTS = ("NHWC", "NCHW")
SIGNATURE = "serving_default"
NAMES_SIGNATURE = "caffe_names"
MANIFEST = os.path.join("assets.extra", "keras_caffe.json")


@dataclasses.dataclass
class ExportResult:
    """What was written: the path, the format, and the manifest (names, shapes, transform)."""

    path: str
    format: str
    manifest: dict
    tf_ops: list = dataclasses.field(default_factory=list)  # TFLite: layers left to TF ops

    @property
    def inputs(self) -> dict[str, str]:
        """Signature key -> Caffe blob name of every input."""
        return {e["key"]: e["blob"] for e in self.manifest["inputs"]}

    @property
    def outputs(self) -> dict[str, str]:
        return {e["key"]: e["blob"] for e in self.manifest["outputs"]}

    def summary(self) -> str:
        lines = [f"wrote {self.path} ({self.format}, {self.manifest['input_layout']})"]
        for role in ("inputs", "outputs"):
            for e in self.manifest[role]:
                blob = "" if e["key"] == e["blob"] else f"  (Caffe blob '{e['blob']}')"
                shape = "x".join("?" if d is None else str(d) for d in e["shape"])
                lines.append(f"  {role[:-1]:6} {e['key']}: {e['dtype']} {shape}{blob}")
        pre = self.manifest.get("preprocess")
        if pre:
            lines.append(f"  images for '{pre['blob']}': NHWC {pre['channel_order']} "
                         f"{pre['image_dtype']}, crop {pre['crop']}, mean {pre['mean']}, "
                         f"scale {pre['scale']} ({pre['source']})")
        for entry in self.tf_ops:
            lines.append(f"  needs TF ops (Flex): {entry}")
        check = self.manifest.get("tflite", {}).get("check")
        if isinstance(check, dict):
            lines.append(f"  checked in the TFLite interpreter: max |TFLite - Keras| = "
                         f"{check['max_abs_diff']:.3g} ({check['inputs']})")
        elif check:
            lines.append(f"  TFLite check {check}")
        return "\n".join(lines)


def export_savedmodel(net_or_cnet, path, weights=None, input_layout: str = "NHWC",
                      preprocess: bool | Preprocess = False, *, outputs=None, phase="test",
                      fixed_shapes: bool | None = None, **build_kwargs) -> ExportResult:
    """Write a SavedModel of a Caffe net to the directory ``path``.

    ``net_or_cnet``: a prototxt (path or text), a ``NetParameter``, a :class:`CaffeNet` from
    ``build_net`` or a model from ``load_model``.  ``weights``: a ``.caffemodel`` for a
    prototxt.  ``input_layout``: ``"NHWC"`` or ``"NCHW"`` (Caffe's shapes) for the
    signature's 4-D blobs.  ``preprocess``: ``True`` bakes in the data layer's
    ``transform_param``; a :class:`Preprocess` gives or overrides its fields.  ``outputs``:
    blob names to return instead of the net's outputs (e.g. ``["prob"]`` of a train_val net,
    whose outputs are its losses, or a feature blob); only the inputs they need remain.
    ``fixed_shapes``: the signature's shapes are the net's, batch included (default: when
    ``input_shapes`` is given).  Other keyword arguments (``input_shapes``, ``stages``, ...)
    go to :func:`keras_caffe.build_net`.

    ``path`` must be new, empty or an earlier SavedModel (replaced once the new one is
    complete).  Load it with ``tf.saved_model.load(path).signatures["serving_default"]``."""
    target = check_directory_target(path)
    job = prepare(net_or_cnet, weights, input_layout, preprocess, outputs, phase, build_kwargs,
                  fixed_shapes)
    with atomic_directory(target) as tmp:
        traced = write_savedmodel(job, tmp)
    return ExportResult(target, "savedmodel", traced.manifest)


@dataclasses.dataclass
class Job:
    """An export, checked before anything is written."""

    cnet: object                 # the CaffeNet
    model: object                # what the signature runs: cnet.model, or a part of it
    input_layout: str
    transform: Transform | None
    fixed: bool = False          # the signature has the net's full shapes, batch included


def prepare(net_or_cnet, weights, input_layout, preprocess, outputs, phase,
            build_kwargs, fixed_shapes: bool | None = None) -> Job:
    input_layout = str(input_layout).upper()
    if input_layout not in LAYOUTS:
        raise ExportError(f"input_layout must be one of {LAYOUTS}, got {input_layout!r}")
    fixed = bool(build_kwargs.get("input_shapes")) if fixed_shapes is None else bool(fixed_shapes)
    if fixed and not is_built(net_or_cnet):
        build_kwargs = {"free_spatial": False, **build_kwargs}   # static shapes all through
    cnet = caffe_net(net_or_cnet, weights, input_layout, phase, **build_kwargs)
    model = serving_model(cnet, outputs)
    python = [layer.name for layer in model.layers if isinstance(layer, CaffePythonLayer)]
    if python:
        raise ExportError(f"cannot export Python layer(s) {python}: a caffe.Layer runs numpy "
                          "code in this Python process, which a SavedModel or TFLite file cannot "
                          "carry; give them a Keras layer (keras_caffe.register_python_layer) "
                          "or export the outputs before them (--output-blob)")
    transform = resolve(cnet, preprocess) if preprocess else None
    if transform is not None and transform.blob not in model.input:
        raise ExportError(f"the images feed '{transform.blob}', which the exported outputs "
                          f"do not need (they need {list(model.input)})")
    return Job(cnet, model, input_layout, transform, fixed)


def serving_model(cnet, outputs=None):
    """``cnet.model``, or a model sharing its layers that returns the blobs ``outputs`` (their
    last version, in the model's layout) from the inputs they need."""
    import keras

    if outputs is None:
        return cnet.model
    outputs = [outputs] if isinstance(outputs, str) else list(outputs)
    graph = cnet.graph
    unknown = [b for b in outputs if b not in graph.last or graph.last[b] not in cnet.tensors]
    if unknown or not outputs:
        raise ExportError(f"outputs {unknown or outputs} are not blobs of the net (its blobs: "
                          f"{', '.join(graph.blob_names)})")
    chosen = {}
    for blob in outputs:
        if blob in cnet.model.output:
            chosen[blob] = cnet.model.output[blob]
        else:
            tensor = cnet.tensors[graph.last[blob]]
            if cnet.input_layout == "NCHW":
                tensor = layout.to_caffe_order(tensor, keras_name(blob) + "__export_nchw")
            chosen[blob] = tensor
    needed = _inputs_needed(graph, outputs)
    try:
        return keras.Model({b: cnet.inputs[b] for b in cnet.inputs if b in needed}, chosen,
                           name=cnet.model.name)
    except ValueError:  # a layer anchored on another input (bottomless layers): keep them all
        return keras.Model(dict(cnet.inputs), chosen, name=cnet.model.name)


def _inputs_needed(graph, blobs) -> set[str]:
    """Names of the input blobs the final versions of ``blobs`` are computed from."""
    needed, seen, todo = set(), set(), [graph.last[b] for b in blobs]
    while todo:
        blob = todo.pop()
        if blob in seen:
            continue
        seen.add(blob)
        node = graph.producer.get(blob)
        if node is None or types.is_source(node.param):
            needed.add(blob.name)
        else:
            todo.extend(node.bottoms)
    return needed


@dataclasses.dataclass
class Traced:
    """What writing a SavedModel leaves for the caller."""

    manifest: dict
    scopes: dict[str, str]   # layer (scope) name in the graph -> cnet.model's layer name
    serve: object            # the serving function, callable eagerly on {key: tensor}


def write_savedmodel(job: Job, directory: str) -> Traced:
    """Trace the job's model and write the SavedModel (and manifest) into ``directory``."""
    import keras
    import tensorflow as tf

    model, scopes = traceable_model(job.model)
    fn, spec, manifest = serving_function(job.cnet, model, job.input_layout, job.transform,
                                          job.fixed)
    archive = keras.export.ExportArchive()
    archive.track(model)
    table = {"input_keys": [e["key"] for e in manifest["inputs"]],
             "input_blobs": [e["blob"] for e in manifest["inputs"]],
             "output_keys": [e["key"] for e in manifest["outputs"]],
             "output_blobs": [e["blob"] for e in manifest["outputs"]]}
    absl = logging.getLogger("absl")
    absl.addFilter(_quiet_sanitizing)
    try:
        archive.add_endpoint(SIGNATURE, fn, input_signature=[spec])
        archive.add_endpoint(NAMES_SIGNATURE,
                             lambda: {k: tf.constant(v, tf.string) for k, v in table.items()},
                             input_signature=[])
        archive.write_out(directory, verbose=False)
    finally:
        absl.removeFilter(_quiet_sanitizing)
    os.makedirs(os.path.join(directory, "assets.extra"), exist_ok=True)
    with open(os.path.join(directory, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=1)
    return Traced(manifest, scopes, fn)


def _quiet_sanitizing(record) -> bool:
    """TensorFlow warns that a key with '/' is no Python parameter name; it stays the key."""
    return "is not a valid tf.function parameter name" not in record.getMessage()


def serving_function(cnet, model, input_layout: str, transform: Transform | None,
                     fixed: bool = False):
    """``(fn, input_spec, manifest)``: ``fn`` maps ``{key: tensor}`` to ``{key: tensor}``
    through ``model`` (``cnet.model``, part of it, or a copy of either).  ``fixed``: shapes
    are the net's (Caffe's inferred shapes, batch included) instead of free batch (and H, W
    where the model leaves them free)."""
    import tensorflow as tf

    inputs, outputs = model.input, model.output  # {Caffe blob name: tensor}, as we build them
    if not isinstance(inputs, dict) or not isinstance(outputs, dict):
        raise ExportError("the model's inputs and outputs are not keyed by Caffe blob name; "
                          "export a model built by keras_caffe")
    in_blobs, out_blobs = list(inputs), list(outputs)
    table = names.name_table(in_blobs, out_blobs)
    key_of_in = {blob: key for key, blob in table["inputs"].items()}
    key_of_out = {blob: key for key, blob in table["outputs"].items()}
    model_layout = cnet.input_layout

    spec, inputs_manifest = {}, []
    for blob in in_blobs:
        key = key_of_in[blob]
        tensor = inputs[blob]
        caffe = cnet.shapes.get(Blob(blob, 0)) if fixed else None
        if transform is not None and blob == transform.blob:
            shape, dtype = transform.image_shape, transform.image_dtype
            shape = (caffe[0] if caffe else None,) + tuple(shape[1:])
        else:
            shape = shape_in_layout(tuple(tensor.shape), model_layout, input_layout)
            if caffe:
                shape = shape_in_layout(tuple(caffe), "NCHW", input_layout)
            shape = (shape[0] if fixed else None,) + tuple(shape[1:])
            dtype = str(tensor.dtype)
        spec[key] = tf.TensorSpec(tuple(shape), dtype, name=key)
        inputs_manifest.append({"key": key, "blob": blob, "shape": list(shape), "dtype": dtype})

    # A dimension the model leaves free beyond the batch is H/W (free_spatial) or decided
    # by the data (DetectionOutput's rows); only the former has a value in a fixed export.
    spatial_free = any(None in tuple(t.shape)[1:] for t in inputs.values())

    def out_shape(blob):
        """The layer's own static shape (the model's inputs have a free batch, so the batch
        axis is None exactly where the blob follows it; DetectionOutput and PriorBox declare
        their 1); ``fixed`` fills the free axes from Caffe's shapes."""
        shape = shape_in_layout(tuple(outputs[blob].shape), model_layout, input_layout)
        caffe = cnet.shapes.get(cnet.graph.last.get(blob)) if fixed else None
        if caffe and len(caffe) == len(shape):
            caffe = shape_in_layout(tuple(caffe), "NCHW", input_layout)
            shape = [c if d is None and (axis == 0 or spatial_free) else d
                     for axis, (d, c) in enumerate(zip(shape, caffe))]
        return list(shape)

    outputs_manifest = [{"key": key_of_out[b], "blob": b, "shape": out_shape(b),
                         "dtype": str(outputs[b].dtype)} for b in out_blobs]

    def serve(feeds):
        xs = {}
        for blob in in_blobs:
            x = tf.convert_to_tensor(feeds[key_of_in[blob]])
            if transform is not None and blob == transform.blob:
                xs[blob] = _relayout(transform(x), "NHWC", model_layout)
            else:
                xs[blob] = _relayout(x, input_layout, model_layout)
        ys = model(xs, training=False)
        return {key_of_out[b]: _relayout(ys[b], model_layout, input_layout) for b in out_blobs}

    manifest = {
        "keras_caffe_export": 1,
        "net": cnet.graph.name,
        "signature": SIGNATURE,
        "input_layout": input_layout,
        "layout_rule": "4-D blobs N,H,W,C (5-D N,D,H,W,C) with NHWC, Caffe's N,C,H,W with "
                       "NCHW; other ranks as in Caffe",
        "names_rule": names.RULE,
        "inputs": inputs_manifest,
        "outputs": outputs_manifest,
        "preprocess": transform.describe() if transform is not None else None,
    }
    return serve, spec, manifest


def shape_in_layout(shape: tuple, src: str, dst: str) -> tuple:
    """A shape in layout ``src`` ("NHWC" = ours, "NCHW" = Caffe's) as ``dst`` has it."""
    if src == dst or not layout.is_channels_last(len(shape)):
        return shape
    return layout.to_caffe_shape(shape) if dst == "NCHW" else layout.to_internal_shape(shape)


def _relayout(x, src: str, dst: str):
    """A tensor in layout ``src`` ("NHWC" = ours, "NCHW" = Caffe's) as ``dst`` wants it."""
    import tensorflow as tf

    rank = len(x.shape)
    if src == dst or not layout.is_channels_last(rank):
        return x
    perm = layout.internal_to_caffe_perm(rank) if dst == "NCHW" else \
        layout.caffe_to_internal_perm(rank)
    return tf.transpose(x, perm)
