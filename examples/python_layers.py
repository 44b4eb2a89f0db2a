"""Layers written in Python: a data layer and loss layers as ``caffe.Layer`` subclasses
(examples/shapes_layers.py), in nets trained and run by Caffe.

1. pyloss: a Python EuclideanLoss (Caffe's examples/pycaffe/layers/pyloss.py) gives the same
   loss and gradients as Caffe's own EuclideanLoss layer.
2. A small convnet fed by a Python data layer (new drawn shapes every batch, configured
   through ``param_str`` as pascal_multilabel_datalayers.py is) and trained through a Python
   softmax loss with ``caffe.SGDSolver``; the test net is fed by the same layer in the TEST
   phase.

    keras-caffe python examples/python_layers.py [--out DIR] [--iters N]
"""

try:
    import caffe
except ImportError:  # run directly rather than through `keras-caffe python`
    from keras_caffe.pycaffe import install_as_caffe
    install_as_caffe()
    import caffe

import argparse
import os
import sys
import tempfile

import numpy as np

# Caffe imports python_param.module by name: the folder of shapes_layers.py must be on the
# path (`keras-caffe python` and `python SCRIPT` both put the script's folder first already)
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

PYLOSS_NET = """name: "pyloss"
force_backward: true
layer {{ name: "input" type: "Input" top: "a" top: "b"
  input_param {{ shape {{ dim: 10 dim: 3 dim: 2 }} shape {{ dim: 10 dim: 3 dim: 2 }} }} }}
{loss}
"""
PY_EUCLIDEAN = """layer { type: "Python" name: "loss" bottom: "a" bottom: "b" top: "loss"
  python_param { module: "shapes_layers" layer: "EuclideanLossLayer" }
  # a Python layer is no loss layer to Caffe until it has a loss weight
  loss_weight: 1 }"""
CAFFE_EUCLIDEAN = """layer { type: "EuclideanLoss" name: "loss" bottom: "a" bottom: "b"
  top: "loss" }"""

TRAIN_NET = """name: "PyShapesNet"
layer {{ name: "data" type: "Python" top: "data" top: "label"
  python_param {{ module: "shapes_layers" layer: "ShapesDataLayer"
                 param_str: "{{'batch_size': {batch_size}, 'seed': 7}}" }} }}
layer {{ name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param {{ num_output: 8 kernel_size: 5 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }}
layer {{ name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param {{ pool: MAX kernel_size: 2 stride: 2 }} }}
layer {{ name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
  convolution_param {{ num_output: 16 kernel_size: 5 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }}
layer {{ name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2"
  pooling_param {{ pool: MAX kernel_size: 2 stride: 2 }} }}
layer {{ name: "ip1" type: "InnerProduct" bottom: "pool2" top: "ip1"
  inner_product_param {{ num_output: 64 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "relu3" type: "ReLU" bottom: "ip1" top: "ip1" }}
layer {{ name: "score" type: "InnerProduct" bottom: "ip1" top: "score"
  inner_product_param {{ num_output: 4 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "loss" type: "Python" bottom: "score" bottom: "label" top: "loss"
  python_param {{ module: "shapes_layers" layer: "SoftmaxLossLayer" }}
  loss_weight: 1 }}
layer {{ name: "accuracy" type: "Accuracy" bottom: "score" bottom: "label" top: "accuracy" }}
"""


def pyloss_check(out):
    """Part 1: the Python EuclideanLoss against Caffe's."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2, 10, 3, 2)).astype(np.float32)
    results = {}
    for name, loss in (("python", PY_EUCLIDEAN), ("caffe", CAFFE_EUCLIDEAN)):
        path = os.path.join(out, f"euclidean_{name}.prototxt")
        with open(path, "w") as f:
            f.write(PYLOSS_NET.format(loss=loss))
        net = caffe.Net(path, caffe.TRAIN)
        value = net.forward(a=a, b=b)["loss"].item()   # shape () or (1,)
        grads = net.backward()
        results[name] = (value, grads["a"].copy(), grads["b"].copy())
        print(f"{name:6s} EuclideanLoss layer ({net.layers[-1].type}): loss {value:.6f}, "
              f"|d loss/d a| {np.abs(grads['a']).sum():.6f}")
    (v_py, da_py, db_py), (v_c, da_c, db_c) = results["python"], results["caffe"]
    assert abs(v_py - v_c) <= 1e-5 * abs(v_c), (v_py, v_c)
    assert np.allclose(da_py, da_c, atol=1e-6) and np.allclose(db_py, db_c, atol=1e-6)
    assert np.allclose(da_py, (a - b) / 10, atol=1e-6)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output folder (default: a temp dir)")
    parser.add_argument("--iters", type=int, default=300, help="training iterations")
    args = parser.parse_args()
    out = os.path.abspath(args.out or tempfile.mkdtemp(prefix="caffe_python_layers_"))
    os.makedirs(out, exist_ok=True)
    caffe.set_mode_cpu()

    # -- 1. pyloss -------------------------------------------------------------------------
    pyloss_check(out)

    # -- 2. training through a Python data layer and a Python loss -------------------------
    net_path = os.path.join(out, "py_shapes_net.prototxt")
    with open(net_path, "w") as f:
        f.write(TRAIN_NET.format(batch_size=32))
    solver_path = os.path.join(out, "py_shapes_solver.prototxt")
    with open(solver_path, "w") as f:
        f.write(f"""net: "{net_path}"
test_iter: 4
test_interval: 1000
test_initialization: false
base_lr: 0.02
momentum: 0.9
weight_decay: 0.0005
lr_policy: "fixed"
display: 0
max_iter: {args.iters}
snapshot: 0
snapshot_after_train: false
snapshot_prefix: "{os.path.join(out, 'py_shapes')}"
random_seed: 5
""")
    solver = caffe.SGDSolver(solver_path)
    train, test = solver.net, solver.test_nets[0]
    print("train net:", [(k, v.data.shape) for k, v in train.blobs.items()])
    print("layer types:", [(layer.type, name) for name, layer in train.layer_dict.items()
                           if layer.type == "Python"])

    losses = np.zeros(args.iters)
    for it in range(args.iters):
        solver.step(1)
        losses[it] = train.blobs["loss"].data[0]   # the Python top has shape (1,)
        if it % 25 == 0 or it == args.iters - 1:
            print(f"iteration {it:3d}: Python softmax loss {losses[it]:.4f}, batch accuracy "
                  f"{float(train.blobs['accuracy'].data):.2f}")

    # the Python loss on the last batch, recomputed from the blobs it saw
    scores = train.blobs["score"].data.astype(np.float64)
    labels = train.blobs["label"].data.astype(int)
    log_p = scores - scores.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    recomputed = -log_p[np.arange(len(labels)), labels].mean()
    print(f"last batch: loss blob {train.blobs['loss'].data[0]:.6f}, numpy {recomputed:.6f}")

    accuracy = np.mean([float(test.forward()["accuracy"]) for _ in range(4)])
    first, last = losses[:10].mean(), losses[-10:].mean()
    print(f"loss: first 10 iterations {first:.4f}, last 10 {last:.4f}")
    print(f"test accuracy (Python data layer, TEST phase): {accuracy:.3f}")
    assert abs(train.blobs["loss"].data[0] - recomputed) < 1e-4
    assert last < 0.5 * first, (first, last)
    assert accuracy >= 0.85, accuracy
    print("python_layers: OK")


if __name__ == "__main__":
    sys.exit(main())
