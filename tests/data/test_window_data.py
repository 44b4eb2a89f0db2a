"""Caffe's WindowData layer (R-CNN fine-tuning) on window files and images made in tmp_path,
against a numpy transliteration of ``WindowDataLayer::load_batch`` and numbers worked out by
hand from its C++."""

from __future__ import annotations

import json
import logging
import math
import os

import numpy as np
import pytest

from keras_caffe import cli
from keras_caffe.api import resolve_net
from keras_caffe.data import WindowDataSource, read_window_file, source_for
from keras_caffe.data.formats.resize import opencv_linear_u8
from keras_caffe.data.window_crop import c_round, window_geometry
from keras_caffe.errors import MemoryLimitError, NetError
from keras_caffe.graph.memory import default_limit
from keras_caffe.proto import caffe_pb2
from keras_caffe.proto.binary_write import write_blob
from keras_caffe.proto.upgrade import upgrade_net
from tests.data.helpers import png_of_bgr
from tests.shared_paths import ZOO, require

RNG = np.random.default_rng(5)
SIZES = [(24, 32), (30, 20), (18, 26)]   # rows x cols of im0, im1, im2
# (class overlap x1 y1 x2 y2) per image; with fg_threshold 0.5 and bg_threshold 0.3:
RECORDS = [["1 0.9 4 3 20 15",      # fg[0]
            "0 0.2 0 0 31 23",      # bg[0]: the whole image
            "2 0.7 25 18 31 23",    # fg[1]: in the corner, grown past the image
            "4 0.4 1 1 5 5"],       # dropped: between the thresholds
           ["3 0.55 0 0 9 29",      # fg[2]: along the top-left edges
            "4 0.1 5 5 14 14",      # bg[1]: its class becomes 0
            "1 0.35 2 2 8 8"],      # dropped
           ["0 0.0 3 2 22 16",      # bg[2]
            "2 0.8 10 0 25 10",     # fg[3]
            "0 0.05 20 12 25 17"]]  # bg[3]: the bottom-right corner
# The first outputs of std::mt19937(12345) (= boost::mt19937, Caffe's prefetch RNG), printed
# by a C++ program.
MT_12345 = [3992670690, 3823185381, 1358822685, 561383553, 789925284, 170765737, 878579710,
            3549516158]


def write_window_file(path, records=RECORDS, sizes=SIZES, channels=3, names=None):
    lines = []
    for i, (windows, (h, w)) in enumerate(zip(records, sizes)):
        name = names[i] if names else f"im{i}.png"
        lines += [f"# {i}", name, str(channels), str(h), str(w), str(len(windows))] + windows
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def images(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "img").mkdir()
    bgr = [RNG.integers(0, 256, size + (3,), np.uint8) for size in SIZES]
    for i, img in enumerate(bgr):
        (tmp_path / "img" / f"im{i}.png").write_bytes(png_of_bgr(img))
    write_window_file(tmp_path / "windows.txt")
    return bgr


def layer(batch=4, transform="crop_size: 12 mirror: true", extra="context_pad: 2 "
          "fg_fraction: 0.5"):
    return (f'name: "data" type: "WindowData" top: "data" top: "label" '
            f'transform_param {{ {transform} }} window_data_param {{ source: "windows.txt" '
            f'root_folder: "img/" batch_size: {batch} fg_threshold: 0.5 bg_threshold: 0.3 '
            f'{extra} }}')


def source(text, seed=12345, phase="train"):
    (node,) = resolve_net(f"name: 'n' layer {{ {text} }}", phase).input_layers
    return source_for(node, caffe_pb2.TRAIN if phase == "train" else caffe_pb2.TEST, seed)


# ------------------------------------------------------------------ the C++, transliterated

def cround(x):
    return math.floor(x + 0.5) if x >= 0 else math.ceil(x - 0.5)


