"""Fork and BVLC layer types through keras_caffe.forward / build_net on small self-made nets:
SSD's Permute, Normalize and PriorBox, DeepLab's Interp, Upsample, ShuffleChannel,
BatchReindex, Filter, LSTMUnit, ROIPooling and Parameter."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import keras_caffe
from keras_caffe.converters import registry
from keras_caffe.converters.registry import BuildOptions, Context
from keras_caffe.graph import layout
from keras_caffe.proto import binary, caffe_pb2
from keras_caffe.weights import loader
from tests.layers.test_batch_reindex import ref_batch_reindex
from tests.layers.test_filter import ref_filter
from tests.layers.test_lstm_unit import ref_lstm_unit
from tests.layers.test_interp import ref_interp
from tests.layers.test_normalize import ref_normalize
from tests.layers.test_permute import ref_permute
from tests.layers.test_prior_box import ref_prior_box
from tests.layers.test_roi_pooling import ROIS, ref_roi_pooling
from tests.layers.test_shuffle_channel import ref_shuffle_channel


def _data(shape, name="data"):
    dims = " ".join(f"dim: {d}" for d in shape)
    return (f'layer {{ name: "{name}" type: "Input" top: "{name}" '
            f'input_param {{ shape {{ {dims} }} }} }}\n')


def _x(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


SSD_HEAD = _data((2, 6, 5, 7)) + """
layer { name: "norm" type: "Normalize" bottom: "data" top: "norm"
  norm_param { across_spatial: false channel_shared: false scale_filler { type: "constant" value: 20 } } }
layer { name: "perm" type: "Permute" bottom: "norm" top: "perm" permute_param { order: 0 order: 2 order: 3 order: 1 } }
layer { name: "flat" type: "Flatten" bottom: "perm" top: "flat" flatten_param { axis: 1 } }
layer { name: "shared" type: "Normalize" bottom: "data" top: "shared" }
"""


def test_ssd_head_normalize_permute_flatten():
    x = _x((2, 6, 5, 7))
    blobs = keras_caffe.forward(SSD_HEAD, {"data": x})
    norm = ref_normalize(x, np.full(6, 20.0), across_spatial=False)
    np.testing.assert_allclose(blobs["norm"], norm, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(blobs["perm"], np.transpose(norm, (0, 2, 3, 1)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(blobs["flat"], blobs["perm"].reshape(2, -1), rtol=0, atol=0)
    np.testing.assert_allclose(blobs["shared"], ref_normalize(x, 1.0, True), rtol=1e-5, atol=1e-6)


def test_normalize_blobs_in_caffe_shapes_round_trip(tmp_path):
    cnet = keras_caffe.build_net(SSD_HEAD)
    blobs = cnet.get_blobs()
    assert blobs["norm"][0].shape == (6,) and blobs["shared"][0].shape == ()
    np.testing.assert_array_equal(blobs["norm"][0], np.full(6, 20.0))  # scale_filler
    np.testing.assert_array_equal(blobs["shared"][0], 1.0)  # SSD's default filler
    path = tmp_path / "w.caffemodel"
    binary.write_caffemodel(path, {"norm": [np.arange(1, 7, dtype=np.float32)],
                                   "shared": [np.float32(3.0)]})
    x = _x((2, 6, 5, 7), 1)
    out = keras_caffe.forward(SSD_HEAD, {"data": x}, weights=path)
    np.testing.assert_allclose(out["norm"], ref_normalize(x, np.arange(1, 7), False), rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(out["shared"], ref_normalize(x, 3.0, True), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("shape,order", [((2, 3, 4, 5), [1, 0]), ((2, 3, 4, 5), [3]),
                                         ((2, 3, 4), [0, 2, 1]), ((2, 3, 4, 5), [0, 1, 2, 3])])
def test_permute_follows_caffe_order_at_every_rank(shape, order):
    orders = " ".join(f"order: {o}" for o in order)
    net = _data(shape) + ('layer { name: "p" type: "Permute" bottom: "data" top: "p" '
                          f'permute_param {{ {orders} }} }}')
    x = _x(shape)
    full = order + [i for i in range(len(shape)) if i not in order]
    np.testing.assert_array_equal(keras_caffe.forward(net, {"data": x})["p"], ref_permute(x, full))


INTERP = _data((1, 3, 5, 6)) + _data((1, 1, 11, 4), "ref") + """
layer { name: "zoom" type: "Interp" bottom: "data" top: "zoom" interp_param { zoom_factor: 3 } }
layer { name: "shrink" type: "Interp" bottom: "data" top: "shrink" interp_param { shrink_factor: 2 } }
layer { name: "both" type: "Interp" bottom: "data" top: "both"
  interp_param { shrink_factor: 2 zoom_factor: 4 pad_beg: -1 pad_end: 0 } }
