import keras
import numpy as np
import pytest

from keras_caffe.layers import CaffeShuffleChannel


def ref_shuffle_channel(x_nchw, group):
    """ShuffleNet's Resize_cpu: the block of channel i * cols + j goes to j * group + i."""
    n, c = x_nchw.shape[:2]
    cols = c // group
    out = np.empty_like(x_nchw)
    for i in range(group):
        for j in range(cols):
            out[:, j * group + i] = x_nchw[:, i * cols + j]
    return out


@pytest.mark.parametrize("group", [1, 2, 3, 6])
def test_matches_shufflenet_loop_on_nhwc_with_dynamic_shapes(group, layout):
    inp = keras.Input((None, None, 6))
    model = keras.Model(inp, CaffeShuffleChannel(group, axis=3)(inp))
    for seed, (h, w) in enumerate([(2, 3), (4, 1)]):
        x = np.random.RandomState(seed).randn(2, 6, h, w).astype(np.float32)
        y = layout.to_nchw(model(layout.to_nhwc(x)))
        np.testing.assert_array_equal(y, ref_shuffle_channel(x, group))


def test_channel_axis_of_a_2d_blob():
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    np.testing.assert_array_equal(np.asarray(CaffeShuffleChannel(2, axis=1)(x)),
                                  ref_shuffle_channel(x, 2))
    np.testing.assert_array_equal(np.asarray(CaffeShuffleChannel(2, axis=1)(x))[0],
                                  [0, 3, 1, 4, 2, 5])


def test_save_load_and_config(roundtrip, config_roundtrip):
    inp = keras.Input((3, 4, 6))
    layer = CaffeShuffleChannel(3, axis=-1)
    roundtrip(keras.Model(inp, layer(inp)), np.random.RandomState(0).randn(2, 3, 4, 6))
    config_roundtrip(layer)


def test_errors():
    with pytest.raises(ValueError, match="group=0"):
        CaffeShuffleChannel(0)
    with pytest.raises(ValueError, match="divisible by group=4"):
        CaffeShuffleChannel(4)(keras.Input((2, 2, 6)))
    with pytest.raises(ValueError, match="must be"):
        CaffeShuffleChannel(2)(keras.Input((2, 2, None)))


def test_a_huge_channel_count_costs_no_python_memory():
    """The channel order is a tensor: no Python list of 16M ints (some 600 MB) to build."""
    import tracemalloc

    inp = keras.Input((2**24,))
    tracemalloc.start()
    try:
        out = CaffeShuffleChannel(2, axis=1)(inp)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == (None, 2**24)
    assert peak < 20 * 2**20
