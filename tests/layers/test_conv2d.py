import keras
import numpy as np
import pytest

from keras_caffe.layers import CaffeConv2D


def _x(seed, shape):
    return np.asarray(np.random.RandomState(seed).randn(*shape), np.float32)


def ref_conv(x, kernel, bias, strides, pad, dilation, groups):
    """Caffe's convolution (zero pad, dilated, grouped) with loops, NHWC / HWIO."""
    n, h, w, c = x.shape
    kh, kw, cg, f = kernel.shape
    fg = f // groups
    xp = np.pad(x.astype(np.float64), ((0, 0), (pad[0],) * 2, (pad[1],) * 2, (0, 0)))
    eh, ew = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    oh = (h + 2 * pad[0] - eh) // strides[0] + 1
    ow = (w + 2 * pad[1] - ew) // strides[1] + 1
    out = np.zeros((n, oh, ow, f))
    for i in range(oh):
        for j in range(ow):
            hs, ws = i * strides[0], j * strides[1]
            patch = xp[:, hs:hs + eh:dilation[0], ws:ws + ew:dilation[1], :]
            for g in range(groups):
                out[:, i, j, g * fg:(g + 1) * fg] = np.einsum(
                    "nabc,abcf->nf", patch[..., g * cg:(g + 1) * cg],
                    kernel[..., g * fg:(g + 1) * fg])
    return out + (0.0 if bias is None else bias)


CONFIGS = [
    # filters, kernel, strides, pad, dilation, groups, use_bias
    (4, (3, 3), (1, 1), (1, 1), (1, 1), 1, True),
    (5, (3, 5), (2, 1), (1, 2), (1, 1), 1, True),
    (6, (3, 3), (1, 1), (2, 2), (2, 2), 2, False),
    (4, (3, 3), (2, 2), (1, 1), (1, 1), 2, True),
    (8, (3, 3), (2, 2), (1, 1), (1, 1), 4, True),    # depthwise, multiplier 2
    (4, (3, 2), (2, 3), (2, 1), (2, 3), 1, True),    # dilation with stride > 1
    (6, (2, 3), (3, 2), (0, 1), (3, 2), 2, True),    # ... grouped as well
]


