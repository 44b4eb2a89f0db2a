"""Binary caffemodel / binaryproto I/O: the streaming reader agrees with protobuf on every
encoding Caffe and its forks write, errors give byte offsets, writes are atomic and
Caffe-identical, and large files are read without copying."""

from __future__ import annotations

import struct
import tracemalloc

import numpy as np
import pytest

from keras_caffe.errors import CaffemodelError, NetError
from keras_caffe.proto import binary, caffe_pb2
from tests.shared_paths import CONFORMANCE, require


# --------------------------------------------------------------------------- helpers

def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(out + bytes([value]))


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _layer_file(tmp_path, blob_bytes: bytes, name="l", kind="InnerProduct"):
    """A NetParameter with one layer holding one hand-encoded BlobProto."""
    layer = _field(1, name.encode()) + _field(2, kind.encode()) + _field(7, blob_bytes)
    path = tmp_path / "hand.caffemodel"
    path.write_bytes(_field(100, layer))
    return path


def _shape(*dims) -> bytes:
    return _field(7, _field(1, b"".join(_varint(d) for d in dims)))


def _caffe_shape(blob: caffe_pb2.BlobProto) -> tuple:
    if blob.HasField("shape"):
        return tuple(blob.shape.dim)
    if any(blob.HasField(k) for k in ("num", "channels", "height", "width")):
        return (blob.num, blob.channels, blob.height, blob.width)
    return ()


def _same_up_to_legacy_padding(a: np.ndarray, b: np.ndarray) -> bool:
    """Caffe accepts a legacy 4-D blob for a blob of lower rank padded with leading 1s."""
    shape_a, shape_b = a.shape, b.shape
    if len(shape_a) < len(shape_b):
        shape_a, shape_b = shape_b, shape_a
    padded = (1,) * (len(shape_a) - len(shape_b)) + shape_b
    return padded == shape_a and np.array_equal(a.ravel(), b.ravel())


def _caffemodels():
    if not CONFORMANCE.is_dir():
        return [pytest.param(None, id="shared-data-missing",
                             marks=pytest.mark.skip(reason=f"{CONFORMANCE} not found"))]
    return [pytest.param(p, id=str(p.relative_to(CONFORMANCE)))
            for p in sorted(CONFORMANCE.rglob("*.caffemodel"))]


# --------------------------------------------------------------------------- round trips

def test_write_then_read_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((4, 3, 2, 2)).astype(np.float32)
    layers = [
        binary.LayerBlobs("conv", "Convolution", [weight, np.arange(4, dtype=np.float32)]),
        binary.LayerBlobs("relu", "ReLU", []),
        ("fc", "InnerProduct", [rng.standard_normal((5, 6)),               # float64 input
                                weight.transpose(3, 2, 1, 0)]),            # non-contiguous
        ("scalar", "Scale", [np.float32(2.5), np.zeros((0, 3), np.float32)]),
    ]
    path = tmp_path / "m.caffemodel"
    binary.write_caffemodel(path, layers, name="net")

    read = binary.read_weights(path)
    assert [(l.name, l.type) for l in read] == [("conv", "Convolution"), ("relu", "ReLU"),
                                              ("fc", "InnerProduct"), ("scalar", "Scale")]
    expected = [[weight, np.arange(4)], [], [layers[2][2][0], weight.transpose(3, 2, 1, 0)],
                [np.float32(2.5), np.zeros((0, 3))]]
    for got, want in zip(read, expected):
        assert len(got.blobs) == len(want)
        for g, w in zip(got.blobs, want):
            assert g.dtype == np.float32 and g.shape == np.shape(w)
            np.testing.assert_array_equal(g, np.asarray(w, np.float32))

    net = binary.read_caffemodel(path)
    assert net.name == "net" and [l.name for l in net.layer] == ["conv", "relu", "fc", "scalar"]
    assert tuple(net.layer[0].blobs[0].shape.dim) == (4, 3, 2, 2)
    assert not net.layer[3].blobs[0].HasField("shape")        # Caffe writes scalars this way


def test_write_accepts_a_mapping(tmp_path):
    path = tmp_path / "m.caffemodel"
    binary.write_caffemodel(path, {"a": [np.ones(3)], "b": []})
    assert [(l.name, l.type, len(l.blobs)) for l in binary.read_weights(path)] == \
        [("a", "", 1), ("b", "", 0)]


