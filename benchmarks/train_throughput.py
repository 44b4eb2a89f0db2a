#!/usr/bin/env python
"""Training and inference images/s of converted Caffe nets against the same nets written by
hand with stock Keras layers: AlexNet, GoogLeNet (the zoo deploy prototxt) and ResNet-50.

Run from the repository root::

    python benchmarks/train_throughput.py                          # 3 nets, small sizes (~5 min)
    python benchmarks/train_throughput.py --nets resnet50 --size 224 --batch 16
    python benchmarks/train_throughput.py --full --precision mixed_float16     # on a GPU

Per net:

* the deploy prototxt (AlexNet: forward_throughput.py's; GoogLeNet: the BVLC zoo's
  ``bvlc_googlenet/deploy.prototxt``; ResNet-50: generated here in the layout of Kaiming He's
  ``ResNet-50-deploy.prototxt``: in-place BatchNorm + Scale + ReLU after every bias-less
  convolution, Eltwise SUM shortcuts, projection shortcuts on the first block of a stage) is
  converted with ``keras_caffe.build_net``; its train form (the deploy net without the final
  Softmax, plus an Input ``label`` and a SoftmaxWithLoss) is converted in phase TRAIN;
* the same architecture is written by hand with stock Keras layers (Conv2D with
  ZeroPadding2D where Caffe pads explicitly, MaxPooling2D 'same' for Caffe's ceil-mode pools,
  BatchNormalization for Caffe's BatchNorm + Scale pair, ``tf.nn.local_response_normalization``
  for LRN, GlobalAveragePooling2D, Dense, SparseCategoricalCrossentropy from logits);
* weights are copied from the converted models by layer name (BatchNormalization gets
  ``gamma, beta`` from Caffe's Scale blobs and ``moving_mean, moving_variance`` = Caffe's
  ``mean / s, variance / s``); ResNet's BatchNorm statistics are first calibrated by one
  TRAIN-mode forward pass and its Scale blobs randomised, so the check means something;
* check, before timing: inference logits and probabilities equal (relative difference
  <= ``--tolerance``), and in the train models the loss and the gradients of the first and
  last convolution and of the classifier equal (training=False, so dropout is off and
  BatchNorm uses its statistics; gradients in relative L2 norm <= ``--grad-tolerance``, see
  the printed noise floor); under a mixed policy logits, probabilities and loss only, with a
  limit scaled by the stock model's own difference from its float32 twin;
* training: one compiled step per iteration for both (``tf.function``: forward with
  training=True, loss, ``tape.gradient``, ``keras.optimizers.SGD(momentum=0.9).apply``, the
  loss read back); the converted model's loss is its own SoftmaxWithLoss (``model.losses``);
* inference: ``model.predict_on_batch`` (or ``--mode tf_function``) on the deploy models.

Timing as in forward_throughput.py: interleaved rounds, median images/s, ratio = converted /
stock taken per round.  Target: ratio >= 0.97 in both modes.

``--what-if`` (default on) adds variants that show where a gap comes from, applied to a
second converted model only (never to the library): ``converted[copy-on-read off]`` for nets
whose InnerProduct weights keras_caffe assigns in chunks (see README), and
``converted[BN+Scale folded]`` for nets with BatchNorm: each CaffeBatchNorm + CaffeScale pair
computed as one ``x * a + b`` (inference) -- what emitting a stock BatchNormalization for the
pair would buy.
"""

from __future__ import annotations

import argparse
import os
import time

import _common as C  # noqa: E402  (puts the repository on sys.path)
import numpy as np  # noqa: E402
import suite_nets  # noqa: E402
from suite_nets import RESNET_STAGES  # noqa: E402,F401  (kept importable from here)

TARGET = 0.97
# the real prototxt from ../shared/zoo beside the repository (read there, never copied)
ZOO_GOOGLENET = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir,
                             "shared", "zoo", "bvlc", "models", "bvlc_googlenet", "deploy.prototxt")

# ----------------------------------------------------------------------------- prototxts

