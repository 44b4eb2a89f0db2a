"""py-faster-rcnn's and py-R-FCN's published test nets (tests/forks/rcnn_nets.py writes them as
the forks do; checked once against the forks' own files): ZF end to end with random weights
through pycaffe's interface, against OpenCV's dnn and the numpy proposal reference; VGG16 and
R-FCN's ResNet-50 by structure, shapes and projected memory, without building them.

ZF runs at 1 x 3 x 224 x 288: the published height, and a width that differs from it, so a
swapped H/W axis anywhere (anchors, im_info, ROIPooling) shows; its 15 x 19 conv5 map makes
2565 anchors, enough for the 300 proposals of the TEST config to be a cut.  The weights are
He-scaled with RPN heads scaled so scores are not saturated (softmax inputs of about +-1: few
exact ties) and box deltas are about 0.7 (boxes stay inside a few anchor sizes).

OpenCV 4 refuses ``type: "Python"``, so it runs the same net with the proposal layer written as
its C++ ``Proposal`` type (``rcnn_nets.with_proposal_type``).  That layer has no minimum-size
filter; the comparison sets ``im_info``'s scale to 1/16 so py-faster-rcnn's filter
(``min_size * scale`` = 1 px, a box being at least 1 px with its ``+ 1``) drops nothing either,
and checks the filter itself against the numpy reference at scale 1.
"""

from __future__ import annotations

import numpy as np
import pytest
from google.protobuf import text_format

import keras_caffe
import keras_caffe.pycaffe as caffe
from keras_caffe import cli
from keras_caffe.graph import memory
from keras_caffe.graph.shapes import infer_shapes
from keras_caffe.graph.shapes import input_shapes as settle_input_shapes
from keras_caffe.proto import caffe_pb2
from keras_caffe.proto.binary_write import write_caffemodel
from tests.forks.opencv_oracle import opencv_forward
from tests.forks.rcnn_nets import (TINY_RFCN, rfcn_resnet50_test_agnostic, vgg16_test_net,
                                   with_proposal_type, zf_test_net)
from tests.layers.rcnn_ref import proposals

HEIGHT, WIDTH = 224, 288
#: ROIs of the TEST config (py-faster-rcnn's cfg.TEST.RPN_POST_NMS_TOP_N).
POST_NMS = 300
#: OpenCV names outputs by layer: the proposal layer's top goes by the layer's name.
OPENCV_NAMES = {"rois": "proposal"}
COMPARED = ("rpn_cls_prob_reshape", "rpn_bbox_pred", "rois", "cls_prob", "bbox_pred")


def random_weights(net: caffe_pb2.NetParameter, seed: int = 0) -> dict:
    """{layer: [weights, bias]} for every Convolution and InnerProduct: He-scaled, biases
    N(0, 0.01); the RPN's score head at std 0.02 and its delta head at 0.0125."""
    rng = np.random.default_rng(seed)
    channels, blobs, flat = {"data": 3}, {}, {}
    special = {"rpn_cls_score": 0.02, "rpn_bbox_pred": 0.0125}
    for layer in net.layer:
        bottom = layer.bottom[0] if layer.bottom else None
        if layer.type == "Convolution":
            p = layer.convolution_param
            k = p.kernel_size[0]
            shape = (p.num_output, channels[bottom], k, k)
        elif layer.type == "InnerProduct":
            shape = (layer.inner_product_param.num_output, flat[bottom])
        else:
            if layer.type == "ROIPooling":
                p = layer.roi_pooling_param
                flat[layer.top[0]] = channels[bottom] * p.pooled_h * p.pooled_w
            elif bottom in channels:
                channels.setdefault(layer.top[0], channels[bottom])
            elif bottom in flat:
                flat.setdefault(layer.top[0], flat[bottom])
            continue
        (channels if layer.type == "Convolution" else flat)[layer.top[0]] = shape[0]
        std = special.get(layer.name, np.sqrt(2.0 / np.prod(shape[1:])))
        blobs[layer.name] = [rng.standard_normal(shape, dtype=np.float32) * np.float32(std),
                             rng.standard_normal(shape[0], dtype=np.float32) * np.float32(0.01)]
    return blobs


