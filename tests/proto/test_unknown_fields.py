"""Fields our schema lacks: the error that names them (and the forks that define them), and
``ignore_unknown_fields`` skipping the harmless ones with one warning each."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import keras_caffe
from keras_caffe.errors import PrototxtError
from keras_caffe.proto import caffe_pb2, fork_fields, text, upgrade

# A small net as NVIDIA Caffe 0.17 writes them: its precision and cuDNN fields at the net and
# layer levels (the values are enum names, strings and numbers), which BVLC Caffe lacks.
NVIDIA_NET = """name: "nv"
default_forward_type: FLOAT16   # NVIDIA Caffe computes in half precision
default_backward_type: FLOAT16
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
  forward_type: FLOAT
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 conv_algos_override: "1,-1,-1"
                      weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
  convolution_param { num_output: 2 kernel_size: 1 conv_algos_override: '-1,' "-1,-1"
                      weight_filler { type: "xavier" } } }
"""
FIELDS = ("default_forward_type", "default_backward_type", "forward_type", "conv_algos_override")


def _without(net: str, fields=FIELDS) -> str:
    out = []
    for line in net.splitlines():
        for field in fields:
            if line.lstrip().startswith(field):
                line = ""
        if "conv_algos_override" in fields:
            line = line.replace(' conv_algos_override: "1,-1,-1"', "")
            line = line.replace(" conv_algos_override: '-1,' \"-1,-1\"", "")
        out.append(line)
    return "\n".join(out)


def _error(net: str, **kwargs) -> PrototxtError:
    with pytest.raises(PrototxtError) as err:
        text.parse_net(net, "net.prototxt", **kwargs)
    return err.value


def test_an_unknown_fork_field_names_field_layer_place_forks_and_the_flag():
    err = _error(NVIDIA_NET.replace("default_forward_type: FLOAT16", ""))
    assert (err.path, err.line, err.column) == ("net.prototxt", 3, 1)
    assert err.reason == (
        "unknown field 'default_backward_type' in caffe.NetParameter: a field of NVIDIA Caffe "
        "(NVIDIA/caffe 0.17; field 12, Type), not of BVLC Caffe; it sets the floating-point "
        "type the fork computes or stores in; keras-caffe computes in float32 (or "
        "--precision); to skip it, pass --ignore-unknown-fields (ignore_unknown_fields=True)")
    inside = _error(_without(NVIDIA_NET, FIELDS[:3]))
    assert str(inside).startswith(
        "net.prototxt:7:59: unknown field 'conv_algos_override' in "
        "caffe.ConvolutionParameter of layer 'conv1' (type Convolution): a field of NVIDIA "
        "Caffe (NVIDIA/caffe 0.17; field 20, string)")


def test_a_field_several_forks_define_lists_each_forks_number():
    net = 'layer { name: "bn" type: "BatchNorm" batch_norm_param { engine: CAFFE } }'
    assert ("a field of NVIDIA Caffe (NVIDIA/caffe 0.17; field 15, Engine), caffe-windows "
            "(happynear/caffe-windows; field 15, Engine), Intel Caffe (intel/caffe; field 4, "
            "Engine), not of BVLC Caffe") in _error(net).reason


def test_a_typo_gets_the_closest_field_names():
    net = ('layer { name: "c" type: "Convolution"\n'
           '  convolution_param { num_output: 2 kernal_size: 3 } }')
    err = _error(net)
    assert (err.line, err.column) == (2, 37)
    assert err.reason.startswith(
        "unknown field 'kernal_size' in caffe.ConvolutionParameter of layer 'c' (type "
        "Convolution): not a field of Caffe or of the forks keras-caffe knows (a typo? "
        "closest: kernel_size, kernel_w, kernel_h)")


def test_ignored_fields_warn_once_each_and_build_the_same_model(caplog):
    with caplog.at_level(logging.WARNING, logger="keras_caffe.proto"):
        param = keras_caffe.read_net(NVIDIA_NET, ignore_unknown_fields=True)
    assert param == keras_caffe.read_net(_without(NVIDIA_NET))
    warnings = [r.getMessage() for r in caplog.records if r.name == "keras_caffe.proto"]
    assert len(warnings) == 4     # one per distinct field, in text order
    assert [w.split(": ignoring unknown field '")[1].split("'")[0] for w in warnings] == [
        "default_forward_type", "default_backward_type", "forward_type", "conv_algos_override"]
    assert warnings[3].startswith(
        "<prototxt>:7:59: ignoring unknown field 'conv_algos_override' in "
        "caffe.ConvolutionParameter of layer 'conv1' (type Convolution) (2 times, first "
        "here): a field of NVIDIA Caffe (NVIDIA/caffe 0.17; field 20, string), not of BVLC "
        "Caffe; it picks the implementation or algorithm")
    assert warnings[3].endswith("it is known to change nothing at inference")
    assert warnings[2].startswith("<prototxt>:6:3: ignoring unknown field 'forward_type' in "
                                  "caffe.LayerParameter of layer 'conv1' (type Convolution) "
                                  "(1 time, first here)")
    x = {"data": np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)}
    got = keras_caffe.forward(NVIDIA_NET, x, ignore_unknown_fields=True, seed=5)
    want = keras_caffe.forward(_without(NVIDIA_NET), x, seed=5)
    assert got.keys() == want.keys() and got["conv2"].shape == (2, 2, 8, 8)
    np.testing.assert_array_equal(got["conv2"], want["conv2"])


def test_a_field_that_changes_outputs_is_refused_even_when_ignoring():
    net = ('layer { name: "conv1" type: "Convolution" convolution_param { num_output: 2\n'
           '  kernel_size: 3 relu: true negative_slope: 0.1 } }')
    for ignore in (False, True):
        err = _error(net, ignore_unknown_fields=ignore)
        assert (err.line, err.column) == (2, 18)
        assert err.reason == (
            "unknown field 'relu' in caffe.ConvolutionParameter of layer 'conv1' (type "
            "Convolution): a field of Intel Caffe (intel/caffe; field 19, bool), not of BVLC "
            "Caffe; it changes what the layer computes (a fused ReLU), which keras-caffe does "
            "not implement, so it cannot be ignored")


# R-FCN's OHEM training layer: a new message under a new field, in every syntax protobuf
# takes (":" before "{", "<...>", lists, comments), skipped whole; the TEST net builds.
OHEM_NET = """layer { name: "data" type: "Input" top: "data" top: "rois"
  input_param { shape { dim: 1 dim: 2 dim: 4 dim: 4 } shape { dim: 3 dim: 5 } } }