def resnet50_prototxt(batch=1, size=224, use_global_stats=True, stages=RESNET_STAGES):
    """ResNet-50 as in Kaiming He's ResNet-50-deploy.prototxt (names and layer order);
    ``stages`` = (stage, blocks, bottleneck width, output width) rows (``--smoke``: fewer)."""
    out = ['name: "ResNet-50"',
           f'layer {{ name: "data" type: "Input" top: "data" '
           f'input_param {{ shape: {{ dim: {batch} dim: 3 dim: {size} dim: {size} }} }} }}']
    bn = "batch_norm_param { use_global_stats: true } " if use_global_stats else ""

    def conv(name, bottom, top, n, k, s=1, p=0):
        out.append(f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{top}" '
                   f'convolution_param {{ num_output: {n} kernel_size: {k} stride: {s} pad: {p} '
                   f'bias_term: false weight_filler {{ type: "msra" }} }} }}')

    def bn_scale(suffix, blob):
        out.append(f'layer {{ name: "bn{suffix}" type: "BatchNorm" bottom: "{blob}" top: "{blob}" '
                   f'{bn}}}')
        out.append(f'layer {{ name: "scale{suffix}" type: "Scale" bottom: "{blob}" top: "{blob}" '
                   f'scale_param {{ bias_term: true }} }}')

    def relu(name, blob):
        out.append(f'layer {{ name: "{name}" type: "ReLU" bottom: "{blob}" top: "{blob}" }}')

    conv("conv1", "data", "conv1", 64, 7, 2, 3)
    bn_scale("_conv1", "conv1")
    relu("conv1_relu", "conv1")
    out.append('layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1" '
               'pooling_param { pool: MAX kernel_size: 3 stride: 2 } }')
    x = "pool1"
    for stage, blocks, mid, width in stages:
        for b in range(blocks):
            n = f"{stage}{'abcdef'[b]}"
            stride = 2 if b == 0 and stage > 2 else 1
            if b == 0:
                conv(f"res{n}_branch1", x, f"res{n}_branch1", width, 1, stride)
                bn_scale(f"{n}_branch1", f"res{n}_branch1")
                short = f"res{n}_branch1"
            else:
                short = x
            conv(f"res{n}_branch2a", x, f"res{n}_branch2a", mid, 1, stride)
            bn_scale(f"{n}_branch2a", f"res{n}_branch2a")
            relu(f"res{n}_branch2a_relu", f"res{n}_branch2a")
            conv(f"res{n}_branch2b", f"res{n}_branch2a", f"res{n}_branch2b", mid, 3, 1, 1)
            bn_scale(f"{n}_branch2b", f"res{n}_branch2b")
            relu(f"res{n}_branch2b_relu", f"res{n}_branch2b")
            conv(f"res{n}_branch2c", f"res{n}_branch2b", f"res{n}_branch2c", width, 1)
            bn_scale(f"{n}_branch2c", f"res{n}_branch2c")
            out.append(f'layer {{ name: "res{n}" type: "Eltwise" bottom: "{short}" '
                       f'bottom: "res{n}_branch2c" top: "res{n}" }}')
            relu(f"res{n}_relu", f"res{n}")
            x = f"res{n}"
    down = 4 * 2 ** sum(1 for row in stages if row[0] > 2)   # 32 for ResNet-50's stages
    out.append(f'layer {{ name: "pool5" type: "Pooling" bottom: "{x}" top: "pool5" '
               f'pooling_param {{ pool: AVE kernel_size: {size // down} stride: 1 }} }}')
    out.append('layer { name: "fc1000" type: "InnerProduct" bottom: "pool5" top: "fc1000" '
               'inner_product_param { num_output: 1000 weight_filler { type: "msra" } '
               'bias_filler { type: "constant" value: 0 } } }')
    out.append('layer { name: "prob" type: "Softmax" bottom: "fc1000" top: "prob" }')
    return "\n".join(out) + "\n"


def googlenet_param(size, last=None):
    """The zoo deploy prototxt; for sizes other than 224 pool5's 7x7 kernel becomes size/32.
    Where ``../shared/zoo`` is absent (or for a net cut after inception ``last``) the same
    net is generated (``suite_nets.googlenet_prototxt``, checked equal to the zoo's file)."""
    from keras_caffe.proto import text

    if last is not None or not os.path.isfile(ZOO_GOOGLENET):
        return text.parse_net(suite_nets.googlenet_prototxt(10, size, last))
    net = text.read_net(ZOO_GOOGLENET)
    if size != 224:
        for layer in net.layer:
            if layer.name == "pool5/7x7_s1":
                layer.pooling_param.kernel_size = size // 32
    return net


def alexnet_param(size):
    import forward_throughput as ft
    from keras_caffe.proto import text

    return text.parse_net(ft.ALEXNET)


def with_batch(net, batch, size):
    """A copy of a deploy NetParameter with its Input at (batch, 3, size, size)."""
    from keras_caffe.proto import caffe_pb2

    out = caffe_pb2.NetParameter()
    out.CopyFrom(net)
    shape = out.layer[0].input_param.shape[0]
    del shape.dim[:]
    shape.dim.extend([batch, 3, size, size])
    return out


def train_param(deploy, logits, batch):
    """Deploy net without the final Softmax, with an Input label and a SoftmaxWithLoss."""
    from keras_caffe.proto import caffe_pb2

    net = caffe_pb2.NetParameter()
    net.name = deploy.name
    for layer in deploy.layer:
        if layer.type == "Softmax":
            continue
        if layer.type == "BatchNorm" and layer.batch_norm_param.HasField("use_global_stats"):
            layer = _copy(layer)
            layer.batch_norm_param.ClearField("use_global_stats")  # the phase decides
        net.layer.add().CopyFrom(layer)
    label = net.layer.add()
    label.name, label.type = "label", "Input"
    label.top.append("label")
    label.input_param.shape.add().dim.append(batch)
    loss = net.layer.add()
    loss.name, loss.type = "loss", "SoftmaxWithLoss"
    loss.bottom.extend([logits, "label"])
    loss.top.append("loss")
    return net


