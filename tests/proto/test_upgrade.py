"""Net and solver upgrades: Caffe's own upgraded files, small legacy fixtures, the zoo, the CLI."""

from __future__ import annotations

import argparse
import difflib
import logging
import shutil

import numpy as np
import pytest
from google.protobuf import text_format

from keras_caffe.cli.upgrade import add_parser as add_upgrade_parser
from keras_caffe.cli.upgrade import run as run_upgrade
from keras_caffe.errors import NetError, PrototxtError
from keras_caffe.proto import binary, caffe_pb2, text
from keras_caffe.proto.upgrade import (detect_kind, net_needs_upgrade, pending_net_upgrades,
                                       read_upgraded_net, read_upgraded_solver,
                                       solver_needs_upgrade, upgrade_net, upgrade_solver)
from tests.shared_paths import CONFORMANCE, ZOO, require

UPGRADE_CASES = CONFORMANCE / "upgrade"
_CLASSES = {"net": caffe_pb2.NetParameter, "solver": caffe_pb2.SolverParameter}


def _upgrade_cases():
    cases = sorted(p for p in UPGRADE_CASES.iterdir()
                   if (p / "v1.prototxt").is_file() and (p / "upgraded.prototxt").is_file()) \
        if UPGRADE_CASES.is_dir() else []
    if not cases:
        return [pytest.param(None, id="upgrade-absent",
                             marks=pytest.mark.skip(reason=f"{UPGRADE_CASES} not found"))]
    return [pytest.param(p, id=p.name) for p in cases]


def _zoo_prototxts():
    root = ZOO / "bvlc"
    files = sorted(root.rglob("*.prototxt")) if root.is_dir() else []
    if not files:
        return [pytest.param(None, id="zoo-absent",
                             marks=pytest.mark.skip(reason=f"{root} not found"))]
    return [pytest.param(f, id=str(f.relative_to(root))) for f in files]


def _upgrade_any(source: str, path=None):
    kind = detect_kind(source)
    message = text_format.Parse(source, _CLASSES[kind]())
    return kind, (upgrade_net(message, path) if kind == "net" else upgrade_solver(message, path))


def assert_same_message(got, expected):
    if got != expected:
        diff = difflib.unified_diff(text.to_text(expected).splitlines(),
                                    text.to_text(got).splitlines(),
                                    "caffe", "keras_caffe", lineterm="")
        pytest.fail("upgraded message differs from Caffe's:\n" + "\n".join(diff))


def net(source: str):
    return text_format.Parse(source, caffe_pb2.NetParameter())


# --------------------------------------------------------------------------- Caffe's outputs

@pytest.mark.parametrize("case", _upgrade_cases())
def test_matches_caffe_upgrade(case):
    kind, got = _upgrade_any((case / "v1.prototxt").read_text(), case / "v1.prototxt")
    expected = text_format.Parse((case / "upgraded.prototxt").read_text(), _CLASSES[kind]())
    assert_same_message(got, expected)


@pytest.mark.parametrize("case", _upgrade_cases())
def test_logs_the_steps_caffe_logged(case, caplog):
    log_file = require(case / "upgrade_log.txt")
    caffe_steps = [line[2:] for line in log_file.read_text().splitlines()
                   if line[2:].startswith(("Attempting", "Successfully"))]
    with caplog.at_level(logging.INFO, logger="keras_caffe.proto.upgrade"):
        _upgrade_any((case / "v1.prototxt").read_text(), "v1.prototxt")
    ours = [r.getMessage() for r in caplog.records
            if r.getMessage().startswith(("Attempting", "Successfully"))]
    assert ours == caffe_steps


@pytest.mark.parametrize("case", _upgrade_cases())
def test_upgrade_is_idempotent_and_needs_nothing_after(case):
    kind, once = _upgrade_any((case / "v1.prototxt").read_text())
    if kind == "net":
        assert net_needs_upgrade(net((case / "v1.prototxt").read_text()))
        assert pending_net_upgrades(once) == []
        assert upgrade_net(once) == once
    else:
        assert not solver_needs_upgrade(once)
        assert upgrade_solver(once) == once


def test_read_upgraded_from_path_and_text():
    case = require(UPGRADE_CASES / "v1_deploy_convnet")
    expected = text.read_net(case / "upgraded.prototxt")
    assert read_upgraded_net(case / "v1.prototxt") == expected
    assert read_upgraded_net((case / "v1.prototxt").read_text()) == expected
    solver_case = require(UPGRADE_CASES / "solver_adam")
    assert read_upgraded_solver(str(solver_case / "v1.prototxt")).type == "Adam"


# --------------------------------------------------------------------------- V0

