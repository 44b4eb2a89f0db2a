"""``keras-caffe plot-filters``: the notebooks' vis_square, the tiles drawn for each kind of
weight blob, the image written, and the errors."""

from __future__ import annotations

import math
import struct
import subprocess
import sys

import numpy as np
import pytest

import keras_caffe
from keras_caffe import cli
from keras_caffe.tools.filters import filter_tiles, vis_square

NET = """
name: "filters"
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 6 dim: 6 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
  convolution_param { num_output: 2 kernel_size: 2 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "ip1" type: "InnerProduct" bottom: "conv2" top: "ip1"
  inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "ip2" type: "InnerProduct" bottom: "data" top: "ip2"
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 1 } } }
"""


def notebook_vis_square(data):
    """00-classification's vis_square, verbatim but for the plotting."""
    data = (data - data.min()) / (data.max() - data.min())
    n = int(np.ceil(np.sqrt(data.shape[0])))
    padding = (((0, n ** 2 - data.shape[0]),
               (0, 1), (0, 1))
               + ((0, 0),) * (data.ndim - 3))
    data = np.pad(data, padding, mode='constant', constant_values=1)
    data = data.reshape((n, n) + data.shape[1:]).transpose((0, 2, 1, 3) + tuple(range(4, data.ndim + 1)))
    data = data.reshape((n * data.shape[1], n * data.shape[3]) + data.shape[4:])
    return data


def test_vis_square_grid_values():
    data = np.array([[[0.0, 1.0]], [[2.0, 4.0]]])          # two 1x2 tiles
    np.testing.assert_array_equal(vis_square(data), [
        [0.0, 0.25, 1, 0.5, 1, 1],
        [1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1, 1]])
    np.testing.assert_array_equal(vis_square(data, padding=0), [[0, 0.25, 0.5, 1], [1, 1, 1, 1]])
    np.testing.assert_array_equal(vis_square(np.full((1, 2, 2), 7.0)), [[0, 0, 1], [0, 0, 1],
                                                                        [1, 1, 1]])
    rng = np.random.default_rng(0)
    for shape in ((5, 3, 4), (10, 2, 2, 3)):
        data = rng.standard_normal(shape)
        np.testing.assert_array_equal(vis_square(data), notebook_vis_square(data))
    with pytest.raises(ValueError, match="n, h, w"):
        vis_square(np.zeros((2, 3)))


def test_filter_tiles_rgb_grey_and_inner_product():
    w = np.arange(2 * 3 * 2 * 2, dtype=np.float32).reshape(2, 3, 2, 2)
    bgr = filter_tiles(w, "Convolution")
    assert bgr.shape == (2, 2, 2, 3)
    np.testing.assert_array_equal(bgr[1, ..., 0], w[1, 2])        # R is Caffe's channel 2
    np.testing.assert_array_equal(bgr[1, ..., 2], w[1, 0])
    rgb = filter_tiles(w, "Convolution", channel_order="rgb")
    np.testing.assert_array_equal(rgb, w.transpose(0, 2, 3, 1))
    grey = filter_tiles(w[:, :2], "Deconvolution")
    assert grey.shape == (4, 2, 2)
    np.testing.assert_array_equal(grey[1], w[0, 1])                 # filter by filter
    np.testing.assert_array_equal(grey[2], w[1, 0])
    ip = np.arange(3 * 16, dtype=np.float32).reshape(3, 16)
    np.testing.assert_array_equal(filter_tiles(ip, "InnerProduct"), ip.reshape(3, 4, 4))
    np.testing.assert_array_equal(filter_tiles(ip.reshape(1, 1, 3, 16), "InnerProduct"),
                                  ip.reshape(3, 4, 4))             # a V1 blob
    ip3 = np.arange(2 * 12, dtype=np.float32).reshape(2, 12)     # rows C,H,W = 3x2x2
    np.testing.assert_array_equal(filter_tiles(ip3, "InnerProduct"),
                                  ip3.reshape(2, 3, 2, 2).transpose(0, 2, 3, 1)[..., ::-1])
    with pytest.raises(keras_caffe.errors.NetError, match="rows of 10 values are no image"):
        filter_tiles(np.zeros((2, 10)), "InnerProduct", name="ip")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    root = tmp_path_factory.mktemp("filters")
    net = root / "net.prototxt"
    net.write_text(NET)
    weights = root / "w.caffemodel"
    keras_caffe.save_caffemodel(keras_caffe.build_net(net, seed=5), weights)
    blobs = {lb.name: np.array(lb.blobs[0]) for lb in keras_caffe.read_weights(weights)
             if lb.blobs}
    return net, weights, blobs


