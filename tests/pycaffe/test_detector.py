"""Detector on a fake net (tests/pycaffe/fake_net.py): window crops with and without
context padding against hand-computed R-CNN boxes, and detect_windows end to end on PNGs."""

import importlib.util
import os
import sys
import types

import numpy as np
import pytest

from keras_caffe.pycaffe import detector, io
from keras_caffe.pycaffe import net as net_module
from tests.pycaffe.fake_net import FakeNet, score, write_png


class FakeDetector(detector.DetectorMixin, FakeNet):
    """The seam: pycaffe's Detector logic on the fake net, with an 8 x 8 input."""

    input_shape = (1, 3, 8, 8)


MEAN_BGR = np.array([104.0, 117.0, 123.0])
rng = np.random.default_rng(2)


def make(context_pad=None, mean=MEAN_BGR):
    return FakeDetector("deploy.prototxt", "weights.caffemodel", mean=mean, raw_scale=255.0,
                        channel_swap=(2, 1, 0), context_pad=context_pad)


def test_configure_crop():
    det = make()
    np.testing.assert_array_equal(det.crop_dims, [8, 8, 3])
    assert det.context_pad is None and not hasattr(det, "crop_mean")
    padded = make(context_pad=1)
    # the BGR mean back in raw RGB [0, 1] space, as H,W,C for broadcasting
    np.testing.assert_allclose(padded.crop_mean, (MEAN_BGR[::-1] / 255)[None, None, :])
    no_mean = make(context_pad=1, mean=None)
    assert no_mean.crop_mean.shape == (8, 8, 3) and not no_mean.crop_mean.any()


def test_crop_without_context():
    im = rng.random((10, 12, 3))
    det = make()
    np.testing.assert_array_equal(det.crop(im, np.array([1, 2, 5, 7])), im[1:5, 2:7])
    np.testing.assert_array_equal(det.crop(im, [0, 0, 10, 12]), im)


def test_crop_with_context_inside_the_image():
    # window rows/cols 2..5 (4 px, centre 4); scale 8 / 6 -> box round(4 -+ 2.67) = 1..7,
    # 7 px wide -> no padding, 7 * 8/7 = 8 px of context crop: all of the input
    im = rng.random((10, 10, 3)).astype(np.float32)
    crop = make(context_pad=1).crop(im, np.array([2, 2, 5, 5]))
    assert crop.shape == (8, 8, 3)
    np.testing.assert_array_equal(crop, io.resize_image(im[1:7, 1:7], (8, 8)))


def test_crop_with_context_at_the_border_pads_with_the_mean():
    # window 0..3 (centre 2): box round(2 -+ 2.67) = -1..5, 7 px -> scale 8/7;
    # pad round(1 * 8/7) = 1; clipped box 0..5 counts 6 px -> round(6 * 8/7) = 7 px
    im = rng.random((10, 10, 3)).astype(np.float32)
    det = make(context_pad=1)
    crop = det.crop(im, np.array([0, 0, 3, 3]))
    assert crop.shape == (8, 8, 3)
    np.testing.assert_array_equal(crop[1:, 1:], io.resize_image(im[0:5, 0:5], (7, 7)))
    border = np.concatenate([crop[0], crop[1:, 0]])
    np.testing.assert_allclose(border, np.broadcast_to(MEAN_BGR[::-1] / 255, (15, 3)),
                               rtol=1e-6)
    # window 7..10 (centre 9): box round(9 -+ 2.67) = 6..12, clipped to 6..10 -> 5 px
    # counted, round(5 * 8/7) = 6 px from the top-left corner; the rest is mean
    crop = det.crop(im, np.array([7, 7, 10, 10]))
    np.testing.assert_array_equal(crop[:6, :6], io.resize_image(im[6:10, 6:10], (6, 6)))
    np.testing.assert_allclose(crop[6:].reshape(-1, 3),
                               np.broadcast_to(MEAN_BGR[::-1] / 255, (16, 3)), rtol=1e-6)


def test_crop_rejects_inverted_window():
    with pytest.raises(ValueError, match="nothing"):
        make(context_pad=1).crop(np.zeros((10, 10, 3)), np.array([9, 9, 1, 1]))


def _ref_blob(crop):
    """make()'s preprocessing of an H,W,3 crop: warp to 8 x 8, RGB -> BGR, x255, - mean."""
    if crop.shape[:2] != (8, 8):
        crop = io.resize_image(crop.astype(np.float32), (8, 8))
    x = crop.astype(np.float32).transpose(2, 0, 1)[[2, 1, 0]] * np.float32(255.0)
    return (x.astype(np.float64) - MEAN_BGR[:, None, None]).astype(np.float32)


def test_detect_windows_end_to_end(tmp_path):
    pictures = [rng.integers(0, 256, (12, 10, 3), dtype=np.uint8) for _ in range(2)]
    names = [str(tmp_path / f"{i}.png") for i in range(2)]
    for name, pixels in zip(names, pictures):
        write_png(name, pixels)
    windows = [[np.array([0, 0, 12, 10]), np.array([2, 3, 9, 7])], [np.array([4, 1, 8, 9])]]
    det = make()
    found = det.detect_windows(zip(names, windows))     # an iterator, walked twice
    assert [d["filename"] for d in found] == [names[0], names[0], names[1]]
    assert [d["window"].tolist() for d in found] == [[0, 0, 12, 10], [2, 3, 9, 7],
                                                     [4, 1, 8, 9]]
    (batch,) = det.batches
    expect = []
    for pixels, wins in zip(pictures, windows):
        image = (pixels / 255).astype(np.float32)
        expect += [_ref_blob(image[w[0]:w[2], w[1]:w[3]]) for w in wins]
    np.testing.assert_array_equal(batch, np.stack(expect))
    scores = score(np.stack(expect))
    for d, s in zip(found, scores):
        np.testing.assert_array_equal(d["prediction"], s)


def test_detect_windows_with_context(tmp_path):
    pixels = rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)
    write_png(tmp_path / "a.png", pixels)
    det = make(context_pad=1)
    det.detect_windows([(str(tmp_path / "a.png"), [np.array([0, 0, 3, 3])])])
    image = (pixels / 255).astype(np.float32)
    np.testing.assert_array_equal(det.batches[0][0], _ref_blob(det.crop(image, [0, 0, 3, 3])))


def test_selective_search(monkeypatch, tmp_path):
    det = make()
    if importlib.util.find_spec("selective_search_ijcv_with_python") is not None:
        pytest.skip("selective_search_ijcv_with_python is installed here")
    with pytest.raises(NotImplementedError, match="not bundled"):
        det.detect_selective_search(["a.png"])
    write_png(tmp_path / "a.png", rng.integers(0, 256, (9, 9, 3), dtype=np.uint8))
    calls = []
    fake = types.ModuleType("selective_search_ijcv_with_python")
    fake.get_windows = lambda names, cmd: calls.append((names, cmd)) or [[np.array([1, 1, 5, 5])]]
    monkeypatch.setitem(sys.modules, "selective_search_ijcv_with_python", fake)
    monkeypatch.chdir(tmp_path)
    found = det.detect_selective_search(["a.png"])
    absolute = os.path.abspath("a.png")
    assert calls == [([absolute], "selective_search_rcnn")]
    assert len(found) == 1 and found[0]["filename"] == absolute


def test_detector_is_a_net():
    assert issubclass(detector.Detector, detector.DetectorMixin)
    assert issubclass(detector.Detector, net_module.Net)
