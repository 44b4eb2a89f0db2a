"""Python layers for the examples (python_layers.py, multilabel.py, fcn.py, siamese.py),
written against pycaffe's ``caffe.Layer``.

A net names them as ``python_param { module: "shapes_layers" layer: "..." }``; Caffe imports
this module by name, so its folder must be on ``sys.path`` (``keras-caffe python`` puts the
running script's folder there, as ``python SCRIPT`` does).

* ``ShapesDataLayer``: a data layer (no bottoms) drawing a new batch of shape images and
  labels on every forward, configured by ``param_str`` (a Python dict literal, as in Caffe's
  pascal_multilabel_datalayers.py);
* ``SoftmaxLossLayer``: softmax + multinomial logistic loss, averaged over the batch, as
  Caffe's SoftmaxWithLoss computes it;
* ``EuclideanLossLayer``: sum((a - b)^2) / 2N, as Caffe's EuclideanLoss (and pyloss.py);
* ``MultilabelScenesLayer``: images holding several shapes and their multi-hot label
  vectors (PASCAL's multilabel data layer, pascal_multilabel_datalayers.py);
* ``SegmentationScenesLayer``: the same images with per-pixel labels (FCN's voc_layers.py);
* ``ShapePairsLayer``: pairs of shapes as two channels and a same-class label (the siamese
  example's pair LevelDB).

The data layers draw new images on every forward, from a stream of random numbers seeded by
``param_str``'s ``seed`` (the TEST phase from another stream, seed + 1000, so that it never
sees the training images).

``shapes_net_body`` writes the bundled ShapesNet's convolutional layers into a NetSpec, under
the names its caffemodel uses, for the examples that start from its weights (fine_tune.py,
multilabel.py) as Caffe's tutorials start from CaffeNet's.
"""

import ast

import caffe
import numpy as np
from caffe import layers as L, params as P

# only draws the images (no Caffe involved)
from keras_caffe.tools.demo_shapes import CLASSES, SIZE, draw, draw_with_mask

IGNORE = 255   # the label of the ring of background around each shape (VOC's "void")


def read_params(layer, allowed):
    """``param_str`` (a Python dict literal) as a dict, refusing unknown keys."""
    params = ast.literal_eval(layer.param_str or "{}")
    unknown = set(params) - set(allowed)
    if unknown:
        raise Exception(f"{type(layer).__name__}: unknown parameters {sorted(unknown)} "
                        f"(known: {sorted(allowed)})")
    return params


def phase_rng(layer, seed):
    """A random stream for this layer: TEST draws from seed + 1000."""
    return np.random.default_rng(int(seed) + (1000 if layer.phase == caffe.TEST else 0))


def draw_scene(kinds, rng, cells=2):
    """A ``cells`` x ``cells`` grid of 28x28 cells on one noisy background, with one shape of
    each class in ``kinds`` in a cell of its own; returns the grey image (H, W) in [0, 255]
    and its label map (0 background, 1 + class on the shape's pixels)."""
    size = cells * SIZE
    image = rng.uniform(0, 80) + rng.normal(0, 12, (size, size))
    labels = np.zeros((size, size), np.uint8)
    for kind, cell in zip(kinds, rng.permutation(cells * cells)):
        tile, mask = draw_with_mask(int(kind), rng)
        y, x = divmod(int(cell), cells)
        window = np.s_[y * SIZE:(y + 1) * SIZE, x * SIZE:(x + 1) * SIZE]
        image[window][mask] = tile[mask]
        labels[window][mask] = 1 + kind
    return np.clip(image, 0, 255), labels


def outline(labels):
    """The background pixels next to a shape (4-neighbourhood): a ring around each shape."""
    shape = labels > 0
    near = np.zeros(labels.shape, bool)
    near[1:] |= shape[:-1]
    near[:-1] |= shape[1:]
    near[:, 1:] |= shape[:, :-1]
    near[:, :-1] |= shape[:, 1:]
    return near & ~shape


class ShapesDataLayer(caffe.Layer):
    """Tops: data (batch_size x 1 x 28 x 28 in [0, 1]) and label (batch_size).

    param_str: ``{'batch_size': 32, 'seed': 0}``."""

    def setup(self, bottom, top):
        if len(bottom) != 0:
            raise Exception("ShapesDataLayer is a data layer: it takes no bottoms.")
        if len(top) != 2:
            raise Exception("ShapesDataLayer needs two tops: data and label.")
        params = read_params(self, ("batch_size", "seed"))
        self.batch_size = int(params.get("batch_size", 32))
        self.rng = phase_rng(self, params.get("seed", 0))
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