def _png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize("layer, tiles, side, colour", [
    ("conv1", 4, 3, True),          # 4 x 3 x 3 x 3: colour, 2x2 tiles of 3 + 1
    ("conv2", 8, 2, False),         # 2 x 4 x 2 x 2: 8 grey tiles, 3x3 of 2 + 1
    ("ip2", 3, 6, True),            # 3 x 108 = 3 x (3*6*6): colour 6x6
])
def test_png_written_from_the_grid(made, tmp_path, layer, tiles, side, colour):
    from matplotlib import image

    net, weights, blobs = made
    out = tmp_path / "f.png"
    assert cli.main(["plot-filters", str(net), "--weights", str(weights), "--layer", layer,
                     "-o", str(out), "--zoom", "2"]) == 0
    layer_type = "InnerProduct" if layer.startswith("ip") else "Convolution"
    grid = vis_square(filter_tiles(blobs[layer], layer_type))
    n = math.ceil(math.sqrt(tiles))
    assert grid.shape == (n * (side + 1), n * (side + 1)) + ((3,) if colour else ())
    assert _png(out) == (2 * grid.shape[1], 2 * grid.shape[0])
    pixels = image.imread(out)[..., :3]
    expected = np.round(grid * 255).repeat(2, 0).repeat(2, 1) / 255
    expected = expected if colour else np.repeat(expected[..., None], 3, axis=2)
    np.testing.assert_allclose(pixels, expected, atol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["f.png"]


@pytest.mark.parametrize("args, message", [
    (["--layer", "relu1"], "layer 'relu1': no weights in"),
    (["--layer", "conv9"], "no layer 'conv9' in the net; layers with weights: conv1 "
                           "(Convolution), conv2 (Convolution), ip1 (InnerProduct), ip2"),
    (["--layer", "ip1"], "layer 'ip1': InnerProduct rows of 18 values are no image"),
    (["--weights", "none.caffemodel"], "none.caffemodel: weights file not found"),
    (["--padding", "-1"], "--padding must be >= 0"),
])
def test_errors_are_one_line(made, tmp_path, capsys, args, message):
    net, weights, _ = made
    options = {"--weights": str(weights), "--layer": "conv1", "-o": str(tmp_path / "f.png")}
    options.update(dict(zip(args[::2], args[1::2])))
    argv = ["plot-filters", str(net)] + [x for kv in options.items() for x in kv]
    assert cli.main(argv) in (1, 2)
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_without_matplotlib_the_error_names_the_extra(made, tmp_path, capsys, monkeypatch):
    net, weights, _ = made
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert cli.main(["plot-filters", str(net), "--weights", str(weights), "--layer", "conv1",
                     "-o", str(tmp_path / "f.png")]) == 1
    assert "pip install 'keras-caffe[plot]'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_package_and_its_cli_import_without_matplotlib():
    # (TensorFlow itself imports matplotlib when it is installed, so block it.)
    code = ("import sys; sys.modules['matplotlib'] = None; "
            "import keras_caffe, keras_caffe.tools.filters; from keras_caffe import cli; "
            "assert 'plot-filters' in cli.build_parser().format_help()")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
