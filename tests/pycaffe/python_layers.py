"""Python layers for the tests, written against pycaffe's ``caffe.Layer`` contract."""

from __future__ import annotations

import numpy as np

from keras_caffe.pycaffe import Layer


class TimesTen(Layer):
    """Multiplies by ten (forward and backward)."""

    def setup(self, bottom, top):
        pass

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        top[0].data[...] = 10 * bottom[0].data

    def backward(self, top, propagate_down, bottom):
        bottom[0].diff[...] = 10 * top[0].diff


class Failing(Layer):
    def setup(self, bottom, top):
        raise RuntimeError("setup refuses")


class Gain(Layer):
    """y = g * x with one learnable scalar blob g (starts at 0.5); backward writes dL/dg."""

    def setup(self, bottom, top):
        self.blobs.add_blob(1)
        self.blobs[0].data[0] = 0.5

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        top[0].data[...] = self.blobs[0].data[0] * bottom[0].data

    def backward(self, top, propagate_down, bottom):
        self.blobs[0].diff[0] = np.sum(top[0].diff * bottom[0].data)
        if propagate_down[0]:
            bottom[0].diff[...] = self.blobs[0].data[0] * top[0].diff


class PhaseAndParam(Layer):
    """A top holding the phase, and one holding len(param_str): no bottoms (a data layer)."""

    def setup(self, bottom, top):
        self.count = 0

    def reshape(self, bottom, top):
        top[0].reshape(2, 1)
        top[1].reshape(2, 3)

    def forward(self, bottom, top):
        self.count += 1
        top[0].data[...] = self.phase
        top[1].data[...] = len(self.param_str) + self.count


class EuclideanLoss(Layer):
    """Caffe's examples/pycaffe/layers/pyloss.py: sum((a - b)^2) / 2N, its backward assuming a
    loss weight of 1."""

    def setup(self, bottom, top):
        if len(bottom) != 2:
            raise ValueError("needs two bottoms")

    def reshape(self, bottom, top):
        if bottom[0].count != bottom[1].count:
            raise ValueError("inputs must have the same count")
        self.diff = np.zeros_like(bottom[0].data, dtype=np.float32)
        top[0].reshape(1)

    def forward(self, bottom, top):
        self.diff[...] = bottom[0].data - bottom[1].data
        top[0].data[...] = np.sum(self.diff ** 2) / bottom[0].num / 2.0

    def backward(self, top, propagate_down, bottom):
        for i in range(2):
            if propagate_down[i]:
                bottom[i].diff[...] = (1 if i == 0 else -1) * self.diff / bottom[i].num


class LineData(Layer):
    """A Python data layer: batches of x ~ N(0, 1) with targets y = 3x - 1 (param_str: the
    batch size), a new batch per forward."""

    def setup(self, bottom, top):
        self.batch = int(self.param_str or 8)
        self.rng = np.random.default_rng(0)

    def reshape(self, bottom, top):
        top[0].reshape(self.batch, 1)
        top[1].reshape(self.batch, 1)

    def forward(self, bottom, top):
        x = self.rng.standard_normal((self.batch, 1)).astype(np.float32)
        top[0].data[...] = x
        top[1].data[...] = 3 * x - 1
