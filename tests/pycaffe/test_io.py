"""keras_caffe.pycaffe.io against hand-written numpy references of pycaffe's caffe.io, and
against scikit-image / SciPy themselves where they happen to be importable."""

import numpy as np
import pytest

from keras_caffe.proto import caffe_pb2
from keras_caffe.pycaffe import io
from tests.pycaffe.fake_net import write_png

try:
    import skimage
    import skimage.io
    from skimage.transform import resize as sk_resize
except ImportError:
    skimage = None
try:
    from scipy.ndimage import zoom as sp_zoom
except ImportError:
    sp_zoom = None
needs_skimage = pytest.mark.skipif(skimage is None, reason="scikit-image is not installed")
needs_scipy = pytest.mark.skipif(sp_zoom is None, reason="SciPy is not installed")
rng = np.random.default_rng(0)


# --------------------------------------------------------------------------- protos

def test_blobproto_legacy_shape_wins_over_shape_field():
    blob = caffe_pb2.BlobProto()
    blob.data.extend(range(24))
    blob.num, blob.channels, blob.height, blob.width = 1, 2, 3, 4
    blob.shape.dim.extend([24])
    arr = io.blobproto_to_array(blob)
    assert arr.shape == (1, 2, 3, 4) and arr.dtype == np.float64
    np.testing.assert_array_equal(arr.ravel(), np.arange(24))


def test_blobproto_shape_field_and_scalar_and_no_shape():
    blob = caffe_pb2.BlobProto()
    blob.data.extend([0.5, 1.5, 2.5, 3.5, 4.5, 5.5])
    blob.shape.dim.extend([3, 2])
    np.testing.assert_array_equal(io.blobproto_to_array(blob), [[0.5, 1.5], [2.5, 3.5],
                                                                [4.5, 5.5]])
    scalar = caffe_pb2.BlobProto()
    scalar.data.append(123)
    assert io.blobproto_to_array(scalar).shape == () and io.blobproto_to_array(scalar) == 123
    blob.ClearField("shape")
    with pytest.raises(ValueError):      # pycaffe's test_no_shape
        io.blobproto_to_array(blob)


def test_blobproto_round_trip_with_diff_rounds_to_float32():
    arr = rng.standard_normal((2, 3, 4, 5))
    diff = rng.standard_normal((2, 3, 4, 5))
    blob = io.array_to_blobproto(arr, diff)
    assert list(blob.shape.dim) == [2, 3, 4, 5] and not blob.HasField("num")
    back = caffe_pb2.BlobProto.FromString(blob.SerializeToString())
    np.testing.assert_array_equal(io.blobproto_to_array(back),
                                  arr.astype(np.float32).astype(np.float64))
    np.testing.assert_array_equal(io.blobproto_to_array(back, return_diff=True),
                                  diff.astype(np.float32))
    assert len(io.array_to_blobproto(arr).diff) == 0


def test_blobprotovector_round_trip():
    arrays = [np.arange(6.0).reshape(2, 3), np.array(7.0), rng.random((1, 2, 2, 2))]
    s = io.arraylist_to_blobprotovector_str(arrays)
    assert isinstance(s, bytes)
    back = io.blobprotovector_str_to_arraylist(s)
    assert [a.shape for a in back] == [(2, 3), (), (1, 2, 2, 2)]
    for a, b in zip(arrays, back):
        np.testing.assert_array_equal(b, a.astype(np.float32))


def test_datum_uint8_stored_as_bytes_in_c_order():
    arr = rng.integers(0, 256, (4, 3, 2), dtype=np.uint8).transpose(2, 0, 1)  # not contiguous
    datum = io.array_to_datum(arr, label=7)
    assert (datum.channels, datum.height, datum.width, datum.label) == (2, 4, 3, 7)
    assert datum.data == np.ascontiguousarray(arr).tobytes() and len(datum.float_data) == 0
    back = io.datum_to_array(caffe_pb2.Datum.FromString(datum.SerializeToString()))
    assert back.dtype == np.uint8 and back.flags.writeable
    np.testing.assert_array_equal(back, arr)


def test_datum_float_stored_as_float_data():
    arr = rng.standard_normal((3, 2, 2))
    datum = io.array_to_datum(arr)
    assert datum.data == b"" and len(datum.float_data) == 12 and not datum.HasField("label")
    back = io.datum_to_array(datum)
    assert back.dtype == np.float64
    np.testing.assert_array_equal(back, arr.astype(np.float32))
    ints = io.array_to_datum(np.arange(8, dtype=np.int32).reshape(2, 2, 2))   # not uint8
    assert len(ints.float_data) == 8 and ints.data == b""