layer { name: "ohem" type: "BoxAnnotatorOHEM" bottom: "data" top: "labels_ohem"
  include { phase: TRAIN }
  box_annotator_ohem_param: { roi_per_img: 128  # comment } inside
    ignore_label: -1 nested < deeper: [ { a: 1 }, { b: "}" } ] > list: [1, 2.5e-3, -inf] } ;
  box_annotator_ohem_param { roi_per_img: 64 }
}
layer { name: "relu" type: "ReLU" bottom: "data" top: "out" }
"""


def test_a_nested_unknown_message_is_skipped_whole(caplog):
    assert "unknown field 'box_annotator_ohem_param' in caffe.LayerParameter of layer 'ohem' " \
           "(type BoxAnnotatorOHEM): a field of R-FCN (daijifeng001/caffe-rfcn; field 10000, " \
           "BoxAnnotatorOHEMParameter), Intel Caffe (intel/caffe; field 152," in \
           _error(OHEM_NET).reason
    with caplog.at_level(logging.WARNING, logger="keras_caffe.proto"):
        graph = keras_caffe.resolve_net(OHEM_NET, "test", ignore_unknown_fields=True)
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "keras_caffe.proto"]
    assert warning.startswith("<prototxt>:5:3: ignoring unknown field 'box_annotator_ohem_param' "
                              "in caffe.LayerParameter of layer 'ohem' (type BoxAnnotatorOHEM) "
                              "(2 times, first here)")
    assert [n.name for n in graph.layers] == ["data", "relu"]
    train = keras_caffe.read_net(OHEM_NET, ignore_unknown_fields=True)
    assert [l.name for l in train.layer] == ["data", "ohem", "relu"]
    assert list(train.layer[1].top) == ["labels_ohem"]


def test_lines_stay_put_so_later_errors_point_at_their_place():
    net = OHEM_NET.replace('top: "out" }', 'top: "out" relu_param { negative_slope: x } }')
    err = _error(net, ignore_unknown_fields=True)
    assert (err.line, err.column) == (9, 90)     # the "x", where it was
    assert err.reason == "Couldn't parse float: x"


V1_NET = """name: "v1"
input: "data" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4
layers { name: "conv" type: CONVOLUTION bottom: "data" top: "conv"
  convolution_param { num_output: 2 kernel_size: 3 cudnn_convolution_algo_seeker: FINDEX } }