@pytest.mark.parametrize("path", _caffemodels())
def test_conformance_caffemodel_matches_protobuf(path):
    streamed = binary.read_weights(path)
    net = binary.read_caffemodel(path)
    layers = list(net.layer) or list(net.layers)
    assert [l.name for l in streamed] == [l.name for l in layers]
    for got, layer in zip(streamed, layers):
        assert len(got.blobs) == len(layer.blobs)
        for array, blob in zip(got.blobs, layer.blobs):
            assert array.shape == _caffe_shape(blob)
            np.testing.assert_array_equal(array.ravel(), np.asarray(blob.data, np.float32))


@pytest.mark.parametrize("path", [p for p in _caffemodels()
                                  if p.values[0] is None or "v1" not in p.values[0].name])
def test_rewriting_a_caffe_file_is_byte_identical(path, tmp_path):
    out = tmp_path / "copy.caffemodel"
    binary.write_caffemodel(out, binary.read_weights(path), net_param=binary.read_caffemodel(path))
    assert out.read_bytes() == path.read_bytes()


def test_v1_caffemodel_reads_like_its_v2_twin():
    folder = require(CONFORMANCE / "upgrade" / "v1_deploy_convnet")
    v1 = binary.read_weights(folder / "weights_v1.caffemodel")
    v2 = {l.name: l for l in binary.read_weights(folder / "weights.caffemodel")}
    assert [l.type for l in v1] == ["Convolution", "ReLU", "LRN", "Pooling", "Convolution",
                                    "ReLU", "InnerProduct", "ReLU", "Dropout", "InnerProduct",
                                    "Softmax"]
    assert sum(len(l.blobs) for l in v1) == 8
    for layer in v1:
        twin = v2[layer.name]
        assert twin.type == layer.type and len(twin.blobs) == len(layer.blobs)
        for a, b in zip(layer.blobs, twin.blobs):
            assert a.ndim == 4                           # legacy num, channels, height, width
            assert _same_up_to_legacy_padding(a, b), (layer.name, a.shape, b.shape)


def test_v1_enum_types_all_map_to_caffe_type_names():
    enum = caffe_pb2.V1LayerParameter.LayerType
    assert set(binary.V1_LAYER_TYPES) == set(enum.values())
    assert binary.V1_LAYER_TYPES[enum.Value("SOFTMAX_LOSS")] == "SoftmaxWithLoss"
    assert binary.V1_LAYER_TYPES[enum.Value("INNER_PRODUCT")] == "InnerProduct"


def test_v0_layers_nested_in_v1(tmp_path):
    v0 = caffe_pb2.V0LayerParameter(name="conv1", type="conv",
                                    blobs=[caffe_pb2.BlobProto(num=2, channels=1, height=1,
                                                               width=2, data=[1, 2, 3, 4])])
    net = caffe_pb2.NetParameter(layers=[caffe_pb2.V1LayerParameter(layer=v0, bottom=["data"])])
    path = tmp_path / "v0.caffemodel"
    path.write_bytes(net.SerializeToString())
    (layer,) = binary.read_weights(path)
    assert (layer.name, layer.type) == ("conv1", "Convolution")
    np.testing.assert_array_equal(layer.blobs[0], np.arange(1, 5).reshape(2, 1, 1, 2))


# --------------------------------------------------------------------------- encodings

def test_legacy_4d_fields(tmp_path):
    blob = caffe_pb2.BlobProto(num=2, channels=3, height=1, width=2, data=range(12))
    path = tmp_path / "legacy.caffemodel"
    path.write_bytes(caffe_pb2.NetParameter(layer=[caffe_pb2.LayerParameter(
        name="ip", type="InnerProduct", blobs=[blob])]).SerializeToString())
    (layer,) = binary.read_weights(path)
    np.testing.assert_array_equal(layer.blobs[0], np.arange(12).reshape(2, 3, 1, 2))


def test_shape_wins_over_legacy_fields(tmp_path):
    blob = caffe_pb2.BlobProto(num=1, channels=1, height=2, width=3, data=range(6),
                               shape=caffe_pb2.BlobShape(dim=[2, 3]))
    path = tmp_path / "both.caffemodel"
    path.write_bytes(caffe_pb2.NetParameter(layer=[caffe_pb2.LayerParameter(
        name="ip", blobs=[blob])]).SerializeToString())
    assert binary.read_weights(path)[0].blobs[0].shape == (2, 3)


