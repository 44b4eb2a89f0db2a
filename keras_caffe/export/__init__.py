"""Export a converted Caffe net for serving: a TensorFlow SavedModel or a TFLite file.

Python::

    from keras_caffe.export import Preprocess, export_savedmodel, export_tflite
    export_savedmodel("deploy.prototxt", "out/sm", weights="net.caffemodel")
    export_tflite("deploy.prototxt", "out/net.tflite", weights="net.caffemodel",
                  preprocess=Preprocess(mean_value=(104, 117, 123)))

Command line::

    keras-caffe export deploy.prototxt --weights net.caffemodel -o out/sm
    keras-caffe export deploy.prototxt --weights net.caffemodel -o out/net.tflite \\
        --format tflite --mean-value 104,117,123 --rgb --image-dtype uint8
    keras-caffe export train_val.prototxt --weights net.caffemodel -o out/sm \\
        --input-shape data=1,3,227,227 --input-shape label=1 --preprocess --output-blob fc8

Both functions take a prototxt (with ``weights``), a ``CaffeNet`` or a model from
``load_model``, and ``input_layout`` (``"NHWC"``, or ``"NCHW"`` for Caffe's shapes),
``preprocess``, ``outputs`` and build keywords.  The exported ``serving_default`` signature
takes the input blobs and returns the output blobs by Caffe name (:mod:`.names` says how
names TensorFlow refuses are escaped, and where the table is kept); the SavedModel loads with
``tf.saved_model.load`` alone.  :mod:`.preprocess` bakes in Caffe's data transform;
:mod:`.tflite` says what converts to TFLite's builtin ops and what is reported when not.
``input_shapes`` (``--input-shape``) fixes every shape of the signature, batch included.
:func:`predictor` runs a net for inference on the fastest runtime here (:mod:`.predictor`).
"""

from .common import FORMATS, ExportError
from .names import signature_key
from .preprocess import Preprocess
from .predictor import RUNTIMES, Predictor, PredictorError, predictor
from .savedmodel import ExportResult, export_savedmodel
from .tflite import TFLiteConversionError, export_tflite


def export(net_or_cnet, path, format: str = "savedmodel", **kwargs) -> ExportResult:
    """``export_savedmodel`` or ``export_tflite`` by ``format`` (one of :data:`FORMATS`)."""
    if format == "savedmodel":
        return export_savedmodel(net_or_cnet, path, **kwargs)
    if format == "tflite":
        return export_tflite(net_or_cnet, path, **kwargs)
    raise ExportError(f"unsupported export format {format!r}; choose one of {FORMATS}")


__all__ = ["export", "export_savedmodel", "export_tflite", "ExportError", "ExportResult",
           "FORMATS", "Preprocess", "TFLiteConversionError", "signature_key",
           "predictor", "Predictor", "PredictorError", "RUNTIMES"]
