"""Multilabel classification with a Python data layer, as Caffe's
pascal-multilabel-with-datalayer notebook does it.

Images of 56x56 holding one to three drawn shapes of different classes (in cells of a 2x2
grid) stand in for PASCAL VOC, and a Python data layer (``MultilabelScenesLayer`` in
shapes_layers.py, configured by ``param_str`` as pascal_multilabel_datalayers.py is) for
the notebook's: it yields the images and, per image, a multi-hot vector of the classes it
holds.  The net, written with ``caffe.NetSpec``, starts as the notebook's does from a
trained classifier: the bundled ShapesNet's convolutional layers (its weights copied in with
``solver.net.copy_from``) stand in for CaffeNet's; new layers on top (conv/ReLU/max pooling,
fully connected with dropout) score each class, and ``SigmoidCrossEntropyLoss`` trains the
whole net through ``caffe.SGDSolver``.  A class is predicted present where its score is
positive (sigmoid > 0.5); the script reports the accuracy of those decisions per class and
on average (the notebook's ``hamming_distance`` score) against the baseline of predicting no
class at all, checks the loss blob against numpy, and plots the loss
(``multilabel_loss.png``).

    keras-caffe python examples/multilabel.py [--out DIR] [--iters N]
"""

try:
    import caffe
except ImportError:  # run directly rather than through `keras-caffe python`
    from keras_caffe.pycaffe import install_as_caffe
    install_as_caffe()
    import caffe

from caffe import layers as L, params as P

import argparse
import importlib.resources
import os
import sys
import tempfile

import numpy as np

# the classes' names (no Caffe involved)
from keras_caffe.tools.demo_shapes import CLASSES
from outputs import pyplot, save_figure, write_text   # examples/outputs.py
from shapes_layers import shapes_net_body              # examples/shapes_layers.py

# Caffe imports python_param.module by name: the folder of shapes_layers.py must be on the
# path (`keras-caffe python` and `python SCRIPT` both put the script's folder first already)
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

BATCH, TEST_BATCHES = 32, 8


# helper functions for common structures, as the notebook's
def conv_relu(bottom, ks, nout, stride=1, pad=0, group=1):
    conv = L.Convolution(bottom, kernel_size=ks, stride=stride, num_output=nout, pad=pad,
                         group=group, weight_filler=dict(type="xavier"))
    return conv, L.ReLU(conv, in_place=True)


def fc_relu(bottom, nout):
    fc = L.InnerProduct(bottom, num_output=nout, weight_filler=dict(type="xavier"))
    return fc, L.ReLU(fc, in_place=True)


def max_pool(bottom, ks, stride=1):
    return L.Pooling(bottom, pool=P.Pooling.MAX, kernel_size=ks, stride=stride)


def shapesnet_multilabel(data_layer_params, datalayer):
    """ShapesNet's convolutional layers (whose weights are copied in, as the notebook copies
    CaffeNet's) and new layers on top, over the Python data layer ``datalayer``; one score
    per class, trained by a sigmoid cross-entropy loss."""
    n = caffe.NetSpec()
    n.data, n.label = L.Python(module="shapes_layers", layer=datalayer, ntop=2,
                               param_str=str(data_layer_params))
    # conv1 ... pool2 as in shapes_net.prototxt; BatchNorm keeps ShapesNet's statistics
    # (a batch of scenes, mostly background, is darker on average than one of single shapes)
    shapes_net_body(n, n.data, keep_statistics=True)
    n.conv3, n.relu3 = conv_relu(n.pool2, 3, 32, pad=1)
    n.pool3 = max_pool(n.relu3, 3, stride=2)
    n.fc6, n.relu6 = fc_relu(n.pool3, 128)
    n.drop6 = L.Dropout(n.relu6, in_place=True, dropout_ratio=0.2)
    n.score = L.InnerProduct(n.drop6, num_output=len(CLASSES),
                             weight_filler=dict(type="xavier"))
    n.loss = L.SigmoidCrossEntropyLoss(n.score, n.label)
    return str(n.to_proto())


def hamming_distance(gt, est):
    """The fraction of labels an estimate gets right (the notebook's score)."""
    return sum(1 for g, e in zip(gt, est) if g == e) / float(len(gt))


def check_accuracy(net, num_batches):
    """Per-class accuracy of ``score > 0`` on ``num_batches`` new batches, the mean
    hamming score, and the hamming score of the baseline that predicts no class."""
    correct, hamming, baseline, count = 0.0, 0.0, 0.0, 0
    for _ in range(num_batches):
        net.forward()
        gts = net.blobs["label"].data
        ests = net.blobs["score"].data > 0
        correct = correct + (gts == ests).sum(0)
        for gt, est in zip(gts, ests):   # for each ground truth and estimated label vector
            hamming += hamming_distance(gt, est)
            baseline += hamming_distance(gt, np.zeros_like(est))
            count += 1
    return correct / count, hamming / count, baseline / count