def test_packed_and_unpacked_float_data(tmp_path):
    values = np.array([1.5, -2.0, 3.25, 0.0, 7.0, -1e-3], np.float32)
    packed = _field(5, values[:2].tobytes())
    unpacked = b"".join(b"\x2d" + struct.pack("<f", v) for v in values[2:5])
    packed_again = _field(5, values[5:].tobytes())
    path = _layer_file(tmp_path, _shape(2, 3) + packed + unpacked + packed_again)
    got = binary.read_weights(path)[0].blobs[0]
    np.testing.assert_array_equal(got, values.reshape(2, 3))
    via_protobuf = binary.read_caffemodel(path).layer[0].blobs[0]
    np.testing.assert_array_equal(np.asarray(via_protobuf.data, np.float32), values)


def test_unpacked_shape_dims_and_large_unpacked_run(tmp_path):
    values = np.arange(3000, dtype=np.float32)
    shape = _field(7, b"".join(b"\x08" + _varint(d) for d in (30, 100)))   # unpacked dims
    data = b"".join(b"\x2d" + v.tobytes() for v in values)
    got = binary.read_weights(_layer_file(tmp_path, shape + data))[0].blobs[0]
    np.testing.assert_array_equal(got, values.reshape(30, 100))


def test_double_data_becomes_float32(tmp_path):
    values = np.array([0.1, 1e30, -2.5], np.float64)
    blob = caffe_pb2.BlobProto(shape=caffe_pb2.BlobShape(dim=[3]), double_data=values)
    path = _layer_file(tmp_path, blob.SerializeToString())
    got = binary.read_weights(path)[0].blobs[0]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, values.astype(np.float32))
    unpacked = _shape(3) + b"".join(b"\x41" + v.tobytes() for v in values)
    got = binary.read_weights(_layer_file(tmp_path, unpacked))[0].blobs[0]
    np.testing.assert_array_equal(got, values.astype(np.float32))


@pytest.mark.parametrize("with_type", [True, False])
def test_half_precision_raw_data(tmp_path, with_type):
    values = np.array([[0.5, -1.0], [65504.0, 1e-4]], np.float16)
    blob = caffe_pb2.BlobProto(shape=caffe_pb2.BlobShape(dim=[2, 2]), raw_data=values.tobytes())
    if with_type:
        blob.raw_data_type = caffe_pb2.FLOAT16
    got = binary.read_weights(_layer_file(tmp_path, blob.SerializeToString()))[0].blobs[0]
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, values.astype(np.float32))


def test_blobs_are_zero_copy_views_of_the_file(tmp_path):
    path = tmp_path / "m.caffemodel"
    binary.write_caffemodel(path, [("fc", "InnerProduct", [np.ones((64, 64), np.float32)])])
    blob = binary.read_weights(path)[0].blobs[0]
    assert not blob.flags.owndata and not blob.flags.writeable


def test_read_weights_does_not_copy_and_write_streams(tmp_path):
    big = np.random.default_rng(1).standard_normal((2048, 2048))   # float64, 32 MiB
    path = tmp_path / "big.caffemodel"

    def extra_memory(fn):
        """Peak memory allocated by fn() beyond what existed before (numpy is traced)."""
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            result = fn()
            return result, tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()

    _, write_extra = extra_memory(
        lambda: binary.write_caffemodel(path, [("fc", "InnerProduct", [big, big[:, 0]])]))
    layers, read_extra = extra_memory(lambda: binary.read_weights(path))
    assert write_extra < big.nbytes / 8               # converted in chunks, not a 16 MiB copy
    assert read_extra < 1 << 20                        # views of the mapped file
    np.testing.assert_array_equal(layers[0].blobs[0], big.astype(np.float32))
    _, copy_extra = extra_memory(lambda: [b.copy() for b in layers[0].blobs])
    assert copy_extra > big.nbytes / 2                 # the measurement does see numpy data


# --------------------------------------------------------------------------- binaryproto

def test_mean_file_with_legacy_dims():
    path = require(CONFORMANCE / "data" / "lmdb_encoded_jpg" / "mean.binaryproto")
    proto = caffe_pb2.BlobProto.FromString(path.read_bytes())
    assert not proto.HasField("shape")
    mean = binary.read_blob(path)
    assert mean.shape == (proto.num, proto.channels, proto.height, proto.width) == (1, 3, 32, 40)
    np.testing.assert_array_equal(mean.ravel(), np.asarray(proto.data, np.float32))


