"""Flatten, Reshape, Crop, Tile, Silence and HDF5Output converters: layers that move values.

Each on Caffe's row-major NCHW order (the model holds 4-D blobs as NHWC, so a flatten or
reshape that ignored the layout would scramble values): Flatten's axis / end_axis,
Reshape's 0 / -1 dims, axis and num_axes, Crop's axis and offsets (one, one per axis, none),
Tile's axis.  Silence consumes blobs (they stop being model outputs); HDF5Output writes
Caffe's ``data`` and ``label`` datasets as legacy 4-D float32 blobs.
"""

import h5py
import numpy as np
import pytest

import keras_caffe

from .nets import assert_close, build, keras_class, layer, net, randn, run

SHAPE = (2, 3, 4, 5)

# id: (bottom shape, flatten_param body, numpy result shape)
FLATTEN = {
    "default_chw": (SHAPE, "", (2, 60)),
    "spatial_only": (SHAPE, "axis: 2 end_axis: 3", (2, 3, 20)),
    "channels_and_height": (SHAPE, "axis: 1 end_axis: 2", (2, 12, 5)),
    "negative_end_axis_3d": ((2, 3, 4), "axis: 0 end_axis: -2", (6, 4)),
}


@pytest.mark.parametrize("variant", FLATTEN)
def test_flatten_keeps_caffe_row_major_order(variant):
    shape, body, result = FLATTEN[variant]
    inputs = {"data": randn(*shape)}
    cnet, out = run(net(inputs, layer("flat", "Flatten", "data", "flat",
                                      f"flatten_param {{ {body} }}")), inputs)
    assert keras_class(cnet, "flat") == "CaffeFlatten"
    assert_close(out["flat"], inputs["data"].reshape(result))


# id: (bottom shape, reshape_param body, numpy result shape)
RESHAPE = {
    "copy_and_infer": (SHAPE, "shape { dim: 0 dim: -1 dim: 2 }", (2, 30, 2)),
    "axis_num_axes": (SHAPE, "shape { dim: 12 } axis: 1 num_axes: 2", (2, 12, 5)),
    "insert_axis": (SHAPE, "shape { dim: 1 } axis: 2 num_axes: 0", (2, 3, 1, 4, 5)),
    # Caffe's negative axis counts from one past the end: -3 starts at axis 2 of 4.
    "negative_axis": (SHAPE, "shape { dim: -1 dim: 2 } axis: -3", (2, 3, 10, 2)),
    "negative_axis_appends": (SHAPE, "shape { dim: 1 dim: 1 } axis: -1", (2, 3, 4, 5, 1, 1)),
    "2d_to_4d": ((2, 12), "shape { dim: 0 dim: 3 dim: 2 dim: -1 }", (2, 3, 2, 2)),
}


@pytest.mark.parametrize("variant", RESHAPE)
def test_reshape_follows_caffe_dims(variant):
    shape, body, result = RESHAPE[variant]
    inputs = {"data": randn(*shape)}
    cnet, out = run(net(inputs, layer("re", "Reshape", "data", "re",
                                      f"reshape_param {{ {body} }}")), inputs)
    assert keras_class(cnet, "re") == "CaffeReshape"
    assert_close(out["re"], inputs["data"].reshape(result))


# id: (big shape, small shape, crop_param body, per-axis start indices)
CROP = {
    "default_axis_one_offset": ((2, 3, 7, 6), (1, 1, 4, 3), "offset: 2", (0, 0, 2, 2)),
    "per_axis_offsets": ((2, 3, 7, 6), (2, 3, 4, 3), "axis: 2 offset: 1 offset: 3",
                         (0, 0, 1, 3)),
    "channels_too": ((2, 5, 6, 6), (2, 2, 3, 4), "axis: 1 offset: 2 offset: 1 offset: 0",
                     (0, 2, 1, 0)),
    "no_offset": ((2, 3, 7, 6), (2, 3, 5, 2), "axis: -2", (0, 0, 0, 0)),
    "batch_axis_3d": ((4, 3, 5), (2, 2, 2), "axis: 0 offset: 1", (1, 1, 1)),
}


