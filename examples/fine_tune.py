"""Fine-tuning a trained net for a new task, as Caffe's 02-fine-tuning notebook does it.

The bundled ShapesNet (trained on circle / square / triangle / cross) stands in for
CaffeNet, and "round or angular?" (circle vs. square, triangle and cross) for Flickr Style.
The script writes the images as PNG files with ImageData list files and defines the nets
with ``caffe.NetSpec`` as the notebook's ``caffenet()`` / ``style_net()`` do: ShapesNet's
layers under their own names, and in place of the last InnerProduct (``ip2``, 4 outputs) a
new one, ``fc_shape`` with 2 outputs and its own ``param`` (always learning), so that
``net.copy_from(shapes_net.caffemodel)`` brings the weights of every layer but that one.
It checks that a ShapesNet built from the same function computes what the style net does
up to ``ip1``, then trains the new net

1. with only the new classifier learning (the other layers at ``lr_mult: 0``), once from
   the ShapesNet weights (``solver.net.copy_from(...)``) and once from scratch;
2. then end to end (every layer learning), each from where step 1 left it.

The nets are evaluated with ``caffe.Net(..., caffe.TEST)`` on held-out images; the loss
curves of the pretrained and the scratch runs go to ``fine_tune_loss.png``.

    keras-caffe python examples/fine_tune.py [--out DIR] [--iters N]
"""

try:
    import caffe
except ImportError:  # run directly rather than through `keras-caffe python`
    from keras_caffe.pycaffe import install_as_caffe
    install_as_caffe()
    import caffe

from caffe import layers as L

import argparse
import importlib.resources
import os
import sys
import tempfile

import numpy as np

# draws and saves the images (no Caffe involved)
from keras_caffe.tools.demo_shapes import CLASSES, draw, write_png
from outputs import pyplot, save_figure, write_text   # examples/outputs.py
from shapes_layers import shapes_net_body              # examples/shapes_layers.py

STYLE_LABELS = ["round", "angular"]
BATCH, TEST_BATCH = 32, 50


def write_image_list(folder, n, seed):
    """``n`` PNGs, half round (circles), half angular (squares, triangles, crosses), and the
    ImageData list file naming them with their 0/1 label."""
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        style = i % 2
        kind = 0 if style == 0 else int(rng.integers(1, 4))
        path = os.path.join(folder, f"{i:04d}.png")
        write_png(path, np.round(draw(kind, rng)))
        lines.append(f"{path} {style}")
    return write_text(folder + ".txt", "\n".join(lines) + "\n")


weight_param = dict(lr_mult=1, decay_mult=1)
bias_param = dict(lr_mult=2, decay_mult=0)
learned_param = [weight_param, bias_param]
frozen_param = [dict(lr_mult=0)] * 2


def shapes_net(data, label=None, train=True, num_classes=4, classifier_name="ip2",
               learn_all=False):
    """ShapesNet as a NetSpec (the layers of the bundled shapes_net.prototxt, so that
    ``copy_from`` finds its weights by name), as the notebook's ``caffenet()`` writes
    CaffeNet.  The classifier, named ``classifier_name``, always learns; the other layers
    learn only with ``learn_all``.  Returns the net as text."""
    n = caffe.NetSpec()
    n.data = data
    param = learned_param if learn_all else frozen_param
    shapes_net_body(n, n.data, param)      # conv1 ... pool2
    n.ip1 = L.InnerProduct(n.pool2, num_output=32, param=param,
                           weight_filler=dict(type="xavier"))
    n.relu3 = L.ReLU(n.ip1, in_place=True)
    if train:
        n.drop1 = classifier_input = L.Dropout(n.relu3, in_place=True, dropout_ratio=0.2)
    else:
        classifier_input = n.relu3
    # always learn the classifier (param=learned_param)
    classifier = L.InnerProduct(classifier_input, num_output=num_classes,
                                param=learned_param,
                                weight_filler=dict(type="gaussian", std=0.01),
                                bias_filler=dict(type="constant", value=0))
    # give it the name asked for: a new name means new weights (copy_from skips it)
    n[classifier_name] = classifier
    if not train:
        n.probs = L.Softmax(classifier)
    if label is not None:
        n.label = label
        n.loss = L.SoftmaxWithLoss(classifier, n.label)
        n.acc = L.Accuracy(classifier, n.label)
    return str(n.to_proto())