V0_PADDED_POOL = """
name: "v0"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layers { layer { name: "pad" type: "padding" pad: 2 } bottom: "data" top: "padded" }
layers { layer { name: "pool" type: "pool" pool: AVE kernelsize: 3 stride: 2 }
         bottom: "padded" top: "pool" }
layers { layer { name: "drop" type: "dropout" dropout_ratio: 0.25 } bottom: "pool" top: "pool" }
layers { layer { name: "data_l" type: "data" source: "db" batchsize: 7 scale: 0.5
                 meanfile: "m.binaryproto" cropsize: 4 mirror: true rand_skip: 3 }
         top: "d2" }
"""


def test_v0_padding_layer_folds_into_pool():
    up = upgrade_net(net(V0_PADDED_POOL))
    assert [layer.name for layer in up.layer] == ["input", "pool", "drop", "data_l"]
    pool = up.layer[1]
    assert pool.type == "Pooling" and list(pool.bottom) == ["data"]
    assert pool.pooling_param.pad == 2 and pool.pooling_param.kernel_size == 3
    assert pool.pooling_param.stride == 2
    assert pool.pooling_param.pool == caffe_pb2.PoolingParameter.AVE
    assert up.layer[2].dropout_param.dropout_ratio == pytest.approx(0.25)
    data = up.layer[3]
    assert data.type == "Data"
    assert data.data_param.source == "db" and data.data_param.batch_size == 7
    assert data.data_param.rand_skip == 3
    assert not data.data_param.HasField("scale")
    t = data.transform_param
    assert (t.scale, t.mean_file, t.crop_size, t.mirror) == (0.5, "m.binaryproto", 4, True)
    assert list(up.layer[0].input_param.shape[0].dim) == [1, 3, 8, 8]