"""
V0_NET = """name: "v0"
input: "data" input_dim: 1 input_dim: 1 input_dim: 4 input_dim: 4
layers { layer { name: "conv" type: "conv" num_output: 2 kernelsize: 3
                 forward_type: FLOAT16 } bottom: "data" top: "conv" }
"""


@pytest.mark.parametrize("net, field, kind", [(V1_NET, "cudnn_convolution_algo_seeker",
                                               "CONVOLUTION"), (V0_NET, "forward_type", "conv")],
                         ids=["V1", "V0"])
def test_a_legacy_net_upgrades_with_its_fork_fields_skipped(caplog, net, field, kind):
    assert f"unknown field '{field}'" in _error(net).reason
    assert f"of layer 'conv' (type {kind})" in _error(net).reason
    with caplog.at_level(logging.WARNING, logger="keras_caffe.proto"):
        param = keras_caffe.read_net(net, ignore_unknown_fields=True)
    assert [(l.name, l.type) for l in param.layer] == [("input", "Input"), ("conv", "Convolution")]
    assert param.layer[1].convolution_param.kernel_size == [3]
    assert f"ignoring unknown field '{field}'" in caplog.text


SOLVER = """net: "train_val.prototxt"
base_lr: 0.01
lr_policy: "fixed"
larc: true larc_policy: "clip"  # NVIDIA Caffe's layer-wise adaptive rate
larc_eta: 0.002
max_iter: 10
"""


def test_solver_unknown_fields(caplog):
    with pytest.raises(PrototxtError) as err:
        upgrade.read_upgraded_solver(SOLVER)
    assert (err.value.line, err.value.column) == (4, 1)
    assert err.value.reason.startswith(
        "unknown field 'larc' in caffe.SolverParameter: a field of NVIDIA Caffe (NVIDIA/caffe "
        "0.17; field 49, bool), not of BVLC Caffe; it is a solver setting")
    with caplog.at_level(logging.WARNING, logger="keras_caffe.proto"):
        solver = upgrade.read_upgraded_solver(SOLVER, ignore_unknown_fields=True)
    assert (solver.base_lr, solver.max_iter, solver.net) == (pytest.approx(0.01), 10,
                                                            "train_val.prototxt")
    assert len([r for r in caplog.records if r.name == "keras_caffe.proto"]) == 3
    with text.ignoring_unknown_fields():   # the default a command's flag sets
        assert upgrade.detect_kind(SOLVER) == "solver"
        assert text.read_solver(SOLVER).max_iter == 10


def test_the_catalogue_lists_no_field_our_schema_defines():
    entries = fork_fields.catalogue()
    assert len(entries) > 300
    for (message, field), entry in entries.items():
        descriptor = caffe_pb2.DESCRIPTOR.message_types_by_name.get(message) or \
            caffe_pb2.DESCRIPTOR.pool.FindMessageTypeByName(f"caffe.{message}")
        assert field not in descriptor.fields_by_name, f"{message}.{field} is in our schema"
        assert entry.forks and all(number > 0 for _, number, _ in entry.defined)
    # what the table says of a few fields, checked against the forks' caffe.proto files
    assert fork_fields.lookup("caffe.SolverParameter", "plateau_winsize").defined == (
        ("ssd", 43, "int32*"), ("yolo", 43, "int32*"), ("nvidia", 243, "int32*"),
        ("intel", 44, "int32*"))
    assert fork_fields.lookup("BatchNormParameter", "update_global_stats").ignorable
    assert not fork_fields.lookup("LayerParameter", "quantization_param").ignorable
    assert fork_fields.lookup("LayerParameter", "no_such_field") is None


def test_a_file_of_another_kind_is_not_skipped_into_an_empty_net():
    err = _error(SOLVER, ignore_unknown_fields=True)
    assert err.reason == ("no field of this file is a field of caffe.NetParameter: is it "
                          "another kind of prototxt (a solver for a net, a net for a solver)?")
    assert text.parse_net("# nothing yet\n", ignore_unknown_fields=True) == caffe_pb2.NetParameter()
