"""DataTransformer against an independent numpy model of Caffe's arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from keras_caffe.data.transform import DataTransformer
from keras_caffe.errors import CaffemodelError, NetError
from keras_caffe.proto.binary import write_blob
from tests.data.helpers import caffe_transform

RNG = np.random.default_rng(0)


def _batch(t, imgs, index, layout="CHW", out_layout="CHW", jit=False, swap=None):
    x = np.stack(imgs)
    chw = np.array([i.shape if layout == "CHW" else (i.shape[2],) + i.shape[:2] for i in imgs],
                   np.int32)
    return t.transform_batch(x, chw, np.asarray(index, np.int64), layout, out_layout,
                             swap=swap, jit=jit).numpy()


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "xla"])
@pytest.mark.parametrize("mean", ["values", "one", "file", None])
def test_test_phase_matches_numpy(mean, jit, tmp_path):
    imgs = [RNG.integers(0, 256, (3, 12, 15), np.uint8) for _ in range(4)]
    param = {"scale": 0.017, "crop_size": 9}
    ref_mean = None
    if mean == "values":
        param["mean_value"] = ref_mean = [104.0, 117.5, 123.25]
    elif mean == "one":
        param["mean_value"], ref_mean = [100.3], [100.3] * 3
    elif mean == "file":
        ref_mean = RNG.uniform(0, 255, (3, 12, 15)).astype(np.float32)
        write_blob(tmp_path / "mean.binaryproto", ref_mean[None])
        param["mean_file"] = str(tmp_path / "mean.binaryproto")
    t = DataTransformer(param, "test")
    out = _batch(t, imgs, range(4), jit=jit)
    for img, got in zip(imgs, out):
        np.testing.assert_array_equal(got, caffe_transform(img, scale=0.017, mean=ref_mean,
                                                           crop=9))
    # HWC input / output, and one image at a time, give the same numbers
    hwc = _batch(t, [i.transpose(1, 2, 0) for i in imgs], range(4), "HWC", "HWC", jit)
    np.testing.assert_array_equal(hwc, out.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(t.numpy(imgs[0], 0, layout="CHW"), out[0])


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "xla"])
@pytest.mark.parametrize("use_file", [False, True], ids=["mean_value", "mean_file"])
def test_train_crops_and_mirrors(jit, use_file, tmp_path):
    """TRAIN: every item is some crop (+ flip) of its image; a fixed seed gives the same
    choices for the same item index, in any batch and layout; mirror also acts in TEST."""
    mean = RNG.uniform(0, 255, (3, 10, 13)).astype(np.float32) if use_file else [10.0, 20, 30]
    param = {"scale": 0.5, "crop_size": 6, "mirror": True}
    if use_file:
        write_blob(tmp_path / "m.binaryproto", mean[None])
        param["mean_file"] = str(tmp_path / "m.binaryproto")
    else:
        param["mean_value"] = mean
    imgs = [RNG.integers(0, 256, (3, 10, 13), np.uint8) for _ in range(24)]
    t = DataTransformer(param, "train", seed=7)
    out = _batch(t, imgs, range(100, 124), jit=jit)
    choices = set()
    for img, got in zip(imgs, out):
        found = [(h, w, f) for h in range(5) for w in range(8) for f in (0, 1)
                 if np.array_equal(got, caffe_transform(img, scale=0.5, mean=mean, crop=6,
                                                        h_off=h, w_off=w, mirror=f))]
        assert len(found) == 1
        choices.add(found[0])
    assert len(choices) > 12 and {f for *_, f in choices} == {0, 1}
    again = _batch(DataTransformer(param, "train", seed=7), imgs[5:9], range(105, 109), jit=jit)
    np.testing.assert_array_equal(again, out[5:9])
    other = _batch(DataTransformer(param, "train", seed=8), imgs, range(100, 124), jit=jit)
    assert not np.array_equal(other, out)
    test_mirror = DataTransformer({"mirror": True}, "test", seed=1)
    flips = [np.array_equal(test_mirror.numpy(imgs[0], i, "CHW"), imgs[0][:, :, ::-1])
             for i in range(16)]
    assert any(flips) and not all(flips)


def test_swap_float_input_and_no_crop():
    img = RNG.integers(0, 256, (5, 4, 3), np.uint8)      # HWC as an RGB decoder gives it
    t = DataTransformer({"mean_value": [1.0, 2.0, 3.0]})
    out = _batch(t, [img, img], [0, 1], "HWC", "CHW", swap=np.array([True, False]))
    np.testing.assert_array_equal(out[0], caffe_transform(img[..., ::-1].transpose(2, 0, 1),
                                                          mean=[1.0, 2.0, 3.0]))
    np.testing.assert_array_equal(out[1], caffe_transform(img.transpose(2, 0, 1),
                                                          mean=[1.0, 2.0, 3.0]))
    values = RNG.normal(0, 10, (2, 5, 6)).astype(np.float32)
    got = DataTransformer({"scale": 0.1}).numpy(values, 0, "CHW")
    np.testing.assert_array_equal(got, values * np.float32(0.1))


def test_errors(tmp_path):
    write_blob(tmp_path / "m.binaryproto", np.zeros((1, 3, 4, 4), np.float32))
    mean_file = str(tmp_path / "m.binaryproto")
    with pytest.raises(NetError, match="both mean_file.*and mean_value"):
        DataTransformer({"mean_file": mean_file, "mean_value": [1.0]}, layer="data")
    with pytest.raises(NetError, match="force_color and force_gray"):
        DataTransformer({"force_color": True, "force_gray": True})
    with pytest.raises(NetError, match="mean_file 'nope.binaryproto' not found"):
        DataTransformer({"mean_file": "nope.binaryproto"})
    (tmp_path / "bad.binaryproto").write_bytes(b"\x00\x01garbage")
    with pytest.raises(CaffemodelError, match="bad.binaryproto"):
        DataTransformer({"mean_file": str(tmp_path / "bad.binaryproto")})
    t = DataTransformer({"mean_file": mean_file})
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"m.binaryproto' is 3 x 4 x 4"):
        t.numpy(np.zeros((3, 5, 4), np.uint8), 0, "CHW")
    with pytest.raises(tf.errors.InvalidArgumentError, match="2 mean_values"):
        DataTransformer({"mean_value": [1.0, 2.0]}).numpy(np.zeros((3, 4, 4), np.uint8), 0,
                                                          "CHW")
    with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than the crop"):
        DataTransformer({"crop_size": 5}).numpy(np.zeros((1, 4, 9), np.uint8), 0, "CHW")


@pytest.mark.parametrize("crop, shown", [
    ({"crop_size": 2**31}, "2147483648x2147483648 = 4,611,686,018,427,387,904"),
    ({"crop_size": 2**31 - 1}, "2147483647x2147483647 = 4,611,686,014,132,420,609"),
    ({"crop_h": 3, "crop_w": 2**30}, "3x1073741824 = 3,221,225,472"),
])
def test_a_crop_over_a_blob_is_refused_before_any_op(crop, shown):
    """Found by the fuzz test: crop_size 2^31 broke TF's int32 arithmetic (a TypeError) and
    2^31-1 stalled an XLA compile for seconds before the crop check ran."""
    with pytest.raises(NetError) as err:
        DataTransformer(crop, layer="data")
    assert str(err.value) == (f"layer 'data': a crop (crop_size, or crop_h x crop_w) would "
                              f"have shape {shown} elements; Caffe allows at most "
                              "2,147,483,647 (INT_MAX) in one blob")
    assert DataTransformer({"crop_size": 46340}).crop == (46340, 46340)   # 46340^2 < 2^31