def caffe_item(bgr, box, crop, context_pad=0, square=False, mirror=False, scale=1.0,
               mean_values=None, mean=None):
    """One item of ``load_batch``: the C x crop x crop float32 it leaves in the batch."""
    f = np.float32
    x1, y1, x2, y2 = box
    rows, cols = bgr.shape[:2]
    cv_h = cv_w = crop
    pad_w = pad_h = 0
    if context_pad > 0 or square:
        context_scale = f(crop) / f(crop - 2 * context_pad)
        half_height, half_width = f((y2 - y1 + 1) / 2.0), f((x2 - x1 + 1) / 2.0)
        center_x, center_y = f(x1) + half_width, f(y1) + half_height
        if square:
            if half_height > half_width:
                half_width = half_height
            else:
                half_height = half_width
        x1 = int(cround(center_x - half_width * context_scale))
        x2 = int(cround(center_x + half_width * context_scale))
        y1 = int(cround(center_y - half_height * context_scale))
        y2 = int(cround(center_y + half_height * context_scale))
        unclipped_height, unclipped_width = y2 - y1 + 1, x2 - x1 + 1
        pad_x1, pad_y1 = max(0, -x1), max(0, -y1)
        pad_x2, pad_y2 = max(0, x2 - cols + 1), max(0, y2 - rows + 1)
        x1, x2, y1, y2 = x1 + pad_x1, x2 - pad_x2, y1 + pad_y1, y2 - pad_y2
        clipped_height, clipped_width = y2 - y1 + 1, x2 - x1 + 1
        scale_x, scale_y = f(crop) / f(unclipped_width), f(crop) / f(unclipped_height)
        cv_w = int(cround(f(clipped_width) * scale_x))
        cv_h = int(cround(f(clipped_height) * scale_y))
        pad_x1, pad_x2 = int(cround(f(pad_x1) * scale_x)), int(cround(f(pad_x2) * scale_x))
        pad_y1 = int(cround(f(pad_y1) * scale_y))
        pad_h = pad_y1
        pad_w = pad_x2 if mirror else pad_x1
        if pad_h + cv_h > crop:
            cv_h = crop - pad_h
        if pad_w + cv_w > crop:
            cv_w = crop - pad_w
    img = opencv_linear_u8(bgr[y1:y2 + 1, x1:x2 + 1], cv_h, cv_w)
    if mirror:
        img = img[:, ::-1]
    top = np.zeros(3 * crop * crop, np.float32)
    h, w, c = np.meshgrid(np.arange(cv_h), np.arange(cv_w), np.arange(3), indexing="ij")
    top_index = (c * crop + h + pad_h) * crop + w + pad_w
    pixel = img[h, w, c].astype(np.float32)
    if mean is not None:
        mean_off = (mean.shape[2] - crop) // 2
        mean_index = (c * mean.shape[1] + h + mean_off + pad_h) * mean.shape[2] + w + \
            mean_off + pad_w
        top[top_index] = (pixel - mean.ravel()[mean_index]) * f(scale)
    elif mean_values is not None:
        top[top_index] = (pixel - np.asarray(mean_values, np.float32)[c]) * f(scale)
    else:
        top[top_index] = pixel * f(scale)
    return top.reshape(3, crop, crop)


def box_of(text):
    return [int(v) for v in text.split()[2:]]


FG = [(0, RECORDS[0][0]), (0, RECORDS[0][2]), (1, RECORDS[1][0]), (2, RECORDS[2][1])]
BG = [(0, RECORDS[0][1]), (1, RECORDS[1][1]), (2, RECORDS[2][0]), (2, RECORDS[2][2])]


# ------------------------------------------------------------------ geometry by hand

def test_c_round_goes_half_away_from_zero():
    assert [c_round(v) for v in (2.5, -2.5, 0.5, -0.5, 1.4999, -1.4999)] == [3, -3, 1, -1, 1, -1]