def test_datum_label_and_shape_checks():
    labelled = io.array_to_datum(np.ones((10, 10, 3)), label=1)
    plain = io.array_to_datum(np.ones((10, 10, 3)))
    assert len(labelled.SerializeToString()) > len(plain.SerializeToString())
    with pytest.raises(ValueError, match="Incorrect array shape"):
        io.array_to_datum(np.ones((2, 2)))


# --------------------------------------------------------------------------- Transformer

def make_transformer(shape=(1, 3, 4, 5)):
    return io.Transformer({"data": shape})


def test_preprocess_order_of_operations():
    t = make_transformer()
    mean = np.array([104.0, 117.0, 123.0])
    t.set_transpose("data", (2, 0, 1))
    t.set_channel_swap("data", (2, 1, 0))
    t.set_raw_scale("data", 255)
    t.set_mean("data", mean)
    t.set_input_scale("data", 0.017)
    img = rng.random((4, 5, 3))
    x = img.astype(np.float32).transpose(2, 0, 1)[[2, 1, 0]]
    x = x * np.float32(255)
    x = (x.astype(np.float64) - mean[:, None, None]).astype(np.float32)   # float32 -= f64
    x = x * np.float32(0.017)
    out = t.preprocess("data", img)
    assert out.dtype == np.float32 and out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out, x)
    # the mean after the raw scale, not before it
    assert np.abs(out - (img.transpose(2, 0, 1)[[2, 1, 0]] - mean[:, None, None] / 255)
                  * 255 * 0.017).max() < 1e-3
    # and the input scale after the mean
    assert not np.allclose(out, img.transpose(2, 0, 1)[[2, 1, 0]] * 255 * 0.017
                           - mean[:, None, None], atol=1)