@pytest.fixture(scope="module")
def zf(tmp_path_factory):
    """(our pycaffe Net of ZF with the random weights, the paths of the two prototxts and the
    caffemodel, the image)."""
    folder = tmp_path_factory.mktemp("zf")
    text = zf_test_net(HEIGHT, WIDTH)
    net = folder / "test.prototxt"
    net.write_text(text)
    opencv_net = folder / "test_opencv.prototxt"
    opencv_net.write_text(with_proposal_type(text))
    weights = folder / "zf.caffemodel"
    write_caffemodel(weights, random_weights(text_format.Parse(text, caffe_pb2.NetParameter())))
    image = np.random.default_rng(3).standard_normal((1, 3, HEIGHT, WIDTH), dtype=np.float32)
    caffe_net = caffe.Net(str(net), caffe.TEST, weights=str(weights))
    return caffe_net, net, opencv_net, weights, image


def _inputs(image, scale):
    return {"data": image, "im_info": np.array([[HEIGHT, WIDTH, scale]], np.float32)}


def im_detect(net, inputs) -> dict:
    """What py-faster-rcnn's ``fast_rcnn.test.im_detect`` does with pycaffe (one compiled
    pass of the whole net): reshape the inputs, forward, read ``rois`` from ``net.blobs``."""
    for name, value in inputs.items():
        net.blobs[name].reshape(*value.shape)
    out = net.forward(**{k: v.astype(np.float32, copy=False) for k, v in inputs.items()})
    blobs = {k: net.blobs[k].data.copy() for k in ("rpn_cls_prob_reshape", "rpn_bbox_pred",
                                                   "rois")}
    return {**blobs, **{k: v.copy() for k, v in out.items()}}


def _matching(ours: np.ndarray, theirs: np.ndarray, scores: np.ndarray, atol: float):
    """The row of ``ours`` each row of ``theirs`` is: every row matched once within ``atol``,
    and rows may trade places only among near-equal scores (1e-5 apart: OpenCV's softmax
    rounds differently, which orders such near-ties either way)."""
    distance = np.abs(theirs[:, None, :] - ours[None]).max(-1)
    order = distance.argmin(1)
    assert sorted(order) == list(range(len(ours))), "OpenCV's ROIs are not a permutation of ours"
    assert distance.min(1).max() <= atol, distance.min(1).max()
    moved = np.flatnonzero(order != np.arange(len(order)))
    np.testing.assert_allclose(scores[order[moved]], scores[moved], atol=1e-5)
    return order


def nms_margin(candidates: np.ndarray, threshold: float, keep: int) -> float:
    """How far from ``threshold`` every decision of py_cpu_nms lies, over ``candidates``
    (rows ``[0, x1, y1, x2, y2]`` in score order) until ``keep`` boxes are kept: the least
    ``|max overlap with the boxes kept so far - threshold|``."""
    boxes = candidates[:, 1:].astype(np.float64)
    areas = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    kept, margin = [], np.inf
    for i, box in enumerate(boxes):
        if kept:
            k = np.array(kept)
            w = np.maximum(0, np.minimum(box[2], boxes[k, 2]) - np.maximum(box[0], boxes[k, 0]) + 1)
            h = np.maximum(0, np.minimum(box[3], boxes[k, 3]) - np.maximum(box[1], boxes[k, 1]) + 1)
            overlap = (w * h / (areas[i] + areas[k] - w * h)).max()
            margin = min(margin, abs(overlap - threshold))
            if overlap > threshold:
                continue
        kept.append(i)
        if len(kept) == keep:
            break
    return margin