layer { name: "hw" type: "Interp" bottom: "data" top: "hw" interp_param { height: 9 width: 2 } }
layer { name: "like" type: "Interp" bottom: "data" bottom: "ref" top: "like" }
"""


def test_interp_sizes_and_values():
    x, ref = _x((1, 3, 5, 6)), _x((1, 1, 11, 4), 1)
    blobs = keras_caffe.forward(INTERP, {"data": x, "ref": ref})
    expected = {"zoom": ref_interp(x, 13, 16), "shrink": ref_interp(x, 3, 3),
                "both": ref_interp(x, 5, 9, pad_beg=-1), "hw": ref_interp(x, 9, 2),
                "like": ref_interp(x, 11, 4)}
    for top, want in expected.items():
        assert blobs[top].shape == want.shape, top
        np.testing.assert_array_equal(blobs[top], want, err_msg=top)


def test_interp_model_runs_at_any_size():
    net = _data((1, 3, 5, 6)) + ('layer { name: "zoom" type: "Interp" bottom: "data" top: "zoom" '
                                 'interp_param { zoom_factor: 2 } }')
    cnet = keras_caffe.build_net(net, input_layout="NCHW")
    assert cnet.free_spatial
    for h, w in ((5, 6), (8, 3)):
        x = _x((1, 3, h, w))
        np.testing.assert_array_equal(np.asarray(cnet.model({"data": x})["zoom"]),
                                      ref_interp(x, 2 * h - 1, 2 * w - 1))


@pytest.mark.parametrize("param,bad", [("pad_beg: -3 pad_end: -3 zoom_factor: 2", None), ("", None),
                                       ("height: 4", None), ("pad_beg: 1 zoom_factor: 2", None)])
def test_interp_bad_sizes_name_the_layer(param, bad):
    bottoms = 'bottom: "data"' + (' bottom: "ref"' if bad else "")
    net = _data((1, 3, 5, 6)) + _data((1, 1, 4, 4), "ref") + (
        f'layer {{ name: "i" type: "Interp" {bottoms} top: "i" interp_param {{ {param} }} }}')
    with pytest.raises(keras_caffe.NetError, match="layer 'i'"):
        keras_caffe.build_net(net)


def test_upsample_nearest_and_segnet_unpooling():
    net = _data((2, 3, 4, 5)) + """