@pytest.mark.parametrize("variant", CROP)
def test_crop_takes_the_window_at_caffe_offsets(variant):
    big, small, body, start = CROP[variant]
    inputs = {"data": randn(*big), "like": randn(*small, seed=1)}
    cnet, out = run(net(inputs, layer("crop", "Crop", ["data", "like"], "crop",
                                      f"crop_param {{ {body} }}")), inputs)
    assert keras_class(cnet, "crop") == "CaffeCrop"
    body_axis = int(body.split("axis: ")[1].split()[0]) % len(big) if "axis" in body else 2
    window = tuple(slice(s, s + (n if a >= body_axis else b))
                   for a, (s, n, b) in enumerate(zip(start, small, big)))
    assert_close(out["crop"], inputs["data"][window])


@pytest.mark.parametrize("small, body, match", [
    ((2, 3, 4, 4), "offset: 3", r"offset 3 \+ size 4 exceeds"),
    ((2, 3, 4, 4), "offset: 1 offset: 1 offset: 1", "3 offsets for 2 cropped axes"),
    ((2, 3, 4), "", "same rank"),
])
def test_bad_crop_is_a_net_error(small, body, match):
    inputs = {"data": randn(2, 3, 6, 6), "like": randn(*small, seed=1)}
    text = net(inputs, layer("crop", "Crop", ["data", "like"], "crop",
                             f"crop_param {{ {body} }}"))
    with pytest.raises(keras_caffe.NetError, match=match):
        build(text, inputs)


@pytest.mark.parametrize("shape, axis, tiles", [(SHAPE, 1, 3), (SHAPE, 3, 2), (SHAPE, 0, 2),
                                                ((2, 3, 4), -1, 2), ((3, 2), 1, 4)])
def test_tile_repeats_the_whole_block_on_its_axis(shape, axis, tiles):
    inputs = {"data": randn(*shape)}
    cnet, out = run(net(inputs, layer("tile", "Tile", "data", "tile",
                                      f"tile_param {{ axis: {axis} tiles: {tiles} }}")), inputs)
    assert keras_class(cnet, "tile") == "CaffeTile"
    reps = [1] * len(shape)
    reps[axis] = tiles
    assert_close(out["tile"], np.tile(inputs["data"], reps))


def test_tile_needs_a_positive_count():
    inputs = {"data": randn(*SHAPE)}
    text = net(inputs, layer("tile", "Tile", "data", "tile", "tile_param { tiles: 0 }"))
    with pytest.raises(keras_caffe.NetError, match="tiles must be >= 1"):
        build(text, inputs)


def test_silence_consumes_blobs_so_they_are_no_model_outputs():
    inputs = {"data": randn(*SHAPE)}
    cnet, out = run(net(inputs, layer("relu", "ReLU", "data", "a"),
                        layer("neg", "Power", "data", "b", "power_param { scale: -1 }"),
                        layer("silence", "Silence", ["a"], [])), inputs)
    assert len(cnet.model.outputs) == 1  # only "b" is left unconsumed, as in Caffe
    assert_close(out["b"], -inputs["data"])
    assert_close(out["a"], np.maximum(inputs["data"], 0))  # the blob itself still exists


def test_hdf5_output_writes_caffe_datasets(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # a net's files go under the working directory
    path = tmp_path / "out.h5"
    inputs = {"data": randn(2, 3, 2, 4), "label": randn(2, seed=1)}
    text = net(inputs, layer("relu", "ReLU", "data", "relu"),
               layer("save", "HDF5Output", ["relu", "label"], [],
                     'hdf5_output_param { file_name: "out.h5" }'))
    cnet, out = run(text, inputs)
    with h5py.File(path, "r") as f:
        assert sorted(f) == ["data", "label"]
        data, label = np.array(f["data"]), np.array(f["label"])
    assert data.dtype == label.dtype == np.float32
    assert_close(data, np.maximum(inputs["data"], 0))
    assert_close(label, inputs["label"].reshape(2, 1, 1, 1))  # Caffe's legacy N x C x H x W


def test_hdf5_output_needs_a_file_name():
    inputs = {"data": randn(2, 3), "label": randn(2, seed=1)}
    text = net(inputs, layer("save", "HDF5Output", ["data", "label"], [],
                             'hdf5_output_param { file_name: "" }'))
    with pytest.raises(keras_caffe.NetError, match="file_name is empty"):
        build(text, inputs)
