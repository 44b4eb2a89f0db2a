"""``keras-caffe upgrade`` (``tools.upgrade``): a legacy caffemodel is rewritten through a small
skeleton of its layer definitions with every blob copied as it is (so a model over protobuf's
2 GB limit upgrades, and never sits in memory), giving exactly what the whole-message protobuf
path gives; text with non-UTF-8 bytes in its comments upgrades; bad input is one message."""

from __future__ import annotations

import numpy as np
import pytest

from keras_caffe import cli
from keras_caffe.errors import CaffemodelError
from keras_caffe.proto import binary, caffe_pb2
from keras_caffe.proto.upgrade import upgrade_net
from keras_caffe.tools import upgrade as upgrade_tool
from tests.sentinel import refused

V1 = caffe_pb2.V1LayerParameter


def _v1_net(floats: int = 54) -> caffe_pb2.NetParameter:
    """A V1 net with what a legacy caffemodel holds: input fields, legacy 4-D blobs, a blob
    with ``shape`` and ``double_data``, blobs_lr / weight_decay, rules, blobless layers."""
    rng = np.random.default_rng(0)
    net = caffe_pb2.NetParameter(name="legacy", input=["data"], input_dim=[1, 3, 4, 4])
    conv = net.layers.add(name="conv", type=V1.CONVOLUTION, bottom=["data"], top=["conv"],
                          blobs_lr=[1, 2], weight_decay=[1, 0])
    conv.convolution_param.num_output = floats // 27
    conv.convolution_param.kernel_size.append(3)
    conv.blobs.add(num=floats // 27, channels=3, height=3, width=3).data.extend(
        rng.standard_normal(floats // 27 * 27).astype(np.float32))
    conv.blobs.add(num=1, channels=1, height=1, width=floats // 27).data.extend(
        np.arange(floats // 27, dtype=np.float32) / 4)
    net.layers.add(name="relu", type=V1.RELU, bottom=["conv"], top=["conv"])
    ip = net.layers.add(name="ip", type=V1.INNER_PRODUCT, bottom=["conv"], top=["ip"])
    ip.inner_product_param.num_output = 3
    ip.include.add(phase=caffe_pb2.TEST)
    w = ip.blobs.add(shape=caffe_pb2.BlobShape(dim=[3, 8]))
    w.double_data.extend(rng.standard_normal(24))
    ip.blobs.add(shape=caffe_pb2.BlobShape(dim=[3]), data=[1, 2, 3])
    net.layers.add(name="prob", type=V1.SOFTMAX, bottom=["ip"], top=["prob"])
    return net


def _v0_net() -> caffe_pb2.NetParameter:
    """V0 layers nested in V1 ones, with a padding layer Caffe folds into the convolution."""
    v0 = caffe_pb2.V0LayerParameter
    conv = v0(name="conv", type="conv", num_output=2, kernelsize=3,
              blobs=[caffe_pb2.BlobProto(num=2, channels=1, height=3, width=3,
                                         data=np.arange(18, dtype=np.float32)),
                     caffe_pb2.BlobProto(num=1, channels=1, height=1, width=2, data=[5, 6])])
    return caffe_pb2.NetParameter(name="v0", input=["data"], input_dim=[1, 1, 6, 6], layers=[
        V1(layer=v0(name="pad", type="padding", pad=1), bottom=["data"], top=["padded"]),
        V1(layer=conv, bottom=["padded"], top=["conv"])])


def _upgrade(tmp_path, capsys, old="old.caffemodel", new="new.caffemodel") -> str:
    assert cli.main(["upgrade", str(tmp_path / old), "-o", str(tmp_path / new)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error" not in err
    return err.splitlines()[-1]


@pytest.mark.parametrize("make, summary", [
    (_v1_net, "caffemodel 'legacy': upgraded V1, input fields; 5 layers, 4 blobs"),
    (_v0_net, "caffemodel 'v0': upgraded V0, V1, input fields; 2 layers, 2 blobs"),
], ids=["v1", "v0_in_v1"])
def test_a_legacy_caffemodel_upgrades_as_the_protobuf_path_does(tmp_path, capsys, make,
                                                                 summary):
    (tmp_path / "old.caffemodel").write_bytes(make().SerializeToString())
    assert _upgrade(tmp_path, capsys).endswith(summary)
    want = upgrade_net(binary.read_caffemodel(tmp_path / "old.caffemodel"))
    assert not len(want.layers) and sum(len(layer.blobs) for layer in want.layer) > 0
    # Every field and every blob (values, legacy dims, double_data) as protobuf would write
    # the whole upgraded message, down to the byte.
    assert binary.read_caffemodel(tmp_path / "new.caffemodel") == want
    assert (tmp_path / "new.caffemodel").read_bytes() == want.SerializeToString()


def test_past_the_protobuf_limit_the_blobs_are_streamed(tmp_path, capsys, monkeypatch):
    """With the limit set below the file's size, protobuf is never given the whole model:
    only a skeleton of the layer definitions, under the limit; the result is the same."""
    old, new = tmp_path / "old.caffemodel", tmp_path / "new.caffemodel"
    old.write_bytes(_v1_net(floats=27 * 200).SerializeToString())
    want = upgrade_net(binary.read_caffemodel(old)).SerializeToString()
    limit = 4096
    assert old.stat().st_size > 4 * limit and len(want) > 4 * limit
    monkeypatch.setattr(binary, "_PROTOBUF_LIMIT", limit)
    skeletons = []

    def skeleton(path):
        net, blobs = binary.read_net_skeleton(path)
        skeletons.append((net.ByteSize(), blobs))
        return net, blobs

    monkeypatch.setattr(upgrade_tool, "read_net_skeleton", skeleton)
    _upgrade(tmp_path, capsys)
    ((size, blobs),) = skeletons
    assert size < limit and len(blobs) == 4 and all(type(b) is memoryview for b in blobs)
    assert new.read_bytes() == want
    assert [b.shape for b in binary.read_weights(new)[1].blobs] == [(200, 3, 3, 3),
                                                                    (1, 1, 1, 200)]
    for path in (old, new):     # what protobuf cannot parse is said plainly, with the way out
        with pytest.raises(CaffemodelError) as err:
            binary.read_caffemodel(path)
        assert str(err.value) == (f"{path}: the file is {path.stat().st_size} bytes, more than "
                                  "the 2 GB protobuf parses as one message; read_weights and "
                                  "read_net_skeleton read it")


def test_a_broken_caffemodel_is_one_message_and_nothing_is_written(tmp_path, monkeypatch,
                                                                    capsys):
    monkeypatch.chdir(tmp_path)
    data = _v1_net().SerializeToString()
    (tmp_path / "cut.caffemodel").write_bytes(data[:len(data) // 2])
    (tmp_path / "new.caffemodel").write_bytes(b"kept")
    message = refused(["upgrade", "cut.caffemodel", "-o", "new.caffemodel"], tmp_path, capsys)
    assert message.startswith("cut.caffemodel: corrupt or truncated at byte ")
    assert (tmp_path / "new.caffemodel").read_bytes() == b"kept"


V1_TEXT = b"""# r\xe9seau (Latin-1 note)
name: "old"  # \xff\xfe
input: "data"
input_dim: 1 input_dim: 3 input_dim: 4 input_dim: 4
layers { name: "relu" type: RELU bottom: "data" top: "r" }  # fin\xe9
"""


def test_latin1_bytes_in_comments_upgrade_like_text(tmp_path, capsys):
    (tmp_path / "old.prototxt").write_bytes(V1_TEXT)
    (tmp_path / "plain.prototxt").write_bytes(V1_TEXT.replace(b"\xe9", b"e").replace(b"\xff\xfe",
                                                                                     b""))
    assert "upgraded V1, input fields" in _upgrade(tmp_path, capsys, "old.prototxt", "new.prototxt")
    _upgrade(tmp_path, capsys, "plain.prototxt", "plain_new.prototxt")
    assert (tmp_path / "new.prototxt").read_text() == (tmp_path / "plain_new.prototxt").read_text()
    assert 'type: "ReLU"' in (tmp_path / "new.prototxt").read_text()


def test_a_non_utf8_byte_in_a_string_is_refused_with_line_and_column(tmp_path, monkeypatch,
                                                                     capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "old.prototxt").write_bytes(V1_TEXT.replace(b'name: "relu"', b'name: "r\xe9lu"'))
    assert refused(["upgrade", "old.prototxt", "-o", "new.prototxt"], tmp_path, capsys) == (
        "old.prototxt:5:18: byte 0xE9 inside a string is not UTF-8 (Caffe's strings are UTF-8 "
        "text: save the file as UTF-8)")


V2_DATA_TEXT = b"""name: "v2"
layer { name: "d" type: "Data" top: "x" data_param { source: "db" scale: 2 batch_size: 1 } }
layer { name: "w" type: "WindowData" top: "y" top: "l"
  window_data_param { source: "w.txt" scale: 0.5 mirror: true batch_size: 1 } }
"""


def test_legacy_transform_fields_of_a_current_net_are_warned_of_but_windowdatas_scale(
        tmp_path, caplog):
    """Caffe moves data_param's scale/mean_file/crop_size/mirror into transform_param only in
    V1 nets and ignores them in current ones (a warning each), but WindowData reads its own
    window_data_param.scale: no warning for that one."""
    (tmp_path / "old.prototxt").write_bytes(V2_DATA_TEXT)
    with caplog.at_level("WARNING", logger="keras_caffe.proto.upgrade"):
        upgrade_tool.upgrade_file(tmp_path / "old.prototxt", tmp_path / "new.prototxt")
    warned = [r.getMessage().split(";")[0] for r in caplog.records]
    assert warned == ["layer 'd' (Data) sets deprecated data_param.scale",
                      "layer 'w' (WindowData) sets deprecated window_data_param.mirror"]
