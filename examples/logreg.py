"""Logistic regression and a small non-linear net on vectors from HDF5 files, as Caffe's
brewing-logreg notebook does it.

The script makes a two-class dataset with numpy (four features: two carry the class,
as two clusters per class laid out like an XOR, the majority clusters on either side of a
line; two are noise), writes it to HDF5 files with h5py plus the list files an
``HDF5Data`` layer reads (the training file listed twice, the test file gzip-compressed, as
in the notebook), and defines two nets with ``caffe.NetSpec``:

* ``logreg``: HDF5Data -> InnerProduct (2 outputs) -> Accuracy and SoftmaxWithLoss;
* ``nonlinear_net``: the same with a hidden InnerProduct of 40 and a ReLU in place.

Both are trained with ``caffe.SGDSolver`` and tested from Python; a logistic regression
fitted by plain gradient descent in numpy is the baseline (the notebook uses
scikit-learn).  A line cannot separate XOR-like clusters, so the linear models stop near the
majority clusters' accuracy and the hidden layer does better.  The loss curves and the test
points coloured by each net's prediction go to ``logreg.png``.

    keras-caffe python examples/logreg.py [--out DIR] [--iters N]
"""

try:
    import caffe
except ImportError:  # run directly rather than through `keras-caffe python`
    from keras_caffe.pycaffe import install_as_caffe
    install_as_caffe()
    import caffe

from caffe import layers as L

import argparse
import os
import sys
import tempfile

import h5py
import numpy as np

from outputs import atomic_path, pyplot, save_figure, write_text   # examples/outputs.py

BATCH = 10


def make_dataset(n, rng):
    """``n`` samples of 4 float32 features and 0/1 labels: class 0 around (-1, -1) (70%) or
    (1, 1), class 1 around (1, -1) (70%) or (-1, 1); features 3 and 4 are noise."""
    y = rng.integers(0, 2, n)
    major = rng.random(n) < 0.7
    centre_x = np.where(major, 2 * y - 1, 1 - 2 * y)
    centre_y = np.where(major, -1, 1)
    X = np.stack([centre_x, centre_y], 1) + rng.normal(0, 0.55, (n, 2))
    X = np.concatenate([X, rng.normal(0, 1, (n, 2))], 1)
    return X.astype(np.float32), y


def write_hdf5(folder, X, y, split, compress=False, repeat=1):
    """``<split>.h5`` with datasets named after the layer's tops (data, label), and the list
    file ``<split>.txt`` naming it ``repeat`` times; returns the list file."""
    filename = os.path.join(folder, f"{split}.h5")
    options = dict(compression="gzip", compression_opts=1) if compress else {}
    with atomic_path(filename) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("data", data=X, **options)
            f.create_dataset("label", data=y.astype(np.float32), **options)
    return write_text(os.path.join(folder, f"{split}.txt"), f"{filename}\n" * repeat)


def logreg(hdf5, batch_size):
    # logistic regression: data, matrix multiplication, and 2-class softmax loss
    n = caffe.NetSpec()
    n.data, n.label = L.HDF5Data(batch_size=batch_size, source=hdf5, ntop=2)
    n.ip1 = L.InnerProduct(n.data, num_output=2, weight_filler=dict(type="xavier"))
    n.accuracy = L.Accuracy(n.ip1, n.label)
    n.loss = L.SoftmaxWithLoss(n.ip1, n.label)
    return n.to_proto()


def nonlinear_net(hdf5, batch_size):
    # one small nonlinearity, one leap for model kind
    n = caffe.NetSpec()
    n.data, n.label = L.HDF5Data(batch_size=batch_size, source=hdf5, ntop=2)
    n.ip1 = L.InnerProduct(n.data, num_output=40, weight_filler=dict(type="xavier"))
    n.relu1 = L.ReLU(n.ip1, in_place=True)
    n.ip2 = L.InnerProduct(n.ip1, num_output=2, weight_filler=dict(type="xavier"))
    n.accuracy = L.Accuracy(n.ip2, n.label)
    n.loss = L.SoftmaxWithLoss(n.ip2, n.label)
    return n.to_proto()


def solver_text(train_net_path, test_net_path, max_iter, prefix):
    return f"""train_net: "{train_net_path}"
test_net: "{test_net_path}"
test_interval: 100000   # we test from Python
test_iter: 1
test_initialization: false
base_lr: 0.05
lr_policy: "step"
gamma: 0.1
stepsize: {max_iter // 2}
momentum: 0.9
weight_decay: 0.0005
display: 0
max_iter: {max_iter}
snapshot: 0
snapshot_after_train: false
snapshot_prefix: "{prefix}"
random_seed: 1
"""