class MultilabelScenesLayer(caffe.Layer):
    """Tops: data (batch_size x 1 x 56 x 56 in [0, 1]) and label (batch_size x 4): 1 for
    each shape class drawn in the image, 0 for the others.

    param_str: ``{'batch_size': 32, 'seed': 0, 'max_shapes': 3}``: each image holds 1 to
    max_shapes shapes of different classes."""

    def setup(self, bottom, top):
        if len(bottom) != 0 or len(top) != 2:
            raise Exception("MultilabelScenesLayer: no bottoms, two tops (data, label).")
        params = read_params(self, ("batch_size", "seed", "max_shapes"))
        self.batch_size = int(params.get("batch_size", 32))
        self.max_shapes = int(params.get("max_shapes", 3))
        self.rng = phase_rng(self, params.get("seed", 0))
        top[0].reshape(self.batch_size, 1, 2 * SIZE, 2 * SIZE)
        top[1].reshape(self.batch_size, len(CLASSES))

    def reshape(self, bottom, top):
        pass   # the tops keep the shapes setup gave them

    def forward(self, bottom, top):
        top[1].data[...] = 0
        for i in range(self.batch_size):
            count = self.rng.integers(1, self.max_shapes + 1)
            kinds = self.rng.choice(len(CLASSES), count, replace=False)
            top[0].data[i, 0] = draw_scene(kinds, self.rng)[0] / 255.0
            top[1].data[i, kinds] = 1

    def backward(self, top, propagate_down, bottom):
        pass   # a data layer has nothing to propagate


class SegmentationScenesLayer(caffe.Layer):
    """Tops: data (batch_size x 1 x 56 x 56 in [0, 1]) and label (batch_size x 1 x 56 x 56):
    per pixel 0 for background, 1 + class on a shape, and 255 (to be ignored by the loss)
    on the ring of background pixels around each shape, whose class is uncertain at the
    shape's blurred, noisy edge.

    param_str: ``{'batch_size': 16, 'seed': 0, 'max_shapes': 2}``."""

    def setup(self, bottom, top):
        if len(bottom) != 0 or len(top) != 2:
            raise Exception("SegmentationScenesLayer: no bottoms, two tops (data, label).")
        params = read_params(self, ("batch_size", "seed", "max_shapes"))
        self.batch_size = int(params.get("batch_size", 16))
        self.max_shapes = int(params.get("max_shapes", 2))
        self.rng = phase_rng(self, params.get("seed", 0))
        for blob in top:
            blob.reshape(self.batch_size, 1, 2 * SIZE, 2 * SIZE)

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        for i in range(self.batch_size):
            count = self.rng.integers(1, self.max_shapes + 1)
            kinds = self.rng.choice(len(CLASSES), count, replace=False)
            image, labels = draw_scene(kinds, self.rng)
            top[0].data[i, 0] = image / 255.0
            top[1].data[i, 0] = np.where(outline(labels), IGNORE, labels)

    def backward(self, top, propagate_down, bottom):
        pass


class ShapePairsLayer(caffe.Layer):
    """Tops: pair_data (batch_size x 2 x 28 x 28 in [0, 1]: two images as two channels)
    and sim (batch_size): 1 when both images show the same class, else 0; half the pairs
    are similar.

    param_str: ``{'batch_size': 64, 'seed': 0}``."""

    def setup(self, bottom, top):
        if len(bottom) != 0 or len(top) != 2:
            raise Exception("ShapePairsLayer: no bottoms, two tops (pair_data, sim).")
        params = read_params(self, ("batch_size", "seed"))
        self.batch_size = int(params.get("batch_size", 64))
        self.rng = phase_rng(self, params.get("seed", 0))
        top[0].reshape(self.batch_size, 2, SIZE, SIZE)
        top[1].reshape(self.batch_size)

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        for i in range(self.batch_size):
            first = int(self.rng.integers(len(CLASSES)))
            same = i % 2 == 0
            second = first if same else int((first + self.rng.integers(1, len(CLASSES)))
                                            % len(CLASSES))
            top[0].data[i, 0] = draw(first, self.rng) / 255.0
            top[0].data[i, 1] = draw(second, self.rng) / 255.0
            top[1].data[i] = float(same)

    def backward(self, top, propagate_down, bottom):
        pass


# -- ShapesNet's convolutional layers, for nets starting from its weights ------------------
def shapes_net_body(n, data, param=(), keep_statistics=False):
    """ShapesNet's layers conv1 ... pool2 (shapes_net.prototxt) on ``data``, added to NetSpec
    ``n``; ``param`` (weight and bias ParamSpecs, e.g. ``[dict(lr_mult=0)] * 2`` to freeze
    them) goes to each learned layer.  ``keep_statistics``: BatchNorm normalises by its
    stored mean and variance in training too (``use_global_stats``), rather than by each
    batch's, for images unlike those it was trained on.  Returns the top ``pool2`` (16
    channels, a quarter of the input's height and width)."""
    param = list(param)
    statistics = dict(use_global_stats=True) if keep_statistics else {}
    n.conv1 = L.Convolution(data, kernel_size=5, num_output=8, param=param,
                            weight_filler=dict(type="xavier"))
    n.relu1 = L.ReLU(n.conv1, in_place=True)
    n.pool1 = L.Pooling(n.relu1, pool=P.Pooling.MAX, kernel_size=3, stride=2)
    n.conv2 = L.Convolution(n.pool1, kernel_size=3, pad=1, num_output=16, bias_term=False,
                            param=param[:1], weight_filler=dict(type="msra"))
    # BatchNorm's three blobs are statistics, never learned by the solver
    n.bn2 = L.BatchNorm(n.conv2, in_place=True, param=[dict(lr_mult=0)] * 3, **statistics)
    n.scale2 = L.Scale(n.bn2, in_place=True, bias_term=True, param=param)
    n.relu2 = L.ReLU(n.scale2, in_place=True)
    n.pool2 = L.Pooling(n.relu2, pool=P.Pooling.AVE, kernel_size=3, stride=2)
    return n.pool2
