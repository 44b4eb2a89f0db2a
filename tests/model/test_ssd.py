"""An SSD deploy net end to end (tests/model/ssd_net.py): PriorBox, the heads and
DetectionOutput through keras_caffe.forward, `keras-caffe forward` and XLA, against the
numpy references written from the SSD fork's C++."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import keras_caffe
from keras_caffe import cli
from keras_caffe import pycaffe as caffe
from tests.layers.detection_ref import ref_detection_output
from tests.layers.test_detection_output import assert_same_detections
from tests.layers.test_prior_box import ref_prior_box
from tests.model.ssd_net import DETECTION, PRIORS, SSD_DEPLOY


def _image(shape=(2, 3, 64, 64), seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _reference(blobs, **params):
    return ref_detection_output(blobs["mbox_loc"], blobs["mbox_conf_flatten"],
                                blobs["mbox_priorbox"], **dict(DETECTION, **params))


@pytest.fixture(scope="module")
def ssd():
    return keras_caffe.build_net(SSD_DEPLOY, seed=1)


def test_ssd_deploy_detections_match_the_fork(tmp_path, monkeypatch, caplog):
    monkeypatch.chdir(tmp_path)   # save_output_param names ssd_results/main: nothing appears
    with caplog.at_level(logging.WARNING):
        cnet = keras_caffe.build_net(SSD_DEPLOY, seed=1)
    assert "layer 'detection_out': save_output_param is ignored" in caplog.text
    blobs = keras_caffe.forward(cnet, {"data": _image()})
    assert list(tmp_path.iterdir()) == []
    priors = [ref_prior_box(size, size, 64, 64, (lo,), (hi,), ratios, step=(step, step),
                            variances=(0.1, 0.1, 0.2, 0.2)) for size, lo, hi, ratios, step in PRIORS]
    np.testing.assert_array_equal(blobs["mbox_priorbox"], np.concatenate(priors, axis=2))
    want = _reference(blobs)
    assert want.shape == (1, 1, 400, 7)          # keep_top_k 200 per image
    assert_same_detections(blobs["detection_out"], want)
    assert set(want[0, 0, :, 1]) == {1, 2, 3}    # background 0 never reported


def test_ssd_without_keep_top_k_and_at_another_size():
    """Every NMS survivor (no keep_top_k), at 64 x 64 and at 96 x 80 (other prior counts)."""
    text = SSD_DEPLOY.replace("keep_top_k: 200", "").replace("confidence_threshold: 0.01",
                                                              "confidence_threshold: 0.3")
    for shape in ((2, 3, 64, 64), (1, 3, 96, 80)):
        cnet = keras_caffe.build_net(text, seed=1, input_shapes={"data": shape})
        blobs = keras_caffe.forward(cnet, {"data": _image(shape, seed=shape[2])})
        want = _reference(blobs, keep_top_k=-1, confidence_threshold=0.3)
        assert np.bincount(want[0, 0, :, 0].astype(int)).max() > 200   # no cut
        assert_same_detections(blobs["detection_out"], want)


def test_ssd_under_xla_gives_the_same_detections(ssd):
    x = _image(seed=4)
    eager = keras_caffe.forward(ssd, {"data": x})
    compiled = keras_caffe.forward(ssd, {"data": x}, xla="always")
    assert_same_detections(compiled["detection_out"], eager["detection_out"])
    assert_same_detections(compiled["detection_out"], _reference(eager))


def test_keras_caffe_forward_command(tmp_path):
    net = tmp_path / "deploy.prototxt"
    net.write_text(SSD_DEPLOY)
    x = _image(seed=2)
    np.savez(tmp_path / "in.npz", data=x)
    assert cli.main(["forward", str(net), "--inputs", str(tmp_path / "in.npz"),
                     "--out", str(tmp_path / "out.npz")]) == 0
    with np.load(tmp_path / "out.npz") as blobs:
        blobs = dict(blobs)
    assert blobs["detection_out"].shape == (1, 1, 400, 7)
    assert_same_detections(blobs["detection_out"], _reference(blobs))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deploy.prototxt", "in.npz", "out.npz"]


def test_no_detection_gives_a_row_per_image():
    text = SSD_DEPLOY.replace("confidence_threshold: 0.01", "confidence_threshold: 1")
    blobs = keras_caffe.forward(text, {"data": _image()})
    np.testing.assert_array_equal(blobs["detection_out"],
                                  [[[[0, -1, -1, -1, -1, -1, -1], [1, -1, -1, -1, -1, -1, -1]]]])


@pytest.mark.parametrize("old,new,match", [
    (f"num_classes: {DETECTION['num_classes']}", "num_classes: 5",
     r"layer 'detection_out': number of priors must match number of confidence predictions: "
     r"the prior blob \(1, 2, 5632\) holds 1408 priors, which need 7040 confidence channels, "
     r"got 5632"),
    ("share_location: true", "share_location: false",
     r"1408 priors, which need 22528 location channels, got 5632"),
    (f"num_classes: {DETECTION['num_classes']}", "",
     r"layer 'detection_out': detection_output_param needs num_classes"),
    ("top_k: 400", "top_k: 400 eta: 1.5", r"layer 'detection_out': nms_param.eta must be in"),
    ("nms_threshold: 0.45", "nms_threshold: -1", r"nms_threshold must be non negative"),
])
def test_bad_detection_output_is_a_net_error(old, new, match):
    with pytest.raises(keras_caffe.NetError, match=match):
        keras_caffe.build_net(SSD_DEPLOY.replace(old, new, 1))


def test_pycaffe_net_reshapes_the_detections_blob(tmp_path):
    """As in Caffe: 1 x 1 x 1 x 7 after setup, the detections after each forward."""
    net_file = tmp_path / "deploy.prototxt"
    net_file.write_text(SSD_DEPLOY)
    net = caffe.Net(str(net_file), caffe.TEST)
    assert net.blobs["detection_out"].data.shape == (1, 1, 1, 7)
    x = _image(seed=6)
    net.blobs["data"].data[...] = x
    out = net.forward()["detection_out"]
    assert out.shape == net.blobs["detection_out"].data.shape == (1, 1, 400, 7)
    assert_same_detections(out, _reference({k: net.blobs[k].data for k in (
        "mbox_loc", "mbox_conf_flatten", "mbox_priorbox")}))