def test_geometry_worked_out_from_the_cpp():
    # context_pad 2 of 10: the box grows by 10/6 about its centre (4, 6): x 0.67..7.33 -> 1..7
    g = window_geometry((2, 3, 5, 8), 20, 20, 10, context_pad=2)
    assert (g.roi, g.size, g.pad) == ((1, 1, 7, 11), (10, 10), (0, 0))
    # grown to x -2..8, y -1..5 in a 12 x 16 image: 2 columns and 1 row outside, 6 x 9 pixels
    # inside warped by 10/7 x 10/11 to 9 x 8, placed at row 1, column 2 (mirrored: column 0)
    g = window_geometry((0, 0, 5, 3), 12, 16, 10, context_pad=2)
    assert (g.roi, g.size, g.pad) == ((0, 0, 8, 5), (9, 8), (1, 2))
    assert window_geometry((0, 0, 5, 3), 12, 16, 10, context_pad=2, mirror=True).pad == (1, 0)
    # square: a 3 x 4 box centred at x 4.5 becomes 4 x 4 at x 2.5..6.5, which C rounds to 3..7
    # (numpy's half-to-even would give 2..6)
    g = window_geometry((3, 0, 5, 3), 20, 20, 10, square=True)
    assert (g.roi, g.size, g.pad) == ((3, 0, 7, 4), (10, 10), (0, 0))


# ------------------------------------------------------------------ the window file

def test_window_file_split_and_labels(images, tmp_path):
    w = read_window_file("windows.txt", "img/", 0.5, 0.3)
    assert w.images == [b"img/im0.png", b"img/im1.png", b"img/im2.png"]
    assert [(int(r[0]), int(r[1])) for r in w.fg] == [(0, 1), (0, 2), (1, 3), (2, 2)]
    assert [(int(r[0]), int(r[1])) for r in w.bg] == [(0, 0), (1, 0), (2, 0), (2, 0)]
    assert [list(r[2:6]) for r in w.fg] == [box_of(t) for _, t in FG]
    assert w.where(w.bg[1]) == "windows.txt:18 (image 'img/im1.png')"   # "4 0.1 5 5 14 14"


# ------------------------------------------------------------------ batches

def test_batch_is_background_then_foreground_as_prefetch_rand_draws(images):
    s = source(layer(transform="crop_size: 12 mirror: true mean_value: [100, 110, 120]",
                     extra="context_pad: 2 fg_fraction: 0.5 scale: 0.5"))
    batch = s.next_batch()
    assert batch["data"].shape == (4, 3, 12, 12)
    # Each item draws its window, then (mirror set) its flip: bg, bg, fg, fg
    picks = [BG[MT_12345[0] % 4], BG[MT_12345[2] % 4], FG[MT_12345[4] % 4],
             FG[MT_12345[6] % 4]]
    flips = [v % 2 == 1 for v in MT_12345[1::2]]
    assert batch["label"].tolist() == [0, 0, int(picks[2][1][0]), int(picks[3][1][0])] == \
        [0, 0, 1, 3]
    assert flips == [True, True, True, False]
    for k, ((image, text), flip) in enumerate(zip(picks, flips)):
        expected = caffe_item(images[image], box_of(text), 12, 2, mirror=flip, scale=0.5,
                              mean_values=[100, 110, 120])
        np.testing.assert_array_equal(batch["data"][k], expected, err_msg=f"item {k}")
    feeds = s.next_feeds()   # the model's view: the next batch, NHWC
    assert feeds["data"].shape == (4, 12, 12, 3)


@pytest.mark.parametrize("mode,pad", [("warp", 0), ("warp", 3), ("square", 0), ("square", 2)])
def test_every_window_matches_the_cpp(images, mode, pad):
    """Each fg and bg window of the file, both flips, against the transliteration."""
    s = source(layer(batch=8, transform="crop_size: 14 mirror: true",
                     extra=f"context_pad: {pad} crop_mode: '{mode}' fg_fraction: 0.5"))
    seen = set()
    for _ in range(6):
        rows, flips = s._choose(s._generator(s.batches_read))
        batch = s.next_batch()
        for k, (row, flip) in enumerate(zip(rows, flips)):
            box = [int(v) for v in row[2:6]]
            expected = caffe_item(images[int(row[0])], box, 14, pad, mode == "square", flip)
            np.testing.assert_array_equal(batch["data"][k], expected)
            seen.add((tuple(box), bool(flip)))
    assert len(seen) >= 10   # most windows, both ways


