"""Converters for types of Caffe forks: SSD's Permute, Normalize and PriorBox (weiliu89/caffe
branch ssd), DeepLab's Interp (caffe_cpu_interp2), the YOLO ports' Upsample, ShuffleNet's
ShuffleChannel and Fast R-CNN's ROIPooling.

Each numpy reference follows the fork's Forward_cpu: Permute's order completed with the
missing axes; Normalize's sqrt(sum x^2 + eps) over channels or the whole item, times a
shared or per-channel scale (blob () or (C,)); Interp's size rules (zoom, shrink, both,
explicit, second bottom, cropping pads) and align-corners weights computed in float;
PriorBox's boxes per cell (min, sqrt(min*max), then aspect ratios, sizes truncated to int
as SSD stores them); ROIPooling's C-rounded, clamped integer bins.
"""

import numpy as np
import pytest

import keras_caffe

from .nets import (assert_blob_round_trip, assert_close, build, check_param_grads, euclidean,
                   keras_class, layer, net, randn, run)

SHAPE = (2, 3, 4, 5)


@pytest.mark.parametrize("shape, order, cls", [
    (SHAPE, (0, 1, 2, 3), "Identity"),
    (SHAPE, (0, 2, 3, 1), "Permute"),
    (SHAPE, (0, 3, 1, 2), "Permute"),
    (SHAPE, (1, 0, 2, 3), "CaffePermute"),
    (SHAPE, (0, 2), "Permute"),          # the missing axes follow in their order: 0 2 1 3
    ((2, 3, 4), (0, 2, 1), "Permute"),
    ((2, 3, 4), (2, 1, 0), "CaffePermute"),
], ids=["identity", "nhwc", "nwch", "moves_batch", "partial_order", "3d", "3d_moves_batch"])
def test_permute_orders_axes_like_ssd(shape, order, cls):
    inputs = {"data": randn(*shape)}
    body = "permute_param { " + " ".join(f"order: {a}" for a in order) + " }"
    cnet, out = run(net(inputs, layer("perm", "Permute", "data", "perm", body)), inputs)
    assert keras_class(cnet, "perm") == cls
    full = list(order) + [a for a in range(len(shape)) if a not in order]
    assert_close(out["perm"], np.transpose(inputs["data"], full))


# id: (bottom shape, norm_param body, blob shape)
NORMALIZE = {
    "ssd_conv4_3": (SHAPE, "across_spatial: false channel_shared: false", (3,)),
    "across_spatial_shared": (SHAPE, "", ()),
    "across_spatial_per_channel": (SHAPE, "channel_shared: false eps: 0.5", (3,)),
    "per_position_shared_eps": (SHAPE, "across_spatial: false eps: 0.25", ()),
    "2d_bottom": ((3, 4), "across_spatial: false channel_shared: false", (4,)),
}


def _normalize(variant):
    shape, body, _ = NORMALIZE[variant]
    inputs = {"data": randn(*shape)}
    text = layer("norm", "Normalize", "data", "norm",
                 f'norm_param {{ {body} scale_filler {{ type: "gaussian" mean: 2 std: 1 }} }}')
    return text, inputs


@pytest.mark.parametrize("variant", NORMALIZE)
def test_normalize_matches_ssd(variant, tmp_path):
    shape, body, blob_shape = NORMALIZE[variant]
    norm, inputs = _normalize(variant)
    cnet, out = run(net(inputs, norm), inputs)
    assert keras_class(cnet, "norm") == "CaffeNormalize"
    (scale,) = assert_blob_round_trip(cnet, tmp_path, {"norm": [blob_shape]})["norm"]
    x = np.float64(inputs["data"])
    eps = float(body.split("eps: ")[1]) if "eps" in body else 1e-10
    axes = (1,) if "across_spatial: false" in body else tuple(range(1, x.ndim))
    y = x / np.sqrt((x ** 2).sum(axis=axes, keepdims=True) + eps)
    y = y * (scale.reshape((1, -1) + (1,) * (x.ndim - 2)) if scale.ndim else scale)
    assert_close(out["norm"], y)


@pytest.mark.parametrize("variant", ["ssd_conv4_3", "across_spatial_shared"])
def test_normalize_scale_gradients_match_finite_differences(variant, tmp_path):
    norm, inputs = _normalize(variant)
    cnet = build(net(inputs, norm), inputs)
    inputs["target"] = randn(*inputs["data"].shape, seed=3)
    check_param_grads(net(inputs, norm, euclidean("norm")), inputs, cnet.get_blobs(), tmp_path,
                      "norm")