def style_net(source, batch_size, train=True, learn_all=False):
    """ShapesNet reading an ImageData list, with a new 2-way classifier ``fc_shape``."""
    style_data, style_label = L.ImageData(
        transform_param=dict(scale=1. / 255, mirror=train), source=source,
        batch_size=batch_size, is_color=False, shuffle=train, ntop=2)
    return shapes_net(style_data, style_label, train=train, num_classes=len(STYLE_LABELS),
                      classifier_name="fc_shape", learn_all=learn_all)


def solver(folder, name, train_net_path, base_lr=0.01):
    return write_text(os.path.join(folder, name + "_solver.prototxt"), f"""\
train_net: "{train_net_path}"
type: "SGD"
base_lr: {base_lr}
lr_policy: "step" gamma: 0.1 stepsize: 20000
momentum: 0.9
weight_decay: 0.0005
display: 0
max_iter: 100000
snapshot: 0
snapshot_prefix: "{os.path.join(folder, name)}"
random_seed: 1
""")


def run_solvers(niter, solvers, folder, disp_interval=10):
    """The notebook's run_solvers: step each solver, record loss and accuracy, display
    them, and save each net's learned weights."""
    blobs = ("loss", "acc")
    loss, acc = ({name: np.zeros(niter) for name, _ in solvers} for _ in blobs)
    for it in range(niter):
        for name, s in solvers:
            s.step(1)  # run a single SGD step in Caffe
            loss[name][it], acc[name][it] = (s.net.blobs[b].data.copy() for b in blobs)
        if it % disp_interval == 0 or it + 1 == niter:
            loss_disp = "; ".join(f"{n}: loss={loss[n][it]:.3f}, acc={100 * acc[n][it]:2.0f}%"
                                  for n, _ in solvers)
            print(f"{it:3d}) {loss_disp}")
    weights = {}
    for name, s in solvers:
        weights[name] = os.path.join(folder, f"weights.{name}.caffemodel")
        s.net.save(weights[name])
    return loss, acc, weights


def eval_net(test_net_path, weights, test_iters):
    test_net = caffe.Net(test_net_path, weights, caffe.TEST)
    accuracy = 0
    for _ in range(test_iters):
        accuracy += float(test_net.forward()["acc"])
    return accuracy / test_iters


