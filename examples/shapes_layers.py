"""Python layers for examples/python_layers.py, written against pycaffe's ``caffe.Layer``.

A net names them as ``python_param { module: "shapes_layers" layer: "..." }``; Caffe imports
this module by name, so its folder must be on ``sys.path`` (``keras-caffe python`` puts the
running script's folder there, as ``python SCRIPT`` does).

* ``ShapesDataLayer``: a data layer (no bottoms) drawing a new batch of shape images and
  labels on every forward, configured by ``param_str`` (a Python dict literal, as in Caffe's
  pascal_multilabel_datalayers.py);
* ``SoftmaxLossLayer``: softmax + multinomial logistic loss, averaged over the batch, as
  Caffe's SoftmaxWithLoss computes it;
* ``EuclideanLossLayer``: sum((a - b)^2) / 2N, as Caffe's EuclideanLoss (and pyloss.py).
"""

import ast

import caffe
import numpy as np

# only draws the images (no Caffe involved)
from keras_caffe.tools.demo_shapes import CLASSES, SIZE, draw


class ShapesDataLayer(caffe.Layer):
    """Tops: data (batch_size x 1 x 28 x 28 in [0, 1]) and label (batch_size).

    param_str: ``{'batch_size': 32, 'seed': 0}``; the TEST phase draws from another stream
    (seed + 1000) so that it never sees the training images."""

    def setup(self, bottom, top):
        if len(bottom) != 0:
            raise Exception("ShapesDataLayer is a data layer: it takes no bottoms.")
        if len(top) != 2:
            raise Exception("ShapesDataLayer needs two tops: data and label.")
        params = ast.literal_eval(self.param_str or "{}")
        unknown = set(params) - {"batch_size", "seed"}
        if unknown:
            raise Exception(f"ShapesDataLayer: unknown parameters {sorted(unknown)}")
        self.batch_size = int(params.get("batch_size", 32))
        seed = int(params.get("seed", 0)) + (1000 if self.phase == caffe.TEST else 0)
        self.rng = np.random.default_rng(seed)
        self.batches = 0
        # the shapes are fixed: reshape the tops once, here
        top[0].reshape(self.batch_size, 1, SIZE, SIZE)
        top[1].reshape(self.batch_size)

    def reshape(self, bottom, top):
        pass   # the tops keep the shapes setup gave them

    def forward(self, bottom, top):
        labels = self.rng.integers(0, len(CLASSES), self.batch_size)
        for i, label in enumerate(labels):
            top[0].data[i, 0] = draw(int(label), self.rng) / 255.0
        top[1].data[...] = labels
        self.batches += 1

    def backward(self, top, propagate_down, bottom):
        pass   # a data layer has nothing to propagate


class SoftmaxLossLayer(caffe.Layer):
    """Bottoms: scores (N x K) and integer labels (N); top: the mean of -log softmax(score)
    at the label.  The gradient is scaled by the top's diff (the loss weight)."""

    def setup(self, bottom, top):
        if len(bottom) != 2:
            raise Exception("Need two inputs: scores and labels.")

    def reshape(self, bottom, top):
        if bottom[1].count != bottom[0].num:
            raise Exception("One label per score row is needed.")
        self.prob = np.zeros_like(bottom[0].data, dtype=np.float32)
        top[0].reshape(1)

    def forward(self, bottom, top):
        scores = bottom[0].data.reshape(bottom[0].num, -1).astype(np.float64)
        scores -= scores.max(axis=1, keepdims=True)          # for stability
        prob = np.exp(scores)
        prob /= prob.sum(axis=1, keepdims=True)
        self.prob[...] = prob.reshape(self.prob.shape)
        self.labels = bottom[1].data.reshape(-1).astype(int)
        picked = prob[np.arange(len(self.labels)), self.labels]
        top[0].data[...] = -np.mean(np.log(np.maximum(picked, np.finfo(np.float32).tiny)))

    def backward(self, top, propagate_down, bottom):
        # the labels get no gradient (Caffe asks for none: propagate_down[1] is False for a
        # data layer's labels)
        if propagate_down[0]:
            n = bottom[0].num
            grad = self.prob.reshape(n, -1).copy()
            grad[np.arange(n), self.labels] -= 1
            bottom[0].diff[...] = (grad / n * top[0].diff[0]).reshape(bottom[0].diff.shape)


class EuclideanLossLayer(caffe.Layer):
    """sum((a - b)^2) / 2N of two bottoms of the same count, as Caffe's C++ EuclideanLoss;
    like pyloss.py, the backward assumes a loss weight of 1."""

    def setup(self, bottom, top):
        if len(bottom) != 2:
            raise Exception("Need two inputs to compute distance.")

    def reshape(self, bottom, top):
        if bottom[0].count != bottom[1].count:
            raise Exception("Inputs must have the same dimension.")
        self.diff = np.zeros_like(bottom[0].data, dtype=np.float32)
        top[0].reshape(1)

    def forward(self, bottom, top):
        self.diff[...] = bottom[0].data - bottom[1].data
        top[0].data[...] = np.sum(self.diff ** 2) / bottom[0].num / 2.0

    def backward(self, top, propagate_down, bottom):
        for i, sign in enumerate((1, -1)):
            if propagate_down[i]:
                bottom[i].diff[...] = sign * self.diff / bottom[i].num
