"""The supported-layers table, generated from the converter registry.

The README's table is this function's output (a test checks it is current; regenerate with
``python scripts/update_readme.py``).
"""

from __future__ import annotations

from .converters import registry
from .data.sources import READ_TYPES
from .graph.net import SOURCE_TYPES

# BVLC Caffe's layer catalogue (types registered in its layer factory).
CAFFE_TYPES = (
    "AbsVal", "Accuracy", "ArgMax", "BatchNorm", "BatchReindex", "Bias", "BNLL", "Clip", "Concat",
    "ContrastiveLoss", "Convolution", "Crop", "Data", "Deconvolution", "Dropout", "DummyData",
    "Eltwise", "ELU", "Embed", "EuclideanLoss", "Exp", "Filter", "Flatten", "HDF5Data",
    "HDF5Output", "HingeLoss", "Im2col", "ImageData", "InfogainLoss", "InnerProduct", "Input",
    "Log", "LRN", "LSTM", "LSTMUnit", "MemoryData", "MultinomialLogisticLoss", "MVN", "Parameter",
    "Pooling", "Power", "PReLU", "Python", "Reduction", "ReLU", "Reshape", "RNN", "Scale",
    "Sigmoid", "SigmoidCrossEntropyLoss", "Silence", "Slice", "Softmax", "SoftmaxWithLoss",
    "Split", "SPP", "Swish", "TanH", "Threshold", "Tile", "WindowData",
)
# Types of widely used forks whose parameters our schema parses.
FORK_TYPES = ("ConvolutionDepthwise", "DepthwiseConvolution", "Permute", "Normalize", "PriorBox",
              "DetectionOutput", "Interp", "Upsample", "ShuffleChannel", "ROIPooling")


def status(type_name: str) -> str:
    conv = registry.get(type_name)
    if conv is not None:
        module = conv.build.__module__.rsplit(".", 1)[-1]
        return f"converted (`converters/{module}.py`)"
    if type_name == "Input":
        return "model input (fed by the caller)"
    if type_name in READ_TYPES:
        return "model input, read from its source by `keras_caffe.data` (`forward --batches`, " \
            "`train`, `test`)"
    if type_name in SOURCE_TYPES:
        return "model input (give its shapes; its source is not read yet)"
    return "not yet: parses, reported by name when building"


def markdown_table() -> str:
    rows = ["| Caffe type | status |", "|---|---|"]
    for t in sorted(CAFFE_TYPES, key=str.lower):
        rows.append(f"| {t} | {status(t)} |")
    for t in FORK_TYPES:
        rows.append(f"| {t} (fork) | {status(t)} |")
    return "\n".join(rows)