def test_zf_matches_opencv_and_the_numpy_proposals(zf):
    net, _, opencv_net, weights, image = zf
    inputs = _inputs(image, 1 / 16)
    ours = im_detect(net, inputs)
    theirs = opencv_forward(opencv_net, weights, inputs,
                            [OPENCV_NAMES.get(k, k) for k in COMPARED])
    theirs = {k: theirs[OPENCV_NAMES.get(k, k)] for k in COMPARED}

    assert ours["rpn_cls_prob_reshape"].shape == (1, 18, 15, 19)
    # Convolutions summed in another order: 1e-5 of values of at most 1 and about 2.
    for name in ("rpn_cls_prob_reshape", "rpn_bbox_pred"):
        np.testing.assert_allclose(ours[name], theirs[name], rtol=0, atol=1e-5, err_msg=name)

    # The numpy reference of py-faster-rcnn's layer, on our RPN blobs: the same ROIs.
    rois, scores = proposals(ours["rpn_cls_prob_reshape"], ours["rpn_bbox_pred"],
                             inputs["im_info"])
    assert ours["rois"].shape == rois.shape == (POST_NMS, 5)
    np.testing.assert_allclose(ours["rois"], rois, rtol=0, atol=1e-3)

    # OpenCV decodes through SSD's PriorBox / DetectionOutput (centre and size in another
    # order of float32 operations): measured 3.4e-3 px at most on a 288 px image.
    assert theirs["rois"].shape == (POST_NMS, 5)
    # Every NMS decision is decidable: no overlap within 1e-4 of the threshold, where the two
    # implementations' rounding (about 1e-5 here) could keep a box one way and not the other.
    candidates, _ = proposals(ours["rpn_cls_prob_reshape"], ours["rpn_bbox_pred"],
                              inputs["im_info"], cfg=(6000, 0, 1.0, 16))
    assert nms_margin(candidates, 0.7, POST_NMS) > 1e-4
    order = _matching(ours["rois"], theirs["rois"], scores[:, 0], atol=5e-3)
    # The head: the same ROIs pooled, fc6 / fc7 summed in another order (measured 2e-6 on
    # probabilities, 1.4e-5 on deltas of up to 4.8).
    np.testing.assert_allclose(ours["cls_prob"][order], theirs["cls_prob"], rtol=0, atol=2e-5)
    np.testing.assert_allclose(ours["bbox_pred"][order], theirs["bbox_pred"], rtol=0, atol=1e-4)
    np.testing.assert_allclose(ours["cls_prob"].sum(1), 1, atol=1e-5)
    assert ours["cls_prob"].shape == (POST_NMS, 21) and ours["bbox_pred"].shape == (POST_NMS, 84)


def test_zf_minimum_size_filter_at_scale_one(zf):
    """At im_info scale 1 py-faster-rcnn drops boxes under 16 px (OpenCV's layer would not):
    the numpy reference decides, and some boxes are dropped."""
    net, *_, image = zf
    inputs = _inputs(image, 1.0)
    ours = im_detect(net, inputs)
    rois, _ = proposals(ours["rpn_cls_prob_reshape"], ours["rpn_bbox_pred"], inputs["im_info"])
    np.testing.assert_allclose(ours["rois"], rois, rtol=0, atol=1e-3)
    sides = np.minimum(rois[:, 3] - rois[:, 1], rois[:, 4] - rois[:, 2]) + 1
    assert sides.min() >= 16
    everything, _ = proposals(ours["rpn_cls_prob_reshape"], ours["rpn_bbox_pred"],
                              inputs["im_info"], cfg=(6000, 0, 0.7, 16))
    unfiltered, _ = proposals(ours["rpn_cls_prob_reshape"], ours["rpn_bbox_pred"],
                              inputs["im_info"], cfg=(6000, 0, 0.7, 0))
    assert len(everything) < len(unfiltered)
    assert ours["cls_prob"].shape == (len(rois), 21)


def test_vgg16_structure_shapes_and_memory_without_building(tmp_path, capsys):
    """Parsed, resolved, every blob shaped by Caffe's formulas and the memory projected,
    nothing built (the net holds 137 million parameters, 0.5 GB): the ROIs at the TEST
    config's 300, and the head after them at 300 rows."""
    graph = keras_caffe.resolve_net(vgg16_test_net())
    assert len(graph.layers) == 49                     # the inputs' layer and the 48 published
    assert [b.name for b in graph.outputs] == ["bbox_pred", "cls_prob"]
    shapes = infer_shapes(graph, settle_input_shapes(graph), strict=False)
    by_name = {b.name: s for b, s in memory.bounded_shapes(graph, shapes).items()}
    expected = {"conv1_2": (1, 64, 224, 224), "pool1": (1, 64, 112, 112),
                "conv4_3": (1, 512, 28, 28), "conv5_3": (1, 512, 14, 14),
                "rpn/output": (1, 512, 14, 14), "rpn_cls_score_reshape": (1, 2, 126, 14),
                "rpn_cls_prob_reshape": (1, 18, 14, 14), "rpn_bbox_pred": (1, 36, 14, 14),
                "rois": (300, 5), "pool5": (300, 512, 7, 7), "fc6": (300, 4096),
                "fc7": (300, 4096), "cls_score": (300, 21), "cls_prob": (300, 21),
                "bbox_pred": (300, 84)}
    assert {k: by_name[k] for k in expected} == expected
    projection = memory.project(graph, shapes)
    params = {l.name: l.param_values for l in projection.layers if l.param_values}
    assert params["fc6"] == 25088 * 4096 + 4096 and params["fc7"] == 4096 * 4096 + 4096
    assert sum(params.values()) == 137_078_239
    pooled = next(l for l in projection.layers if l.name == "roi_pool5")
    assert pooled.activations == 300 * 512 * 49 * 4

    # `keras-caffe info` describes the net without building it where every type declares
    # its shapes: the same net with OpenCV's C++ Proposal type (the Python layer's shapes
    # are its code's, so `info` builds that one: 8 s and 1.7 GB, not done here).
    path = tmp_path / "vgg16_proposal.prototxt"
    path.write_text(with_proposal_type(vgg16_test_net()))
    assert cli.main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "49 layers, 137,078,239 parameters; outputs: bbox_pred, cls_prob" in out
    assert f"projected memory: {memory.format_size(projection.total)} " in out
    assert memory.format_size(projection.total) == "746.0 MiB"