def _copy(layer):
    from keras_caffe.proto import caffe_pb2

    out = caffe_pb2.LayerParameter()
    out.CopyFrom(layer)
    return out


# ----------------------------------------------------------------------------- stock models

def kn(caffe_name):
    from keras_caffe.graph.names import keras_name
    return keras_name(caffe_name)


def _lrn(name):
    """tf.nn.local_response_normalization with Caffe's LRN parameters (local_size 5, alpha
    1e-4, beta 0.75, k 1).  Computed in float32 under a mixed policy, as a careful hand-written
    model would (its sum of squares overflows float16), and as keras_caffe's CaffeLRN does."""
    import keras
    import tensorflow as tf

    class TFLocalResponseNormalization(keras.layers.Layer):
        def call(self, x):
            return tf.nn.local_response_normalization(x, depth_radius=2, bias=1.0,
                                                      alpha=1e-4 / 5, beta=0.75)

        def compute_output_shape(self, input_shape):
            return input_shape

    policy = keras.mixed_precision.global_policy().name
    return TFLocalResponseNormalization(name=kn(name),
                                        dtype="float32" if policy != "float32" else None)


def stock_alexnet(size):
    """forward_throughput.py's hand-written AlexNet (tf.nn.lrn), up to the fc8 logits."""
    import keras
    L = keras.layers
    inp = keras.Input((size, size, 3), name="data")
    x = L.Conv2D(96, 11, strides=4, padding="valid", name="conv1")(inp)
    x = L.ReLU(name="relu1")(x)
    x = _lrn("norm1")(x)
    x = L.MaxPooling2D(3, 2, name="pool1")(x)
    x = L.Conv2D(256, 5, padding="same", groups=2, name="conv2")(x)
    x = L.ReLU(name="relu2")(x)
    x = _lrn("norm2")(x)
    x = L.MaxPooling2D(3, 2, name="pool2")(x)
    x = L.Conv2D(384, 3, padding="same", name="conv3")(x)
    x = L.ReLU(name="relu3")(x)
    x = L.Conv2D(384, 3, padding="same", groups=2, name="conv4")(x)
    x = L.ReLU(name="relu4")(x)
    x = L.Conv2D(256, 3, padding="same", groups=2, name="conv5")(x)
    x = L.ReLU(name="relu5")(x)
    x = L.MaxPooling2D(3, 2, name="pool5")(x)
    x = L.Flatten(name="flatten")(x)
    for fc in ("fc6", "fc7"):
        x = L.Dense(4096, name=fc)(x)
        x = L.ReLU(name="relu" + fc[2:])(x)
        x = L.Dropout(0.5, name="drop" + fc[2:])(x)
    return inp, L.Dense(1000, name="fc8")(x)


def stock_googlenet(size, last=None):
    import keras
    L = keras.layers
    inp = keras.Input((size, size, 3), name="data")

    def conv(x, n, k, name, pad=None, stride=1):
        if pad:
            x = L.ZeroPadding2D(pad, name=kn(name) + "_pad")(x)
        x = L.Conv2D(n, k, strides=stride, padding="same" if pad is None and k > 1 else "valid",
                     name=kn(name))(x)
        return L.ReLU(name=kn(name) + "_relu")(x)

    def inception(x, name, c1, c3r, c3, c5r, c5, pp):
        a = conv(x, c1, 1, f"{name}/1x1")
        b = conv(conv(x, c3r, 1, f"{name}/3x3_reduce"), c3, 3, f"{name}/3x3")
        c = conv(conv(x, c5r, 1, f"{name}/5x5_reduce"), c5, 5, f"{name}/5x5")
        d = L.MaxPooling2D(3, 1, padding="same", name=kn(f"{name}/pool"))(x)
        d = conv(d, pp, 1, f"{name}/pool_proj")
        return L.Concatenate(axis=-1, name=kn(f"{name}/output"))([a, b, c, d])

    x = conv(inp, 64, 7, "conv1/7x7_s2", pad=3, stride=2)
    x = L.MaxPooling2D(3, 2, padding="same", name=kn("pool1/3x3_s2"))(x)
    x = _lrn("pool1/norm1")(x)
    x = conv(x, 64, 1, "conv2/3x3_reduce")
    x = conv(x, 192, 3, "conv2/3x3")
    x = _lrn("conv2/norm2")(x)
    x = L.MaxPooling2D(3, 2, padding="same", name=kn("pool2/3x3_s2"))(x)
    rows = suite_nets.inceptions(last)
    for row in rows:
        x = inception(x, *row)
        if row[0] in suite_nets.POOL_AFTER and row is not rows[-1]:
            x = L.MaxPooling2D(3, 2, padding="same", name=kn(suite_nets.POOL_AFTER[row[0]]))(x)
    x = L.GlobalAveragePooling2D(name=kn("pool5/7x7_s1"))(x)
    x = L.Dropout(0.4, name=kn("pool5/drop_7x7_s1"))(x)
    return inp, L.Dense(1000, name=kn("loss3/classifier"))(x)


