"""The two most used published SSD nets, end to end at their published size (1 x 3 x 300 x 300):
the SSD fork's SSD300 VGG16 (examples/ssd/ssd_pascal.py) and chuanqi305's MobileNet-SSD, as
our generators in tests/forks/ssd_nets.py write them (checked once against the forks' own
output), with random weights written to a caffemodel and read back.

Three checks per net: (i) the prior count (8732, 1917) and every blob's shape against
Caffe's shape formulas; (ii) mbox_loc, mbox_conf_flatten, mbox_priorbox and detection_out
against OpenCV's dnn, an implementation independent of ours; (iii) detection_out against the
numpy DetectionOutput reference (tests/layers/detection_ref.py) run on our own mbox blobs.

The weights make detections exist and keep them decidable: He-scaled convolutions, loc heads
scaled so the offsets are O(1), conf heads whose background channels get a bias so that only
a few dozen scores pass the threshold -- fewer than top_k and keep_top_k, so no detection is
chosen by a cut among near-equal scores, and the test checks that no score lies within 1e-4
of the threshold (relative), where OpenCV's and our float32 rounding could decide differently.
Measured: 25 detections of 73 scores above the threshold (SSD300), 25 of 33 (MobileNet-SSD).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from google.protobuf import text_format

import keras_caffe
from keras_caffe.proto import caffe_pb2
from keras_caffe.proto.binary_write import write_caffemodel
from tests.forks.opencv_oracle import opencv_forward
from tests.forks.ssd_nets import mobilenet_ssd, ssd300_vgg16
from tests.layers.detection_ref import ref_detection_output
from tests.layers.test_detection_output import assert_same_detections

CLASSES = 21
# net: (generator, priors, source maps (H = W), conf-head weight scale, background bias)
NETS = {
    "ssd300_vgg16": (ssd300_vgg16, 8732, [38, 19, 10, 5, 3, 1], 0.3, 10.0),
    "mobilenet_ssd": (mobilenet_ssd, 1917, [19, 10, 5, 3, 2, 1], 1.0, 3.0),
}
HEADS = ("mbox_loc", "mbox_conf_flatten", "mbox_priorbox", "detection_out")
# OpenCV and we sum each convolution in another order: float32 rounding, growing with depth
# (about 20 layers of up to 4608 terms here); 1e-4 of each blob's largest magnitude holds it
# with a margin of 10 over what was measured (2e-6 MobileNet-SSD, 5e-6 SSD300 on mbox_loc).
RTOL_OF_MAX = 1e-4
# Detections: measured, scores differ by at most 3e-6 (2e-5 of their value) and corners by
# 2e-6 (a loc difference of 4e-5 times a variance of 0.1 or 0.2, times a prior size below
# 1); both compared within 1e-4.  A score closer to the threshold than 1e-4 of it could be kept by
# one side and not the other; the weights leave none there, and the test says so if not.
DETECTION_ATOL = 1e-4


def net_param(text: str) -> caffe_pb2.NetParameter:
    return text_format.Parse(text, caffe_pb2.NetParameter())


def random_weights(net: caffe_pb2.NetParameter, conf_scale: float, background_bias: float,
                   seed: int = 0) -> dict:
    """{layer: [blobs]}: He-scaled convolutions with small biases; loc heads scaled to
    offsets of about 1; conf heads scaled by ``conf_scale`` with ``background_bias`` on the
    background channel of every prior; Normalize's scale 20, as SSD initializes it."""
    rng = np.random.default_rng(seed)
    channels, blobs = {"data": 3}, {}
    for layer in net.layer:
        if layer.type == "Convolution":
            p = layer.convolution_param
            fan_in = channels[layer.bottom[0]] // (p.group or 1)
            kernel = p.kernel_size[0]
            std = math.sqrt(2.0 / (fan_in * kernel * kernel))
            w = rng.standard_normal((p.num_output, fan_in, kernel, kernel), np.float32)
            b = rng.standard_normal(p.num_output, np.float32) * np.float32(0.1)
            if layer.name.endswith("_mbox_loc"):
                std, b = std * 0.5, b * 0
            elif layer.name.endswith("_mbox_conf"):
                std, b = std * conf_scale, b * 0
                b[::CLASSES] = background_bias
            blobs[layer.name] = [w * np.float32(std), b]
            channels[layer.top[0]] = p.num_output
        elif layer.type == "Normalize":
            blobs[layer.name] = [np.full(channels[layer.bottom[0]], 20, np.float32)]
        if layer.type in ("ReLU", "Pooling", "Normalize"):
            channels[layer.top[0]] = channels[layer.bottom[0]]
    return blobs


