"""Caffemodels written by the forks read: layer parameters encoded byte by byte with each
fork's own field numbers (written here from the forks' caffe.proto, not from ours)."""

from __future__ import annotations

import struct

import numpy as np
from google.protobuf import text_format

from keras_caffe.proto import binary, caffe_pb2


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, value) -> bytes:
    if isinstance(value, bytes):                          # length-delimited
        return _varint(number << 3 | 2) + _varint(len(value)) + value
    if isinstance(value, float):                          # 32-bit float
        return _varint(number << 3 | 5) + struct.pack("<f", value)
    return _varint(number << 3) + _varint(int(value))     # varint (bool, enum, int)


def _blob(values) -> bytes:
    shape = b"".join(_field(1, d) for d in (1, len(values), 1, 1))   # BlobShape.dim
    packed = struct.pack(f"<{len(values)}f", *values)
    return _field(7, shape) + _field(5, packed)                      # shape, packed data


def _layer(name, kind, *params) -> bytes:
    return _field(1, name.encode()) + _field(2, kind.encode()) + b"".join(params)


def test_fork_layer_parameters_read_with_their_meaning(tmp_path):
    psp_bn = _field(152, _field(3, 0.95) + _field(5, True) + _field(4, 1e-5))  # PSPNet
    segnet_bn = _field(45, _field(3, 1))                 # SegNet: bn_param 45 { bn_mode: INFERENCE }
    dropout = _field(108, _field(1, 0.5) + _field(2, False))   # Fast R-CNN: scale_train false
    psroi = _field(10001, _field(1, 0.0625) + _field(2, 21) + _field(3, 7))   # R-FCN
    relu6 = _field(100000, _field(1, 0.25))             # the ReLU6 ports
    net = b"".join(_field(100, layer) for layer in (
        _layer("bn", "BN", psp_bn, *(_field(7, _blob([1.0, 2.0])) for _ in range(4))),
        _layer("seg", "BN", segnet_bn, _field(7, _blob([3.0])), _field(7, _blob([4.0]))),
        _layer("drop", "Dropout", dropout),
        _layer("ps", "PSROIPooling", psroi),
        _layer("r6", "ReLU6", relu6)))
    path = tmp_path / "forks.caffemodel"
    path.write_bytes(net)

    parsed = binary.read_caffemodel(path)
    bn, seg, drop, ps, r6 = parsed.layer
    assert bn.bn_param.momentum == np.float32(0.95) and bn.bn_param.frozen
    assert bn.bn_param.eps == np.float32(1e-5)
    assert not seg.HasField("bn_param")                  # SegNet's 45 stays an unknown field
    assert drop.dropout_param.scale_train is False
    assert (ps.psroi_pooling_param.spatial_scale, ps.psroi_pooling_param.output_dim,
            ps.psroi_pooling_param.group_size) == (0.0625, 21, 7)
    assert r6.relu6_param.negative_slope == 0.25
    blobs = {entry.name: [np.array(b) for b in entry.blobs] for entry in binary.read_weights(path)}
    assert [b.shape for b in blobs["bn"]] == [(1, 2, 1, 1)] * 4
    assert [b.ravel().tolist() for b in blobs["seg"]] == [[3.0], [4.0]]


def test_text_prototxts_of_both_bn_forks_parse():
    net = caffe_pb2.NetParameter()
    text_format.Parse('layer { name: "a" type: "BN" bn_param { bn_mode: INFERENCE '
                      'scale_filler { type: "constant" value: 1 } shift_filler { value: 0.001 } } }'
                      'layer { name: "b" type: "BN" bn_param { slope_filler { value: 1 } '
                      'bias_filler { value: 0 } frozen: true momentum: 0.95 } }'
                      'layer { name: "c" type: "Dropout" dropout_param { sample_weights_test: true } }',
                      net)
    a, b, c = net.layer
    assert a.bn_param.bn_mode == caffe_pb2.BNParameter.INFERENCE
    assert a.bn_param.shift_filler.value == np.float32(0.001)
    assert b.bn_param.frozen and b.bn_param.momentum == np.float32(0.95)
    assert c.dropout_param.sample_weights_test