def stock_resnet50(size, stages=RESNET_STAGES):
    import keras
    L = keras.layers
    inp = keras.Input((size, size, 3), name="data")

    def conv_bn(x, n, k, name, suffix, stride=1, relu=True):
        x = L.Conv2D(n, k, strides=stride, padding="same" if k > 1 else "valid", use_bias=False,
                     name=name)(x)
        x = L.BatchNormalization(epsilon=1e-5, name=f"bn{suffix}")(x)
        return L.ReLU(name=f"{name}_relu")(x) if relu else x

    x = L.ZeroPadding2D(3, name="conv1_pad")(inp)
    x = L.Conv2D(64, 7, strides=2, use_bias=False, name="conv1")(x)
    x = L.BatchNormalization(epsilon=1e-5, name="bn_conv1")(x)
    x = L.ReLU(name="conv1_relu")(x)
    x = L.MaxPooling2D(3, 2, padding="same", name="pool1")(x)
    for stage, blocks, mid, width in stages:
        for b in range(blocks):
            n = f"{stage}{'abcdef'[b]}"
            stride = 2 if b == 0 and stage > 2 else 1
            short = (conv_bn(x, width, 1, f"res{n}_branch1", f"{n}_branch1", stride, relu=False)
                     if b == 0 else x)
            y = conv_bn(x, mid, 1, f"res{n}_branch2a", f"{n}_branch2a", stride)
            y = conv_bn(y, mid, 3, f"res{n}_branch2b", f"{n}_branch2b")
            y = conv_bn(y, width, 1, f"res{n}_branch2c", f"{n}_branch2c", relu=False)
            x = L.ReLU(name=f"res{n}_relu")(L.Add(name=f"res{n}")([short, y]))
    x = L.GlobalAveragePooling2D(name="pool5")(x)
    return inp, L.Dense(1000, name="fc1000")(x)


# name -> (deploy NetParameter builder, stock builder, logits layer, first conv,
#          default batch, default size, full-size batch, full size, input scale)
NETS = {
    "alexnet": (alexnet_param, stock_alexnet, "fc8", "conv1", 8, 227, 128, 227, 1.0),
    "googlenet": (googlenet_param, stock_googlenet, "loss3/classifier", "conv1/7x7_s2", 4, 224,
                  64, 224, 1.0),
    "resnet50": (lambda size: None, stock_resnet50, "fc1000", "conv1", 4, 128, 64, 224, 1.0),
}


# ----------------------------------------------------------------------------- weights

def copy_weights(converted, stock):
    """Copy every weighted stock layer's weights from the converted model, by name."""
    import keras

    conv_layers = {l.name: l for l in converted.layers}
    copied = 0
    for layer in stock.layers:
        if not layer.weights:
            continue
        if isinstance(layer, keras.layers.BatchNormalization):
            suffix = layer.name[2:]                                    # bn<suffix>
            bn = conv_layers[layer.name]
            if hasattr(bn, "scale_weights"):  # BatchNorm + Scale folded into one layer
                mean, var, s = (v.numpy() for v in bn.batch_norm_weights())
                gamma, beta = (v.numpy() for v in bn.scale_weights())
            else:
                mean, var, s = bn.get_weights()
                gamma, beta = conv_layers["scale" + suffix].get_weights()
            f = 0.0 if s[0] == 0 else 1.0 / s[0]
            layer.set_weights([gamma, beta, mean * f, var * f])
            copied += 2 * gamma.size + mean.size + var.size + 1
        else:
            layer.set_weights(conv_layers[layer.name].get_weights())
            copied += sum(int(np.prod(w.shape)) for w in layer.weights)
    total = sum(int(np.prod(w.shape)) for w in converted.weights)
    if copied != total:
        raise SystemExit(f"copied {copied} of the converted model's {total} parameters")


def randomize_scales(model, rng):
    """Random gamma in [0.5, 1.5) and beta in [-0.2, 0.2) for every learned CaffeScale."""
    from keras_caffe.layers import CaffeBatchNormScale, CaffeScale

    for layer in model.layers:
        if isinstance(layer, CaffeBatchNormScale):
            gamma, *beta = layer.scale_weights()
            gamma.assign(rng.uniform(0.5, 1.5, gamma.shape).astype(np.float32))
            for b in beta:
                b.assign(rng.uniform(-0.2, 0.2, b.shape).astype(np.float32))
            continue
        if isinstance(layer, CaffeScale) and layer.weights:
            ws = layer.get_weights()
            ws[0] = rng.uniform(0.5, 1.5, ws[0].shape).astype(np.float32)
            if len(ws) > 1:
                ws[1] = rng.uniform(-0.2, 0.2, ws[1].shape).astype(np.float32)
            layer.set_weights(ws)


# ----------------------------------------------------------------------------- what-ifs

