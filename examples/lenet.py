"""Training LeNet from Python, as Caffe's 01-learning-lenet notebook does it.

Drawn shapes (circle / square / triangle / cross, 28x28 grey) stand in for MNIST.  The
script writes them into train and test LMDBs of ``Datum`` records (``caffe.io.array_to_datum``
and the ``lmdb`` package, as ``convert_imageset`` would), defines LeNet in Python with
``caffe.NetSpec`` (``L.Data`` reading an LMDB, ``transform_param`` scaling to [0, 1]) and
writes its train and test prototxt with ``str(n.to_proto())``, writes the solver as text,
then trains with ``caffe.SGDSolver`` one ``step`` at a time, recording the training loss and
testing from Python every few iterations.  It plots the train loss and the test accuracy
(``lenet_training.png``).

    keras-caffe python examples/lenet.py [--out DIR] [--iters N]
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

import lmdb
import numpy as np

# only draws the training and test images (no Caffe involved)
from keras_caffe.tools.demo_shapes import CLASSES, draw
from outputs import pyplot, save_figure, write_text   # examples/outputs.py

TRAIN_BATCH, TEST_BATCH = 64, 100


def write_lmdb(path, n, seed):
    """``n`` shape images as uint8 1x28x28 Datums with their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(CLASSES), n)
    env = lmdb.open(path, map_size=1 << 28)
    with env.begin(write=True) as txn:
        for i, label in enumerate(labels):
            image = np.round(draw(int(label), rng)).astype(np.uint8)[np.newaxis]   # C x H x W
            datum = caffe.io.array_to_datum(image, int(label))
            txn.put(f"{i:08d}".encode("ascii"), datum.SerializeToString())
    env.close()
    return labels


