"""Net surgery: editing a net's parameters from Python, as Caffe's net_surgery notebook does.

1. Designer filters: a one-layer convolution net whose filters (a blur and two Sobel edge
   detectors) are written into ``net.params['conv'][0].data`` by hand.
2. Casting a classifier into a fully-convolutional net: ShapesNet's InnerProduct layers
   ``ip1`` and ``ip2`` become convolutions ``ip1-conv`` (6x6 kernels over pool2's 6x6 map)
   and ``ip2-conv`` (1x1); their parameters are transplanted with ``.flat`` assignments.
   On a 28x28 input the new net gives ShapesNet's probabilities; on a larger canvas holding
   several shapes it gives a map of classifications.

    keras-caffe python examples/net_surgery.py [--out DIR]
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

# only draws the images (no Caffe involved)
from keras_caffe.tools.demo_shapes import CLASSES, draw

FULL_CONV = """# ShapesNet with its InnerProduct layers cast to convolutions
name: "ShapesNetFullConv"
layer { name: "data" type: "Input" top: "data"
  input_param { shape { dim: 1 dim: 1 dim: %(height)d dim: %(width)d } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 8 kernel_size: 5 } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "conv2" type: "Convolution" bottom: "pool1" top: "conv2"
  convolution_param { num_output: 16 kernel_size: 3 pad: 1 bias_term: false } }
layer { name: "bn2" type: "BatchNorm" bottom: "conv2" top: "conv2" }
layer { name: "scale2" type: "Scale" bottom: "conv2" top: "conv2" scale_param { bias_term: true } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "pool2" type: "Pooling" bottom: "conv2" top: "pool2"
  pooling_param { pool: AVE kernel_size: 3 stride: 2 } }
layer { name: "ip1-conv" type: "Convolution" bottom: "pool2" top: "ip1-conv"
  convolution_param { num_output: 32 kernel_size: 6 } }
layer { name: "relu3" type: "ReLU" bottom: "ip1-conv" top: "ip1-conv" }
layer { name: "drop1" type: "Dropout" bottom: "ip1-conv" top: "ip1-conv"
  dropout_param { dropout_ratio: 0.2 } }
layer { name: "ip2-conv" type: "Convolution" bottom: "ip1-conv" top: "ip2-conv"
  convolution_param { num_output: 4 kernel_size: 1 } }
layer { name: "prob" type: "Softmax" bottom: "ip2-conv" top: "prob" }
"""

DESIGNER = """name: "convolution"
input: "data"
input_shape { dim: 1 dim: 1 dim: 28 dim: 28 }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 3 kernel_size: 5 stride: 1 pad: 2
                      weight_filler { type: "gaussian" std: 0.01 }
                      bias_filler { type: "constant" value: 0 } } }
"""


def correlate(image, kernel, pad):
    """Caffe's convolution (a cross-correlation) of one channel, in numpy."""
    padded = np.pad(image, pad)
    k = kernel.shape[0]
    out = np.zeros((padded.shape[0] - k + 1, padded.shape[1] - k + 1))
    for dy in range(k):
        for dx in range(k):
            out += kernel[dy, dx] * padded[dy:dy + out.shape[0], dx:dx + out.shape[1]]
    return out


