"""Fine-tuning a trained net for a new task, as Caffe's 02-fine-tuning notebook does it.

The bundled ShapesNet (trained on circle / square / triangle / cross) stands in for
CaffeNet, and "round or angular?" (circle vs. square, triangle and cross) for Flickr Style.
The script writes the images as PNG files with ImageData list files, writes a train/test
prototxt in which the last InnerProduct (``ip2``, 4 outputs) is replaced by a new layer
``fc_shape`` with 2 outputs, and trains it

1. with only the new classifier learning (the other layers at ``lr_mult: 0``), once from
   the ShapesNet weights (``solver.net.copy_from(...)``) and once from scratch;
2. then end to end (every layer learning), each from where step 1 left it.

The nets are evaluated with ``caffe.Net(..., caffe.TEST)`` on held-out images.

    keras-caffe python examples/fine_tune.py [--out DIR] [--iters N]
"""

try:
    import caffe
except ImportError:  # run directly rather than through `keras-caffe python`
    from keras_caffe.pycaffe import install_as_caffe
    install_as_caffe()
    import caffe

import argparse
import importlib.resources
import os
import sys
import tempfile

import numpy as np

# draws and saves the images (no Caffe involved)
from keras_caffe.tools.demo_shapes import draw, write_png

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
    list_file = folder + ".txt"
    with open(list_file, "w") as f:
        f.write("\n".join(lines) + "\n")
    return list_file


def param(learn, blobs=2):
    """The notebook's weight_param and bias_param, or frozen_param (lr_mult 0)."""
    if not learn:
        return " ".join(["param { lr_mult: 0 }"] * blobs)
    weight, bias = "param { lr_mult: 1 decay_mult: 1 }", "param { lr_mult: 2 decay_mult: 0 }"
    return weight if blobs == 1 else f"{weight} {bias}"


def shapes_style_net(source, batch_size, train=True, learn_all=False):
    """ShapesNet with an ImageData input and a new 2-way classifier ``fc_shape`` (which
    always learns); ``learn_all``: the pretrained layers learn too."""
    phase = "TRAIN" if train else "TEST"
    return f"""name: "ShapesStyleNet"
layer {{ name: "data" type: "ImageData" top: "data" top: "label"
  include {{ phase: {phase} }}
  transform_param {{ scale: 0.00392156862745098 mirror: {str(train).lower()} }}
  image_data_param {{ source: "{source}" batch_size: {batch_size} is_color: false
                     shuffle: {str(train).lower()} }} }}
layer {{ name: "conv1" type: "Convolution" bottom: "data" top: "conv1" {param(learn_all)}
  convolution_param {{ num_output: 8 kernel_size: 5 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }}
layer {{ name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param {{ pool: MAX kernel_size: 3 stride: 2 }} }}
layer {{ name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2" {param(learn_all, 1)}
  convolution_param {{ num_output: 16 kernel_size: 3 pad: 1 bias_term: false
                      weight_filler {{ type: "msra" }} }} }}
layer {{ name: "bn2" type: "BatchNorm" bottom: "conv2" top: "conv2"
  param {{ lr_mult: 0 }} param {{ lr_mult: 0 }} param {{ lr_mult: 0 }} }}
layer {{ name: "scale2" type: "Scale" bottom: "conv2" top: "conv2" {param(learn_all)}
  scale_param {{ bias_term: true }} }}
layer {{ name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }}
layer {{ name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2"
  pooling_param {{ pool: AVE kernel_size: 3 stride: 2 }} }}
layer {{ name: "ip1" type: "InnerProduct" bottom: "pool2" top: "ip1" {param(learn_all)}
  inner_product_param {{ num_output: 32 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "relu3" type: "ReLU" bottom: "ip1" top: "ip1" }}
layer {{ name: "drop1" type: "Dropout" bottom: "ip1" top: "ip1"
  dropout_param {{ dropout_ratio: 0.2 }} }}
layer {{ name: "fc_shape" type: "InnerProduct" bottom: "ip1" top: "fc_shape" {param(True)}
  inner_product_param {{ num_output: {len(STYLE_LABELS)}
                        weight_filler {{ type: "gaussian" std: 0.01 }}
                        bias_filler {{ type: "constant" value: 0 }} }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "fc_shape" bottom: "label" top: "loss" }}
layer {{ name: "acc" type: "Accuracy" bottom: "fc_shape" bottom: "label" top: "acc" }}
"""


def solver(folder, name, train_net_path, base_lr=0.01):
    path = os.path.join(folder, name + "_solver.prototxt")
    with open(path, "w") as f:
        f.write(f"""train_net: "{train_net_path}"
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
    return path


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
        path = os.path.join(out, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    frozen_train = net_file("style_train.prototxt", shapes_style_net(train_list, BATCH))
    all_train = net_file("style_train_all.prototxt",
                         shapes_style_net(train_list, BATCH, learn_all=True))
    test_net = net_file("style_test.prototxt",
                        shapes_style_net(test_list, TEST_BATCH, train=False))

    # -- 1. only the new classifier learns -------------------------------------------------
    style_solver = caffe.get_solver(solver(out, "pretrained", frozen_train))
    style_solver.net.copy_from(weights)   # the ShapesNet weights, by layer name (not ip2)
    scratch_style_solver = caffe.get_solver(solver(out, "scratch", frozen_train))
    shapes_net = caffe.Net(str(importlib.resources.files("keras_caffe") / "examples_data"
                               / "shapes_net.prototxt"), weights, caffe.TEST)
    conv1 = shapes_net.params["conv1"][0].data.copy()
    print("copied from ShapesNet: conv1 weights equal:",
          np.array_equal(style_solver.net.params["conv1"][0].data, conv1))
    print(f"Running solvers for {args.iters} iterations (classifier only)...")
    solvers = [("pretrained", style_solver), ("scratch", scratch_style_solver)]
    _, _, stage1 = run_solvers(args.iters, solvers, out)
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
    _, _, stage2 = run_solvers(args.iters, end_to_end, out)
    del end_to_end
    tuned = caffe.Net(test_net, stage2["pretrained_all"], caffe.TEST)
    conv1_moved = float(np.abs(tuned.params["conv1"][0].data - conv1).max())
    print(f"after end-to-end training, conv1 moved by up to {conv1_moved:.2e}")
    acc2 = {name: eval_net(test_net, w, 4) for name, w in stage2.items()}
    for name, a in acc2.items():
        print(f"Accuracy, {name.replace('_all', '')} end to end: {100 * a:.1f}%")

    print(f"fine-tuned accuracy: pretrained {100 * acc2['pretrained_all']:.1f}%, "
          f"scratch {100 * acc2['scratch_all']:.1f}%")
    assert conv1_kept, "the frozen conv1 changed"
    assert conv1_moved > 0, "conv1 did not learn end to end"
    assert acc1["pretrained"] > acc1["scratch"], acc1
    assert acc2["pretrained_all"] > acc2["scratch_all"], acc2
    assert acc2["pretrained_all"] >= 0.9, acc2
    print("fine_tune: OK")


if __name__ == "__main__":
    sys.exit(main())