def test_write_blob_round_trip(tmp_path):
    array = np.random.default_rng(2).standard_normal((1, 3, 4, 5)).astype(np.float32)
    path = tmp_path / "mean.binaryproto"
    binary.write_blob(path, array)
    np.testing.assert_array_equal(binary.read_blob(path), array)
    proto = caffe_pb2.BlobProto.FromString(path.read_bytes())
    assert (proto.num, proto.channels, proto.height, proto.width) == (1, 3, 4, 5)
    assert tuple(proto.shape.dim) == (1, 3, 4, 5)
    binary.write_blob(path, np.arange(6.0).reshape(2, 3))
    assert binary.read_blob(path).shape == (2, 3)


# --------------------------------------------------------------------------- errors

def test_truncated_file_names_file_and_offset(tmp_path):
    good = tmp_path / "good.caffemodel"
    binary.write_caffemodel(good, [("conv", "Convolution", [np.ones((8, 3, 3, 3), np.float32)])])
    data = good.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 5, 1):
        bad = tmp_path / f"cut{cut}.caffemodel"
        bad.write_bytes(data[:cut])
        with pytest.raises(CaffemodelError) as info:
            binary.read_weights(bad)
        message = str(info.value)
        assert message.startswith(str(bad)) and "byte " in message and "expected" in message
        assert info.value.path == str(bad)
    with pytest.raises(CaffemodelError, match="byte"):
        binary.read_caffemodel(tmp_path / "cut5.caffemodel")


def test_corrupt_and_wrong_files(tmp_path):
    corrupt = tmp_path / "corrupt.caffemodel"
    corrupt.write_bytes(b"\x0f\x00\x00")                # wire type 7
    with pytest.raises(CaffemodelError, match="corrupt at byte 0: unsupported wire type 7"):
        binary.read_weights(corrupt)
    prototxt = tmp_path / "deploy.caffemodel"
    prototxt.write_text('name: "net"\nlayer { name: "a" type: "ReLU" }\n')
    with pytest.raises(CaffemodelError, match="prototxt"):
        binary.read_weights(prototxt)
    empty = tmp_path / "empty.caffemodel"
    empty.write_bytes(b"")
    with pytest.raises(CaffemodelError, match="empty"):
        binary.read_weights(empty)


def test_data_count_must_match_shape(tmp_path):
    path = _layer_file(tmp_path, _shape(2, 3) + _field(5, np.ones(5, np.float32).tobytes()),
                       name="fc6")
    with pytest.raises(CaffemodelError, match=r"blob 0 of layer 'fc6'.*5 values"):
        binary.read_weights(path)


# --------------------------------------------------------------------------- atomic writes

def test_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "model.caffemodel"
    binary.write_caffemodel(path, [("a", "InnerProduct", [np.ones(4)])])
    before = path.read_bytes()

    def layers():
        yield binary.LayerBlobs("a", "InnerProduct", [np.zeros(4)])
        raise RuntimeError("converter crashed")

    def blobs():
        yield np.zeros(3)
        raise RuntimeError("blob crashed")

    with pytest.raises(RuntimeError, match="converter crashed"):
        binary.write_caffemodel(path, layers())
    with pytest.raises(RuntimeError, match="blob crashed"):
        binary.write_caffemodel(path, [("b", "Scale", blobs())])
    with pytest.raises(TypeError):
        binary.write_caffemodel(path, [("c", "Scale", [np.array(["x"])])])
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.caffemodel"]


def test_net_param_definitions_are_kept_and_filled_by_name(tmp_path):
    net = caffe_pb2.NetParameter(name="n", layer=[
        caffe_pb2.LayerParameter(name="data", type="Input", top=["data"]),
        caffe_pb2.LayerParameter(name="ip", type="InnerProduct", bottom=["data"], top=["ip"],
                                 inner_product_param=caffe_pb2.InnerProductParameter(
                                     num_output=2))])
    path = tmp_path / "m.caffemodel"
    binary.write_caffemodel(path, [("ip", "InnerProduct", [np.ones((2, 3)), np.zeros(2)])],
                            net_param=net)
    parsed = binary.read_caffemodel(path)
    assert parsed.name == "n" and parsed.layer[1].inner_product_param.num_output == 2
    assert list(parsed.layer[1].bottom) == ["data"] and len(parsed.layer[1].blobs) == 2
    with pytest.raises(NetError, match="'nope'"):
        binary.write_caffemodel(tmp_path / "x.caffemodel", [("nope", "", [np.ones(1)])],
                                net_param=net)
    assert not (tmp_path / "x.caffemodel").exists()
