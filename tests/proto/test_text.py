"""Prototxt reading: errors point at file:line:column with a plain reason; fork fields parse."""

from __future__ import annotations

import os

import pytest

from keras_caffe import cli
from keras_caffe.errors import PrototxtError
from keras_caffe.proto import caffe_pb2, text
from tests.sentinel import refused
from tests.shared_paths import CONFORMANCE, require

CONV_NET = """name: "n"
layer {
  name: "conv"
  type: "Convolution"
  convolution_param {
    num_output: 3
    foo: 2
  }
}
"""


def _error(source: str, path="net.prototxt") -> PrototxtError:
    with pytest.raises(PrototxtError) as info:
        text.parse_net(source, path=path)
    return info.value


def test_unknown_field_names_the_message_and_line():
    err = _error(CONV_NET)
    assert err.reason.startswith("unknown field 'foo' in caffe.ConvolutionParameter of layer "
                                 "'conv' (type Convolution): not a field of Caffe or of the "
                                 "forks keras-caffe knows")
    assert (err.path, err.line, err.column) == ("net.prototxt", 7, 5)
    assert str(err).startswith("net.prototxt:7:5: unknown field 'foo'")


def test_syntax_error_has_file_line_column():
    err = _error('name: "n"\nlayer {\n  name: "a"\n  top: "a" }\n}\n')
    assert err.path == "net.prototxt"
    assert err.line == 5 and err.column == 1


def test_enum_typo_lists_the_valid_values():
    err = _error('layer {\n  name: "p"\n  pooling_param { pool: MAXX }\n}\n')
    assert err.line == 3
    assert "'MAXX'" in err.reason and "MAX, AVE, STOCHASTIC" in err.reason


def test_single_field_given_twice():
    err = _error('name: "a"\nname: "b"\n')
    assert err.line == 2 and "'name'" in err.reason


def test_read_net_reports_the_file(tmp_path):
    path = tmp_path / "deploy.prototxt"
    path.write_text(CONV_NET)
    err = pytest.raises(PrototxtError, text.read_net, path).value
    assert err.path == os.fspath(path) and err.line == 7


def test_binary_input_fails_clearly(tmp_path):
    path = tmp_path / "weights.caffemodel"
    path.write_bytes(caffe_pb2.NetParameter(name="x", layer=[caffe_pb2.LayerParameter(
        name="ip", blobs=[caffe_pb2.BlobProto(data=[1.5, -2.25])])]).SerializeToString())
    err = pytest.raises(PrototxtError, text.read_net, str(path)).value
    assert err.path == str(path)
    assert "binary" in str(err)
    with pytest.raises(PrototxtError, match="binary"):
        text.parse_net(b'name: "a"\x00\x00\x01')


def test_read_net_takes_text_or_path(tmp_path):
    path = tmp_path / "n.prototxt"
    path.write_text('name: "from_file"')
    assert text.read_net(str(path)).name == "from_file"
    assert text.read_net(path).name == "from_file"
    assert text.read_net('name: "inline"\n').name == "inline"
    assert text.read_net('layer { name: "x" }').layer[0].name == "x"
    with pytest.raises(FileNotFoundError):
        text.read_net(str(tmp_path / "missing.prototxt"))


def test_fork_fields_parse():
    net = text.parse_net("""
    layer { name: "pool" type: "Pooling" pooling_param { pool: MAX kernel_size: 3 stride: 2
                                                        ceil_mode: false } }
    layer { name: "pool2" type: "Pooling" pooling_param { round_mode: FLOOR } }
    layer { name: "perm" type: "Permute" permute_param { order: 0 order: 2 order: 3 order: 1 } }
    layer { name: "interp" type: "Interp" interp_param { zoom_factor: 8 pad_beg: 0 } }
    layer { name: "up" type: "Upsample" upsample_param { scale: 2 upsample_h: 45 } }
    layer { name: "shuffle" type: "ShuffleChannel" shuffle_channel_param { group: 3 } }
    layer { name: "prior" type: "PriorBox" prior_box_param { min_size: 30 max_size: 60
            aspect_ratio: 2 flip: true variance: 0.1 variance: 0.2 step: 8 } }
    layer { name: "det" type: "DetectionOutput" detection_output_param { num_classes: 21
            nms_param { nms_threshold: 0.45 top_k: 400 } code_type: CENTER_SIZE keep_top_k: 200 } }
    layer { name: "norm" type: "Normalize" norm_param { across_spatial: false
            scale_filler { type: "constant" value: 20 } channel_shared: false } }
    layer { name: "dw" type: "ConvolutionDepthwise" convolution_param { num_output: 8 group: 8 } }
    """)
    by_name = {layer.name: layer for layer in net.layer}
    assert by_name["pool"].pooling_param.HasField("ceil_mode")
    assert by_name["pool"].pooling_param.ceil_mode is False
    assert by_name["pool2"].pooling_param.round_mode == caffe_pb2.PoolingParameter.FLOOR
    assert list(by_name["perm"].permute_param.order) == [0, 2, 3, 1]
    assert by_name["interp"].interp_param.zoom_factor == 8
    assert by_name["up"].upsample_param.upsample_h == 45
    assert by_name["shuffle"].shuffle_channel_param.group == 3
    assert list(by_name["prior"].prior_box_param.variance) == pytest.approx([0.1, 0.2])
    det = by_name["det"].detection_output_param
    assert det.code_type == caffe_pb2.PriorBoxParameter.CENTER_SIZE and det.nms_param.top_k == 400
    assert by_name["norm"].norm_param.scale_filler.value == 20
    assert by_name["dw"].convolution_param.group == 8


