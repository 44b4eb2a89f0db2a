"""Small nets for the export tests (our own fixtures), written inline."""

# Awkward blob names: one TF takes as it is ("conv1/7x7_s2"), two it refuses.
ODD_NAMES = """
name: "odd"
layer { name: "input" type: "Input" top: "conv1/7x7_s2" input_param { shape { dim: 2 dim: 3 dim: 8 dim: 6 } } }
layer { name: "conv/a" type: "Convolution" bottom: "conv1/7x7_s2" top: "out blob"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.3 }
                      bias_filler { type: "constant" value: 0.1 } } }
layer { name: "pool" type: "Pooling" bottom: "conv1/7x7_s2" top: "pool:0"
  pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "bn" type: "BatchNorm" bottom: "pool:0" top: "pool:0" }
layer { name: "scale" type: "Scale" bottom: "pool:0" top: "pool:0" scale_param { bias_term: true } }
"""

# conv / pool / fc / softmax: what TFLite must convert with builtin ops.
CLASSIFIER = """
name: "classifier"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 12 dim: 10 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.3 }
                      bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "norm1" type: "LRN" bottom: "conv1" top: "norm1" lrn_param { local_size: 3 alpha: 0.1 } }
layer { name: "pool1" type: "Pooling" bottom: "norm1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool1" top: "fc"
  inner_product_param { num_output: 5 weight_filler { type: "xavier" } } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
"""

# A train_val style net in its TEST phase: a data layer with a transform to bake in.
DATA_LAYER = """
name: "with_data"
layer { name: "data" type: "Data" top: "data" include { phase: TEST }
  transform_param { crop_size: 6 mean_file: "{mean}" scale: 0.5 }
  data_param { source: "unused_lmdb" batch_size: 1 backend: LMDB } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 2 kernel_size: 3 weight_filler { type: "gaussian" std: 0.1 } } }
"""

# A train_val style net: its outputs are Accuracy's (which divides in float64, and TFLite
# has no builtin kernel for that) and need the labels.
WITH_ACCURACY = """
name: "acc"
layer { name: "data" type: "Input" top: "data" top: "label"
  input_param { shape { dim: 2 dim: 5 } shape { dim: 2 } } }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
  inner_product_param { num_output: 3 weight_filler { type: "xavier" } } }
layer { name: "top1" type: "Accuracy" bottom: "fc" bottom: "label" top: "top1" }
"""

# Im2col makes a 6-D slice: TFLite converts it but its interpreter cannot run it.
IM2COL = """
name: "im2col"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 dim: 5 dim: 5 } } }
layer { name: "cols" type: "Im2col" bottom: "data" top: "cols" convolution_param { kernel_size: 3 } }
"""


def write_net(folder, text: str, seed: int):
    """``(prototxt, caffemodel)`` paths in ``folder``: ``text`` and the weights a build of it
    with ``seed`` draws."""
    import keras_caffe

    net = folder / "net.prototxt"
    net.write_text(text)
    weights = folder / "net.caffemodel"
    keras_caffe.save_caffemodel(keras_caffe.build_net(net, seed=seed), weights)
    return net, weights