def test_rfcn_resnet50_shapes_and_memory_without_building():
    """py-R-FCN's ResNet-50 test net: stride 16 with res5 dilated, the RPN on res4f, and
    R-FCN's position-sensitive pooling of the 300 proposals into 7 x 7 bins of 21 class
    scores and 8 class-agnostic deltas, averaged to one row per ROI."""
    graph = keras_caffe.resolve_net(rfcn_resnet50_test_agnostic())
    assert len(graph.layers) == 245
    shapes = infer_shapes(graph, settle_input_shapes(graph), strict=False)
    by_name = {b.name: s for b, s in memory.bounded_shapes(graph, shapes).items()}
    expected = {"pool1": (1, 64, 56, 56), "res2c": (1, 256, 56, 56), "res3d": (1, 512, 28, 28),
                "res4f": (1, 1024, 14, 14), "res5c": (1, 2048, 14, 14),
                "rpn_cls_prob_reshape": (1, 18, 14, 14), "rfcn_cls": (1, 1029, 14, 14),
                "rfcn_bbox": (1, 392, 14, 14), "rois": (300, 5),
                "psroipooled_cls_rois": (300, 21, 7, 7), "cls_score": (300, 21, 1, 1),
                "psroipooled_loc_rois": (300, 8, 7, 7), "cls_prob": (300, 21),
                "bbox_pred": (300, 8)}
    assert {k: by_name[k] for k in expected} == expected
    projection = {l.name: l for l in memory.project(graph, shapes).layers}
    assert projection["psroipooled_cls_rois"].activations == 300 * 21 * 49 * 4
    assert projection["rfcn_cls"].param_values == 1024 * 1029 + 1029


def test_rfcn_head_matches_opencv(tmp_path):
    """R-FCN's PSROIPooling, checked against OpenCV's own implementation on a small net in
    R-FCN's shape (its ROIs from the C++ Proposal type, whose ``min_size`` is set to 0, as
    OpenCV's layer filters nothing); filler weights written to a caffemodel and read back."""
    text = TINY_RFCN.replace("min_size: 2", "min_size: 0")
    assert text != TINY_RFCN
    net = tmp_path / "rfcn.prototxt"
    net.write_text(text)
    cnet = keras_caffe.build_net(str(net), seed=3)
    weights = tmp_path / "rfcn.caffemodel"
    keras_caffe.save_caffemodel(cnet, weights)
    image = np.random.default_rng(0).standard_normal((1, 3, 32, 48), dtype=np.float32)
    inputs = {"data": image, "im_info": np.array([[32, 48, 1]], np.float32)}
    ours = keras_caffe.forward(cnet, inputs)
    theirs = opencv_forward(net, weights, inputs, ["proposal", "psroi", "cls_prob"])
    assert ours["rois"].shape == theirs["proposal"].shape == (20, 5)    # post_nms_topn
    # Measured: 1.9e-6 px on the ROIs, 1.2e-7 on pooled values of up to 4.2, 9e-8 on the
    # probabilities.
    np.testing.assert_allclose(ours["rois"], theirs["proposal"], rtol=0, atol=1e-4)
    assert ours["psroi"].shape == (20, 3, 3, 3) and np.abs(ours["psroi"]).max() > 1
    np.testing.assert_allclose(ours["psroi"], theirs["psroi"], rtol=0, atol=1e-5)
    np.testing.assert_allclose(ours["cls_prob"], theirs["cls_prob"].reshape(20, 3, 1, 1),
                               rtol=0, atol=1e-6)