def test_solver_with_fork_and_legacy_fields():
    solver = text.parse_solver('base_lr: 0.01\nsolver_type: ADAM\neval_type: "detection"\n'
                               'ap_version: "11point"\nshow_per_class_result: true\n')
    assert solver.solver_type == caffe_pb2.SolverParameter.ADAM
    assert (solver.eval_type, solver.ap_version) == ("detection", "11point")


def test_write_text_round_trips_and_is_atomic(tmp_path, monkeypatch):
    net = text.parse_net(CONV_NET.replace("    foo: 2\n", ""))
    path = tmp_path / "out.prototxt"
    text.write_text(net, path)
    assert text.read_net(path) == net
    assert text.to_text(net) == path.read_text()

    def failing_replace(src, dst):
        raise OSError("disk full")

    other = caffe_pb2.NetParameter(name="other")
    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        text.write_text(other, path)
    monkeypatch.undo()
    assert text.read_net(path) == net
    assert [p.name for p in tmp_path.iterdir()] == ["out.prototxt"]


def test_upgraded_conformance_net_round_trips_through_text():
    path = require(CONFORMANCE / "upgrade" / "v1_deploy_convnet" / "upgraded.prototxt")
    net = text.read_net(path)
    assert text.parse_net(text.to_text(net)) == net


# --------------------------------------------------------------------------- non-UTF-8 bytes

INPUT = b'layer { name: "in" type: "Input" top: "x" input_param { shape { dim: 1 dim: 4 } } }\n'


def test_latin1_bytes_in_comments_are_text_as_caffe_reads_them(tmp_path, monkeypatch, capsys):
    """Caffe reads a prototxt as bytes: a Latin-1 note in a comment is no binary file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_bytes(b"# caf\xe9 au lait\n" + INPUT[:-1] +
                                            b"  # \xff\xfe at a line's end\n# fin\xe9")
    assert [l.name for l in text.read_net("net.prototxt").layer] == ["in"]
    assert cli.main(["info", "net.prototxt"]) == 0
    captured = capsys.readouterr()
    assert "in     Input  x     1x4" in captured.out and "error" not in captured.err


@pytest.mark.parametrize("line, column, why", [
    (b'layer { name: "caf\xe9" type: "ReLU" bottom: "x" top: "y" }\n', 19,
     "byte 0xE9 inside a string is not UTF-8 (Caffe's strings are UTF-8 text: save the file "
     "as UTF-8)"),
    (b'layer { name: "a#b\xe9" type: "ReLU" bottom: "x" top: "y" }\n', 19,   # '#' in a string
     "byte 0xE9 inside a string is not UTF-8 (Caffe's strings are UTF-8 text: save the file "
     "as UTF-8)"),
    (b'layer \xe9 { }\n', 7,
     "byte 0xE9 is not UTF-8 text and not inside a comment; this looks like a binary file "
     "such as a .caffemodel, which read_weights/read_caffemodel read"),
], ids=["in_string", "in_string_after_hash", "outside"])
def test_a_stray_byte_outside_comments_is_one_error_with_line_and_column(
        tmp_path, monkeypatch, capsys, line, column, why):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.prototxt").write_bytes(b"# caf\xe9\n" + INPUT + line)
    assert refused(["info", "net.prototxt"], tmp_path, capsys) == f"net.prototxt:3:{column}: {why}"
    err = pytest.raises(PrototxtError, text.read_net, tmp_path / "net.prototxt").value
    assert (err.line, err.column, err.reason) == (3, column, why)
