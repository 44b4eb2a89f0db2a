"""A siamese net learning a 2-D embedding of shapes, as Caffe's siamese example
(mnist_siamese_train_test.prototxt and the mnist_siamese notebook) does it for MNIST.

A Python data layer (``ShapePairsLayer`` in shapes_layers.py) yields pairs of shape images
as the two channels of ``pair_data`` and a label ``sim`` (1: same class, 0: different
classes), as the example's pair LevelDB does.  The net, written with ``caffe.NetSpec``,
slices the pair into ``data`` and ``data_p`` and runs each through a LeNet-like tower;
the two towers' layers share their parameters by naming them
(``param=[dict(name='conv1_w', lr_mult=1), dict(name='conv1_b', lr_mult=2)]``), and a
``ContrastiveLoss`` with a margin pulls the 2-D features of similar pairs together and pushes
the others at least the margin apart.  After training with ``caffe.SGDSolver`` the script

* checks that each shared parameter is one blob: the towers' arrays are the same;
* computes the features of held-out images with a deploy net (``Input`` -> one tower ->
  ``feat``) loading the trained weights, and classifies them by the nearest class centroid
  (centroids from other images): the classes are apart in the learned 2-D space;
* plots the features coloured by class (``siamese_features.png``), as the notebook does.

    keras-caffe python examples/siamese.py [--out DIR] [--iters N]
"""

try:
    import caffe
except ImportError:  # run directly rather than through `keras-caffe python`
    from keras_caffe.pycaffe import install_as_caffe
    install_as_caffe()
    import caffe

from caffe import layers as L, params as P

import argparse
import os
import sys
import tempfile

import numpy as np

# draws the held-out images (no Caffe involved)
from keras_caffe.tools.demo_shapes import CLASSES, make_batch
from outputs import pyplot, save_figure, write_text   # examples/outputs.py

# Caffe imports python_param.module by name: the folder of shapes_layers.py must be on the
# path (`keras-caffe python` and `python SCRIPT` both put the script's folder first already)
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

BATCH, MARGIN = 64, 1.0


def shared(name):
    """The ParamSpecs of a layer whose weight and bias are shared by name with the other
    tower's layer of the same ``name``."""
    return [dict(name=f"{name}_w", lr_mult=1), dict(name=f"{name}_b", lr_mult=2)]


def tower(n, data, suffix=""):
    """One tower on ``data``: its layers are named ``conv1<suffix>`` etc., its parameters
    ``conv1_w`` etc. whatever the suffix, so both towers use the same blobs."""
    fillers = dict(weight_filler=dict(type="xavier"), bias_filler=dict(type="constant"))
    n["conv1" + suffix] = L.Convolution(data, num_output=8, kernel_size=5,
                                        param=shared("conv1"), **fillers)
    n["pool1" + suffix] = L.Pooling(n["conv1" + suffix], pool=P.Pooling.MAX, kernel_size=2,
                                    stride=2)
    n["conv2" + suffix] = L.Convolution(n["pool1" + suffix], num_output=16, kernel_size=5,
                                        param=shared("conv2"), **fillers)
    n["pool2" + suffix] = L.Pooling(n["conv2" + suffix], pool=P.Pooling.MAX, kernel_size=2,
                                    stride=2)
    n["ip1" + suffix] = L.InnerProduct(n["pool2" + suffix], num_output=64,
                                       param=shared("ip1"), **fillers)
    n["relu1" + suffix] = L.ReLU(n["ip1" + suffix], in_place=True)
    n["ip2" + suffix] = L.InnerProduct(n["relu1" + suffix], num_output=10,
                                       param=shared("ip2"), **fillers)
    n["feat" + suffix] = L.InnerProduct(n["ip2" + suffix], num_output=2,
                                        param=shared("feat"), **fillers)
    return n["feat" + suffix]


def siamese_train_test(batch_size):
    n = caffe.NetSpec()
    n.pair_data, n.sim = L.Python(module="shapes_layers", layer="ShapePairsLayer", ntop=2,
                                  param_str=str(dict(batch_size=batch_size, seed=3)))
    # the first image of each pair to one tower, the second to the other
    n.data, n.data_p = L.Slice(n.pair_data, slice_param=dict(slice_dim=1, slice_point=1),
                               ntop=2)
    tower(n, n.data)
    tower(n, n.data_p, "_p")
    n.loss = L.ContrastiveLoss(n.feat, n.feat_p, n.sim,
                               contrastive_loss_param=dict(margin=MARGIN))
    return n.to_proto()


def siamese_deploy(batch_size):
    """One tower on an Input blob: what the notebook's mnist_siamese.prototxt is."""
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[batch_size, 1, 28, 28]))
    tower(n, n.data)
    return n.to_proto()