def fold_batchnorm_scale(model, fold_scale=True):
    """What-if: CaffeBatchNorm computes ``x * a + b`` with per-channel ``a, b`` (global
    statistics: ``a = 1/sqrt(var/s + eps)``, ``b = -mean/s * a``; TRAIN mode: the batch mean and
    biased variance, the blobs updated as CaffeBatchNorm does) -- two full-tensor ops instead of
    subtract + divide.  With ``fold_scale`` the following CaffeScale's ``gamma, beta`` go into
    ``a, b`` too and the Scale passes its input through: the pair costs what one stock
    BatchNormalization costs.  Patches the layers' ``call`` in this model only; returns the
    number of BatchNorm layers patched."""
    from keras import ops

    from keras_caffe.layers import CaffeBatchNorm, CaffeScale

    scales = {}
    for layer in model.layers:
        if isinstance(layer, CaffeScale) and layer.weights and layer.bias_term \
                and len(layer.axes) == 1:
            producer = layer.input._keras_history[0]
            if isinstance(producer, CaffeBatchNorm):
                scales[id(producer)] = layer
    patched = 0
    for bn in model.layers:
        if not isinstance(bn, CaffeBatchNorm):
            continue
        sc = scales.get(id(bn)) if fold_scale else None

        def bn_call(inputs, training=None, bn=bn, sc=sc):
            x = inputs
            use_global = bn.use_global_stats
            if use_global is None:
                use_global = not training
            if use_global:
                s = ops.convert_to_tensor(bn.scale_factor)
                f = ops.where(ops.equal(s, 0.0), ops.zeros_like(s), ops.divide(1.0, s))
                mean, var = ops.multiply(bn.mean, f), ops.multiply(bn.variance, f)
            else:
                axes = tuple(i for i in range(bn._rank) if i != bn._axis)
                mean, var = ops.moments(x, axes=axes)
                bn._update_blobs(x, mean, var)
            a = ops.rsqrt(ops.add(var, bn.epsilon))
            if sc is not None:
                a = ops.multiply(a, sc.scale)
                b = ops.subtract(sc.bias, ops.multiply(mean, a))
            else:
                b = ops.negative(ops.multiply(mean, a))
            return ops.add(ops.multiply(x, a), b)

        bn.call = bn_call
        if sc is not None:
            sc.call = lambda inputs: inputs
        patched += 1
    return patched


# ----------------------------------------------------------------------------- steps

def make_train_step(model, loss_fn, precision, xla):
    import keras
    import tensorflow as tf

    opt = keras.optimizers.SGD(learning_rate=1e-4, momentum=0.9)
    if precision == "mixed_float16":
        opt = keras.optimizers.LossScaleOptimizer(opt)
    variables = model.trainable_variables
    opt.build(variables)

    @tf.function(jit_compile=xla or None)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(x, y)
            scaled = opt.scale_loss(loss) if precision == "mixed_float16" else loss
        opt.apply(tape.gradient(scaled, variables), variables)
        return loss
    return step


def converted_loss(model):
    import tensorflow as tf

    def fn(x, y, training=True):
        model({"data": x, "label": y}, training=training)
        return tf.add_n([tf.cast(l, tf.float32) for l in model.losses])
    return fn


def stock_loss(model):
    import keras
    import tensorflow as tf

    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def fn(x, y, training=True):
        return ce(y, tf.cast(model(x, training=training), tf.float32))
    return fn


def infer_runner(model, x, mode):
    import tensorflow as tf

    if mode == "predict_on_batch":
        feeds = {"data": x}
        return lambda: model.predict_on_batch(feeds)
    t = tf.constant(x)
    fn = tf.function(lambda v: model({"data": v}, training=False))
    return lambda: {k: v.numpy() for k, v in fn(t).items()}


# ----------------------------------------------------------------------------- one net

class Mismatch(SystemExit):
    """The converted and the stock model disagree (nothing is timed)."""


def deploy_param(name, batch, size, tiny=False):
    """The deploy NetParameter of ``name`` at (batch, 3, size, size); ``tiny``: the reduced
    depth of ``suite_nets`` (same layer types, fewer blocks), for smoke runs."""
    from keras_caffe.proto import text

    if name == "resnet50":
        stages = suite_nets.TINY_RESNET_STAGES if tiny else RESNET_STAGES
        return text.parse_net(resnet50_prototxt(batch, size, use_global_stats=True, stages=stages))
    if name == "googlenet":
        return with_batch(googlenet_param(size, suite_nets.TINY_GOOGLENET_LAST if tiny else None),
                          batch, size)
    return with_batch(NETS[name][0](size), batch, size)


def stock_inputs_outputs(name, size, tiny=False):
    """(input, logits) of the hand-written stock twin of ``deploy_param(name, ..., tiny)``."""
    make_stock = NETS[name][1]
    if tiny and name == "resnet50":
        return make_stock(size, suite_nets.TINY_RESNET_STAGES)
    if tiny and name == "googlenet":
        return make_stock(size, suite_nets.TINY_GOOGLENET_LAST)
    return make_stock(size)


