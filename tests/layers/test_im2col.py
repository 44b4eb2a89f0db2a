import keras
import numpy as np
import pytest

from keras_caffe.layers import CaffeConv2D, CaffeIm2col


def ref_im2col(x_nchw, k, s=(1, 1), p=(0, 0), d=(1, 1)):
    """Caffe's im2col_cpu loops on one NCHW batch -> (N, C*kh*kw, Ho, Wo)."""
    n, c, h, w = x_nchw.shape
    out_h = (h + 2 * p[0] - (d[0] * (k[0] - 1) + 1)) // s[0] + 1
    out_w = (w + 2 * p[1] - (d[1] * (k[1] - 1) + 1)) // s[1] + 1
    cols = np.zeros((n, c * k[0] * k[1], out_h, out_w), np.float32)
    for row in range(c * k[0] * k[1]):
        w_off, h_off, c_im = row % k[1], (row // k[1]) % k[0], row // k[0] // k[1]
        for i in range(out_h):
            for j in range(out_w):
                hi = i * s[0] - p[0] + h_off * d[0]
                wi = j * s[1] - p[1] + w_off * d[1]
                if 0 <= hi < h and 0 <= wi < w:
                    cols[:, row, i, j] = x_nchw[:, c_im, hi, wi]
    return cols


CONFIGS = [
    # kernel, stride, pad, dilation
    ((3, 3), (1, 1), (0, 0), (1, 1)),
    ((3, 3), (2, 2), (1, 1), (1, 1)),
    ((2, 3), (1, 2), (1, 0), (1, 1)),
    ((3, 2), (2, 1), (2, 1), (2, 3)),
    ((1, 1), (3, 3), (0, 0), (1, 1)),
]


@pytest.mark.parametrize("k,s,p,d", CONFIGS)
def test_matches_caffe_loops_at_two_dynamic_sizes(k, s, p, d, layout):
    layer = CaffeIm2col(k, s, p, d)
    inp = keras.Input((None, None, 3))
    model = keras.Model(inp, layer(inp))
    assert model.output.shape == (None, None, None, 3 * k[0] * k[1])
    for seed, (h, w) in enumerate([(7, 8), (10, 9)]):
        x = np.random.RandomState(seed).randn(2, 3, h, w).astype(np.float32)
        expected = ref_im2col(x, k, s, p, d)
        for y in (model(layout.to_nhwc(x)), model.predict_on_batch(layout.to_nhwc(x))):
            np.testing.assert_array_equal(layout.to_nchw(y), expected)  # a pure copy


def test_columns_times_caffe_weight_is_caffe_convolution(layout):
    k, s, p, d = (3, 2), (2, 1), (1, 1), (2, 1)
    rng = np.random.RandomState(3)
    x = rng.randn(2, 9, 8, 4).astype(np.float32)
    weight = rng.randn(5, 4, *k).astype(np.float32)  # Caffe's (F, C, kh, kw)
    cols = np.asarray(CaffeIm2col(k, s, p, d)(x))
    via_cols = cols @ weight.reshape(5, -1).T  # Caffe's conv: weight x col buffer
    conv = CaffeConv2D(5, k, strides=s, padding=p, dilation_rate=d, use_bias=False)
    conv.build(x.shape)
    conv.set_weights([weight.transpose(2, 3, 1, 0)])
    np.testing.assert_allclose(via_cols, np.asarray(conv(x)), rtol=1e-4, atol=1e-4)


def test_static_output_shape():
    inp = keras.Input((9, 8, 4))
    assert CaffeIm2col(3, 2, 1)(inp).shape == (None, 5, 4, 36)
    assert CaffeIm2col((3, 2), dilation_rate=(2, 1))(inp).shape == (None, 5, 7, 24)
    with pytest.raises(ValueError, match="too small"):
        CaffeIm2col(5, dilation_rate=3)(inp)


def test_save_load_and_config(roundtrip, config_roundtrip):
    inp = keras.Input((None, None, 2))
    layers = [CaffeIm2col(3, padding=1), CaffeIm2col((2, 3), (2, 1), (1, 0), (1, 2))]
    model = keras.Model(inp, [layer(inp) for layer in layers])
    roundtrip(model, np.random.RandomState(0).randn(2, 6, 7, 2).astype(np.float32))
    for layer in layers:
        config_roundtrip(layer)


@pytest.mark.parametrize("kwargs,quoted", [
    (dict(kernel_size=0), "kernel_size=0"),
    (dict(kernel_size=(3, 3, 3)), r"kernel_size=\(3, 3, 3\)"),
    (dict(kernel_size=3, strides=0), "strides=0"),
    (dict(kernel_size=3, padding=-1), "padding=-1"),
    (dict(kernel_size=3, dilation_rate=(1, 0)), r"dilation_rate=\(1, 0\)"),
])
def test_bad_arguments_are_quoted(kwargs, quoted):
    with pytest.raises(ValueError, match=quoted):
        CaffeIm2col(**kwargs)


def _graph_ops(kernel) -> int:
    import tensorflow as tf

    layer = CaffeIm2col(kernel, padding=kernel // 2)
    traced = tf.function(layer).get_concrete_function(tf.TensorSpec((1, 9, 9, 2), tf.float32))
    return len(traced.graph.get_operations())


def test_graph_grows_with_the_kernels_side_not_its_area():
    """A kernel's size is bounded only by the blobs it makes (a 1x1 map padded to a 301x301
    kernel gives a 90,601-value top): one tap per kernel row and column, not per value, or
    building such a layer takes minutes."""
    small, large = _graph_ops(8), _graph_ops(32)
    assert large < 4.5 * small   # 4x the side: about 4x the ops (16x by kernel area)
    assert large - small < 60 * (32 - 8)