def nearest_centroid(feat_ref, labels_ref, feat):
    """The class of the nearest class mean of the reference features, for each row of
    ``feat``."""
    centroids = np.stack([feat_ref[labels_ref == k].mean(0) for k in range(len(CLASSES))])
    return np.argmin(((feat[:, None, :] - centroids[None]) ** 2).sum(-1), 1)


def plot_features(feat, labels, path):
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(6, 6))
    for k, name in enumerate(CLASSES):
        ax.plot(feat[labels == k, 0], feat[labels == k, 1], ".", label=name)
    ax.legend()
    ax.grid()
    ax.set_title("learned 2-D features of held-out shapes")
    save_figure(fig, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output folder (default: a temp dir)")
    parser.add_argument("--iters", type=int, default=400, help="training iterations")
    args = parser.parse_args()
    out = os.path.abspath(args.out or tempfile.mkdtemp(prefix="caffe_siamese_"))
    os.makedirs(out, exist_ok=True)
    caffe.set_mode_cpu()

    net_path = write_text(os.path.join(out, "shapes_siamese_train_test.prototxt"),
                          str(siamese_train_test(BATCH)))
    deploy_path = write_text(os.path.join(out, "shapes_siamese.prototxt"),
                             str(siamese_deploy(100)))
    solver_path = write_text(os.path.join(out, "shapes_siamese_solver.prototxt"), f"""\
net: "{net_path}"
test_iter: 1
test_interval: 100000   # we test from Python
test_initialization: false
base_lr: 0.1
momentum: 0.9
weight_decay: 0.0000
lr_policy: "inv"
gamma: 0.0001
power: 0.75
display: 0
max_iter: {args.iters}
snapshot: 0
snapshot_after_train: false
snapshot_prefix: "{os.path.join(out, 'shapes_siamese')}"
random_seed: 4
""")
    solver = caffe.SGDSolver(solver_path)
    net = solver.net
    print("blobs:", [(k, v.data.shape) for k, v in net.blobs.items()
                     if k in ("pair_data", "sim", "data", "data_p", "feat", "feat_p")])
    print("layers with parameters:", list(net.params))

    conv1_before = net.params["conv1"][0].data.copy()
    loss = np.zeros(args.iters)
    for it in range(args.iters):
        solver.step(1)
        loss[it] = net.blobs["loss"].data
        if (it + 1) % 100 == 0:
            print(f"iteration {it + 1:4d}: contrastive loss {loss[it - 19:it + 1].mean():.4f} "
                  "(mean of the last 20)")

    # -- the towers share their parameters -------------------------------------------------
    pairs = [(name, name + "_p") for name in ("conv1", "conv2", "ip1", "ip2", "feat")]
    same = all(np.array_equal(a.data, b.data) for x, y in pairs
               for a, b in zip(net.params[x], net.params[y]))
    one_blob = np.shares_memory(net.params["conv1"][0].data, net.params["conv1_p"][0].data)
    moved = float(np.abs(net.params["conv1"][0].data - conv1_before).max())
    print(f"shared parameters: the towers' arrays are equal: {same}; conv1 and conv1_p "
          f"share one blob: {one_blob}; training moved conv1's weights by up to {moved:.2f}")

    # -- features of held-out images from the deploy net -----------------------------------
    weights = os.path.join(out, "shapes_siamese.caffemodel")
    net.save(weights)
    deploy = caffe.Net(deploy_path, weights, caffe.TEST)
    images_ref, labels_ref = make_batch(400, seed=20)
    images, labels = make_batch(400, seed=21)
    feat_ref = deploy.forward_all(data=images_ref)["feat"]
    feat = deploy.forward_all(data=images)["feat"]
    predicted = nearest_centroid(feat_ref, labels_ref, feat)
    accuracy = float(np.mean(predicted == labels))
    print(f"held-out images: nearest-centroid accuracy in the 2-D feature space {accuracy:.3f}")
    # the deploy net's tower is the training net's: the same features for the same images
    net.blobs["data"].data[:8] = images[:8]
    net.forward(start="conv1", end="feat")
    gap = float(np.abs(net.blobs["feat"].data[:8] - feat[:8]).max())
    print(f"max |train-net tower - deploy net| on 8 images: {gap:.1e}")
    plot_features(feat, labels, os.path.join(out, "siamese_features.png"))

    assert same and one_blob, "the two towers' shared parameters differ"
    assert moved > 0, "the shared parameters did not learn"
    assert gap < 1e-4, gap
    assert loss[-50:].mean() < 0.5 * loss[:50].mean(), (loss[:50].mean(), loss[-50:].mean())
    assert accuracy >= 0.85, accuracy
    print("siamese: OK")


if __name__ == "__main__":
    sys.exit(main())
