import math

import keras
import numpy as np
import pytest

from keras_caffe.layers import CaffePriorBox
from keras_caffe.layers.prior_box import prior_box_sizes

f32 = np.float32


def ref_prior_box(layer_h, layer_w, img_h, img_w, min_sizes, max_sizes=(), aspect_ratios=(),
                  flip=True, clip=False, variances=(0.1,), step=None, offset=0.5):
    """SSD's PriorBoxLayer (weiliu89/caffe, branch ssd, src/caffe/layers/prior_box_layer.cpp),
    statement by statement.

    LayerSetUp: ``aspect_ratios_`` is a vector<float> starting with 1; each given ratio is
    skipped when within 1e-6 of one already there, else pushed, followed by ``1./ar`` (a
    double stored as float) with ``flip``.  Forward_cpu, per cell (h, w) and per min size
    ``s`` (``int min_size_ = min_sizes_[s]``: truncated): the square ``min_size_``; with
    max sizes, the square ``sqrt(min_size_ * max_size_)`` (an int product, ``max_size_``
    an int too); then for every ratio not within 1e-6 of 1 the box ``min_size_ * sqrt(ar)``
    by ``min_size_ / sqrt(ar)`` -- from min_size_, max_size or not.  Centres are float
    ``(w + offset_) * step_w``; ``step_w`` is ``float(img_width) / layer_width`` unless
    given; each corner is ``(center -/+ box / 2.) / img`` in double, stored as float;
    ``clip`` clamps the boxes (not the variances) to [0, 1]; one variance fills the second
    row, four repeat per prior."""
    ratios = [f32(1.0)]
    for ar in (f32(a) for a in aspect_ratios):
        if any(abs(float(ar) - float(r)) < 1e-6 for r in ratios):
            continue
        ratios.append(ar)
        if flip:
            ratios.append(f32(1.0 / float(ar)))
    if step is None:
        step_w, step_h = f32(img_w) / f32(layer_w), f32(img_h) / f32(layer_h)
    else:
        step_h, step_w = f32(step[0]), f32(step[1])
    top = []

    def push(center_x, center_y, box_width, box_height):
        for value in ((float(center_x) - float(box_width) / 2.0) / img_w,
                      (float(center_y) - float(box_height) / 2.0) / img_h,
                      (float(center_x) + float(box_width) / 2.0) / img_w,
                      (float(center_y) + float(box_height) / 2.0) / img_h):
            top.append(f32(value))

    for h in range(layer_h):
        for w in range(layer_w):
            center_x = f32((f32(w) + f32(offset)) * step_w)
            center_y = f32((f32(h) + f32(offset)) * step_h)
            for s in range(len(min_sizes)):
                min_size_ = int(f32(min_sizes[s]))
                push(center_x, center_y, f32(min_size_), f32(min_size_))
                if max_sizes:
                    max_size_ = int(f32(max_sizes[s]))
                    side = f32(math.sqrt(min_size_ * max_size_))
                    push(center_x, center_y, side, side)
                for ar in ratios:
                    if abs(float(ar) - 1.0) < 1e-6:
                        continue
                    push(center_x, center_y, f32(min_size_ * math.sqrt(float(ar))),
                         f32(min_size_ / math.sqrt(float(ar))))
    boxes = np.asarray(top, np.float32)
    if clip:
        boxes = np.minimum(np.maximum(boxes, f32(0.0)), f32(1.0))
    if len(variances) == 1:
        var = np.full(boxes.shape, variances[0], np.float32)
    else:
        var = np.tile(np.asarray(variances, np.float32), len(boxes) // 4)
    return np.stack([boxes, var])[None]


SSD_CASES = [
    dict(min_sizes=(30.0,), max_sizes=(60.0,), aspect_ratios=(2.0,), variances=(0.1, 0.1, 0.2, 0.2),
         clip=False, step=(8.0, 8.0)),
    dict(min_sizes=(60.0,), max_sizes=(111.0,), aspect_ratios=(2.0, 3.0), flip=True, clip=True),
    dict(min_sizes=(21.5, 45.0), aspect_ratios=(2.0, 0.5, 2.0), flip=True),
    dict(min_sizes=(10.0,), aspect_ratios=(3.0,), flip=False, offset=0.0, variances=(0.2,)),
    # two min sizes, each with its max size and the ratios; flip off; step_h != step_w
    dict(min_sizes=(8.0, 20.0), max_sizes=(16.0, 33.5), aspect_ratios=(2.0, 3.0), flip=False,
         step=(6.0, 9.5), offset=0.25, variances=(0.1, 0.1, 0.2, 0.2)),
    # ratios within 1e-6 of one already there (2.0000005; 1 itself; 0.5 = the flip of 2)
    dict(min_sizes=(12.9,), max_sizes=(30.2,), aspect_ratios=(2.0, 2.0000005, 1.0, 0.5, 3.0),
         flip=True, clip=True),
]


@pytest.mark.parametrize("kwargs", SSD_CASES)
def test_matches_ssd_with_the_image_as_second_input(kwargs):
    feat_in, img_in = keras.Input((None, None, 4)), keras.Input((None, None, 3))
    layer = CaffePriorBox(axes=(1, 2), **kwargs)
    model = keras.Model([feat_in, img_in], layer([feat_in, img_in]))
    for (fh, fw), (ih, iw) in (((3, 4), (30, 41)), ((5, 5), (300, 300))):
        y = np.asarray(model([np.zeros((2, fh, fw, 4), np.float32),
                              np.zeros((2, ih, iw, 3), np.float32)]))
        expected = ref_prior_box(fh, fw, ih, iw, **kwargs)
        assert y.shape == (1, 2, fh * fw * layer.num_priors * 4) == expected.shape
        np.testing.assert_array_equal(y, expected)


def test_fixed_image_size_needs_one_input():
    layer = CaffePriorBox(min_sizes=(30,), max_sizes=(60,), img_size=(300, 200))
    y = np.asarray(layer(np.zeros((1, 2, 3, 8), np.float32)))
    np.testing.assert_array_equal(y, ref_prior_box(2, 3, 300, 200, (30,), (60,)))


def test_prior_order_and_truncated_sizes():
    assert prior_box_sizes((30.9,), (60.0,), (2.0,), True)[:2] == [(30.0, 30.0), (
        float(f32(math.sqrt(30 * 60))),) * 2]
    assert len(prior_box_sizes((30,), (), (2.0, 0.5, 3.0), True)) == 5  # 1, 2, 1/2, 3, 1/3
    assert len(prior_box_sizes((30,), (), (2.0, 2.0000005, 1.0), False)) == 2  # 1, 2


def test_aspect_ratio_boxes_are_sized_from_min_size_with_a_max_size():
    """MobileNet-SSD's conv13 priors (min 105, max 150, ratio 2): SSD's 2:1 box is
    105 * sqrt(2) = 148.49 px wide, not sqrt(105 * 150) * sqrt(2) = 177.48 px."""
    sizes = prior_box_sizes((105.0,), (150.0,), (2.0,), True)
    assert [round(w, 2) for w, _ in sizes] == [105.0, 125.5, 148.49, 74.25]
    assert [round(h, 2) for _, h in sizes] == [105.0, 125.5, 74.25, 148.49]
    y = np.asarray(CaffePriorBox(min_sizes=(105,), max_sizes=(150,), aspect_ratios=(2.0,),
                                 img_size=(300, 300))(np.zeros((1, 1, 1, 8), np.float32)))
    widths = (y[0, 0, 2::4] - y[0, 0, 0::4]) * 300
    np.testing.assert_allclose(widths, [105.0, 125.4990, 148.4924, 74.2462], atol=1e-3)


def test_static_output_shape():
    layer = CaffePriorBox(min_sizes=(30,), aspect_ratios=(2.0,))
    assert layer([keras.Input((5, 6, 4)), keras.Input((None, None, 3))]).shape == (1, 2, 360)
    assert layer([keras.Input((None, 6, 4)), keras.Input((9, 9, 3))]).shape == (1, 2, None)


def test_save_load_and_config(roundtrip, config_roundtrip):
    feat_in, img_in = keras.Input((3, 3, 4)), keras.Input((24, 24, 3))
    with_image = CaffePriorBox(min_sizes=(8,), max_sizes=(16,), aspect_ratios=(2.0,), clip=True,
                               variances=(0.1, 0.1, 0.2, 0.2))
    fixed = CaffePriorBox(min_sizes=(8,), img_size=(24, 30), step=(8, 10), offset=0.25)
    model = keras.Model([feat_in, img_in], [with_image([feat_in, img_in]), fixed(feat_in)])
    roundtrip(model, [np.zeros((1, 3, 3, 4), np.float32), np.zeros((1, 24, 24, 3), np.float32)])
    for layer in (with_image, fixed):
        config_roundtrip(layer)


@pytest.mark.parametrize("kwargs,match", [
    (dict(min_sizes=()), "at least one"),
    (dict(min_sizes=(30,), max_sizes=(20,)), "max size must exceed"),
    (dict(min_sizes=(30, 40), max_sizes=(50,)), "one value per min size"),
    (dict(min_sizes=(30,), variances=(0.1, 0.2)), "1 or 4"),
    (dict(min_sizes=(-3,)), "> 0"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CaffePriorBox(**kwargs)


def test_needs_the_image_without_img_size():
    with pytest.raises(ValueError, match="second input"):
        CaffePriorBox(min_sizes=(30,))(keras.Input((3, 3, 4)))
