"""pycaffe's ``caffe.Classifier``: a Net that classifies H,W,K images by resizing them,
then averaging over ten crops (corners, centre, mirrors) or taking the centre crop.

All of it lives in :class:`ClassifierMixin`, which needs of its base only pycaffe's
``Net(model_file, pretrained_file, phase)``, ``inputs``, ``outputs``,
``blobs[name].data.shape`` and ``forward_all``; :class:`Classifier` puts it on this
package's :class:`~keras_caffe.pycaffe.net.Net`.  Tests (or a Net of your own) compose the
mixin with another base: ``class MyClassifier(ClassifierMixin, MyNet)``.
"""

from __future__ import annotations

import numpy as np

from ..proto import caffe_pb2
from . import io as caffe_io
from .net import Net

__all__ = ["Classifier", "ClassifierMixin"]


def _configure_transformer(net, mean, input_scale, raw_scale, channel_swap):
    """The Transformer Classifier and Detector share: H,W,K images into the first input."""
    in_ = net.inputs[0]
    transformer = caffe_io.Transformer({in_: tuple(net.blobs[in_].data.shape)})
    transformer.set_transpose(in_, (2, 0, 1))
    if mean is not None:
        transformer.set_mean(in_, mean)
    if input_scale is not None:
        transformer.set_input_scale(in_, input_scale)
    if raw_scale is not None:
        transformer.set_raw_scale(in_, raw_scale)
    if channel_swap is not None:
        transformer.set_channel_swap(in_, channel_swap)
    return transformer


class ClassifierMixin:
    """pycaffe's Classifier on any pycaffe-like Net base (see the module docstring).

    ``image_dims``: the (height, width) images are resized to before cropping (default:
    the net input's, i.e. the whole image is one crop).  ``mean``, ``input_scale``,
    ``raw_scale``, ``channel_swap``: the :class:`~keras_caffe.pycaffe.io.Transformer`
    settings of the first input.  Other keywords go to the Net (ours: ``runtime=``, see
    :mod:`.fast_forward`)."""

    def __init__(self, model_file, pretrained_file, image_dims=None, mean=None,
                 input_scale=None, raw_scale=None, channel_swap=None, **net_kwargs):
        super().__init__(model_file, pretrained_file, caffe_pb2.TEST, **net_kwargs)
        self.transformer = _configure_transformer(self, mean, input_scale, raw_scale,
                                                  channel_swap)
        self.crop_dims = np.array(self.blobs[self.inputs[0]].data.shape[2:])
        # pycaffe tests `not image_dims`, which a numpy array cannot answer
        if image_dims is None or len(image_dims) == 0:
            image_dims = self.crop_dims
        self.image_dims = image_dims

    def predict(self, inputs, oversample=True):
        """(N, classes) predictions for N H,W,K images (K: the first image's), each resized
        to ``image_dims`` (always, even at that size, as pycaffe does): the mean over the
        ten :func:`~keras_caffe.pycaffe.io.oversample` crops, or the centre crop's alone."""
        input_ = np.zeros((len(inputs), self.image_dims[0], self.image_dims[1],
                           inputs[0].shape[2]), dtype=np.float32)
        for ix, in_ in enumerate(inputs):
            input_[ix] = caffe_io.resize_image(in_, self.image_dims)

        if oversample:
            input_ = caffe_io.oversample(input_, self.crop_dims)
        else:
            # bounds truncate toward zero: a 256 image's 227 crop spans rows 14..240
            center = np.array(self.image_dims) / 2.0
            crop = np.tile(center, 2) + np.concatenate([-self.crop_dims / 2.0,
                                                        self.crop_dims / 2.0])
            crop = crop.astype(int)
            input_ = input_[:, crop[0]:crop[2], crop[1]:crop[3], :]

        in_name = self.inputs[0]
        caffe_in = np.zeros(np.array(input_.shape)[[0, 3, 1, 2]], dtype=np.float32)
        for ix, in_ in enumerate(input_):
            caffe_in[ix] = self.transformer.preprocess(in_name, in_)
        out = self.forward_all(**{in_name: caffe_in})
        predictions = out[self.outputs[0]]

        if oversample:
            predictions = predictions.reshape((len(predictions) // 10, 10, -1))
            predictions = predictions.mean(1)
        return predictions


class Classifier(ClassifierMixin, Net):
    """Image classification with a Caffe net: ``Classifier(model_file, pretrained_file,
    image_dims=None, mean=None, input_scale=None, raw_scale=None, channel_swap=None)``
    then ``predict(images, oversample=True)``, as in pycaffe."""