def prepare(name, args, notes, precision=None, perturb=False):
    """Build the converted train + deploy models of ``name`` and their stock twins, copy the
    weights and check that both compute the same (raises :class:`Mismatch` otherwise).
    Returns a namespace of everything the timing needs.
    ``perturb`` (a self-test of the check) scales the converted deploy model's classifier
    kernel by 1.5 after the copy, which the check must catch."""
    import types

    import keras
    import tensorflow as tf

    import keras_caffe

    make_param, make_stock, logits, first_conv, b0, s0, bf, sf, scale = NETS[name]
    tiny = bool(getattr(args, "tiny", False))
    batch = args.batch or (bf if args.full else b0)
    size = args.size or (sf if args.full else s0)
    if name == "alexnet" and size != 227:
        notes.append(f"alexnet: --size {size} ignored (its fc6 is sized for 227)")
        size = 227
    if name in ("googlenet", "resnet50") and size % 32:
        raise SystemExit(f"{name}: --size must be a multiple of 32")
    if name == "googlenet" and not os.path.isfile(ZOO_GOOGLENET):
        notes.append(f"googlenet: {ZOO_GOOGLENET} not found; the same net is generated "
                     "(suite_nets.googlenet_prototxt)")
    tol = args.tolerance if precision in (None, "float32") else max(args.tolerance, 2e-2)
    rng = np.random.default_rng(args.seed)
    deploy = deploy_param(name, batch, size, tiny)
    train = train_param(deploy, logits, batch)
    kl = kn(logits)

    def build(param, phase):
        return keras_caffe.build_net(param, phase=phase, seed=args.seed, precision=precision).model

    t0 = time.perf_counter()
    conv_train = build(train, "train")
    conv_deploy = build(deploy, "test")
    x = rng.uniform(-scale, scale, (batch, size, size, 3)).astype(np.float32)
    y = rng.integers(0, 1000, batch).astype(np.float32)
    if any(l.__class__.__name__ in ("CaffeBatchNorm", "CaffeBatchNormScale")
           for l in conv_train.layers):
        randomize_scales(conv_train, rng)
        conv_train({"data": x, "label": y}, training=True)      # BN blobs := batch statistics
        for layer in conv_deploy.layers:
            if layer.weights:
                layer.set_weights(conv_train.get_layer(layer.name).get_weights())
    else:
        conv_deploy.set_weights(conv_train.get_weights())
    notes.append(f"{name}: converted train + deploy models built in {time.perf_counter() - t0:.1f} s"
                 f" ({conv_deploy.count_params() / 1e6:.1f} M parameters), batch {batch}, "
                 f"{size}x{size}, precision {precision or 'float32'}")

    policy = keras.mixed_precision.global_policy()
    if precision:
        keras.mixed_precision.set_global_policy(precision)
    try:
        inp, out = stock_inputs_outputs(name, size, tiny)
        stock_train = keras.Model(inp, out, name=f"{name}_stock")
        prob = keras.layers.Softmax(name="prob", dtype="float32")(out)
        stock_deploy = keras.Model({"data": inp}, {"prob": prob}, name=f"{name}_stock_deploy")
    finally:
        keras.mixed_precision.set_global_policy(policy)
    copy_weights(conv_deploy, stock_deploy)
    mixed = precision not in (None, "float32")
    if mixed:
        # Reduced precision rounds differently in the two models (e.g. BN+Scale, kept float32
        # by keras_caffe, vs BatchNormalization's float16 output); the limit scales with the
        # stock model's own error against float32.
        inp32, out32 = stock_inputs_outputs(name, size, tiny)
        stock32 = keras.Model(inp32, out32)
        copy_weights(conv_deploy, keras.Model({"data": inp32}, {"prob": keras.layers.Softmax(
            name="prob")(out32)}))
        err = C.rel_diff(stock32.predict_on_batch(x), stock_train.predict_on_batch(x))[2]
        tol = max(tol, 3 * err)
        notes.append(f"{name}: {precision}: the stock model's logits differ from its float32 "
                     f"twin by rel {err:.2g}; the check's limit is max(2e-2, 3x that) = {tol:.2g}")

    if perturb:
        kernel = conv_deploy.get_layer(kl).kernel
        kernel.assign(kernel * 1.5)
        notes.append(f"{name}: --perturb: the converted deploy model's {logits} kernel x 1.5")

    # ---- checks
    sub_c = keras.Model(conv_deploy.input, conv_deploy.get_layer(kl).output)
    checks = {"logits": C.rel_diff(sub_c.predict_on_batch({"data": x}),
                                   stock_train.predict_on_batch(x)),
              "prob": C.rel_diff(conv_deploy.predict_on_batch({"data": x})["prob"],
                                 stock_deploy.predict_on_batch({"data": x})["prob"])}
    closs, sloss = converted_loss(conv_train), stock_loss(stock_train)
    xt, yt = tf.constant(x), tf.constant(y)
    last_conv = [l.name for l in conv_deploy.layers if isinstance(l, keras.layers.Conv2D)][-1]
    names = [kn(first_conv), last_conv, kl]

    def loss_and_grads(model, fn, xs):
        wanted = [model.get_layer(n).kernel for n in names]
        with tf.GradientTape() as tape:
            loss = fn(xs, yt, training=False)
        return float(loss), tape.gradient(loss, wanted)

    lc, gc = loss_and_grads(conv_train, closs, xt)
    ls, gs = loss_and_grads(stock_train, sloss, xt)
    _, gn = loss_and_grads(stock_train, sloss, tf.constant(x * np.float32(1 + 1e-6)))
    checks["train loss"] = C.rel_diff([lc], [ls]) + (tol,)
    if not mixed:  # unscaled float16 gradients underflow: they are checked in float32 runs
        for n, a, b in zip(names, gc, gs):
            checks[f"grad {n} (L2)"] = C.rel_norm_diff(a, b) + (args.grad_tolerance,)
    checks["logits"] += (tol,)
    checks["prob"] += (tol,)
    noise = max(C.rel_norm_diff(a, b)[2] for a, b in zip(gn, gs))
    for k, (d, s, rel, limit) in checks.items():
        ok = rel <= limit
        what = "||diff||, ||value||" if "(L2)" in k else "max|diff|, max|value|"
        notes.append(f"{name}: {k}: {what} {d:.3g}, {s:.3g}, rel {rel:.2g} (limit {limit:g}) "
                     f"-> {'same' if ok else 'MISMATCH'}")
        if not ok and not os.environ.get("KC_BENCH_NOCHECK"):
            raise Mismatch(f"{name}: converted and stock differ ({k}: {rel:.3g} > {limit}); "
                           "not timing")
    if not mixed:
        notes.append(f"{name}: gradient noise floor: the stock model's own gradients move by up "
                     f"to rel {noise:.2g} (L2) when the input is scaled by 1 + 1e-6 (a "
                     f"rounding-level change flips a few ReLU / max-pool decisions, which moves "
                     f"whole gradient columns; the same happens between two models that round "
                     f"differently, e.g. BN+Scale as (x-m)/sqrt(v+e)*g+b vs x*a+b), hence "
                     f"--grad-tolerance {args.grad_tolerance:g}")
    else:
        notes.append(f"{name}: {precision}: gradients not compared (unscaled float16 gradients "
                     "underflow; they are checked in float32 runs)")
    return types.SimpleNamespace(
        name=name, batch=batch, size=size, scale=scale, x=x, y=y, xt=xt, yt=yt, tol=tol,
        precision=precision, mixed=mixed, deploy=deploy, train=train, build=build,
        conv_train=conv_train, conv_deploy=conv_deploy, stock_train=stock_train,
        stock_deploy=stock_deploy, closs=closs, sloss=sloss)