layer { name: "up" type: "Upsample" bottom: "data" top: "up" upsample_param { scale: 2 } }
layer { name: "up_hw" type: "Upsample" bottom: "data" top: "up_hw" upsample_param { scale_h: 3 scale_w: 1 } }
"""
    x = _x((2, 3, 4, 5))
    blobs = keras_caffe.forward(net, {"data": x})
    np.testing.assert_array_equal(blobs["up"], x.repeat(2, axis=2).repeat(2, axis=3))
    np.testing.assert_array_equal(blobs["up_hw"], x.repeat(3, axis=2))
    segnet = _data((2, 3, 4, 5)) + _data((2, 3, 4, 5), "mask") + (
        'layer { name: "unpool" type: "Upsample" bottom: "data" bottom: "mask" top: "u" '
        'upsample_param { scale: 2 } }')
    mask = np.zeros((2, 3, 4, 5), np.float32)     # every value names position 0: the last wins
    u = keras_caffe.forward(segnet, {"data": x, "mask": mask})["u"]
    assert u.shape == (2, 3, 8, 10)
    np.testing.assert_array_equal(u[:, :, 0, 0], x[:, :, 3, 4])
    assert np.count_nonzero(u) == 6


def test_shuffle_channel():
    net = _data((2, 6, 3, 2)) + ('layer { name: "s" type: "ShuffleChannel" bottom: "data" top: "s" '
                                 'shuffle_channel_param { group: 3 } }')
    x = _x((2, 6, 3, 2))
    np.testing.assert_array_equal(keras_caffe.forward(net, {"data": x})["s"], ref_shuffle_channel(x, 3))
    with pytest.raises(keras_caffe.NetError, match="group 4 must divide"):
        keras_caffe.build_net(net.replace("group: 3", "group: 4"))


BATCH_REINDEX = _data((3, 2, 4, 5)) + _data((4,), "idx") + _data((4, 2, 4, 5), "target") + """
layer { name: "r" type: "BatchReindex" bottom: "data" bottom: "idx" top: "r" }
layer { name: "loss" type: "EuclideanLoss" bottom: "r" bottom: "target" top: "loss" }
"""


def test_batch_reindex_forward():
    x, t, idx = _x((3, 2, 4, 5)), _x((4, 2, 4, 5), 1), np.array([2, 0, 2, 1.5], np.float32)
    blobs = keras_caffe.forward(BATCH_REINDEX, {"data": x, "idx": idx, "target": t})
    np.testing.assert_array_equal(blobs["r"], ref_batch_reindex(x, idx))


def test_batch_reindex_backward_adds_up_repeated_samples():
    net = "force_backward: true\n" + BATCH_REINDEX
    x, t, idx = _x((3, 2, 4, 5)), _x((4, 2, 4, 5), 1), np.array([2, 0, 2, 1.5], np.float32)
    blobs = keras_caffe.forward(net, {"data": x, "idx": idx, "target": t}, backward=True)
    r = ref_batch_reindex(x, idx)
    grad = np.zeros_like(x)  # EuclideanLoss: d/dr = (r - t) / N, added up per source sample
    for k, i in enumerate(idx.astype(int)):
        grad[i] += (r[k] - t[k]) / 4
    np.testing.assert_allclose(blobs["diff/data"], grad, rtol=1e-5, atol=1e-6)


FILTER = _data((4, 2, 3, 3)) + _data((4, 1, 1, 1), "sel") + _data((4,), "label") + """
layer { name: "f" type: "Filter" bottom: "data" bottom: "label" bottom: "sel"
  top: "fdata" top: "flabel" }
layer { name: "ip" type: "InnerProduct" bottom: "fdata" top: "ip"
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "flabel" top: "loss" }
"""


def test_filter_forward_backward_and_shapes():
    x, sel = _x((4, 2, 3, 3)), np.array([1, 0, 2, 0], np.float32).reshape(4, 1, 1, 1)
    label = np.array([0, 1, 2, 1], np.float32)
    cnet = keras_caffe.build_net("force_backward: true\n" + FILTER, seed=3)
    shapes = {blob.name: shape for blob, shape in cnet.shapes.items()}
    assert shapes["fdata"] == (4, 2, 3, 3)   # as Caffe's first Reshape
    blobs = keras_caffe.forward(cnet, {"data": x, "sel": sel, "label": label}, backward=True)
    fdata, flabel = ref_filter([x, label], sel)
    np.testing.assert_array_equal(blobs["fdata"], fdata)
    np.testing.assert_array_equal(blobs["flabel"], flabel)
    # the dropped samples get no gradient, the kept ones the loss's gradient through ip
    diff = blobs["diff/data"]
    assert not diff[[1, 3]].any() and diff[[0, 2]].any()
    w = cnet.get_blobs()["ip"][0]
    p = np.exp(blobs["ip"] - blobs["ip"].max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(2), flabel.astype(int)] -= 1
    np.testing.assert_allclose(diff[[0, 2]].reshape(2, -1), p @ w / 2, rtol=1e-5, atol=1e-6)
    with pytest.raises(keras_caffe.NetError, match="one top per filtered bottom"):
        keras_caffe.build_net(FILTER.replace(' top: "flabel"', "").replace('bottom: "flabel"',
                                                                            'bottom: "label"'))
    with pytest.raises(keras_caffe.NetError, match="one value per sample"):
        keras_caffe.build_net(FILTER.replace('bottom: "sel"', 'bottom: "data"'))


LSTM_UNIT = _data((1, 3, 4), "c_prev") + _data((1, 3, 16), "gates") + _data((1, 3), "cont") + """
layer { name: "unit" type: "LSTMUnit" bottom: "c_prev" bottom: "gates" bottom: "cont"
  top: "c" top: "h" }