def test_mean_file_is_read_at_the_crop_position_and_padding_stays_zero(images, tmp_path):
    mean = RNG.uniform(0, 255, (1, 3, 17, 15)).astype(np.float32)   # offset (15 - 12) / 2 = 1
    write_blob(str(tmp_path / "mean.binaryproto"), mean)
    s = source(layer(batch=2, transform='crop_size: 12 mirror: true mean_file: '
                     '"mean.binaryproto"', extra="context_pad: 3 fg_fraction: 0.5"))
    batch = s.next_batch()
    picks = [BG[MT_12345[0] % 4], FG[MT_12345[2] % 4]]
    for k, (image, text) in enumerate(picks):
        expected = caffe_item(images[image], box_of(text), 12, 3, mirror=True, mean=mean[0])
        np.testing.assert_array_equal(batch["data"][k], expected)
    # the corner window (fg[1], grown past the image) leaves columns of zeros
    corner = caffe_item(images[0], box_of(RECORDS[0][2]), 12, 3, mirror=True, mean=mean[0])
    assert (corner[:, :, :2] == 0).all() and (corner[:, :, 2:] != 0).any()


def test_fg_fraction_rounds_down_in_float(images):
    s = source(layer(batch=10, transform="crop_size: 8", extra="fg_fraction: 0.3"))
    labels = s.next_batch()["label"]
    assert (labels[:7] == 0).all() and (labels[7:] > 0).all()   # int(10 * 0.3f) = 3
    s = source(layer(batch=3, transform="crop_size: 8", extra="fg_fraction: 0"))
    assert s.next_batch()["label"].tolist() == [0, 0, 0]


def test_ten_thousandth_draw_and_resume(images):
    """std::mt19937 seeded 5489 gives 4123659995 as its 10000th number (the C++ standard):
    batch 9999 of one item without mirror draws it."""
    s = source(layer(batch=1, transform="crop_size: 8", extra="fg_fraction: 0"), seed=5489)
    s.seek(9999)
    batch = s.next_batch()
    image, text = BG[4123659995 % 4]
    np.testing.assert_array_equal(batch["data"][0], caffe_item(images[image], box_of(text), 8))
    t = source(layer(batch=3), seed=77)
    run = [t.next_batch() for _ in range(4)]
    resumed = source(layer(batch=3), seed=1)
    resumed.restore(t.state())
    resumed.seek(2)
    for k in (2, 3):
        x = resumed.next_batch()
        np.testing.assert_array_equal(x["data"], run[k]["data"])
        np.testing.assert_array_equal(x["label"], run[k]["label"])


def test_cache_images_reads_every_image_up_front(images, tmp_path):
    cached = source(layer(extra="context_pad: 2 fg_fraction: 0.5 cache_images: true"))
    plain = source(layer())
    np.testing.assert_array_equal(cached.next_batch()["data"], plain.next_batch()["data"])
    (tmp_path / "img" / "im1.png").unlink()
    for _ in range(10):   # the cached source reads no file again
        cached.next_batch()
    with pytest.raises(NetError, match=r"layer 'data': windows.txt:12: cannot read image "
                       r"'img/im1.png'"):
        for _ in range(10):
            plain.next_batch()


def test_cache_images_within_the_memory_limit(images, tmp_path):
    total = sum(os.path.getsize(tmp_path / "img" / f"im{i}.png") for i in range(3))
    with default_limit(total - 1), pytest.raises(
            MemoryLimitError, match=rf"layer 'data': cache_images would hold the 3 image files "
            rf"of 'windows.txt' \(.*, {total:,} bytes\) in memory, over the memory limit of "
            rf".* \({total - 1:,} bytes; --max-memory"):
        source(layer(extra="cache_images: true"))
    with default_limit(total):
        assert len(source(layer(extra="cache_images: true")).cache) == 3