def bench(name, args, rows, notes):
    P = prepare(name, args, notes, precision=args.precision)
    if P is None:
        return
    x, xt, yt, batch, precision = P.x, P.xt, P.yt, P.batch, P.precision
    conv_train, conv_deploy, stock_train, stock_deploy = (P.conv_train, P.conv_deploy,
                                                          P.stock_train, P.stock_deploy)
    closs, sloss, build, train, deploy = P.closs, P.sloss, P.build, P.train, P.deploy

    # ---- what-if variants (second converted models, patched in this process only)
    whatif_train, whatif_deploy = {}, {}
    if args.what_if:
        chunked = C.chunked_dense_layers(conv_deploy)
        if chunked:
            wt, wd = build(train, "train"), build(deploy, "test")
            wt.set_weights(conv_train.get_weights())
            wd.set_weights(conv_deploy.get_weights())
            C.disable_copy_on_read(wt)
            C.disable_copy_on_read(wd)
            whatif_train["converted[copy-on-read off]"] = wt
            whatif_deploy["converted[copy-on-read off]"] = wd
            notes.append(f"{name}: converted[copy-on-read off] = a second converted model with "
                         f"tf.raw_ops.DisableCopyOnRead on its variables; keras_caffe assigned "
                         f"{', '.join(chunked)} in chunks (ResourceStridedSliceAssign)")
        if any(l.__class__.__name__ == "CaffeBatchNorm" for l in conv_deploy.layers):
            # (the library now folds BatchNorm + Scale itself; this what-if applies only to
            # nets it does not fold)
            for fold, tag in ((True, "BN+Scale folded"), (False, "BN as x*a+b")):
                wd = build(deploy, "test")
                wd.set_weights(conv_deploy.get_weights())
                n = fold_batchnorm_scale(wd, fold_scale=fold)
                d = C.rel_diff(conv_deploy.predict_on_batch({"data": x})["prob"],
                               wd.predict_on_batch({"data": x})["prob"])
                whatif_deploy[f"converted[{tag}]"] = wd
                if fold:
                    wt = build(train, "train")
                    wt.set_weights(conv_train.get_weights())
                    fold_batchnorm_scale(wt, fold_scale=True)
                    whatif_train[f"converted[{tag}]"] = wt
                notes.append(f"{name}: converted[{tag}] = a second converted model whose {n} "
                             f"CaffeBatchNorm layers compute x*a+b"
                             + (" with the following Scale's gamma/beta folded into a, b (train "
                                "mode: batch moments, blobs updated as CaffeBatchNorm does)"
                                if fold else " (the Scale layers unchanged)")
                             + f"; prob rel diff {d[2]:.1g} vs converted")

    # ---- training
    if "train" in args.modes:
        steps = {"converted": make_train_step(conv_train, closs, precision, args.xla),
                 "stock": make_train_step(stock_train, sloss, precision, args.xla)}
        for label, m in whatif_train.items():
            steps[label] = make_train_step(m, converted_loss(m), precision, args.xla)
        runs = {label: (lambda s=s: float(s(xt, yt))) for label, s in steps.items()}
        _collect(name, "train", runs, batch, args, rows, notes)
    # ---- inference
    if "infer" in args.modes:
        runs = {"converted": infer_runner(conv_deploy, x, args.mode),
                "stock": infer_runner(stock_deploy, x, args.mode)}
        for label, m in whatif_deploy.items():
            runs[label] = infer_runner(m, x, args.mode)
        _collect(name, "infer", runs, batch, args, rows, notes)


