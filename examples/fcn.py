"""A fully convolutional net for semantic segmentation, written as the FCN models' net.py
files write theirs (fcn.berkeleyvision.org: ``caffe.NetSpec`` and ``caffe.coord_map.crop``).

A Python data layer (``SegmentationScenesLayer`` in shapes_layers.py, as FCN's
voc_layers.py) yields 56x56 images holding one to three drawn shapes and their per-pixel
labels: 0 background, 1-4 the shape's class, 255 ("void", ignored by the loss) on a ring
around each shape.  The net is a small FCN-16s:

* a conv/pool body whose first convolution pads the image generously (FCN's ``pad=100``,
  here 16) so that the map after the last, unpadded "fully connected" convolution still
  covers the whole image;
* a 1x1 score layer, upsampled 2x by a ``Deconvolution`` (``convolution_param=dict(...)``,
  ``param=[dict(lr_mult=0)]``: fixed) and fused (Eltwise SUM) with a score layer on the
  stride-4 pool2 after ``crop(n.score_pool2, n.upscore2)``;
* a second fixed ``Deconvolution`` upsampling 4x, and ``n.score = crop(n.upscore4, n.data)``:
  the crop offsets come from the coordinate maps of the layers between the blobs;
* ``SoftmaxWithLoss`` with ``ignore_label``.

The deconvolutions are set to bilinear interpolation from Python, as FCN's
``surgery.interp`` does, by writing into ``net.params``.  After training with
``caffe.SGDSolver`` the script prints the crop offsets, checks the score map has the
data's height and width and is the deconvolution's output cut at those offsets, and scores
new images as FCN's score.py does (pixel accuracy, mean IU) against predicting background
everywhere.  Input, label and prediction side by side go to ``fcn_segmentation.png``.

    keras-caffe python examples/fcn.py [--out DIR] [--iters N]
"""

try:
    import caffe
except ImportError:  # run directly rather than through `keras-caffe python`
    from keras_caffe.pycaffe import install_as_caffe
    install_as_caffe()
    import caffe

from caffe import layers as L, params as P
from caffe.coord_map import crop

import argparse
import os
import sys
import tempfile

import numpy as np

# the classes' names (no Caffe involved)
from keras_caffe.tools.demo_shapes import CLASSES
from outputs import pyplot, save_figure, write_text   # examples/outputs.py
from shapes_layers import IGNORE                       # examples/shapes_layers.py

# Caffe imports python_param.module by name: the folder of shapes_layers.py must be on the
# path (`keras-caffe python` and `python SCRIPT` both put the script's folder first already)
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

NUM_LABELS = 1 + len(CLASSES)        # background and the shapes
LABEL_NAMES = ["background"] + list(CLASSES)
BATCH, TEST_BATCHES = 8, 12
LEARNED = [dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)]


def conv_relu(bottom, nout, ks=3, stride=1, pad=1):
    conv = L.Convolution(bottom, kernel_size=ks, stride=stride, num_output=nout, pad=pad,
                         param=LEARNED, weight_filler=dict(type="msra"))
    return conv, L.ReLU(conv, in_place=True)


def max_pool(bottom, ks=2, stride=2):
    return L.Pooling(bottom, pool=P.Pooling.MAX, kernel_size=ks, stride=stride)


def score_layer(bottom):
    """A 1x1 convolution scoring every label at every position."""
    return L.Convolution(bottom, num_output=NUM_LABELS, kernel_size=1, pad=0, param=LEARNED,
                         weight_filler=dict(type="xavier"))


def upsample(bottom, factor):
    """A fixed (lr_mult 0) deconvolution upsampling ``factor`` times; its weights are set
    to bilinear interpolation from Python (see ``interp``)."""
    return L.Deconvolution(bottom, convolution_param=dict(
        num_output=NUM_LABELS, kernel_size=2 * factor, stride=factor, bias_term=False),
        param=[dict(lr_mult=0)])