def test_normalize_needs_2_to_4_axes():
    inputs = {"data": randn(2, 3, 2, 2, 2)}
    with pytest.raises(keras_caffe.NetError, match="2 to 4 axes"):
        build(net(inputs, layer("norm", "Normalize", "data", "norm")), inputs)


def _interp(x, out_h, out_w, pad_beg=0, pad_end=0):
    """caffe_cpu_interp2 on the window [-pad_beg, size + pad_end) of x (pads are <= 0)."""
    n, c, h, w = x.shape
    x = np.float64(x)[:, :, -pad_beg:h + pad_end, -pad_beg:w + pad_end]
    h1, w1 = x.shape[2:]
    if (h1, w1) == (out_h, out_w):
        return x

    def weights(size_in, size_out):
        r = np.float32((size_in - 1) / (size_out - 1)) if size_out > 1 else np.float32(0)
        pos = np.float32(r) * np.arange(size_out, dtype=np.float32)
        lo = pos.astype(int)
        hi = lo + (lo < size_in - 1)
        lam = np.float64(pos - lo)
        return lo, hi, lam

    hl, hh, hlam = weights(h1, out_h)
    wl, wh, wlam = weights(w1, out_w)
    top = x[:, :, hl][:, :, :, wl] * (1 - wlam) + x[:, :, hl][:, :, :, wh] * wlam
    bottom = x[:, :, hh][:, :, :, wl] * (1 - wlam) + x[:, :, hh][:, :, :, wh] * wlam
    return top * (1 - hlam)[:, None] + bottom * hlam[:, None]


# id: (bottom H x W, interp_param body, reference bottom H x W or None, output H x W, pads)
INTERP = {
    "zoom": ((3, 4), "zoom_factor: 2", None, (5, 7), (0, 0)),
    "shrink": ((5, 7), "shrink_factor: 2", None, (3, 4), (0, 0)),
    "shrink_then_zoom": ((5, 7), "shrink_factor: 2 zoom_factor: 3", None, (7, 10), (0, 0)),
    "explicit_size": ((3, 4), "height: 6 width: 5", None, (6, 5), (0, 0)),
    "second_bottom_size": ((3, 4), "", (7, 9), (7, 9), (0, 0)),
    "crop_pads_then_zoom": ((6, 7), "zoom_factor: 2 pad_beg: -1 pad_end: -1", None, (7, 9),
                            (-1, -1)),
    "same_size_copy": ((3, 4), "height: 3 width: 4", None, (3, 4), (0, 0)),
    "to_one_pixel": ((3, 4), "height: 1 width: 1", None, (1, 1), (0, 0)),
}


@pytest.mark.parametrize("variant", INTERP)
def test_interp_matches_deeplab(variant):
    hw, body, ref_hw, out_hw, pads = INTERP[variant]
    inputs = {"data": randn(2, 3, *hw)}
    bottoms = ["data"]
    if ref_hw:
        inputs["like"] = randn(1, 1, *ref_hw, seed=1)
        bottoms.append("like")
    cnet, out = run(net(inputs, layer("interp", "Interp", bottoms, "interp",
                                      f"interp_param {{ {body} }}")), inputs)
    assert keras_class(cnet, "interp") == "CaffeInterp"
    assert_close(out["interp"], _interp(inputs["data"], *out_hw, *pads))


@pytest.mark.parametrize("body, second, match", [
    ("zoom_factor: 2 pad_beg: -2 pad_end: -1", False, "crop away the whole 3 x 3 input"),
    ("zoom_factor: 2 pad_beg: 1", False, "must be <= 0"),
    ("", False, "no output size"),
])
def test_bad_interp_is_a_net_error(body, second, match):
    inputs = {"data": randn(1, 2, 3, 3)}
    if second:
        inputs["like"] = randn(1, 1, 5, 5)
    text = net(inputs, layer("interp", "Interp", list(inputs), "interp",
                             f"interp_param {{ {body} }}"))
    with pytest.raises(keras_caffe.NetError, match=match):
        build(text, inputs)


@pytest.mark.parametrize("body, scales", [("scale: 2", (2, 2)),
                                          ("scale_h: 2 scale_w: 3", (2, 3))])
def test_upsample_repeats_nearest(body, scales):
    inputs = {"data": randn(*SHAPE)}
    cnet, out = run(net(inputs, layer("up", "Upsample", "data", "up",
                                      f"upsample_param {{ {body} }}")), inputs)
    assert keras_class(cnet, "up") == "UpSampling2D"
    want = np.repeat(np.repeat(inputs["data"], scales[0], axis=2), scales[1], axis=3)
    assert_close(out["up"], want)