layer { name: "loss" type: "EuclideanLoss" bottom: "h" bottom: "c_prev" top: "loss" }
"""


def test_lstm_unit_forward_backward():
    c_prev, gates = _x((1, 3, 4)), _x((1, 3, 16), 1)
    cont = np.array([[0.0, 1.0, 1.0]], np.float32)
    blobs = keras_caffe.forward("force_backward: true\n" + LSTM_UNIT,
                                {"c_prev": c_prev, "gates": gates, "cont": cont}, backward=True)
    h_diff = blobs["h"] - c_prev   # EuclideanLoss divides by the blobs' num, 1 here
    c, h, dc_prev, dgates = ref_lstm_unit(c_prev, gates, cont, np.zeros_like(c_prev), h_diff)
    np.testing.assert_allclose(blobs["c"], c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(blobs["h"], h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(blobs["diff/gates"], dgates, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(blobs["diff/c_prev"], dc_prev - h_diff, rtol=1e-4, atol=1e-6)
    with pytest.raises(keras_caffe.NetError, match="4 x 4 values per item, got 12"):
        keras_caffe.build_net(LSTM_UNIT.replace("dim: 16", "dim: 12"))


FAST_RCNN_HEAD = _data((2, 3, 18, 20)) + _data((5, 5), "rois") + """
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 stride: 2 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "pool5" type: "ROIPooling" bottom: "conv" bottom: "rois" top: "pool5"
  roi_pooling_param { pooled_w: 3 pooled_h: 2 spatial_scale: 0.5 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool5" top: "fc" inner_product_param { num_output: 2 } }
"""


def test_roi_pooling_in_a_fast_rcnn_head():
    x = _x((2, 3, 18, 20))
    cnet = keras_caffe.build_net(FAST_RCNN_HEAD, seed=2)
    blobs = keras_caffe.forward(cnet, {"data": x, "rois": ROIS})
    want, _ = ref_roi_pooling(blobs["conv"], ROIS, 2, 3, 0.5)
    np.testing.assert_array_equal(blobs["pool5"], want)
    assert blobs["fc"].shape == (5, 2)
    with pytest.raises(keras_caffe.NetError, match="layer 'pool5'.*5 values"):
        keras_caffe.build_net(FAST_RCNN_HEAD.replace("dim: 5 dim: 5", "dim: 5 dim: 4"))


SSD_PRIORS = _data((1, 3, 30, 40)) + """
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 2 kernel_size: 3 stride: 8 } }
layer { name: "prior" type: "PriorBox" bottom: "conv" bottom: "data" top: "prior"
  prior_box_param { min_size: 8 max_size: 16 aspect_ratio: 2 flip: true clip: true
                    variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2 } }
layer { name: "fixed" type: "PriorBox" bottom: "conv" top: "fixed"
  prior_box_param { min_size: 8 aspect_ratio: 3 flip: false img_h: 300 img_w: 200 step: 10 offset: 0.25 } }