def fcn(batch_size):
    n = caffe.NetSpec()
    pydata_params = dict(batch_size=batch_size, seed=1, max_shapes=3)
    n.data, n.label = L.Python(module="shapes_layers", layer="SegmentationScenesLayer",
                               ntop=2, param_str=str(pydata_params))
    # the base net (the first convolution pads the image: FCN's pad=100)
    n.conv1_1, n.relu1_1 = conv_relu(n.data, 16, pad=16)
    n.pool1 = max_pool(n.relu1_1)
    n.conv2_1, n.relu2_1 = conv_relu(n.pool1, 32)
    n.pool2 = max_pool(n.relu2_1)
    n.conv3_1, n.relu3_1 = conv_relu(n.pool2, 64)
    n.pool3 = max_pool(n.relu3_1)
    # fully conv
    n.fc4, n.relu4 = conv_relu(n.pool3, 64, ks=3, pad=0)
    n.drop4 = L.Dropout(n.relu4, dropout_ratio=0.2, in_place=True)
    n.score_fr = score_layer(n.drop4)
    n.upscore2 = upsample(n.score_fr, 2)
    # the skip: scores at stride 4, cut to upscore2's extent and added to it
    n.score_pool2 = score_layer(n.pool2)
    n.score_pool2c = crop(n.score_pool2, n.upscore2)
    n.fuse_pool2 = L.Eltwise(n.upscore2, n.score_pool2c, operation=P.Eltwise.SUM)
    n.upscore4 = upsample(n.fuse_pool2, 4)
    n.score = crop(n.upscore4, n.data)
    # the loss averaged over the pixels that count (FCN sums them, normalize=False, and
    # trains at a tiny base_lr instead)
    n.loss = L.SoftmaxWithLoss(n.score, n.label,
                               loss_param=dict(normalize=True, ignore_label=IGNORE))
    return n


def upsample_filt(size):
    """A size x size bilinear interpolation kernel (for upsampling by size // 2)."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    rows, cols = np.ogrid[:size, :size]
    return (1 - abs(rows - center) / factor) * (1 - abs(cols - center) / factor)


def interp(net, layers):
    """Set each deconvolution in ``layers`` to bilinear upsampling: channel c from channel c
    (the other kernels stay 0)."""
    for name in layers:
        m, k, h, w = net.params[name][0].data.shape
        assert m == k and h == w, (name, m, k, h, w)
        net.params[name][0].data[range(m), range(k), :, :] = upsample_filt(h)


def fast_hist(label, prediction, n):
    """n x n counts of (label, predicted) pixel pairs; pixels labelled outside [0, n) (the
    ignored ones) are left out."""
    counted = (label >= 0) & (label < n)
    return np.bincount(n * label[counted].astype(int) + prediction[counted],
                       minlength=n ** 2).reshape(n, n)


def scores(hist):
    """FCN's score.py measures: overall pixel accuracy and per-class IU."""
    accuracy = np.diag(hist).sum() / hist.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        iu = np.diag(hist) / (hist.sum(1) + hist.sum(0) - np.diag(hist))
    return accuracy, iu


