"""keras_caffe: Caffe nets, weights, solvers and data in TensorFlow 2 / Keras 3.

Importing the package registers its Keras layers, so ``.keras`` files of converted
models reload with ``keras.saving.load_model(path, safe_mode=True)``.
"""

from . import converters, data, layers  # noqa: F401  (register the layers and Caffe types)
from .api import (OpenNet, build_net, caffe_net_of, forward, forward_batches, load_model,
                  open_net, read_net, read_weights, resolve_net, save_caffemodel)
from .layers.python_layer import register_python_layer
from .converters.registry import register_converter
from .export.predictor import Predictor, predictor
from .fileio import WritePolicy
from .errors import (CaffeError, CaffemodelError, LabelError, MissingWeightsError, NetError,
                     NonFiniteLossError, OutputError, PrototxtError, UnsupportedLayerError,
                     WeightError)

__version__ = "0.1.0"

__all__ = [
    "build_net", "caffe_net_of", "forward", "forward_batches", "load_model", "open_net",
    "OpenNet", "read_net", "read_weights", "resolve_net", "save_caffemodel",
    "register_converter", "register_python_layer", "WritePolicy", "predictor", "Predictor",
    "CaffeError", "CaffemodelError", "LabelError", "MissingWeightsError", "NetError",
    "NonFiniteLossError", "OutputError", "PrototxtError", "UnsupportedLayerError", "WeightError",
]