def test_pycaffe_net_and_forward_batches_read_the_same_stream(images, tmp_path):
    import keras_caffe.pycaffe as caffe

    net = ("name: 'n' " + f"layer {{ {layer(batch=4)} }}" +
           ' layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" '
           'inner_product_param { num_output: 4 weight_filler { type: "xavier" } } }'
           ' layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" '
           'top: "loss" }')
    (tmp_path / "net.prototxt").write_text(net)
    expected = source(layer(batch=4), seed=12345)
    first, second = expected.next_batch(), expected.next_batch()
    caffe.set_random_seed(12345)
    pnet = caffe.Net("net.prototxt", caffe.TRAIN)
    pnet.forward()
    np.testing.assert_array_equal(pnet.blobs["data"].data, first["data"])
    np.testing.assert_array_equal(pnet.blobs["label"].data, first["label"])
    assert np.isfinite(pnet.blobs["loss"].data).all()
    assert cli.main(["forward", "net.prototxt", "--batches", "2", "--phase", "train", "--seed",
                     "12345", "--out", "out.npz"]) == 0
    with np.load(tmp_path / "out.npz") as out:
        np.testing.assert_array_equal(out["data/1"], second["data"])
        np.testing.assert_array_equal(out["label/0"], first["label"])


def test_the_pascal_finetuning_net_of_caffes_examples_reads(tmp_path, monkeypatch):
    """The WindowData layers of Caffe's examples/finetune_pascal_detection net (batch 128,
    crop 227, context_pad 16, mirror, the 256 x 256 ImageNet mean file) on our fixtures."""
    net = require(ZOO / "bvlc/examples/finetune_pascal_detection/"
                        "pascal_finetune_trainval_test.prototxt")
    monkeypatch.chdir(tmp_path)
    (node,) = resolve_net(str(net), "train").input_layers
    param = node.param.window_data_param
    folder = tmp_path / os.path.dirname(param.source)
    folder.mkdir(parents=True)
    bgr = [RNG.integers(0, 256, (40 + 9 * i, 60 - 7 * i, 3), np.uint8) for i in range(3)]
    names = []
    for i, img in enumerate(bgr):
        names.append(str(tmp_path / f"voc{i}.png"))   # R-CNN's files name absolute paths
        (tmp_path / f"voc{i}.png").write_bytes(png_of_bgr(img))
    records = [[f"{1 + i} 0.8 2 3 {20 + i} {30 - i}", f"0 0.1 {i} 0 {30 - 2 * i} 25",
                f"{7 + i} 0.6 {10 + i} 1 {39 - 7 * i} {10 + i}"] for i in range(3)]
    write_window_file(tmp_path / param.source, records, [b.shape[:2] for b in bgr],
                      names=names)
    mean = RNG.uniform(0, 255, (1, 3, 256, 256)).astype(np.float32)
    (tmp_path / "data/ilsvrc12").mkdir(parents=True)
    write_blob(str(tmp_path / node.param.transform_param.mean_file), mean)
    s = source_for(node, caffe_pb2.TRAIN, seed=2)
    rows, flips = s._choose(s._generator(0))
    batch = s.next_batch()
    assert batch["data"].shape == (128, 3, 227, 227)
    assert (batch["label"][:96] == 0).all() and (batch["label"][96:] > 0).all()   # 0.25 fg
    for k in (0, 95, 96, 127):
        box = [int(v) for v in rows[k][2:6]]
        expected = caffe_item(bgr[int(rows[k][0])], box, 227, 16, mirror=flips[k],
                              mean=mean[0])
        np.testing.assert_array_equal(batch["data"][k], expected, err_msg=f"item {k}")


FINETUNE = """
name: "rcnn_tiny"
layer { name: "data" type: "WindowData" top: "data" top: "label" include { phase: TRAIN }
  transform_param { mirror: true crop_size: 12 mean_value: 128 }
  window_data_param { source: "windows.txt" root_folder: "img/" batch_size: 8
    fg_threshold: 0.5 bg_threshold: 0.3 fg_fraction: 0.25 context_pad: 2 crop_mode: "warp"
    scale: 0.0078125 } }
layer { name: "data" type: "WindowData" top: "data" top: "label" include { phase: TEST }
  transform_param { crop_size: 12 mean_value: 128 }
  window_data_param { source: "windows.txt" root_folder: "img/" batch_size: 8
    fg_threshold: 0.5 bg_threshold: 0.3 fg_fraction: 0.25 context_pad: 2 cache_images: true
    scale: 0.0078125 } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  convolution_param { num_output: 4 kernel_size: 3 stride: 2 weight_filler { type: "xavier" } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "fc_pascal" type: "InnerProduct" bottom: "conv1" top: "fc_pascal"
  inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc_pascal" bottom: "label" top: "loss" }
layer { name: "accuracy" type: "Accuracy" bottom: "fc_pascal" bottom: "label" top: "accuracy"
  include { phase: TEST } }
"""