"""


def test_prior_box_from_the_image_or_fixed_sizes():
    blobs = keras_caffe.forward(SSD_PRIORS, {"data": _x((1, 3, 30, 40))})
    fh, fw = blobs["conv"].shape[2:]
    np.testing.assert_array_equal(blobs["prior"], ref_prior_box(
        fh, fw, 30, 40, (8,), (16,), (2.0,), clip=True, variances=(0.1, 0.1, 0.2, 0.2)))
    np.testing.assert_array_equal(blobs["fixed"], ref_prior_box(
        fh, fw, 300, 200, (8,), (), (3.0,), flip=False, step=(10, 10), offset=0.25))
    assert blobs["prior"].shape == (1, 2, fh * fw * 4 * 4)


def test_prior_box_free_spatial_model_follows_the_input_size():
    cnet = keras_caffe.build_net(SSD_PRIORS, input_layout="NCHW")
    assert cnet.free_spatial
    for h, w in ((30, 40), (17, 25)):
        fh, fw = (h - 3) // 8 + 1, (w - 3) // 8 + 1
        out = np.asarray(cnet.model({"data": _x((1, 3, h, w))})["prior"])
        np.testing.assert_array_equal(out, ref_prior_box(
            fh, fw, h, w, (8,), (16,), (2.0,), clip=True, variances=(0.1, 0.1, 0.2, 0.2)))


ALL_FORKS = _data((2, 6, 5, 7)) + """
layer { name: "norm" type: "Normalize" bottom: "data" top: "norm"
  norm_param { across_spatial: false channel_shared: false scale_filler { type: "gaussian" } } }
layer { name: "perm" type: "Permute" bottom: "norm" top: "perm" permute_param { order: 0 order: 2 } }
layer { name: "batch_last" type: "Permute" bottom: "data" top: "batch_last" permute_param { order: 1 } }
layer { name: "zoom" type: "Interp" bottom: "data" top: "zoom" interp_param { zoom_factor: 2 } }
layer { name: "up" type: "Upsample" bottom: "data" top: "up" upsample_param { scale: 2 } }
layer { name: "shuffle" type: "ShuffleChannel" bottom: "data" top: "shuffle"
  shuffle_channel_param { group: 2 } }
layer { name: "prior" type: "PriorBox" bottom: "data" bottom: "zoom" top: "prior"
  prior_box_param { min_size: 2 max_size: 4 aspect_ratio: 2 } }
"""


def test_built_fork_net_reloads_from_keras_file(tmp_path):
    cnet = keras_caffe.build_net(ALL_FORKS, seed=3)
    x = layout.to_internal_array(_x((2, 6, 5, 7)))
    before = cnet.model({"data": x})
    cnet.model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    after = loaded({"data": x})
    assert sorted(before) == ["batch_last", "perm", "prior", "shuffle", "up"]
    for name in before:
        np.testing.assert_array_equal(np.asarray(before[name]), np.asarray(after[name]),
                                      err_msg=name)


PARAMETER = _data((2, 3)) + """
layer { name: "p" type: "Parameter" top: "p" parameter_param { shape { dim: 1 dim: 3 dim: 2 dim: 2 } } }
"""


def test_parameter_converter_with_an_anchor_holds_the_blob_in_caffe_shape():
    graph = keras_caffe.resolve_net(PARAMETER)
    node = graph.layer("p")
    conv = registry.get("Parameter")
    anchor = keras.Input((3,))
    ctx = Context(node, [], [(1, 3, 2, 2)], caffe_pb2.TEST, BuildOptions(), converter=conv,
                  anchor=anchor)
    model = keras.Model(anchor, conv(ctx))
    assert loader.expected_blob_shapes(ctx) == [(1, 3, 2, 2)]
    np.testing.assert_array_equal(loader.get_layer_blobs(ctx)[0], np.zeros((1, 3, 2, 2)))  # Caffe: 0
    blob = np.arange(12, dtype=np.float32).reshape(1, 3, 2, 2)
    loader.set_layer_blobs(ctx, [blob])
    out = np.asarray(model(np.zeros((5, 3), np.float32)))
    np.testing.assert_array_equal(layout.to_caffe_array(out), blob)
    np.testing.assert_array_equal(loader.get_layer_blobs(ctx)[0], blob)


def test_parameter_blob_is_a_net_output():
    blobs = keras_caffe.forward(PARAMETER, {"data": _x((2, 3))})
    np.testing.assert_array_equal(blobs["p"], np.zeros((1, 3, 2, 2)))


def test_parameter_in_a_net_without_inputs_says_why():
    lonely = 'layer { name: "p" type: "Parameter" top: "p" parameter_param { shape { dim: 3 } } }'
    with pytest.raises(keras_caffe.NetError, match="layer 'p'.*model input to attach to"):
        keras_caffe.build_net(lonely)