def caffe_shapes(net: caffe_pb2.NetParameter) -> dict:
    """Every blob's NCHW shape by Caffe's formulas (conv_layer.cpp, pooling_layer.cpp with
    its ceil, and the SSD fork's permute, prior_box and detection_output layers)."""
    shapes = {"data": tuple(net.input_shape[0].dim)}
    for layer in net.layer:
        bottoms = [shapes[b] for b in layer.bottom]
        x = bottoms[0]
        if layer.type == "Convolution":
            p = layer.convolution_param
            k, s = p.kernel_size[0], p.stride[0] if p.stride else 1
            pad, d = p.pad[0] if p.pad else 0, p.dilation[0] if p.dilation else 1
            side = (x[2] + 2 * pad - (d * (k - 1) + 1)) // s + 1
            out = (x[0], p.num_output, side, side)
        elif layer.type == "Pooling":
            p = layer.pooling_param
            side = int(math.ceil((x[2] + 2 * p.pad - p.kernel_size) / p.stride)) + 1
            out = (x[0], x[1], side, side)
        elif layer.type == "Permute":
            out = tuple(x[a] for a in layer.permute_param.order)
        elif layer.type == "Flatten":
            out = (x[0], int(np.prod(x[1:])))
        elif layer.type == "PriorBox":
            p = layer.prior_box_param
            per_cell = len(p.min_size) * (1 + len(p.max_size) // len(p.min_size)
                                          + len(p.aspect_ratio) * (2 if p.flip else 1))
            out = (1, 2, x[2] * x[3] * per_cell * 4)
        elif layer.type == "Concat":
            axis = layer.concat_param.axis
            out = x[:axis] + (sum(b[axis] for b in bottoms),) + x[axis + 1:]
        elif layer.type == "Reshape":
            dims = list(layer.reshape_param.shape.dim)
            out = [x[i] if d == 0 else d for i, d in enumerate(dims)]
            out[out.index(-1)] = int(np.prod(x)) // -int(np.prod(out))
            out = tuple(out)
        elif layer.type == "DetectionOutput":
            out = None                            # rows known only when it runs
        else:                                     # ReLU, Normalize, Softmax
            out = x
        shapes[layer.top[0]] = out
    return shapes


@pytest.fixture(scope="module", params=list(NETS))
def published(request, tmp_path_factory):
    """The net's prototxt and caffemodel under tmp, an image, our blobs and OpenCV's."""
    generate, priors, maps, conf_scale, background_bias = NETS[request.param]
    folder = tmp_path_factory.mktemp(request.param)
    text = generate()
    prototxt, caffemodel = folder / "deploy.prototxt", folder / "weights.caffemodel"
    prototxt.write_text(text)
    net = net_param(text)
    write_caffemodel(caffemodel, random_weights(net, conf_scale, background_bias))
    image = np.random.default_rng(1).standard_normal((1, 3, 300, 300)).astype(np.float32)
    ours = keras_caffe.forward(prototxt, {"data": image}, weights=caffemodel)
    theirs = opencv_forward(prototxt, caffemodel, {"data": image}, list(HEADS))
    return dict(name=request.param, net=net, priors=priors, maps=maps, ours=ours,
                opencv=theirs, layer=next(x for x in net.layer if x.type == "DetectionOutput"))


def detection_params(layer) -> dict:
    p = layer.detection_output_param
    return dict(num_classes=p.num_classes, nms_threshold=p.nms_param.nms_threshold,
                top_k=p.nms_param.top_k, keep_top_k=p.keep_top_k,
                confidence_threshold=p.confidence_threshold, code_type="CENTER_SIZE")


def test_prior_count_and_every_blob_shape(published):
    ours, want = published["ours"], caffe_shapes(published["net"])
    assert ours["mbox_priorbox"].shape == (1, 2, published["priors"] * 4)
    assert ours["mbox_conf_flatten"].shape == (1, published["priors"] * CLASSES)
    sources = [b for x in published["net"].layer if x.type == "PriorBox" for b in x.bottom[:1]]
    assert [want[s][2:] for s in sources] == [(m, m) for m in published["maps"]]
    assert set(ours) == set(want)
    assert {k: ours[k].shape for k in want if want[k]} == {k: v for k, v in want.items() if v}
    rows = ours["detection_out"].shape
    assert rows[:2] == (1, 1) and rows[3] == 7


def test_heads_and_detections_match_opencv(published):
    ours, theirs = published["ours"], published["opencv"]
    for name in HEADS[:3]:
        assert theirs[name].shape == ours[name].shape, name
        scale = float(np.abs(ours[name]).max())
        np.testing.assert_allclose(ours[name], theirs[name], rtol=0,
                                   atol=RTOL_OF_MAX * scale, err_msg=name)
    params = detection_params(published["layer"])
    threshold = params["confidence_threshold"]
    scores = ours["mbox_conf_flatten"].reshape(-1, CLASSES)[:, 1:]
    assert np.abs(scores - threshold).min() > 1e-4 * threshold     # decidable by both
    got = ours["detection_out"]
    kept = got.shape[2]
    assert 10 <= kept < min(params["keep_top_k"], params["top_k"]), kept  # no cut decides
    # OpenCV pads its top to keep_top_k rows of zeros and orders rows by score alone;
    # Caffe (and we) give one row per detection, by image, label and descending score.
    rows = theirs["detection_out"].reshape(-1, 7)
    rows = rows[np.any(rows != 0, axis=1)]
    assert rows.shape == (kept, 7)
    got = got.reshape(-1, 7)
    got, rows = (x[np.lexsort((-x[:, 2], x[:, 1], x[:, 0]))] for x in (got, rows))
    np.testing.assert_array_equal(got[:, :2], rows[:, :2])        # image, label
    np.testing.assert_allclose(got[:, 2:], rows[:, 2:], rtol=0, atol=DETECTION_ATOL)


def test_detections_match_the_numpy_reference(published):
    ours = published["ours"]
    want = ref_detection_output(ours["mbox_loc"], ours["mbox_conf_flatten"],
                                ours["mbox_priorbox"], **detection_params(published["layer"]))
    assert_same_detections(ours["detection_out"], want)
    labels = set(want[0, 0, :, 1].astype(int))
    assert 0 not in labels and len(labels) > 1
