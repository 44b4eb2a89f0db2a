import keras
import numpy as np
import pytest

from keras_caffe.layers import CaffeInterp

f32 = np.float32


def ref_interp(x, out_h, out_w, pad_beg=0, pad_end=0):
    """DeepLab's caffe_cpu_interp2 on an N,C,H,W array, in float32 as the C++ computes it."""
    n, c, h, w = x.shape
    off = -pad_beg
    h1n, w1n = h + pad_beg + pad_end, w + pad_beg + pad_end
    if (h1n, w1n) == (out_h, out_w):
        return x[:, :, off:off + h1n, off:off + w1n].copy()
    rh = f32(h1n - 1) / f32(out_h - 1) if out_h > 1 else f32(0)
    rw = f32(w1n - 1) / f32(out_w - 1) if out_w > 1 else f32(0)
    out = np.empty((n, c, out_h, out_w), np.float32)
    for h2 in range(out_h):
        h1r = f32(rh * f32(h2))
        h1 = int(h1r)
        h1p = 1 if h1 < h1n - 1 else 0
        l1h = f32(h1r - f32(h1))
        l0h = f32(1) - l1h
        for w2 in range(out_w):
            w1r = f32(rw * f32(w2))
            w1 = int(w1r)
            w1p = 1 if w1 < w1n - 1 else 0
            l1w = f32(w1r - f32(w1))
            l0w = f32(1) - l1w
            p = lambda dy, dx: x[:, :, off + h1 + dy, off + w1 + dx]  # noqa: E731
            out[:, :, h2, w2] = (l0h * (l0w * p(0, 0) + l1w * p(0, w1p))
                                 + l1h * (l0w * p(h1p, 0) + l1w * p(h1p, w1p)))
    return out


def _x(shape, seed=0):
    return np.random.RandomState(seed).randn(*shape).astype(np.float32)


@pytest.mark.parametrize("kwargs,size", [
    (dict(zoom_factor=2), lambda h, w: (2 * h - 1, 2 * w - 1)),
    (dict(zoom_factor=3), lambda h, w: (3 * h - 2, 3 * w - 2)),
    (dict(shrink_factor=2), lambda h, w: ((h - 1) // 2 + 1, (w - 1) // 2 + 1)),
    (dict(shrink_factor=2, zoom_factor=3),
     lambda h, w: (3 * ((h - 1) // 2) + 1, 3 * ((w - 1) // 2) + 1)),
    (dict(size=(7, 4)), lambda h, w: (7, 4)),
    (dict(size=(1, 1)), lambda h, w: (1, 1)),
    (dict(zoom_factor=2, pad_beg=-1, pad_end=-2), lambda h, w: (2 * h - 7, 2 * w - 7)),
    (dict(pad_beg=-1), lambda h, w: (h - 1, w - 1)),
    (dict(), lambda h, w: (h, w)),
])
def test_matches_deeplab_on_nhwc_with_dynamic_shapes(kwargs, size, layout):
    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, CaffeInterp(axes=(1, 2), **kwargs)(inp))
    for seed, (h, w) in enumerate([(5, 6), (8, 5)]):
        x = _x((2, 3, h, w), seed)
        y = layout.to_nchw(model(layout.to_nhwc(x)))
        out_h, out_w = size(h, w)
        expected = ref_interp(x, out_h, out_w, kwargs.get("pad_beg", 0), kwargs.get("pad_end", 0))
        assert y.shape == expected.shape
        np.testing.assert_array_equal(y, expected)


def test_size_from_a_reference_input(layout):
    x_in, ref_in = keras.Input((None, None, 3)), keras.Input((None, None, 1))
    out = CaffeInterp(axes=(1, 2), pad_end=-1)([x_in, ref_in])
    model = keras.Model([x_in, ref_in], out)
    x = _x((1, 3, 6, 5))
    y = layout.to_nchw(model([layout.to_nhwc(x), np.zeros((1, 11, 3, 1), np.float32)]))
    np.testing.assert_allclose(y, ref_interp(x, 11, 3, 0, -1), rtol=1e-6, atol=1e-6)


def test_align_corners_grid_keeps_the_corners():
    x = _x((1, 4, 5, 2))
    y = np.asarray(CaffeInterp(zoom_factor=4)(x))
    assert y.shape == (1, 13, 17, 2)
    np.testing.assert_array_equal(y[:, ::4, ::4], x)  # zoom hits every input pixel exactly


def test_static_output_shape():
    assert CaffeInterp(zoom_factor=2)(keras.Input((5, None, 3))).shape == (None, 9, None, 3)
    assert CaffeInterp(size=(4, 6))(keras.Input((None, None, 3))).shape == (None, 4, 6, 3)
    assert CaffeInterp(axes=(2, 3))(
        [keras.Input((3, 5, 5)), keras.Input((1, 7, 8))]).shape == (None, 3, 7, 8)


def test_save_load_and_config(roundtrip, config_roundtrip):
    x_in, ref_in = keras.Input((5, 6, 3)), keras.Input((9, 4, 2))
    layers = [CaffeInterp(zoom_factor=2, shrink_factor=2, pad_beg=-1), CaffeInterp(size=(3, 8)),
              CaffeInterp(axes=(1, 2))]
    model = keras.Model([x_in, ref_in], [layers[0](x_in), layers[1](x_in),
                                         layers[2]([x_in, ref_in])])
    roundtrip(model, [_x((2, 5, 6, 3)), _x((2, 9, 4, 2), 1)])
    for layer in layers:
        config_roundtrip(layer)


def test_errors():
    with pytest.raises(ValueError, match="pad_beg=1"):
        CaffeInterp(pad_beg=1)
    with pytest.raises(ValueError, match="zoom_factor=0"):
        CaffeInterp(zoom_factor=0)
    with pytest.raises(ValueError, match="second input sets the output size"):
        CaffeInterp(zoom_factor=2)([keras.Input((4, 4, 1)), keras.Input((8, 8, 1))])
    with pytest.raises(ValueError, match="crop away"):
        CaffeInterp(pad_beg=-2, pad_end=-2)(keras.Input((4, 9, 1)))