def designer_filters(out, image):
    """Part 1: hand-made filters in a convolution layer."""
    path = os.path.join(out, "conv.prototxt")
    with open(path, "w") as f:
        f.write(DESIGNER)
    net = caffe.Net(path, caffe.TEST)
    print("blobs", list(net.blobs.keys()), "params", list(net.params.keys()))
    print("conv weights", net.params["conv"][0].data.shape, "bias",
          net.params["conv"][1].data.shape)

    net.blobs["data"].data[...] = image
    net.forward()
    random_response = net.blobs["conv"].data.copy()

    # a Gaussian blur and the two Sobel edge filters, written into the blob in place
    ksize = net.params["conv"][0].data.shape[2:]
    sigma = 1.0
    y, x = np.mgrid[-ksize[0] // 2 + 1:ksize[0] // 2 + 1, -ksize[1] // 2 + 1:ksize[1] // 2 + 1]
    g = np.exp(-((x ** 2 + y ** 2) / (2.0 * sigma ** 2)))
    gaussian = (g / g.sum()).astype(np.float32)
    net.params["conv"][0].data[0] = gaussian
    sobel = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], np.float32)
    net.params["conv"][0].data[1:] = 0.0
    net.params["conv"][0].data[1, 0, 1:-1, 1:-1] = sobel      # horizontal gradient
    net.params["conv"][0].data[2, 0, 1:-1, 1:-1] = sobel.T    # vertical gradient
    net.params["conv"][1].data[...] = 0
    net.forward()
    response = net.blobs["conv"].data[0]

    weights = net.params["conv"][0].data
    reference = np.stack([correlate(image, weights[i, 0], 2) for i in range(3)])
    err = float(np.abs(response - reference).max())
    print(f"designer filters: blur / d/dx / d/dy responses in [{response.min():.2f}, "
          f"{response.max():.2f}], max |conv - numpy| = {err:.2e}; changed from the "
          f"random filters' by up to {np.abs(response - random_response[0]).max():.2f}")
    assert err < 1e-4, err
    # the blur keeps the image's mean inside the borders
    inner = (slice(4, -4), slice(4, -4))
    assert abs(response[0][inner].mean() - image[inner].mean()) < 0.05


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output folder (default: a temp dir)")
    args = parser.parse_args()
    out = os.path.abspath(args.out or tempfile.mkdtemp(prefix="caffe_net_surgery_"))
    os.makedirs(out, exist_ok=True)
    caffe.set_mode_cpu()
    rng = np.random.default_rng(5)

    # -- 1. designer filters ---------------------------------------------------------------
    designer_filters(out, draw(1, rng) / 255.0)

    # -- 2. the fully-convolutional net ----------------------------------------------------
    models = importlib.resources.files("keras_caffe") / "examples_data"
    model_def, model_weights = str(models / "shapes_net.prototxt"), \
        str(models / "shapes_net.caffemodel")
    net = caffe.Net(model_def, model_weights, caffe.TEST)
    params = ["ip1", "ip2"]
    # fc_params = {name: (weights, biases)}
    fc_params = {pr: (net.params[pr][0].data, net.params[pr][1].data) for pr in params}
    for fc in params:
        print(f"{fc} weights are {fc_params[fc][0].shape} dimensional and biases are "
              f"{fc_params[fc][1].shape} dimensional")

    rows, cols = 2, 3
    full_conv_def = os.path.join(out, "shapes_net_full_conv.prototxt")
    with open(full_conv_def, "w") as f:
        f.write(FULL_CONV % {"height": 28 * rows, "width": 28 * cols})
    # the layers with the same names get ShapesNet's weights; the casts keep their fillers
    net_full_conv = caffe.Net(full_conv_def, model_weights, caffe.TEST)
    params_full_conv = ["ip1-conv", "ip2-conv"]
    conv_params = {pr: (net_full_conv.params[pr][0].data, net_full_conv.params[pr][1].data)
                   for pr in params_full_conv}
    for conv in params_full_conv:
        print(f"{conv} weights are {conv_params[conv][0].shape} dimensional and biases are "
              f"{conv_params[conv][1].shape} dimensional")

    for pr, pr_conv in zip(params, params_full_conv):
        conv_params[pr_conv][0].flat = fc_params[pr][0].flat  # flat unrolls the arrays
        conv_params[pr_conv][1][...] = fc_params[pr][1]
    surgery_weights = os.path.join(out, "shapes_net_full_conv.caffemodel")
    net_full_conv.save(surgery_weights)
    print("saved", surgery_weights)

    # same input, same answer: the cast net on a 28x28 image gives a 1x1 map of ShapesNet's
    labels, images = list(range(4)) * 2, []
    for kind in labels:
        images.append(draw(kind, rng) / 255.0)
    check = caffe.Net(full_conv_def, surgery_weights, caffe.TEST)   # reloaded from disk
    check.blobs["data"].reshape(len(images), 1, 28, 28)
    net.blobs["data"].reshape(len(images), 1, 28, 28)
    batch = np.array(images, np.float32)[:, np.newaxis]
    p_conv = check.forward(data=batch)["prob"].copy()
    p_fc = net.forward(data=batch)["prob"].copy()
    print(f"28x28 input: full-conv 'prob' {p_conv.shape}, ShapesNet 'prob' {p_fc.shape}")
    diff = float(np.abs(p_conv[:, :, 0, 0] - p_fc).max())
    print(f"max |full-conv - ShapesNet| = {diff:.2e}; labels {p_fc.argmax(1)}")
    assert p_conv.shape == (len(images), 4, 1, 1)
    assert diff < 1e-5, diff

    # a canvas of rows x cols shapes, classified everywhere at once
    kinds = rng.permutation(np.arange(rows * cols) % len(CLASSES)).reshape(rows, cols)
    canvas = np.zeros((28 * rows, 28 * cols), np.float32)
    for r in range(rows):
        for c in range(cols):
            canvas[28 * r:28 * (r + 1), 28 * c:28 * (c + 1)] = draw(int(kinds[r, c]), rng)
    image = canvas[:, :, np.newaxis] / 255.0          # H x W x 1 in [0, 1], as load_image
    transformer = caffe.io.Transformer({"data": net_full_conv.blobs["data"].data.shape})
    transformer.set_transpose("data", (2, 0, 1))
    out_ = net_full_conv.forward_all(data=np.asarray([transformer.preprocess("data", image)]))
    prob = out_["prob"][0]
    cmap = prob.argmax(axis=0)
    print(f"canvas {canvas.shape} -> classification map {cmap.shape} "
          f"(stride 4; cells of 28 pixels every 7 outputs)")
    letters = np.array(["o", "s", "t", "x"])             # circle square triangle cross
    print("shapes drawn:\n" + "\n".join(" ".join(f"{CLASSES[k]:>8s}" for k in row)
                                          for row in kinds))
    print("classification map (o circle, s square, t triangle, x cross; * = cell corners):")
    for i, row in enumerate(cmap):
        print("  " + " ".join(letters[k] + ("*" if i % 7 == 0 and j % 7 == 0 else " ")
                              for j, k in enumerate(row)))
    at_cells = cmap[::7, ::7][:rows, :cols]
    print("at the cells:", at_cells.tolist(), "drawn:", kinds.tolist())
    assert cmap.shape == (8, 15), cmap.shape
    assert np.array_equal(at_cells, kinds), (at_cells, kinds)
    print("net_surgery: OK")


if __name__ == "__main__":
    sys.exit(main())