@pytest.mark.parametrize("bottoms, body, match", [
    (2, "scale: 1", "must be > 1"),
    (1, "upsample_h: 8 upsample_w: 10", "belong to SegNet"),
    (1, "scale: 0", "scales must be >= 1"),
])
def test_unsupported_upsample_is_a_net_error(bottoms, body, match):
    inputs = {f"x{i}": randn(*SHAPE, seed=i) for i in range(bottoms)}
    text = net(inputs, layer("up", "Upsample", list(inputs), "up", f"upsample_param {{ {body} }}"))
    with pytest.raises(keras_caffe.NetError, match=match):
        build(text, inputs)


@pytest.mark.parametrize("shape, group", [((2, 6, 3, 2), 2), ((2, 6, 3, 2), 3), ((3, 8), 4)])
def test_shuffle_channel_transposes_groups(shape, group):
    inputs = {"data": randn(*shape)}
    cnet, out = run(net(inputs, layer("shuffle", "ShuffleChannel", "data", "shuffle",
                                      f"shuffle_channel_param {{ group: {group} }}")), inputs)
    assert keras_class(cnet, "shuffle") == "CaffeShuffleChannel"
    x = inputs["data"]
    c = shape[1]
    want = x.reshape((shape[0], group, c // group) + shape[2:]).swapaxes(1, 2).reshape(shape)
    assert_close(out["shuffle"], want)
    # Output channel j * group + i is input channel i * (C / group) + j.
    assert_close(out["shuffle"][:, 1], x[:, c // group])


def test_shuffle_channel_group_must_divide_channels():
    inputs = {"data": randn(1, 6, 2, 2)}
    text = net(inputs, layer("shuffle", "ShuffleChannel", "data", "shuffle",
                             "shuffle_channel_param { group: 4 }"))
    with pytest.raises(keras_caffe.NetError, match="must divide the channels"):
        build(text, inputs)


def _c_round(v):
    return int(np.sign(v) * np.floor(abs(v) + 0.5))


def _roi_pool(features, rois, ph, pw, scale):
    n, c, h, w = features.shape
    out = np.zeros((len(rois), c, ph, pw))
    for r, (b, *box) in enumerate(np.float32(rois)):
        x1, y1, x2, y2 = (_c_round(np.float32(v) * np.float32(scale)) for v in box)
        rh, rw = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
        bh, bw = np.float32(rh) / np.float32(ph), np.float32(rw) / np.float32(pw)
        for i in range(ph):
            hs = min(max(int(np.floor(i * bh)) + y1, 0), h)
            he = min(max(int(np.ceil((i + 1) * bh)) + y1, 0), h)
            for j in range(pw):
                ws = min(max(int(np.floor(j * bw)) + x1, 0), w)
                we = min(max(int(np.ceil((j + 1) * bw)) + x1, 0), w)
                if he > hs and we > ws:
                    out[r, :, i, j] = features[int(b), :, hs:he, ws:we].max(axis=(1, 2))
    return out


ROIS = np.array([[0, 2, 2, 13, 9],      # inside
                 [1, 5, 3, 19, 14],     # 5 * 0.5 = 2.5 rounds away from zero, as C does
                 [0, -4, -6, 6, 4],     # partly off the map: clamped
                 [1, 30, 2, 40, 9],     # wholly off the map: every bin empty, 0
                 [0, 7, 7, 7, 7]], np.float32)  # one cell


@pytest.mark.parametrize("roi_shape", [(5, 5), (5, 5, 1, 1)], ids=["2d_rois", "4d_rois"])
def test_roi_pooling_matches_fast_rcnn(roi_shape):
    inputs = {"data": randn(2, 3, 8, 10), "rois": ROIS.reshape(roi_shape)}
    cnet, out = run(net(inputs, layer("roi", "ROIPooling", ["data", "rois"], "roi",
                                      "roi_pooling_param { pooled_h: 3 pooled_w: 2 "
                                      "spatial_scale: 0.5 }")), inputs)
    assert keras_class(cnet, "roi") == "CaffeROIPooling"
    want = _roi_pool(inputs["data"], ROIS, 3, 2, 0.5)
    assert not want[3].any() and want[0].all()
    assert_close(out["roi"], want)


def _prior_boxes(fh, fw, img_h, img_w, min_sizes, max_sizes, ratios, flip, clip, variances,
                 step=None, offset=0.5):
    ars = [1.0]
    for ar in ratios:
        if all(abs(ar - a) >= 1e-6 for a in ars):
            ars += [ar] + ([1.0 / ar] if flip else [])
    step_h, step_w = step or (np.float32(img_h) / fh, np.float32(img_w) / fw)
    boxes = []
    for h in range(fh):
        for w in range(fw):
            cx, cy = np.float32((w + offset) * step_w), np.float32((h + offset) * step_h)
            for s, size in enumerate(min_sizes):
                size = int(size)  # SSD keeps min_size_ and max_size_ in an int
                sizes = [(size, size)]
                if max_sizes:
                    sizes.append((np.sqrt(size * int(max_sizes[s])),) * 2)
                sizes += [(size * np.sqrt(ar), size / np.sqrt(ar)) for ar in ars
                          if abs(ar - 1) >= 1e-6]
                for bw, bh in sizes:
                    boxes.append([(cx - bw / 2) / img_w, (cy - bh / 2) / img_h,
                                  (cx + bw / 2) / img_w, (cy + bh / 2) / img_h])
    boxes = np.array(boxes).ravel()
    if clip:
        boxes = np.clip(boxes, 0, 1)
    var = np.tile(variances, len(boxes) // 4) if len(variances) == 4 else \
        np.full(len(boxes), variances[0])
    return np.stack([boxes, var])[None]


# id: (prior_box_param body, image bottom H x W or None, reference keyword arguments)
PRIOR_BOX = {
    "img_size_max_flip": ("min_size: 8 max_size: 16 aspect_ratio: 2 flip: true img_size: 32 "
                          "variance: 0.1 variance: 0.1 variance: 0.2 variance: 0.2", None,
                          dict(img_h=32, img_w=32, min_sizes=[8], max_sizes=[16], ratios=[2],
                               flip=True, clip=False, variances=[0.1, 0.1, 0.2, 0.2])),
    "image_bottom_clip_step_offset": ("min_size: 10 aspect_ratio: 2 aspect_ratio: 3 "
                                      "flip: false clip: true variance: 0.2 step: 10 "
                                      "offset: 0.3", (30, 40),
                                      dict(img_h=30, img_w=40, min_sizes=[10], max_sizes=[],
                                           ratios=[2, 3], flip=False, clip=True,
                                           variances=[0.2], step=(10, 10), offset=0.3)),
    "img_hw_step_hw_two_sizes": ("min_size: 6 min_size: 12 max_size: 9 max_size: 20 "
                                 "aspect_ratio: 2 aspect_ratio: 2 img_h: 24 img_w: 36 "
                                 "step_h: 8 step_w: 9", None,
                                 dict(img_h=24, img_w=36, min_sizes=[6, 12], max_sizes=[9, 20],
                                      ratios=[2], flip=True, clip=False, variances=[0.1],
                                      step=(8, 9))),
    "fractional_sizes_truncate": ("min_size: 10.7 max_size: 21.9 img_size: 40", None,
                                  dict(img_h=40, img_w=40, min_sizes=[10.7], max_sizes=[21.9],
                                       ratios=[], flip=True, clip=False, variances=[0.1])),
}


@pytest.mark.parametrize("variant", list(PRIOR_BOX))
def test_prior_box_matches_ssd(variant):
    body, image, kwargs = PRIOR_BOX[variant]
    inputs = {"feat": randn(2, 3, 3, 4)}
    if image:
        inputs["image"] = randn(2, 3, *image, seed=1)
    cnet, out = run(net(inputs, layer("prior", "PriorBox", list(inputs), "prior",
                                      f"prior_box_param {{ {body} }}")), inputs)
    assert keras_class(cnet, "prior") == "CaffePriorBox"
    assert_close(out["prior"], _prior_boxes(3, 4, **kwargs))


@pytest.mark.parametrize("body, match", [
    ("min_size: 8", "needs the image as its second bottom"),
    ("min_size: 8 img_size: 32 width: 4", "OpenCV's PriorBox fields"),
    ("min_size: 8 img_size: 32 img_h: 32 img_w: 32", "not both"),
])
def test_bad_prior_box_is_a_net_error(body, match):
    inputs = {"feat": randn(1, 2, 3, 3)}
    text = net(inputs, layer("prior", "PriorBox", "feat", "prior",
                             f"prior_box_param {{ {body} }}"))
    with pytest.raises(keras_caffe.NetError, match=match):
        build(text, inputs)
