"""ONNX Runtime for ``predictor(runtime="onnx")``: the Keras runtime's frozen graph
converted in memory by tf2onnx and run by an ``onnxruntime.InferenceSession`` on the CPU.

ONNX Runtime keeps convolutions in its own blocked channel layout from one layer to the
next; on two CPU cores it ran ResNet-50 at batch 1 in 21 ms against 32 ms for the frozen
Keras runtime (``benchmarks/cpu_inference.py``), the fastest of the three there.  Both packages are the ``onnx``
extra (``pip install 'keras-caffe[onnx]'``); without them the runtime is refused by name and
``"auto"`` leaves it out.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging

from ..errors import CaffeError

#: ONNX opset the conversion targets (every op the nets convert to is in it).
OPSET = 17


def available() -> bool:
    """Whether onnxruntime and tf2onnx can be imported (without importing them)."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "tf2onnx"))


class OnnxRunner:
    """``keras_runner``'s frozen serving function (fixed shapes, in the layout it takes) in
    ONNX Runtime with ``threads`` threads."""

    name = "onnx"

    def __init__(self, keras_runner, shapes: dict[str, tuple], threads: int):
        if not available():
            raise CaffeError("runtime 'onnx' needs onnxruntime and tf2onnx: pip install "
                             "'keras-caffe[onnx]'")
        import onnxruntime

        frozen = keras_runner.frozen
        if frozen is None:
            raise CaffeError("the net's graph could not be frozen (a layer updates its blobs "
                             "on every call), and ONNX Runtime needs a frozen graph")
        self.key_of, self.blob_of = keras_runner.key_of, keras_runner.blob_of
        self.dtypes = keras_runner.dtypes
        inputs = {t.name: key for t, key in zip(frozen.inputs, keras_runner.order)}
        outputs = {t.name: key for t, key in zip(frozen.outputs, keras_runner.output_order)}
        proto = converted(frozen.graph.as_graph_def(), list(inputs), list(outputs))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.log_severity_level = 3
        self.session = onnxruntime.InferenceSession(proto.SerializeToString(), options,
                                                    providers=["CPUExecutionProvider"])
        self.feed_names = {key: name for name, key in inputs.items()}
        self.fetch_names = list(outputs)
        self.fetch_keys = [outputs[name] for name in self.fetch_names]

    def __call__(self, feeds: dict) -> dict:
        got = self.session.run(self.fetch_names, {self.feed_names[self.key_of[b]]: v
                                                  for b, v in feeds.items()})
        return {self.blob_of[k]: v for k, v in zip(self.fetch_keys, got)}


def converted(graph_def, inputs: list[str], outputs: list[str]):
    """The ONNX model of a frozen ``graph_def`` from tensors ``inputs`` to ``outputs``.

    tf2onnx copies the whole graph, weights included, for each of its optimisation passes
    (about a minute for AlexNet's 240 MB); so the large constants are taken out first, as
    placeholders it converts as inputs, and put back as ONNX initializers, which ONNX
    Runtime folds into the layers when it loads the model (2 s)."""
    import tensorflow as tf
    import tf2onnx
    from onnx import numpy_helper

    graph_def, hidden = _hide_constants(graph_def, tf)
    with _quiet("tf2onnx"), _quiet("tensorflow", logging.ERROR):   # its TF1 deprecation notes
        model, _ = tf2onnx.convert.from_graph_def(
            graph_def, input_names=inputs + [f"{name}:0" for name in hidden],
            output_names=outputs, opset=OPSET)
    values = {f"{name}:0": value for name, value in hidden.items()}
    kept = [i for i in model.graph.input if i.name not in values]
    moved = [i.name for i in model.graph.input if i.name in values]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    model.graph.initializer.extend(numpy_helper.from_array(values[n], n) for n in moved)
    return model


#: Constants of at least this many elements leave the graph during conversion.
LARGE = 4096


def _hide_constants(graph_def, tf):
    """A copy of ``graph_def`` whose large constants are placeholders, and their values."""
    from tensorflow.core.framework import graph_pb2

    out = graph_pb2.GraphDef()
    out.CopyFrom(graph_def)
    hidden = {}
    for node in out.node:
        if node.op != "Const":
            continue
        tensor = node.attr["value"].tensor
        count = 1
        for dim in tensor.tensor_shape.dim:
            count *= dim.size
        if count < LARGE:
            continue
        hidden[node.name] = tf.make_ndarray(tensor)
        dtype, shape = node.attr["dtype"].type, tensor.tensor_shape
        node.op = "Placeholder"
        node.ClearField("attr")
        node.attr["dtype"].type = dtype
        node.attr["shape"].shape.CopyFrom(shape)
    return out, hidden


@contextlib.contextmanager
def _quiet(name: str, level: int = logging.WARNING):
    """The logger ``name`` at ``level`` at least for a while (tf2onnx logs every step of a
    conversion at INFO)."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(max(level, before))
    try:
        yield
    finally:
        logger.setLevel(before)