def plot_segmentation(images, labels, predictions, path):
    plt = pyplot()
    if plt is None:
        return
    import matplotlib.colors

    colours = matplotlib.colors.ListedColormap(
        ["black", "tab:blue", "tab:orange", "tab:green", "tab:red", "0.6"])
    bounds = matplotlib.colors.BoundaryNorm([0, 1, 2, 3, 4, 5, 256], colours.N)
    fig, axes = plt.subplots(len(images), 3, figsize=(6, 2 * len(images)))
    for row, (image, label, prediction) in enumerate(zip(images, labels, predictions)):
        for ax, picture, kind in ((axes[row, 0], image, "input"),
                                  (axes[row, 1], label, "label (grey: ignored)"),
                                  (axes[row, 2], prediction, "prediction")):
            if kind == "input":
                ax.imshow(picture, cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(picture, cmap=colours, norm=bounds, interpolation="nearest")
            ax.set_axis_off()
            if row == 0:
                ax.set_title(kind, fontsize=9)
    fig.suptitle("black: background; blue/orange/green/red: " + ", ".join(CLASSES),
                 fontsize=8)
    save_figure(fig, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output folder (default: a temp dir)")
    parser.add_argument("--iters", type=int, default=300, help="training iterations")
    args = parser.parse_args()
    out = os.path.abspath(args.out or tempfile.mkdtemp(prefix="caffe_fcn_"))
    os.makedirs(out, exist_ok=True)
    caffe.set_mode_cpu()

    proto = fcn(BATCH).to_proto()
    offsets = {layer.name: list(layer.crop_param.offset) for layer in proto.layer
               if layer.type == "Crop"}
    print("crop offsets from coord_map: " + ", ".join(
        f"{name} {offset}" for name, offset in offsets.items()))
    # one net for both phases: in the TEST phase the data layer draws other images
    net_path = write_text(os.path.join(out, "trainval.prototxt"), str(proto))
    solver_path = write_text(os.path.join(out, "solver.prototxt"), f"""\
train_net: "{net_path}"
test_net: "{net_path}"
test_iter: {TEST_BATCHES}
# make the test net, but do not test from the solver
test_interval: 999999999
test_initialization: false
base_lr: 0.1
lr_policy: "step"
gamma: 0.1
stepsize: {2 * args.iters // 3}
momentum: 0.9
weight_decay: 0.0005
display: 0
max_iter: {args.iters}
snapshot: 0
snapshot_after_train: false
snapshot_prefix: "{os.path.join(out, 'fcn')}"
random_seed: 6
""")

    solver = caffe.SGDSolver(solver_path)
    # surgeries: bilinear upsampling in the fixed deconvolutions
    interp(solver.net, ["upscore2", "upscore4"])
    bilinear = {name: solver.net.params[name][0].data.copy()
                for name in ("upscore2", "upscore4")}
    print("blobs:", [(k, v.data.shape) for k, v in solver.net.blobs.items()
                     if k in ("data", "score_pool2", "upscore2", "upscore4", "score")])

    loss = np.zeros(args.iters)
    for it in range(args.iters):
        solver.step(1)
        loss[it] = solver.net.blobs["loss"].data
        if (it + 1) % 100 == 0 or it + 1 == args.iters:
            print(f"iteration {it + 1:4d}: loss {loss[max(0, it - 19):it + 1].mean():.4f} "
                  "(mean of the last 20)")
    kept = all(np.array_equal(solver.net.params[name][0].data, weights)
               for name, weights in bilinear.items())
    print(f"upscore2 and upscore4 (lr_mult 0) still bilinear after training: {kept}")

    # -- score new images ------------------------------------------------------------------
    test_net = solver.test_nets[0]
    hist = np.zeros((NUM_LABELS, NUM_LABELS), np.int64)
    for _ in range(TEST_BATCHES):
        test_net.forward()
        label = test_net.blobs["label"].data[:, 0].astype(int)
        hist += fast_hist(label.ravel(), test_net.blobs["score"].data.argmax(1).ravel(),
                          NUM_LABELS)
    score_shape = test_net.blobs["score"].data.shape
    data_shape = test_net.blobs["data"].data.shape
    print(f"score map {score_shape} for data {data_shape}")
    # the Crop layer: upscore4 from (offset, offset) on, the data's height and width
    offset = offsets["score"][0]
    upscored = test_net.blobs["upscore4"].data
    aligned = np.array_equal(test_net.blobs["score"].data,
                             upscored[:, :, offset:offset + data_shape[2],
                                      offset:offset + data_shape[3]])

    accuracy, iu = scores(hist)
    background = hist[0].sum() / hist.sum()          # everything predicted background
    background_iu = background / NUM_LABELS           # IU 'background' for it, 0 the others
    print("IU per label: " + ", ".join(f"{name} {v:.3f}" for name, v in zip(LABEL_NAMES, iu)))
    print(f"pixel accuracy {accuracy:.3f} (all background: {background:.3f}); mean IU "
          f"{np.nanmean(iu):.3f} (all background: {background_iu:.3f})")

    images = test_net.blobs["data"].data[:4, 0]
    labels = test_net.blobs["label"].data[:4, 0]
    predictions = test_net.blobs["score"].data[:4].argmax(1)
    plot_segmentation(images, labels, predictions, os.path.join(out, "fcn_segmentation.png"))

    assert score_shape[2:] == data_shape[2:] and aligned, (score_shape, data_shape)
    assert kept, "a deconvolution with lr_mult 0 changed"
    assert loss[-20:].mean() < 0.25 * loss[:20].mean(), (loss[:20].mean(), loss[-20:].mean())
    assert accuracy > background + 0.02, (accuracy, background)
    assert np.nanmean(iu) >= 2 * background_iu, (iu, background_iu)
    print("fcn: OK")


if __name__ == "__main__":
    sys.exit(main())