def test_v0_field_on_wrong_type_is_dropped_with_error_log(caplog):
    source = 'input: "x" layers { layer { name: "r" type: "relu" num_output: 3 } ' \
             'bottom: "x" top: "y" }'
    with caplog.at_level(logging.ERROR, logger="keras_caffe.proto.upgrade"):
        up = upgrade_net(net(source))
    assert up.layer[0].type == "ReLU"
    assert {fd.name for fd, _ in up.layer[0].ListFields()} == {"name", "type", "bottom", "top"}
    assert any("num_output" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("source, words", [
    ('input: "x" layers { layer { name: "w" type: "wobble" } bottom: "x" top: "y" }',
     ["'w'", "wobble"]),
    ('input: "x" layers { layer { name: "p" type: "padding" pad: 1 } bottom: "x" top: "px" }'
     ' layers { layer { name: "r" type: "relu" } bottom: "px" top: "y" }',
     ["'r'", "padding", "'p'"]),
    ('layers { layer { name: "c" type: "conv" } bottom: "nowhere" top: "y" }',
     ["'c'", "nowhere"]),
    ('input: "x" layers { layer { name: "c" type: "conv" } bottom: "x" top: "y" }'
     ' layers { name: "v1" type: RELU bottom: "y" top: "y" }',
     ["'v1'", "V1"]),
])
def test_v0_errors_name_the_layer(source, words):
    with pytest.raises(NetError) as info:
        upgrade_net(net(source), "old.prototxt")
    for word in ["old.prototxt", *words]:
        assert word in str(info.value)


# --------------------------------------------------------------------------- V1

def test_blobs_lr_and_weight_decay_one_and_two_blobs():
    up = upgrade_net(net("""
        layers { name: "one" type: INNER_PRODUCT blobs_lr: 3 weight_decay: 0.5
                 inner_product_param { num_output: 2 bias_term: false } }
        layers { name: "two" type: CONVOLUTION blobs_lr: 1 blobs_lr: 2 weight_decay: 1
                 param: "w" blob_share_mode: PERMISSIVE }
        layers { name: "none" type: RELU }
    """))
    one, two, none = up.layer
    assert len(one.param) == 1
    assert (one.param[0].lr_mult, one.param[0].decay_mult) == (3, 0.5)
    assert not one.param[0].HasField("name")
    assert len(two.param) == 2
    assert two.param[0].name == "w" and two.param[0].lr_mult == 1
    assert two.param[0].share_mode == caffe_pb2.ParamSpec.PERMISSIVE
    assert two.param[0].decay_mult == 1
    assert two.param[1].lr_mult == 2 and not two.param[1].HasField("decay_mult")
    assert not two.param[1].HasField("name")
    assert len(none.param) == 0
    assert one.inner_product_param.num_output == 2


def test_v1_rules_loss_weight_and_params_are_copied():
    up = upgrade_net(net("""
        layers { name: "l" type: SOFTMAX_LOSS bottom: "a" bottom: "b" top: "loss"
                 loss_weight: 2 include { phase: TRAIN stage: "s" } exclude { not_stage: "t" }
                 loss_param { ignore_label: 4 } softmax_param { axis: 2 } }
        layers { name: "d" type: DECONVOLUTION convolution_param { num_output: 3 } }
    """))
    loss, deconv = up.layer
    assert loss.type == "SoftmaxWithLoss" and list(loss.loss_weight) == [2]
    assert loss.include[0].phase == caffe_pb2.TRAIN and list(loss.include[0].stage) == ["s"]
    assert list(loss.exclude[0].not_stage) == ["t"]
    assert loss.loss_param.ignore_label == 4 and loss.softmax_param.axis == 2
    assert deconv.type == "Deconvolution" and deconv.convolution_param.num_output == 3


def test_data_transform_moves_and_touches_every_data_layer():
    up = upgrade_net(net("""
        layers { name: "a" type: WINDOW_DATA window_data_param { source: "w" crop_size: 9 } }
        layers { name: "b" type: DATA top: "x" }
    """))
    a, b = up.layer
    assert a.transform_param.crop_size == 9 and not a.window_data_param.HasField("crop_size")
    # Caffe's upgrader creates (empty) transform_param/data_param in every DATA layer.
    assert b.HasField("transform_param") and b.HasField("data_param")


def test_layer_and_layers_together_is_refused():
    with pytest.raises(NetError, match="both 'layer'"):
        upgrade_net(net('layer { name: "a" type: "ReLU" } layers { name: "b" type: RELU }'))


def test_v1_binary_blobs_survive_self_made():
    legacy = caffe_pb2.NetParameter(name="bin")
    layer = legacy.layers.add(name="fc", type=caffe_pb2.V1LayerParameter.INNER_PRODUCT)
    layer.blobs_lr.extend([1, 2])
    w = layer.blobs.add(num=1, channels=1, height=2, width=3)
    w.data.extend([1, 2, 3, 4, 5, 6])
    b = layer.blobs.add(num=1, channels=1, height=1, width=2)
    b.data.extend([7, 8])
    parsed = caffe_pb2.NetParameter.FromString(legacy.SerializeToString())
    up = upgrade_net(parsed)
    assert not len(up.layers) and up.layer[0].type == "InnerProduct"
    assert [list(blob.data) for blob in up.layer[0].blobs] == [[1, 2, 3, 4, 5, 6], [7, 8]]
    assert up.layer[0].blobs[0].height == 2 and up.layer[0].blobs[0].width == 3


def test_v1_caffemodel_blobs_match_caffe_v2_weights():
    case = require(UPGRADE_CASES / "v1_deploy_convnet")
    legacy = binary.read_caffemodel(require(case / "weights_v1.caffemodel"))
    assert len(legacy.layers) and not len(legacy.layer)
    up = upgrade_net(legacy, "weights_v1.caffemodel")
    assert not len(up.layers)
    current = binary.read_caffemodel(case / "weights.caffemodel")
    want = {layer.name: layer for layer in current.layer if len(layer.blobs)}
    got = {layer.name: layer for layer in up.layer if len(layer.blobs)}
    assert set(got) == set(want)
    for name, layer in want.items():
        assert got[name].type == layer.type
        for ours, theirs in zip(got[name].blobs, layer.blobs, strict=True):
            np.testing.assert_array_equal(np.asarray(ours.data, np.float32),
                                          np.asarray(theirs.data, np.float32))


# --------------------------------------------------------------------------- input / BatchNorm

def test_input_dim_with_two_inputs_becomes_one_input_layer():
    up = upgrade_net(net("""
        input: "a" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 4
        input: "b" input_dim: 5 input_dim: 6 input_dim: 7 input_dim: 8
        layer { name: "cat" type: "Concat" bottom: "a" bottom: "b" top: "c" }
    """))
    assert [layer.name for layer in up.layer] == ["input", "cat"]
    inp = up.layer[0]
    assert inp.type == "Input" and list(inp.top) == ["a", "b"]
    assert [list(s.dim) for s in inp.input_param.shape] == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert not len(up.input) and not len(up.input_dim) and not len(up.input_shape)


def test_mixed_input_dim_and_input_shape_is_an_error():
    with pytest.raises(NetError, match="input_dim and input_shape") as info:
        upgrade_net(net('input: "a" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 4 '
                        'input: "b" input_shape { dim: 1 dim: 2 }'), "mixed.prototxt")
    assert "mixed.prototxt" in str(info.value) and "a, b" in str(info.value)


@pytest.mark.parametrize("source", [
    'input: "a" input: "b" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 4',
    'input: "a" input_shape { dim: 1 } input_shape { dim: 2 }',
])
def test_input_count_mismatch_is_an_error(source):
    with pytest.raises(NetError, match="per input"):
        upgrade_net(net(source))


def test_input_without_dims_is_just_removed():
    up = upgrade_net(net('input: "data" layer { name: "r" type: "ReLU" bottom: "data" }'))
    assert [layer.name for layer in up.layer] == ["r"] and not len(up.input)


def test_batchnorm_with_two_param_specs_is_left_alone():
    source = 'layer { name: "bn" type: "BatchNorm" param { lr_mult: 1 } param { lr_mult: 1 } }'
    assert not net_needs_upgrade(net(source))
    assert upgrade_net(net(source)) == net(source)


# --------------------------------------------------------------------------- solver

def test_solver_with_solver_type_and_type_is_refused():
    solver = text.parse_solver('solver_type: ADAM type: "Adam"')
    with pytest.raises(PrototxtError, match="solver_type"):
        upgrade_solver(solver, "s.prototxt")


def test_solver_inline_v1_net_is_upgraded():
    solver = text.parse_solver('solver_type: SGD net_param { layers { name: "r" type: RELU } } '
                               'test_net_param { layers { name: "t" type: TANH } }')
    up = upgrade_solver(solver)
    assert up.type == "SGD" and not up.HasField("solver_type")
    assert up.net_param.layer[0].type == "ReLU" and up.test_net_param[0].layer[0].type == "TanH"
    assert upgrade_solver(solver, inline_nets=False).net_param.layers[0].name == "r"


# --------------------------------------------------------------------------- zoo

@pytest.mark.parametrize("path", _zoo_prototxts())
def test_zoo_prototxt_upgrades_to_no_legacy_layers(path):
    source = path.read_text()
    kind, up = _upgrade_any(source, path)
    nets = [up] if kind == "net" else [up.net_param, up.train_net_param, *up.test_net_param]
    for n in nets:
        assert not len(n.layers) and not len(n.input)
    if "layers {" in source:  # the legacy ones really were upgraded
        assert any(len(n.layer) for n in nets)


# --------------------------------------------------------------------------- CLI

def _cli(argv):
    parser = argparse.ArgumentParser(prog="keras-caffe")
    add_upgrade_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.mark.parametrize("case_name", ["v0_padding_layer", "solver_nesterov"])
def test_cli_upgrades_prototxt(case_name, tmp_path, capsys):
    case = require(UPGRADE_CASES / case_name)
    old = tmp_path / "old.prototxt"
    shutil.copy(case / "v1.prototxt", old)
    new = tmp_path / "new.prototxt"
    assert _cli(["upgrade", str(old), "-o", str(new)]) == 0
    kind = detect_kind(new.read_text())
    expected = text_format.Parse((case / "upgraded.prototxt").read_text(), _CLASSES[kind]())
    assert_same_message(text_format.Parse(new.read_text(), _CLASSES[kind]()), expected)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "upgrade" in err[0] and str(new) in err[0]


@pytest.mark.parametrize("name", ["legacy.caffemodel", "legacy_weights"])  # by extension/content
def test_cli_upgrades_v1_caffemodel(name, tmp_path, capsys):
    case = require(UPGRADE_CASES / "v1_deploy_convnet")
    old = tmp_path / name
    shutil.copy(require(case / "weights_v1.caffemodel"), old)
    new = tmp_path / "upgraded.caffemodel"
    assert run_upgrade(argparse.Namespace(old=str(old), output=str(new))) == 0
    up = binary.read_caffemodel(new)
    assert not len(up.layers) and len(up.layer)
    assert up == upgrade_net(binary.read_caffemodel(old))
    want = {lb.name: lb.blobs for lb in binary.read_weights(case / "weights.caffemodel")}
    got = {lb.name: lb.blobs for lb in binary.read_weights(new)}
    assert set(got) >= {k for k, v in want.items() if v}
    for name, blobs in want.items():
        for ours, theirs in zip(got[name], blobs, strict=True):
            np.testing.assert_array_equal(np.asarray(ours).reshape(-1),
                                          np.asarray(theirs).reshape(-1))
    assert "caffemodel" in capsys.readouterr().err


def test_cli_reports_bad_text(tmp_path):
    old = tmp_path / "bad.prototxt"
    old.write_text('layer { name: "a" wobble: 3 }\n')
    with pytest.raises(PrototxtError) as info:
        _cli(["upgrade", str(old), "-o", str(tmp_path / "out.prototxt")])
    assert "bad.prototxt:1" in str(info.value)
    assert not (tmp_path / "out.prototxt").exists()