@pytest.mark.parametrize("filters,k,s,p,d,g,bias", CONFIGS)
def test_matches_reference_with_dynamic_shapes(filters, k, s, p, d, g, bias):
    layer = CaffeConv2D(filters, k, strides=s, padding=p, dilation_rate=d, groups=g,
                        use_bias=bias, bias_initializer="random_normal")
    inp = keras.Input((None, None, 4))
    model = keras.Model(inp, layer(inp))
    assert tuple(layer.kernel.shape) == k + (4 // g, filters)
    kernel = np.asarray(layer.kernel)
    b = np.asarray(layer.bias) if bias else None
    for seed, (h, w) in enumerate([(9, 10), (12, 7)]):
        x = _x(seed, (2, h, w, 4))
        y = np.asarray(model(x))
        expected = ref_conv(x, kernel, b, s, p, d, g)
        assert y.shape == expected.shape
        assert layer.compute_output_shape((2, h, w, 4)) == expected.shape
        np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_is_a_keras_conv2d_with_the_same_weights():
    layer = CaffeConv2D(3, 2, use_bias=True)
    layer.build((None, 5, 5, 2))
    assert isinstance(layer, keras.layers.Conv2D)
    assert [(w.name, tuple(w.shape)) for w in layer.weights] == [
        ("kernel", (2, 2, 2, 3)), ("bias", (3,))]


def test_save_load_and_config(roundtrip, config_roundtrip):
    inp = keras.Input((None, None, 4))
    a = CaffeConv2D(6, 3, strides=2, padding=1, dilation_rate=2, groups=2,
                    bias_initializer="random_normal")
    b = CaffeConv2D(4, (3, 5), padding=(1, 2), use_bias=False, activation="relu")
    model = keras.Model(inp, [a(inp), b(inp)])
    roundtrip(model, _x(0, (2, 9, 9, 4)))
    for layer in (a, b):
        config_roundtrip(layer)
    assert a.get_config()["padding"] == [1, 1]


@pytest.mark.parametrize("kwargs,quoted", [
    (dict(padding=-1), "padding=-1"),
    (dict(padding="same"), "padding='same'"),
    (dict(dilation_rate=(1, 0)), r"dilation_rate=\(1, 0\)"),
    (dict(strides=0), "strides=0"),
    (dict(data_format="channels_first"), "data_format='channels_first'"),
])
def test_bad_arguments_are_quoted(kwargs, quoted):
    with pytest.raises(ValueError, match=quoted):
        CaffeConv2D(4, 3, **kwargs)


# Caffe parity (needs the weights): conformance/layers/<case>/net.prototxt by hand.
CONV_CASES = {
    "conv_basic": {"conv": dict(filters=4, kernel_size=3, padding=1)},
    "conv_depthwise": {"dw": dict(filters=4, kernel_size=3, padding=1, groups=4),
                       "dw_mult2": dict(filters=8, kernel_size=3, padding=1, strides=2,
                                        groups=4)},
    "conv_group_dilation": {
        "conv_gd": dict(filters=6, kernel_size=3, padding=2, dilation_rate=2, groups=2,
                        use_bias=False),
        "conv_g_s2": dict(filters=4, kernel_size=3, padding=1, strides=2, groups=2)},
    "conv_rect": {"conv_hw": dict(filters=5, kernel_size=(3, 5), padding=(1, 2),
                                  strides=(2, 1)),
                  "conv_rep": dict(filters=2, kernel_size=(2, 3), strides=(1, 2),
                                   padding=(0, 1))},
}


@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_caffe_conformance(case, caffe_case, caffe_blobs, layout):
    inputs, outputs = caffe_case(case)
    blobs = caffe_blobs(case)
    x = layout.to_nhwc(inputs["data"])
    for top, kwargs in CONV_CASES[case].items():
        layer = CaffeConv2D(**kwargs)
        layer.build(x.shape)
        weights = [np.transpose(blobs[top][0], (2, 3, 1, 0))] + blobs[top][1:]
        layer.set_weights(weights)
        y = layout.to_nchw(layer(x))
        np.testing.assert_allclose(y, outputs[top], rtol=1e-4, atol=1e-5, err_msg=top)


def test_grouped_runs_on_tensorflows_kernels_with_kerass_numbers():
    """Grouped: no XLA cluster in the graph where TensorFlow's kernels take groups (oneDNN,
    cuDNN), and the same values and gradients as Keras's own (XLA-compiled) grouped conv."""
    import tensorflow as tf

    from keras_caffe.layers.conv2d import native_grouped_conv

    x = np.random.default_rng(0).normal(size=(2, 7, 6, 4)).astype("float32")
    layer = CaffeConv2D(6, 3, padding=1, strides=2, groups=2)
    layer.build(x.shape)
    layer.kernel.assign(np.random.default_rng(1).normal(size=(3, 3, 2, 6)).astype("float32"))

    def grads(conv):
        with tf.GradientTape() as tape:
            xt = tf.constant(x)
            tape.watch(xt)
            y = conv(xt)
            loss = tf.reduce_sum(y * y)
        return [y] + tape.gradient(loss, [xt, layer.kernel])

    keras_way = lambda t: keras.ops.conv(keras.ops.pad(t, ((0, 0), (1, 1), (1, 1), (0, 0))),  # noqa: E731
                                         layer.kernel, strides=2) + layer.bias
    for got, want in zip(grads(layer), grads(keras_way)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-5, atol=1e-5)
    graph = tf.function(layer).get_concrete_function(tf.TensorSpec(x.shape)).graph
    calls = [op.type for op in graph.get_operations() if "PartitionedCall" in op.type]
    assert native_grouped_conv() == (calls == [])