def lenet(lmdb_path, batch_size):
    """The notebook's LeNet: a series of linear and simple nonlinear transformations, with
    one output per shape class."""
    n = caffe.NetSpec()
    n.data, n.label = L.Data(batch_size=batch_size, backend=P.Data.LMDB, source=lmdb_path,
                             transform_param=dict(scale=1. / 255), ntop=2)
    n.conv1 = L.Convolution(n.data, kernel_size=5, num_output=20,
                            weight_filler=dict(type="xavier"))
    n.pool1 = L.Pooling(n.conv1, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    n.conv2 = L.Convolution(n.pool1, kernel_size=5, num_output=50,
                            weight_filler=dict(type="xavier"))
    n.pool2 = L.Pooling(n.conv2, kernel_size=2, stride=2, pool=P.Pooling.MAX)
    n.fc1 = L.InnerProduct(n.pool2, num_output=500, weight_filler=dict(type="xavier"))
    n.relu1 = L.ReLU(n.fc1, in_place=True)
    n.score = L.InnerProduct(n.relu1, num_output=len(CLASSES),
                             weight_filler=dict(type="xavier"))
    n.loss = L.SoftmaxWithLoss(n.score, n.label)
    return n.to_proto()


def plot_training(train_loss, test_acc, path):
    """The notebook's figure: train loss and (on a second axis) test accuracy."""
    plt = pyplot()
    if plt is None:
        return
    fig, ax1 = plt.subplots(figsize=(7, 4))
    ax2 = ax1.twinx()
    ax1.plot(np.arange(len(train_loss)), train_loss)
    its, accs = zip(*test_acc)
    ax2.plot(its, accs, "r")
    ax1.set_xlabel("iteration")
    ax1.set_ylabel("train loss")
    ax2.set_ylabel("test accuracy")
    ax2.set_title(f"Test Accuracy: {accs[-1]:.2f}")
    save_figure(fig, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output folder (default: a temp dir)")
    parser.add_argument("--iters", type=int, default=200, help="training iterations")
    parser.add_argument("--test-interval", type=int, default=25)
    args = parser.parse_args()
    out = os.path.abspath(args.out or tempfile.mkdtemp(prefix="caffe_lenet_"))
    os.makedirs(out, exist_ok=True)

    # -- data: LMDBs of Datums -------------------------------------------------------------
    train_lmdb, test_lmdb = (os.path.join(out, n) for n in ("shapes_train_lmdb",
                                                             "shapes_test_lmdb"))
    write_lmdb(train_lmdb, 8192, seed=1)
    test_labels = write_lmdb(test_lmdb, 4 * TEST_BATCH, seed=2)
    print(f"wrote {train_lmdb} (8192 images) and {test_lmdb} ({len(test_labels)} images)")

    # -- nets and solver -------------------------------------------------------------------
    train_net, test_net = (os.path.join(out, n) for n in ("lenet_auto_train.prototxt",
                                                           "lenet_auto_test.prototxt"))
    write_text(train_net, str(lenet(train_lmdb, TRAIN_BATCH)))
    write_text(test_net, str(lenet(test_lmdb, TEST_BATCH)))
    solver_path = write_text(os.path.join(out, "lenet_auto_solver.prototxt"), f"""\
# The train/test net protocol buffer definition
train_net: "{train_net}"
test_net: "{test_net}"
# test_iter batches of the test net per test; Caffe tests every test_interval iterations
test_iter: 4
test_interval: 100
test_initialization: false
# The base learning rate, momentum and the weight decay of the network.
base_lr: 0.03
momentum: 0.9
weight_decay: 0.0005
# The learning rate policy
lr_policy: "inv"
gamma: 0.0001
power: 0.75
display: 50
max_iter: {args.iters}
snapshot: 0
snapshot_after_train: false
snapshot_prefix: "{os.path.join(out, 'lenet')}"
random_seed: 3
""")

    caffe.set_mode_cpu()
    solver = caffe.SGDSolver(solver_path)

    # each output is (batch size, feature dim, spatial dim)
    print("blobs: ", [(k, v.data.shape) for k, v in solver.net.blobs.items()])
    # just print the weight sizes (we'll omit the biases)
    print("params:", [(k, v[0].data.shape) for k, v in solver.net.params.items()])

    solver.net.forward()           # train net
    solver.test_nets[0].forward()  # test net (there can be more than one)
    print("train labels:", solver.net.blobs["label"].data[:8])
    print("test labels: ", solver.test_nets[0].blobs["label"].data[:8])
    assert np.array_equal(solver.test_nets[0].blobs["label"].data[:8], test_labels[:8])
    assert solver.net.blobs["data"].data.max() <= 1.0   # transform_param's scale 1/255

    # -- the notebook's solver loop --------------------------------------------------------
    niter, test_interval = args.iters, args.test_interval
    train_loss = np.zeros(niter)
    test_acc = []   # (iteration, accuracy)
    output = np.zeros((min(niter, 50), 8, len(CLASSES)))
    test_net_ = solver.test_nets[0]
    for it in range(niter):
        solver.step(1)  # SGD by Caffe

        # store the train loss
        train_loss[it] = solver.net.blobs["loss"].data

        # store the output on the first test batch for the first iterations (the notebook
        # plots output[:50]); start the forward pass at conv1 to avoid loading new data
        if it < len(output):
            test_net_.forward(start="conv1")
            output[it] = test_net_.blobs["score"].data[:8]

        # run a full test every so often
        if it % test_interval == 0 or it == niter - 1:
            correct = 0
            for _ in range(len(test_labels) // TEST_BATCH):
                test_net_.forward()
                correct += int(np.sum(test_net_.blobs["score"].data.argmax(1)
                                      == test_net_.blobs["label"].data))
            test_acc.append((it, correct / len(test_labels)))
            print(f"Iteration {it:4d}  train loss {train_loss[it]:.4f}  "
                  f"test accuracy {test_acc[-1][1]:.3f}")

    first, last = train_loss[:10].mean(), train_loss[-10:].mean()
    print(f"train loss: first 10 iterations {first:.4f}, last 10 {last:.4f}")
    # how the predictions on the first test images moved (the notebook's output plots)
    probs = np.exp(output) / np.exp(output).sum(2, keepdims=True)
    labels8 = test_labels[:8]
    for it in range(0, len(output), 10):
        print(f"iteration {it:3d}: first 8 test images predicted {probs[it].argmax(1)}, "
              f"p(true label) {np.round(probs[it][np.arange(8), labels8], 2)}")
    test_net_.forward(start="conv1")   # the data layer is skipped: same batch, same labels
    assert np.array_equal(test_net_.blobs["label"].data[:8], test_labels[:8])
    print(f"after training:  predicted {test_net_.blobs['score'].data[:8].argmax(1)}, "
          f"labels {test_net_.blobs['label'].data[:8].astype(int)}")
    acc = test_acc[-1][1]
    print(f"final test accuracy: {acc:.3f}")
    plot_training(train_loss, test_acc, os.path.join(out, "lenet_training.png"))
    assert last < 0.5 * first, (first, last)
    assert acc >= 0.9, acc
    print("lenet: OK")


if __name__ == "__main__":
    sys.exit(main())