def _collect(name, mode, runs, batch, args, rows, notes):
    order = ["stock", "converted"] + [k for k in runs if k not in ("stock", "converted")]
    runs = {k: runs[k] for k in order}
    samples, iters = C.time_interleaved(runs, args.repeats, args.min_time, args.warmup)
    ref = samples["stock"]
    for label in runs:
        s = samples[label]
        ratio = None if label == "stock" else C.paired_ratio(ref, s)     # img/s ratio
        best = None if label == "stock" else min(ref) / min(s)
        rows.append((name, mode, label, batch, iters, batch / C.median(s), batch / max(s),
                     batch / min(s), 1e3 * C.median(s), ratio, best))


# ----------------------------------------------------------------------------- main

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nets", default="alexnet,googlenet,resnet50", help="(%(default)s)")
    p.add_argument("--modes", default="train,infer", help="(%(default)s)")
    p.add_argument("--batch", type=int, default=None,
                   help="batch size (default alexnet 8, googlenet 4, resnet50 4; --full: 128/64/64)")
    p.add_argument("--size", type=int, default=None,
                   help="image size (default alexnet 227, googlenet 224, resnet50 128; --full: "
                        "227/224/224); googlenet and resnet50 take multiples of 32")
    p.add_argument("--full", action="store_true", help="full-size defaults (for a GPU)")
    p.add_argument("--precision", default=None,
                   choices=(None, "float32", "mixed_float16", "mixed_bfloat16"),
                   help="Keras dtype policy for both models (default float32)")
    p.add_argument("--xla", action="store_true", help="jit_compile the training steps")
    p.add_argument("--mode", choices=("predict_on_batch", "tf_function"), default="predict_on_batch",
                   help="inference path for both models (%(default)s)")
    p.add_argument("--repeats", type=int, default=7, help="interleaved rounds (%(default)s)")
    p.add_argument("--min-time", type=float, default=1.0,
                   help="seconds per timed block (%(default)s)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls per variant (%(default)s)")
    p.add_argument("--tolerance", type=float, default=1e-4,
                   help="max relative difference in the checks (float32; mixed: 2e-2)")
    p.add_argument("--grad-tolerance", type=float, default=5e-2,
                   help="max relative L2 difference of the checked gradients (%(default)s; "
                        "see the noise-floor note)")
    p.add_argument("--no-what-if", dest="what_if", action="store_false",
                   help="skip the what-if variants")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]

    tf, keras = C.quiet_tensorflow()
    start = time.perf_counter()
    rows, notes = [], []
    for name in [n.strip() for n in args.nets.split(",") if n.strip()]:
        if name not in NETS:
            raise SystemExit(f"unknown net {name!r} (choose from {', '.join(NETS)})")
        t0 = time.perf_counter()
        bench(name, args, rows, notes)
        notes.append(f"{name}: {time.perf_counter() - t0:.0f} s")

    gpus = tf.config.list_physical_devices("GPU")
    print(f"\ntrain/inference throughput, TF {tf.__version__} / Keras {keras.__version__}, "
          f"{os.cpu_count()} CPU(s), {len(gpus)} GPU(s), precision {args.precision or 'float32'}"
          f"{', XLA' if args.xla else ''}, inference via {args.mode}, {args.repeats} interleaved "
          f"rounds of >= {args.min_time}s, median")
    table = []
    for net, mode, label, batch, iters, ips, lo, hi, ms, ratio, best in rows:
        verdict = ""
        if label == "converted":
            verdict = f">= {TARGET}: {'ok' if ratio >= TARGET else 'MISSED'}"
        table.append([net, mode, label, batch, iters, f"{ips:.1f}", f"{lo:.1f}", f"{hi:.1f}",
                      f"{ms:.1f}", "" if ratio is None else f"{ratio:.3f}",
                      "" if best is None else f"{best:.3f}", verdict])
    C.print_table(["net", "mode", "model", "batch", "iters", "img/s", "min", "max", "ms/batch",
                   "ratio", "r(best)", "target (ratio)"], table,
                  ["<", "<", "<", ">", ">", ">", ">", ">", ">", ">", ">", "<"])
    print("img/s: median over rounds (min, max: slowest and fastest round); iters: calls per timed"
          " block\nratio = model / stock images/s, median of the per-round (paired) ratios; "
          "r(best) = fastest round / fastest stock round")
    for n in notes:
        print("  " + n)
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