FINETUNE_SOLVER = """
net: "finetune.prototxt"
test_iter: 2 test_interval: 5 test_initialization: false
base_lr: 0.01 momentum: 0.9 lr_policy: "fixed" display: 1 max_iter: 10
snapshot: 10 snapshot_prefix: "rcnn" random_seed: 3
"""


def test_keras_caffe_train_fine_tunes_on_windows(images, tmp_path):
    (tmp_path / "finetune.prototxt").write_text(FINETUNE)
    (tmp_path / "solver.prototxt").write_text(FINETUNE_SOLVER)
    assert cli.main(["train", "--solver", "solver.prototxt", "--log", "log.jsonl"]) == 0
    records = [json.loads(l) for l in (tmp_path / "log.jsonl").read_text().splitlines()]
    train = [r for r in records if "lr" in r]
    tests = [r for r in records if "test_net" in r]
    assert len(train) == 10 and all(np.isfinite(r["loss"]) for r in train)
    assert abs(train[0]["loss"] - math.log(4)) < 0.2   # 4 classes, small initial weights
    assert [t["iteration"] for t in tests] == [5, 10]
    assert 0 <= tests[-1]["outputs"]["accuracy"] <= 1
    assert (tmp_path / "rcnn_iter_10.caffemodel").is_file()


# ------------------------------------------------------------------ errors

@pytest.mark.parametrize("text,message", [
    ("", r"window file 'windows.txt' is empty"),
    ("# 0\nim0.png\n3\n24\n32\n1\n1 0.9 1 1 5 5\n% 1\n",
     r"windows.txt:8: expected '#' to start the record of image 1 .* got '%'"),
    ("# 1\nim0.png\n3\n24\n32\n0\n", r"windows.txt:1: image index 1, expected 0"),
    ("# 0\nim0.png\n3\n24\n32\n2\n1 0.9 1 1 5 5\n0 0.1 1 1 5.5 5\n",
     r"windows.txt:8: window .* must be integers"),
    ("# 0\nim0.png\n3\n24\n32\n1\n1 0.9 1 x 5 5\n", r"windows.txt:7: 'x' is not a number"),
    ("# 0\nim0.png\n3\n24\n32\n2\n1 0.9 1 1 5 5\n", r"windows.txt:6: image 0 declares 2 windows "
     r"\(6 numbers each\), but 6 numbers follow before the end"),
    ("# 0\nim0.png\n3\n24\n", r"windows.txt:4: the file ends inside the record of image 0: "
     "the image's width expected"),
    ("# 0\nim0.png\nthree\n24\n32\n0\n", r"windows.txt:3: the image's channels must be an "
     "integer, got 'three'"),
    ("# 0\nim0.png\n3\n24\n32\n2\n0 0.9 1 1 5 5\n0 0.1 1 1 5 5\n",
     r"windows.txt:7 \(image 'img/im0.png'\): a foreground window .* has class 0"),
    ("# 0\nim0.png\n3\n24\n32\n2\n1 0.9 1 1 5 5\n0 0.1 6 1 5 5\n",
     r"windows.txt:8 .*x2=5.* is empty"),
    ("# 0\nim0.png\n3\n24\n32\n1\n1 0.9 1 1 5 5\n", r"window file 'windows.txt' has no "
     r"background windows \(overlap < bg_threshold 0.3\)"),
    ("# 0\nim0.png\n1\n24\n32\n2\n1 0.9 1 1 5 5\n0 0.1 1 1 5 5\n",
     r"windows.txt:3: the last image declares 1 channels"),
    ("# 0\nnone.png\n3\n24\n32\n2\n1 0.9 1 1 5 5\n0 0.1 1 1 5 5\n",
     r"windows.txt:2: image 'img/none.png' not found"),
])
def test_malformed_window_files(images, tmp_path, text, message):
    (tmp_path / "windows.txt").write_text(text)
    with pytest.raises(NetError, match=r"layer 'data': " + message):
        source(layer())