def test_preprocess_full_mean_and_2d_mean():
    t = make_transformer()
    t.set_transpose("data", (2, 0, 1))
    full = rng.random((3, 4, 5))
    t.set_mean("data", full)
    img = rng.random((4, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        t.preprocess("data", img),
        (img.transpose(2, 0, 1).astype(np.float64) - full).astype(np.float32))
    grey = io.Transformer({"data": (1, 1, 4, 5)})
    grey.set_transpose("data", (2, 0, 1))
    plane = rng.random((4, 5))
    grey.set_mean("data", plane)                        # H,W for one channel: kept as is
    np.testing.assert_array_equal(
        grey.preprocess("data", img[..., :1]),
        (img[..., :1].transpose(2, 0, 1).astype(np.float64) - plane).astype(np.float32))
    t.set_mean("data", plane)     # H,W for three channels: 1,H,W after a same-size resize
    assert t.mean["data"].shape == (1, 4, 5)
    np.testing.assert_allclose(t.mean["data"][0], plane, rtol=0, atol=1e-6)


def test_preprocess_resizes_first_and_leaves_input_alone():
    t = make_transformer()
    t.set_transpose("data", (2, 0, 1))
    t.set_raw_scale("data", 2.0)
    img = rng.random((7, 3, 3)).astype(np.float32)
    kept = img.copy()
    out = t.preprocess("data", img)
    np.testing.assert_array_equal(out, io.resize_image(img, (4, 5)).transpose(2, 0, 1) * 2)
    same = rng.random((4, 5, 3)).astype(np.float32)
    same_kept = same.copy()
    t.preprocess("data", same)
    np.testing.assert_array_equal(img, kept)
    np.testing.assert_array_equal(same, same_kept)   # pycaffe would have doubled it in place


def test_preprocess_list_shape_does_not_resize():
    t = io.Transformer({"data": [1, 3, 4, 5]})
    t.set_transpose("data", (2, 0, 1))
    img = rng.random((4, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(t.preprocess("data", img), img.transpose(2, 0, 1))


def test_deprocess_inverts_in_reverse_order():
    t = make_transformer()
    mean = np.array([0.1, 0.2, 0.3])
    t.set_transpose("data", (2, 0, 1))
    t.set_channel_swap("data", (2, 0, 1))
    t.set_raw_scale("data", 255.0)
    t.set_mean("data", mean)
    t.set_input_scale("data", 0.5)
    img = rng.random((4, 5, 3)).astype(np.float32)
    blob = t.preprocess("data", img)[None]          # 1,C,H,W: deprocess squeezes
    back = t.deprocess("data", blob)
    assert back.shape == (4, 5, 3) and back.dtype == np.float32
    ref = blob[0].copy()
    ref /= 0.5
    ref += mean[:, None, None]
    ref /= 255.0
    ref = ref[np.argsort((2, 0, 1))].transpose(1, 2, 0)
    np.testing.assert_array_equal(back, ref)
    np.testing.assert_allclose(back, img, atol=1e-6)


def test_full_mean_of_another_size_is_resized_as_pycaffe_does():
    t = make_transformer((1, 1, 1, 4))
    t.set_mean("data", np.array([[[10.0, 20.0]]]))      # 1 x 1 x 2 -> 1 x 1 x 4
    # normalised [0, 1] upsampled from pixel centres with zeros outside, as in skimage:
    # [0, .25, .75, .75], then scaled back into [10, 20]
    np.testing.assert_allclose(t.mean["data"], [[[10.0, 12.5, 17.5, 17.5]]], rtol=1e-6)
    t.set_mean("data", np.full((1, 2, 2), 5.0))         # constant: pycaffe gets NaN
    np.testing.assert_array_equal(t.mean["data"], np.full((1, 1, 4), 5.0))


def test_transformer_errors():
    t = make_transformer()
    with pytest.raises(ValueError, match=r"label is not one of the net inputs: \{'data'"):
        t.preprocess("label", np.zeros((4, 5, 3)))
    for call in (t.set_raw_scale, t.set_input_scale, t.set_transpose, t.set_channel_swap,
                 t.set_mean, t.deprocess):
        with pytest.raises(ValueError, match="not one of the net inputs"):
            call("label", np.zeros(3))
    with pytest.raises(ValueError, match="Transpose order needs"):
        t.set_transpose("data", (1, 0))
    with pytest.raises(ValueError, match="Channel swap needs"):
        t.set_channel_swap("data", (1, 0))
    with pytest.raises(ValueError, match="Mean channels incompatible"):
        t.set_mean("data", np.zeros(4))
    with pytest.raises(ValueError, match="Mean shape invalid"):
        t.set_mean("data", np.zeros((1, 3, 4, 5)))


# --------------------------------------------------------------------------- load_image

def test_load_colour_grey_and_alpha_pngs(tmp_path):
    rgb = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    write_png(tmp_path / "rgb.png", rgb)
    img = io.load_image(str(tmp_path / "rgb.png"))
    assert img.dtype == np.float32 and img.shape == (5, 6, 3)
    np.testing.assert_array_equal(img, (rgb / 255).astype(np.float32))        # R,G,B order
    grey = io.load_image(str(tmp_path / "rgb.png"), color=False)
    lum = 0.2125 * rgb[..., 0] / 255 + 0.7154 * rgb[..., 1] / 255 + 0.0721 * rgb[..., 2] / 255
    assert grey.shape == (5, 6, 1)
    np.testing.assert_array_max_ulp(grey[..., 0], lum.astype(np.float32), maxulp=1)

    g = rng.integers(0, 256, (4, 3), dtype=np.uint8)
    write_png(tmp_path / "g.png", g)
    np.testing.assert_array_equal(io.load_image(str(tmp_path / "g.png"), color=False),
                                  (g / 255).astype(np.float32)[..., None])
    np.testing.assert_array_equal(io.load_image(str(tmp_path / "g.png")),
                                  np.repeat((g / 255).astype(np.float32)[..., None], 3, -1))

    rgba = rng.integers(0, 256, (3, 4, 4), dtype=np.uint8)
    write_png(tmp_path / "rgba.png", rgba)
    np.testing.assert_array_equal(io.load_image(str(tmp_path / "rgba.png")),
                                  (rgba[..., :3] / 255).astype(np.float32))   # alpha dropped
    la = rng.integers(0, 256, (3, 4, 2), dtype=np.uint8)
    write_png(tmp_path / "la.png", la)
    np.testing.assert_array_equal(io.load_image(str(tmp_path / "la.png")),
                                  np.repeat((la[..., :1] / 255).astype(np.float32), 3, -1))


def test_load_16bit_pngs(tmp_path):
    g16 = np.array([[0, 1, 256, 65535], [12345, 40000, 65534, 2]], dtype=np.uint16)
    write_png(tmp_path / "g16.png", g16)
    np.testing.assert_array_equal(io.load_image(str(tmp_path / "g16.png"), color=False),
                                  (g16 / 65535).astype(np.float32)[..., None])
    rgb16 = rng.integers(0, 65536, (2, 3, 3), dtype=np.uint16)
    write_png(tmp_path / "rgb16.png", rgb16)       # colour: the high bytes, as Pillow reads
    np.testing.assert_array_equal(io.load_image(str(tmp_path / "rgb16.png")),
                                  ((rgb16 >> 8) / 255).astype(np.float32))


def test_load_from_a_file_object(tmp_path):
    import io as pyio

    rgb = rng.integers(0, 256, (5, 6, 3), dtype=np.uint8)
    write_png(tmp_path / "rgb.png", rgb)
    data = (tmp_path / "rgb.png").read_bytes()
    for color in (True, False):
        np.testing.assert_array_equal(io.load_image(pyio.BytesIO(data), color=color),
                                      io.load_image(str(tmp_path / "rgb.png"), color=color))


def test_load_missing_file():
    with pytest.raises(FileNotFoundError):
        io.load_image("/nonexistent/picture.png")


def _pycaffe_load_image(filename, color=True):
    """pycaffe's load_image, on the real scikit-image."""
    img = skimage.img_as_float(skimage.io.imread(filename, as_gray=not color)).astype(
        np.float32)
    if img.ndim == 2:
        img = img[:, :, np.newaxis]
        if color:
            img = np.tile(img, (1, 1, 3))
    elif img.shape[2] == 4:
        img = img[:, :, :3]
    return img


@needs_skimage
@pytest.mark.parametrize("kind", ["rgb", "grey", "grey16", "rgb16", "rgba", "jpeg"])
def test_load_image_matches_skimage(tmp_path, kind):
    path = str(tmp_path / ("x.jpg" if kind == "jpeg" else "x.png"))
    shape = {"rgb": (9, 7, 3), "grey": (9, 7), "grey16": (9, 7), "rgb16": (9, 7, 3),
             "rgba": (9, 7, 4), "jpeg": (24, 20, 3)}[kind]
    if kind == "jpeg":
        import tensorflow as tf
        smooth = np.cumsum(np.cumsum(rng.integers(-9, 10, shape), 0), 1)
        smooth = (smooth - smooth.min()) * 255 // (smooth.max() - smooth.min())
        with open(path, "wb") as f:
            f.write(tf.io.encode_jpeg(smooth.astype(np.uint8), quality=90).numpy())
    else:
        dtype = np.uint16 if kind.endswith("16") else np.uint8
        write_png(path, rng.integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype))
    for color in (True, False) if kind != "rgba" else (True,):  # skimage >= 0.19 composites
        np.testing.assert_array_equal(io.load_image(path, color),
                                      _pycaffe_load_image(path, color))


# --------------------------------------------------------------------------- resize_image

def ref_resize(im, oh, ow, order, centres):
    """Loop-by-loop reference: skimage's pixel-centre map with zeros outside (centres) or
    scipy zoom's corner-aligned map, points past the edge 0."""
    h, w, c = im.shape
    out = np.zeros((oh, ow, c))
    for y in range(oh):
        for x in range(ow):
            if centres:
                sy, sx = (y + 0.5) * h / oh - 0.5, (x + 0.5) * w / ow - 0.5
            else:
                sy = y * (h - 1) / (oh - 1) if oh > 1 else 0.0
                sx = x * (w - 1) / (ow - 1) if ow > 1 else 0.0
                if not (0 <= sy <= h - 1 and 0 <= sx <= w - 1):
                    continue
            if order == 0:
                out[y, x] = im[int(np.floor(sy + 0.5)), int(np.floor(sx + 0.5))]
                continue
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            for yy, wy in ((y0, 1 - (sy - y0)), (y0 + 1, sy - y0)):
                for xx, wx in ((x0, 1 - (sx - x0)), (x0 + 1, sx - x0)):
                    if 0 <= yy < h and 0 <= xx < w:
                        out[y, x] += wy * wx * im[yy, xx]
    return out


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("channels", [1, 3])
def test_resize_one_or_three_channels_like_skimage(order, channels):
    for (h, w), (oh, ow) in [((5, 7), (11, 4)), ((8, 8), (3, 5)), ((1, 4), (6, 1))]:
        im = rng.random((h, w, channels)).astype(np.float32) * 50 - 20
        lo, hi = im.min(), im.max()
        ref = ref_resize((im - lo) / (hi - lo), oh, ow, order, centres=True) * (hi - lo) + lo
        out = io.resize_image(im, (oh, ow), interp_order=order)
        assert out.dtype == np.float32 and out.shape == (oh, ow, channels)
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5)


def test_resize_hand_values():
    # upsampling blends the border with the image minimum (skimage's mode='constant')
    np.testing.assert_allclose(io.resize_image(np.array([[[10.0], [20.0]]]), (1, 4))[0, :, 0],
                               [10.0, 12.5, 17.5, 17.5])
    # nearest neighbour of pixel centres: 4 -> 2 takes pixels 1 and 3
    row = np.array([[[0.0], [1.0], [2.0], [3.0]]])
    np.testing.assert_array_equal(io.resize_image(row, (1, 2), 0)[0, :, 0], [1.0, 3.0])
    flat = io.resize_image(np.array([[0.0, 1.0, 2.0]]), (2, 3))        # H x W, W == 3
    assert flat.shape == (2, 3)
    const = io.resize_image(np.full((3, 3, 3), 4.0), (2, 5))
    assert const.dtype == np.float32 and const.shape == (2, 5, 3) and np.all(const == 4.0)


def test_resize_other_channel_counts_like_zoom():
    im = np.stack([np.array([[0.0, 4.0]]), np.array([[1.0, 3.0]])], -1)   # 1 x 2 x 2
    out = io.resize_image(im, (1, 3))                    # corners aligned: 0, .5, 1
    np.testing.assert_array_equal(out, [[[0.0, 1.0], [2.0, 2.0], [4.0, 3.0]]])
    # SciPy's rounding: 8 -> 26 rows puts the last one just past row 7, where it is 0
    ones = io.resize_image(np.ones((8, 2, 4), np.float32), (26, 2))
    assert np.all(ones[:25] == 1) and np.all(ones[25] == 0)
    u8 = io.resize_image(np.array([[[0] * 4, [1] * 4]], np.uint8), (1, 3))
    np.testing.assert_array_equal(u8[0, :, 0], [0, 1, 1])   # rounds half away into uint8
    for order in (0, 1):
        im = rng.random((4, 5, 2))
        np.testing.assert_allclose(io.resize_image(im, (7, 3), order),
                                   ref_resize(im, 7, 3, order, centres=False), atol=1e-6)


def test_resize_unsupported_order():
    with pytest.raises(NotImplementedError, match="interp_order 3"):
        io.resize_image(rng.random((4, 4, 3)), (8, 8), interp_order=3)


@needs_skimage
def test_resize_matches_skimage_exactly():
    for _ in range(40):
        (h, w), (oh, ow) = rng.integers(1, 12, 2), rng.integers(1, 20, 2)
        channels = int(rng.choice([1, 3]))
        im = (rng.random((h, w, channels)) * 255).astype(np.float32)
        for order in (0, 1):
            lo, hi = im.min(), im.max()
            std = ((im - lo) / (hi - lo)).astype(np.float64)   # float64, as skimage < 0.16
            ref = sk_resize(std, (oh, ow), order=order, mode="constant", anti_aliasing=False)
            np.testing.assert_array_equal(io.resize_image(im, (oh, ow), order),
                                          (ref * (hi - lo) + lo).astype(np.float32))


@needs_scipy
def test_resize_matches_scipy_zoom_exactly():
    for _ in range(40):
        (h, w), (oh, ow) = rng.integers(1, 12, 2), rng.integers(1, 30, 2)
        for dtype in (np.float32, np.float64, np.uint8):
            im = (rng.random((h, w, int(rng.choice([2, 4, 5])))) * 255).astype(dtype)
            for order in (0, 1):
                scale = tuple(np.array((oh, ow), dtype=float) / np.array(im.shape[:2]))
                np.testing.assert_array_equal(
                    io.resize_image(im, (oh, ow), order),
                    sp_zoom(im, scale + (1,), order=order).astype(np.float32))


# --------------------------------------------------------------------------- oversample

def test_oversample_positions_and_mirrors():
    h, w = 7, 9
    images = [np.arange(h * w * 2, dtype=np.float64).reshape(h, w, 2) + 1000 * i
              for i in range(2)]
    crops = io.oversample(images, (4, 5))
    assert crops.shape == (20, 4, 5, 2) and crops.dtype == np.float32
    for i, im in enumerate(images):
        # centre: 3.5 -+ 2 -> rows 1..4 (truncated), 4.5 -+ 2.5 -> columns 2..6
        expect = [im[:4, :5], im[:4, 4:], im[3:, :5], im[3:, 4:], im[1:5, 2:7]]
        expect += [e[:, ::-1] for e in expect]
        for k, e in enumerate(expect):
            np.testing.assert_array_equal(crops[10 * i + k], e)