def train_and_test(name, net_fn, score, train_list, test_list, n_test, out, iters):
    """Train ``net_fn``'s net for ``iters`` iterations; returns the train losses, the test
    accuracy (the Accuracy blob averaged over the test set), and the test predictions (the
    argmax of blob ``score``) and labels."""
    train_path = write_text(os.path.join(out, f"{name}_auto_train.prototxt"),
                            str(net_fn(train_list, BATCH)))
    test_path = write_text(os.path.join(out, f"{name}_auto_test.prototxt"),
                           str(net_fn(test_list, BATCH)))
    solver_path = write_text(os.path.join(out, f"{name}_solver.prototxt"),
                             solver_text(train_path, test_path, iters,
                                         os.path.join(out, name)))
    solver = caffe.SGDSolver(solver_path)
    losses = np.zeros(iters)
    for it in range(iters):
        solver.step(1)
        losses[it] = solver.net.blobs["loss"].data

    test_net = solver.test_nets[0]
    accuracy, predicted, labels = 0.0, [], []
    test_iters = n_test // BATCH
    for _ in range(test_iters):
        test_net.forward()
        accuracy += float(test_net.blobs["accuracy"].data)
        predicted.append(test_net.blobs[score].data.argmax(1))
        labels.append(test_net.blobs["label"].data.astype(int))
    accuracy /= test_iters
    predicted, labels = np.concatenate(predicted), np.concatenate(labels)
    # the Accuracy layer's number, recounted from the scores
    assert abs(accuracy - np.mean(predicted == labels)) < 1e-6, accuracy
    print(f"{name}: loss first 50 iterations {losses[:50].mean():.3f}, last 50 "
          f"{losses[-50:].mean():.3f}; test accuracy {accuracy:.3f}")
    return losses, accuracy, predicted, labels


def numpy_logreg(X, y, Xt, iters=500, lr=0.5, alpha=5e-4):
    """Logistic regression by full-batch gradient descent with L2 decay ``alpha``; returns
    the predicted test labels."""
    w, b = np.zeros(X.shape[1]), 0.0
    for _ in range(iters):
        p = 1 / (1 + np.exp(-(X @ w + b)))
        w -= lr * (X.T @ (p - y) / len(y) + alpha * w)
        b -= lr * np.mean(p - y)
    return (Xt @ w + b > 0).astype(int)


def plot(curves, Xt, predictions, path):
    plt = pyplot()
    if plt is None:
        return
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    for name, losses in curves.items():
        smooth = np.convolve(losses, np.ones(25) / 25, mode="valid")
        axes[0].plot(np.arange(len(smooth)) + 25, smooth, label=name)
    axes[0].set_xlabel("iteration")
    axes[0].set_ylabel("train loss (mean of 25)")
    axes[0].legend()
    for ax, (name, pred) in zip(axes[1:], predictions.items()):
        ax.scatter(Xt[:, 0], Xt[:, 1], c=pred, s=6, cmap="coolwarm")
        ax.set_title(f"{name}: predicted class")
        ax.set_xlabel("feature 1")
        ax.set_ylabel("feature 2")
    save_figure(fig, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output folder (default: a temp dir)")
    parser.add_argument("--iters", type=int, default=1000, help="training iterations")
    args = parser.parse_args()
    out = os.path.abspath(args.out or tempfile.mkdtemp(prefix="caffe_logreg_"))
    os.makedirs(out, exist_ok=True)
    caffe.set_mode_cpu()

    rng = np.random.default_rng(0)
    X, y = make_dataset(4000, rng)
    Xt, yt = make_dataset(1000, rng)
    train_list = write_hdf5(out, X, y, "train", repeat=2)
    test_list = write_hdf5(out, Xt, yt, "test", compress=True)
    print(f"data: {X.shape} train, {Xt.shape} test in {out} (train.h5 listed twice in "
          "train.txt; test.h5 gzip-compressed)")

    results = {}
    for name, net_fn, score in (("logreg", logreg, "ip1"),
                                ("nonlinear", nonlinear_net, "ip2")):
        results[name] = train_and_test(name, net_fn, score, train_list, test_list, len(Xt),
                                       out, args.iters)
        # the test net reads test.h5 in order
        assert np.array_equal(results[name][3], yt), "test labels out of order"

    baseline = float(np.mean(numpy_logreg(X, y, Xt) == yt))
    linear, nonlinear = results["logreg"][1], results["nonlinear"][1]
    print(f"accuracy: numpy logistic regression {baseline:.3f}, Caffe logreg {linear:.3f}, "
          f"Caffe nonlinear {nonlinear:.3f}")
    plot({name: r[0] for name, r in results.items()}, Xt,
         {name: r[2] for name, r in results.items()}, os.path.join(out, "logreg.png"))

    # a logistic regression is a logistic regression, whoever fits it
    assert abs(linear - baseline) <= 0.03, (linear, baseline)
    # and a line cannot follow XOR-like clusters, a hidden layer can
    assert nonlinear >= linear + 0.15 and nonlinear >= 0.85, (nonlinear, linear)
    print("logreg: OK")


if __name__ == "__main__":
    sys.exit(main())