@pytest.mark.parametrize("transform,extra,message", [
    ("mirror: true", "crop_size: 12", r"needs transform_param.crop_size > 0.*window_data_param"
     r".crop_size: 12 is read only in V1 nets"),
    ("crop_size: 12", "context_pad: 6", r"context_pad 6 leaves no room in a crop of 12"),
    ("crop_size: 12", "crop_mode: 'Square'", r"crop_mode is 'Square'; Caffe knows 'warp'"),
    ("crop_size: 12", "fg_fraction: 1.5", r"fg_fraction must be in \[0, 1\], got 1.5"),
    ("crop_size: 12 mean_value: [1, 2]", "", r"2 mean_value; give 1 or one per channel"),
    ("crop_size: 12 mean_file: 'm.binaryproto'", "", r"mean_file 'm.binaryproto' is 3 x 12 x "
     r"11; .* at least 12 wide"),
    ("crop_size: 12 mean_file: 'm.binaryproto' mean_value: 1", "", "both mean_file"),
])
def test_parameters_caffe_checks(images, tmp_path, transform, extra, message):
    write_blob(str(tmp_path / "m.binaryproto"), np.zeros((1, 3, 12, 11), np.float32))
    with pytest.raises(NetError, match=message):
        source(layer(transform=transform, extra=extra))


def test_window_outside_its_image_names_the_line(images, tmp_path):
    write_window_file(tmp_path / "windows.txt", [["1 0.9 30 2 40 10", "0 0.1 1 1 5 5"]],
                      SIZES[:1])
    s = source(layer(batch=1, extra="fg_fraction: 1"))
    with pytest.raises(NetError, match=r"layer 'data': windows.txt:7 \(image 'img/im0.png'\): "
                       r"the window x 30..40, y 2..10 is not inside the 32 x 24"):
        s.next_batch()
    # grown by context and wholly outside: nothing to crop
    write_window_file(tmp_path / "windows.txt", [["1 0.9 40 30 45 35", "0 0.1 1 1 5 5"]],
                      SIZES[:1])
    with pytest.raises(NetError, match=r"windows.txt:7 .*does not overlap the 32 x 24"):
        source(layer(batch=1, extra="fg_fraction: 1 context_pad: 2")).next_batch()


def test_scales_caffe_reads_and_ignores(images, caplog):
    with caplog.at_level(logging.WARNING):
        s = source(layer(batch=1, transform="crop_size: 8 scale: 0.5",
                         extra="fg_fraction: 0 scale: 2"))
    assert "ignores transform_param.scale (0.5) and applies window_data_param.scale (2)" \
        in caplog.text
    image, text = BG[MT_12345[0] % 4]
    np.testing.assert_array_equal(s.next_batch()["data"][0],
                                  caffe_item(images[image], box_of(text), 8, scale=2.0))
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        upgrade_net(caffe_pb2.NetParameter(layer=[caffe_pb2.LayerParameter(
            name="w", type="WindowData", window_data_param={"scale": 2.0, "mirror": True})]))
    assert "window_data_param.mirror;" in caplog.text   # ignored: warned; scale: read


def test_describe_item_names_the_window_line(images):
    s = source(layer())
    s.next_batch()
    assert FG[MT_12345[6] % 4] == FG[2]   # item 3: "3 0.55 0 0 9 29", on line 17
    assert s.describe_item(0, 3) == "the window at windows.txt:17 (image 'img/im1.png')"
    s.next_batch()
    assert s.describe_item(0, 3) == "the window at windows.txt:17 (image 'img/im1.png')"
    assert isinstance(s, WindowDataSource) and os.path.isabs(s.paths[0])