def sigmoid_cross_entropy(score, label):
    """Caffe's SigmoidCrossEntropyLoss in numpy: summed over the entries, divided by the
    batch size (its default normalization)."""
    # log(1 + exp(-|x|)) keeps it finite for any score
    per_entry = (np.maximum(score, 0) - score * label
                 + np.log1p(np.exp(-np.abs(score))))
    return per_entry.sum() / score.shape[0]


def plot_loss(loss, path):
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(loss, alpha=0.4, label="per iteration")
    smooth = np.convolve(loss, np.ones(20) / 20, mode="valid")
    ax.plot(np.arange(len(smooth)) + 19, smooth, label="mean of 20")
    ax.set_xlabel("iteration")
    ax.set_ylabel("SigmoidCrossEntropyLoss")
    ax.legend()
    save_figure(fig, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output folder (default: a temp dir)")
    parser.add_argument("--iters", type=int, default=300, help="training iterations")
    args = parser.parse_args()
    out = os.path.abspath(args.out or tempfile.mkdtemp(prefix="caffe_multilabel_"))
    os.makedirs(out, exist_ok=True)
    caffe.set_mode_cpu()
    weights = str(importlib.resources.files("keras_caffe") / "examples_data"
                  / "shapes_net.caffemodel")

    # provide parameters to the data layer as a python dictionary
    data_layer_params = dict(batch_size=BATCH, seed=1, max_shapes=3)
    train_net = write_text(os.path.join(out, "trainnet.prototxt"), shapesnet_multilabel(
        data_layer_params, "MultilabelScenesLayer"))
    # the same layer in the TEST phase draws other images
    val_net = write_text(os.path.join(out, "valnet.prototxt"), shapesnet_multilabel(
        data_layer_params, "MultilabelScenesLayer"))
    solver_path = write_text(os.path.join(out, "solver.prototxt"), f"""\
train_net: "{train_net}"
test_net: "{val_net}"
test_iter: {TEST_BATCHES}
test_interval: 100000   # we test from Python
test_initialization: false
base_lr: 0.01
lr_policy: "step"
gamma: 0.1
stepsize: {2 * args.iters // 3}
momentum: 0.9
weight_decay: 0.0005
display: 0
max_iter: {args.iters}
snapshot: 0
snapshot_after_train: false
snapshot_prefix: "{os.path.join(out, 'multilabel')}"
random_seed: 2
""")

    solver = caffe.SGDSolver(solver_path)
    solver.net.copy_from(weights)   # ShapesNet's conv1, conv2, bn2, scale2 (by name)
    print("blobs:", [(k, v.data.shape) for k, v in solver.net.blobs.items()
                     if k in ("data", "label", "score")])
    loss = np.zeros(args.iters)
    for it in range(args.iters):
        solver.step(1)
        loss[it] = solver.net.blobs["loss"].data
        if (it + 1) % 100 == 0 or it + 1 == args.iters:
            print(f"iteration {it + 1:4d}: loss {loss[max(0, it - 19):it + 1].mean():.4f} "
                  "(mean of the last 20)")

    # the loss of the last training batch, recomputed from the blobs it saw
    score = solver.net.blobs["score"].data.astype(np.float64)
    recomputed = sigmoid_cross_entropy(score, solver.net.blobs["label"].data)
    print(f"last batch: loss blob {float(solver.net.blobs['loss'].data):.6f}, "
          f"numpy {recomputed:.6f}")

    per_class, hamming, baseline = check_accuracy(solver.test_nets[0], TEST_BATCHES)
    print("per-class accuracy:", ", ".join(f"{c} {a:.3f}" for c, a in zip(CLASSES, per_class)))
    print(f"mean accuracy (hamming): {hamming:.3f}; baseline (no class predicted) "
          f"{baseline:.3f}")
    test_net = solver.test_nets[0]
    for i in range(4):
        gt = test_net.blobs["label"].data[i].astype(bool)
        est = test_net.blobs["score"].data[i] > 0
        print(f"test image {i}: GT {[c for c, g in zip(CLASSES, gt) if g]}, "
              f"EST {[c for c, e in zip(CLASSES, est) if e]}")
    plot_loss(loss, os.path.join(out, "multilabel_loss.png"))

    assert abs(float(solver.net.blobs["loss"].data) - recomputed) < 1e-4 * max(1, recomputed)
    # the per-class accuracies average to the hamming score
    assert abs(per_class.mean() - hamming) < 1e-9, (per_class, hamming)
    assert loss[-20:].mean() < 0.5 * loss[:20].mean(), loss
    assert hamming >= 0.9 and hamming > baseline + 0.3, (hamming, baseline)
    print("multilabel: OK")


if __name__ == "__main__":
    sys.exit(main())
