"""Keras layers for Caffe semantics that Keras lacks (one layer per module).

Every layer is registered serializable under the package ``keras_caffe``, so a saved
``.keras`` model loads with ``keras.saving.load_model(path, safe_mode=True)`` once
this package is imported. Axes given to a layer are internal axes of the full tensor
(batch = axis 0); only the layers named 2D work on NHWC by construction.
"""

from keras_caffe.layers.abs_val import CaffeAbsVal
from keras_caffe.layers.accuracy import CaffeAccuracy
from keras_caffe.layers.axpy import CaffeAxpy
from keras_caffe.layers.argmax import CaffeArgMax
from keras_caffe.layers.batch_norm import CaffeBatchNorm
from keras_caffe.layers.batch_norm_scale import CaffeBatchNormScale
from keras_caffe.layers.batch_reindex import CaffeBatchReindex
from keras_caffe.layers.bn import CaffeBN
from keras_caffe.layers.filter import CaffeFilter
from keras_caffe.layers.bias import CaffeBias
from keras_caffe.layers.bnll import CaffeBNLL
from keras_caffe.layers.clip import CaffeClip
from keras_caffe.layers.conv2d import CaffeConv2D
from keras_caffe.layers.crop import CaffeCrop
from keras_caffe.layers.deconv2d import CaffeDeconv2D
from keras_caffe.layers.detection_output import CaffeDetectionOutput
from keras_caffe.layers.dropout import CaffeDropout
from keras_caffe.layers.eltwise import CaffeEltwise
from keras_caffe.layers.embed import CaffeEmbed
from keras_caffe.layers.exp import CaffeExp
from keras_caffe.layers.flatten import CaffeFlatten
from keras_caffe.layers.im2col import CaffeIm2col
from keras_caffe.layers.interp import CaffeInterp
from keras_caffe.layers.log import CaffeLog
from keras_caffe.layers.loss_contrastive import CaffeContrastiveLoss
from keras_caffe.layers.loss_euclidean import CaffeEuclideanLoss
from keras_caffe.layers.loss_hinge import CaffeHingeLoss
from keras_caffe.layers.loss_infogain import CaffeInfogainLoss
from keras_caffe.layers.loss_multinomial_logistic import CaffeMultinomialLogisticLoss
from keras_caffe.layers.loss_sigmoid_cross_entropy import CaffeSigmoidCrossEntropyLoss
from keras_caffe.layers.loss_softmax import CaffeSoftmaxWithLoss
from keras_caffe.layers.loss_smooth_l1 import CaffeSmoothL1Loss
from keras_caffe.layers.loss_weight import CaffeLossWeight
from keras_caffe.layers.lrn import CaffeLRN
from keras_caffe.layers.max_unpool import CaffeMaxUnpool2D
from keras_caffe.layers.mvn import CaffeMVN
from keras_caffe.layers.normalize import CaffeNormalize
from keras_caffe.layers.parameter import CaffeParameter
from keras_caffe.layers.permute import CaffePermute
from keras_caffe.layers.pooling import CaffePooling2D
from keras_caffe.layers.power import CaffePower
from keras_caffe.layers.prior_box import CaffePriorBox
from keras_caffe.layers.proposal import CaffeProposal
from keras_caffe.layers.psroi_pooling import CaffePSROIPooling
from keras_caffe.layers.recurrent import CaffeLSTM, CaffeLSTMUnit, CaffeRNN
from keras_caffe.layers.roi_pooling import CaffeROIPooling
from keras_caffe.layers.reduction import CaffeReduction
from keras_caffe.layers.reshape import CaffeReshape
from keras_caffe.layers.scale import CaffeScale
from keras_caffe.layers.shuffle_channel import CaffeShuffleChannel
from keras_caffe.layers.slice import CaffeSlice
from keras_caffe.layers.spp import CaffeSPP
from keras_caffe.layers.swish import CaffeSwish
from keras_caffe.layers.threshold import CaffeThreshold
from keras_caffe.layers.tile import CaffeTile

__all__ = [
    "CaffeAbsVal",
    "CaffeAccuracy",
    "CaffeArgMax",
    "CaffeAxpy",
    "CaffeBN",
    "CaffeBNLL",
    "CaffeBatchNorm",
    "CaffeBatchNormScale",
    "CaffeBatchReindex",
    "CaffeFilter",
    "CaffeBias",
    "CaffeClip",
    "CaffeContrastiveLoss",
    "CaffeConv2D",
    "CaffeCrop",
    "CaffeDeconv2D",
    "CaffeDetectionOutput",
    "CaffeDropout",
    "CaffeEltwise",
    "CaffeEmbed",
    "CaffeEuclideanLoss",
    "CaffeExp",
    "CaffeFlatten",
    "CaffeHingeLoss",
    "CaffeIm2col",
    "CaffeInfogainLoss",
    "CaffeInterp",
    "CaffeLRN",
    "CaffeLSTM",
    "CaffeLSTMUnit",
    "CaffeMaxUnpool2D",
    "CaffeROIPooling",
    "CaffeLog",
    "CaffeLossWeight",
    "CaffeMVN",
    "CaffeMultinomialLogisticLoss",
    "CaffeNormalize",
    "CaffeParameter",
    "CaffePermute",
    "CaffePooling2D",
    "CaffePower",
    "CaffePriorBox",
    "CaffeProposal",
    "CaffePSROIPooling",
    "CaffeRNN",
    "CaffeReduction",
    "CaffeReshape",
    "CaffeSPP",
    "CaffeScale",
    "CaffeShuffleChannel",
    "CaffeSigmoidCrossEntropyLoss",
    "CaffeSlice",
    "CaffeSmoothL1Loss",
    "CaffeSoftmaxWithLoss",
    "CaffeSwish",
    "CaffeThreshold",
    "CaffeTile",
]
