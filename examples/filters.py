"""Looking inside a net: its filters and activations as image grids, as the second half of
Caffe's 00-classification notebook does with ``vis_square``.

The bundled ShapesNet classifies a drawn shape; the script writes PNG files of

* conv1's filters (``net.params['conv1'][0].data``: 8 of 1x5x5),
* conv1's output on the image (``net.blobs['conv1'].data[0]``: 8 maps of 24x24),
* pool2's output (16 maps of 6x6),

and prints the layer shapes, a histogram of ip1's activations and the class probabilities.

    keras-caffe python examples/filters.py [--out DIR]
"""

try:
    import caffe
except ImportError:  # run directly rather than through `keras-caffe python`
    from keras_caffe.pycaffe import install_as_caffe
    install_as_caffe()
    import caffe

import argparse
import importlib.resources
import math
import os
import struct
import sys
import tempfile

import numpy as np

# draws and saves the example image (no Caffe involved)
from keras_caffe.tools.demo_shapes import CLASSES, draw, write_png



def png_size(path):
    """(height, width) from a PNG's IHDR chunk."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", path
    width, height = struct.unpack(">II", head[16:24])
    return height, width


def vis_square(data, path, zoom=1):
    """Tile an (n, height, width) array into a grid of about sqrt(n) x sqrt(n) tiles, each
    normalised together to [0, 255], one white pixel between tiles (and unused tiles white),
    each pixel ``zoom`` x ``zoom``; write it as a PNG and return the grid's shape."""
    data = np.asarray(data, np.float64)
    low, high = data.min(), data.max()
    data = (data - low) / (high - low if high > low else 1.0)
    n, h, w = data.shape
    side = int(math.ceil(math.sqrt(n)))
    grid = np.ones((side * (h + 1), side * (w + 1)))
    for i in range(n):
        r, c = divmod(i, side)
        grid[r * (h + 1):r * (h + 1) + h, c * (w + 1):c * (w + 1) + w] = data[i]
    grid = np.kron(grid, np.ones((zoom, zoom)))          # nearest-neighbour upscaling
    write_png(path, np.round(grid * 255))
    return grid.shape


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output folder (default: a temp dir)")
    args = parser.parse_args()
    out = os.path.abspath(args.out or tempfile.mkdtemp(prefix="caffe_filters_"))
    os.makedirs(out, exist_ok=True)
    caffe.set_mode_cpu()

    models = importlib.resources.files("keras_caffe") / "examples_data"
    net = caffe.Net(str(models / "shapes_net.prototxt"), str(models / "shapes_net.caffemodel"),
                    caffe.TEST)

    # the image, through a Transformer as the notebook does
    image = draw(3, np.random.default_rng(8))[:, :, np.newaxis] / 255.0   # a cross
    write_png(os.path.join(out, "input.png"), np.round(image[:, :, 0] * 255))
    transformer = caffe.io.Transformer({"data": net.blobs["data"].data.shape})
    transformer.set_transpose("data", (2, 0, 1))
    net.blobs["data"].data[...] = transformer.preprocess("data", image)
    output = net.forward()
    prob = output["prob"][0]
    print("predicted class:", CLASSES[prob.argmax()], "probabilities",
          {c: round(float(p), 4) for c, p in zip(CLASSES, prob)})

    # for each layer, the activations' shapes (batch, channels, height, width)
    for layer_name, blob in net.blobs.items():
        print(f"{layer_name:8s}\t{blob.data.shape}")
    # and the parameters' shapes: (output channels, input channels, height, width), (bias,)
    for layer_name, param in net.params.items():
        print(f"{layer_name:8s}\t{[p.data.shape for p in param]}")

    written = {}
    filters = net.params["conv1"][0].data                   # 8 x 1 x 5 x 5
    written["conv1_filters.png"] = vis_square(filters[:, 0], os.path.join(
        out, "conv1_filters.png"), zoom=8)
    feat = net.blobs["conv1"].data[0]                       # 8 x 24 x 24 (after ReLU)
    written["conv1_output.png"] = vis_square(feat, os.path.join(out, "conv1_output.png"),
                                             zoom=4)
    feat = net.blobs["pool2"].data[0]                       # 16 x 6 x 6
    written["pool2_output.png"] = vis_square(feat, os.path.join(out, "pool2_output.png"),
                                             zoom=8)

    feat = net.blobs["ip1"].data[0]
    counts, edges = np.histogram(feat[feat > 0], bins=8)
    print(f"ip1: {int((feat > 0).sum())} of {feat.size} units active; histogram of the "
          "positive values:")
    for count, low, high in zip(counts, edges[:-1], edges[1:]):
        print(f"  {low:6.2f} .. {high:6.2f} {'#' * int(count)}")

    # 3 x 3 tiles of (5 + 1) pixels, 8x; 3 x 3 of (24 + 1), 4x; 4 x 4 of (6 + 1), 8x
    expected = {"conv1_filters.png": (144, 144), "conv1_output.png": (300, 300),
                "pool2_output.png": (224, 224)}
    for name, shape in expected.items():
        path = os.path.join(out, name)
        size = png_size(path)
        loaded = caffe.io.load_image(path, color=False)
        print(f"wrote {path}: {size[1]}x{size[0]} pixels, {os.path.getsize(path)} bytes")
        assert size == shape == written[name] == loaded.shape[:2], (name, size, shape)
        assert 0.0 <= loaded.min() and loaded.max() == 1.0
    assert CLASSES[prob.argmax()] == "cross", prob
    print("filters: OK")


if __name__ == "__main__":
    sys.exit(main())
