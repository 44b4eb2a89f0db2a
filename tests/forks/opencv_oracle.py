"""OpenCV 4's dnn module as a second oracle for the forks' nets.

OpenCV reimplements SSD's PriorBox/DetectionOutput/Normalize/Permute, Faster R-CNN's
Proposal and ROIPooling, R-FCN's PSROIPooling and PSPNet's Interp from the forks' papers
and code, independently of us: where it runs a net, its blobs are a check that does not
share our reading of the fork.  Known limit: OpenCV 4.14's depthwise convolution is wrong on
1x1 maps, so nets with one there are not compared.

The test extra installs opencv-python-headless; without it these comparisons skip, except
in CI (KERAS_CAFFE_REQUIRE_SHARED set), where a missing OpenCV is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest


def cv2_dnn():
    """The cv2 module, or skip (fail in CI) when OpenCV is not installed."""
    try:
        import cv2
    except ImportError:
        if os.environ.get("KERAS_CAFFE_REQUIRE_SHARED"):
            pytest.fail("opencv-python-headless (the test extra) is required in CI: OpenCV's "
                        "dnn is the second oracle for the forks' nets")
        pytest.skip("OpenCV (opencv-python-headless) is not installed")
    return cv2


def opencv_forward(prototxt: str | Path, caffemodel: str | Path,
                   inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
    """Run ``prototxt`` with ``caffemodel`` in OpenCV's dnn (its own CPU backend) on NCHW
    ``inputs`` by blob name; the named ``outputs`` as OpenCV gives them (NCHW)."""
    cv2 = cv2_dnn()
    net = cv2.dnn.readNetFromCaffe(os.fspath(prototxt), os.fspath(caffemodel))
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    for name, value in inputs.items():
        net.setInput(np.ascontiguousarray(value, dtype=np.float32), name)
    blobs = net.forward(outputs)
    return {name: np.asarray(blob) for name, blob in zip(outputs, blobs)}