def plot_losses(classifier_only, end_to_end, path):
    """The notebook's loss plots: pretrained vs. scratch, for each stage."""
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, losses, title in ((axes[0], classifier_only, "classifier only"),
                              (axes[1], end_to_end, "end to end")):
        for name, loss in losses.items():
            ax.plot(loss, label=name.replace("_all", ""))
        ax.set_title(title)
        ax.set_xlabel("Iteration #")
        ax.legend()
    axes[0].set_ylabel("Loss")
    save_figure(fig, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output folder (default: a temp dir)")
    parser.add_argument("--iters", type=int, default=30, help="iterations of each stage")
    args = parser.parse_args()
    out = os.path.abspath(args.out or tempfile.mkdtemp(prefix="caffe_fine_tune_"))
    os.makedirs(out, exist_ok=True)
    caffe.set_mode_cpu()

    weights = str(importlib.resources.files("keras_caffe") / "examples_data"
                  / "shapes_net.caffemodel")
    train_list = write_image_list(os.path.join(out, "train"), 320, seed=11)
    test_list = write_image_list(os.path.join(out, "test"), 4 * TEST_BATCH, seed=12)
    print(f"images: {train_list} (320), {test_list} ({4 * TEST_BATCH}); "
          f"labels {STYLE_LABELS}")

    def net_file(name, text):
        return write_text(os.path.join(out, name), text)

    frozen_train = net_file("style_train.prototxt", style_net(train_list, BATCH))
    all_train = net_file("style_train_all.prototxt",
                         style_net(train_list, BATCH, learn_all=True))
    test_net = net_file("style_test.prototxt", style_net(test_list, TEST_BATCH, train=False))

    # -- ShapesNet and the untrained style net agree up to ip1 -----------------------------
    deploy = net_file("shapes_deploy.prototxt",
                      shapes_net(L.DummyData(shape=dict(dim=[1, 1, 28, 28])), train=False))
    shapes = caffe.Net(deploy, weights, caffe.TEST)
    untrained = caffe.Net(test_net, weights, caffe.TEST)
    untrained.forward()
    image, label = untrained.blobs["data"].data[0], int(untrained.blobs["label"].data[0])
    shapes.blobs["data"].data[0] = image
    p_shapes = shapes.forward(start="conv1")["probs"][0]
    p_style = untrained.blobs["probs"].data[0]
    print(f"first test image ({STYLE_LABELS[label]}): ShapesNet says "
          f"{CLASSES[p_shapes.argmax()]} ({p_shapes.max():.2f}), the untrained style net "
          f"{STYLE_LABELS[p_style.argmax()]} ({p_style.max():.2f})")
    error = float(((untrained.blobs["ip1"].data[0] - shapes.blobs["ip1"].data[0]) ** 2).sum())
    print(f"squared difference of ip1, style net vs ShapesNet: {error:.1e}")
    conv1 = shapes.params["conv1"][0].data.copy()
    del untrained

    # -- 1. only the new classifier learns -------------------------------------------------
    style_solver = caffe.get_solver(solver(out, "pretrained", frozen_train))
    style_solver.net.copy_from(weights)   # the ShapesNet weights, by layer name (not ip2)
    scratch_style_solver = caffe.get_solver(solver(out, "scratch", frozen_train))
    print("copied from ShapesNet: conv1 weights equal:",
          np.array_equal(style_solver.net.params["conv1"][0].data, conv1))
    print(f"Running solvers for {args.iters} iterations (classifier only)...")
    solvers = [("pretrained", style_solver), ("scratch", scratch_style_solver)]
    loss1, _, stage1 = run_solvers(args.iters, solvers, out)
    conv1_kept = np.array_equal(style_solver.net.params["conv1"][0].data, conv1)
    print("after classifier-only training, conv1 (lr_mult 0) unchanged:", conv1_kept)
    del style_solver, scratch_style_solver, solvers

    acc1 = {name: eval_net(test_net, w, 4) for name, w in stage1.items()}
    for name, a in acc1.items():
        print(f"Accuracy, {name} classifier-only: {100 * a:.1f}%")

    # -- 2. end to end ---------------------------------------------------------------------
    end_to_end = []
    for name, w in stage1.items():
        s = caffe.get_solver(solver(out, name + "_all", all_train, base_lr=0.005))
        s.net.copy_from(w)
        end_to_end.append((name + "_all", s))
    print(f"Running solvers for {args.iters} iterations (end to end)...")
    loss2, _, stage2 = run_solvers(args.iters, end_to_end, out)
    del end_to_end
    tuned = caffe.Net(test_net, stage2["pretrained_all"], caffe.TEST)
    conv1_moved = float(np.abs(tuned.params["conv1"][0].data - conv1).max())
    print(f"after end-to-end training, conv1 moved by up to {conv1_moved:.2e}")
    acc2 = {name: eval_net(test_net, w, 4) for name, w in stage2.items()}
    for name, a in acc2.items():
        print(f"Accuracy, {name.replace('_all', '')} end to end: {100 * a:.1f}%")

    print(f"fine-tuned accuracy: pretrained {100 * acc2['pretrained_all']:.1f}%, "
          f"scratch {100 * acc2['scratch_all']:.1f}%")
    plot_losses(loss1, loss2, os.path.join(out, "fine_tune_loss.png"))
    assert error < 1e-8, error
    assert conv1_kept, "the frozen conv1 changed"
    assert conv1_moved > 0, "conv1 did not learn end to end"
    assert acc1["pretrained"] > acc1["scratch"], acc1
    assert acc2["pretrained_all"] > acc2["scratch_all"], acc2
    assert acc2["pretrained_all"] >= 0.9, acc2
    print("fine_tune: OK")


if __name__ == "__main__":
    sys.exit(main())
