"""``caffe.NetSpec``, ``caffe.layers``, ``caffe.params`` and ``caffe.to_proto``: the messages
and text pycaffe's net_spec.py writes for the same calls."""

from __future__ import annotations

import re

import numpy as np
import pytest

import keras_caffe.pycaffe as caffe
from keras_caffe.proto import caffe_pb2
from keras_caffe.proto.text import to_text
from keras_caffe.proto.upgrade import read_upgraded_net
from keras_caffe.pycaffe import layers as L, params as P
from keras_caffe.pycaffe.net_spec import FieldValueError, UnknownFieldError, param_name_dict
from tests.pycaffe.netspec_calls import (NotExpressible, layers_of_phase, netspec_for,
                                         stages_named)
from tests.shared_paths import SHARED, ZOO, require


def lenet(batch_size, named=True):
    """pycaffe's own test net, named through a NetSpec or left anonymous."""
    n = caffe.NetSpec() if named else {}
    set_ = n.__setitem__
    data, label = L.DummyData(shape=[dict(dim=[batch_size, 1, 28, 28]),
                                     dict(dim=[batch_size, 1, 1, 1])],
                              transform_param=dict(scale=1. / 255), ntop=2)
    set_("data", data), set_("label", label)
    set_("conv1", L.Convolution(data, kernel_size=5, num_output=20,
                                weight_filler=dict(type="xavier")))
    set_("pool1", L.Pooling(n["conv1"], kernel_size=2, stride=2, pool=P.Pooling.MAX))
    set_("conv2", L.Convolution(n["pool1"], kernel_size=5, num_output=50,
                                weight_filler=dict(type="xavier")))
    set_("pool2", L.Pooling(n["conv2"], kernel_size=2, stride=2, pool=P.Pooling.MAX))
    set_("ip1", L.InnerProduct(n["pool2"], num_output=500, weight_filler=dict(type="xavier")))
    set_("relu1", L.ReLU(n["ip1"], in_place=True))
    set_("ip2", L.InnerProduct(n["relu1"], num_output=10, weight_filler=dict(type="xavier")))
    set_("loss", L.SoftmaxWithLoss(n["ip2"], label))
    return n.to_proto() if named else n["loss"].to_proto()


def _load(tmp_path, net_param, phase=caffe.TEST):
    path = tmp_path / "net.prototxt"
    path.write_text(str(net_param))
    return caffe.Net(str(path), phase)


def test_named_lenet_layers_names_and_the_in_place_relu(tmp_path):
    net_param = lenet(50)
    assert [(l.name, l.type, list(l.bottom), list(l.top)) for l in net_param.layer] == [
        ("data", "DummyData", [], ["data", "label"]),
        ("conv1", "Convolution", ["data"], ["conv1"]),
        ("pool1", "Pooling", ["conv1"], ["pool1"]),
        ("conv2", "Convolution", ["pool1"], ["conv2"]),
        ("pool2", "Pooling", ["conv2"], ["pool2"]),
        ("ip1", "InnerProduct", ["pool2"], ["ip1"]),
        ("relu1", "ReLU", ["ip1"], ["ip1"]),
        ("ip2", "InnerProduct", ["ip1"], ["ip2"]),
        ("loss", "SoftmaxWithLoss", ["ip2", "label"], ["loss"])]
    first = net_param.layer[0]
    assert [list(s.dim) for s in first.dummy_data_param.shape] == [[50, 1, 28, 28],
                                                                   [50, 1, 1, 1]]
    assert first.transform_param.scale == pytest.approx(1 / 255)
    assert net_param.layer[2].pooling_param.pool == caffe_pb2.PoolingParameter.MAX
    assert net_param.layer[1].convolution_param.weight_filler.type == "xavier"
    net = _load(tmp_path, net_param)
    assert len(net.layers) == 9
    assert net.blobs["ip2"].data.shape == (50, 10)


def test_anonymous_lenet_gets_caffes_automatic_names(tmp_path):
    net_param = lenet(5, named=False)
    assert [(l.name, list(l.bottom), list(l.top)) for l in net_param.layer] == [
        ("DummyData1", [], ["DummyData1", "DummyData2"]),
        ("Convolution1", ["DummyData1"], ["Convolution1"]),
        ("Pooling1", ["Convolution1"], ["Pooling1"]),
        ("Convolution2", ["Pooling1"], ["Convolution2"]),
        ("Pooling2", ["Convolution2"], ["Pooling2"]),
        ("InnerProduct1", ["Pooling2"], ["InnerProduct1"]),
        ("ReLU1", ["InnerProduct1"], ["InnerProduct1"]),
        ("InnerProduct2", ["InnerProduct1"], ["InnerProduct2"]),
        ("SoftmaxWithLoss1", ["InnerProduct2", "DummyData2"], ["SoftmaxWithLoss1"])]
    assert len(_load(tmp_path, net_param).layers) == 9


def test_layers_without_tops_are_named_by_type_and_count(tmp_path):
    n = caffe.NetSpec()
    n.data, n.data2 = L.DummyData(shape=dict(dim=3), ntop=2)
    n.silence_data = L.Silence(n.data, ntop=0)
    n.silence_data2 = L.Silence(n.data2, ntop=0)
    net_param = n.to_proto()
    assert [l.name for l in net_param.layer] == ["data", "silence_data", "silence_data2"]
    assert [list(s.dim) for s in net_param.layer[0].dummy_data_param.shape] == [[3]]
    assert to_text(caffe.to_proto(L.Silence(L.Input(), ntop=0))).count('name: "Silence1"') == 1
    assert len(_load(tmp_path, net_param).forward()) == 0


def test_an_input_that_is_not_a_top_is_a_type_error():
    data = L.DummyData(ntop=2)
    with pytest.raises(TypeError, match=r"^Silence input 0 is not a Top \(type is "
                                        r"<class 'tuple'>\)$"):
        L.Silence(data, ntop=0)
    assert isinstance(L.Silence(*data, ntop=0), caffe.net_spec.Function)


def test_text_is_caffes_nonlinear_auto_train_and_test_byte_for_byte():
    """The brewing-logreg tutorial's nonlinear_net, as Caffe wrote it into the zoo."""
    for split, batch in (("train", 10), ("test", 10)):
        want = require(ZOO / f"bvlc/examples/hdf5_classification/nonlinear_auto_{split}.prototxt")
        n = caffe.NetSpec()
        n.data, n.label = L.HDF5Data(batch_size=batch, ntop=2,
                                     source=f"examples/hdf5_classification/data/{split}.txt")
        n.ip1 = L.InnerProduct(n.data, num_output=40, weight_filler=dict(type="xavier"))
        n.relu1 = L.ReLU(n.ip1, in_place=True)
        n.ip2 = L.InnerProduct(n.ip1, num_output=2, weight_filler=dict(type="xavier"))
        n.accuracy = L.Accuracy(n.ip2, n.label)
        n.loss = L.SoftmaxWithLoss(n.ip2, n.label)
        assert str(n.to_proto()) == want.read_text()


def test_linreg_written_with_netspec_is_the_zoos_hand_written_message():
    """examples/pycaffe/linreg.prototxt (written by hand in Caffe) as NetSpec calls: the
    same message, field for field."""
    want = read_upgraded_net(str(require(ZOO / "bvlc/examples/pycaffe/linreg.prototxt")))
    n = caffe.NetSpec()
    for name in ("x", "y"):
        n[name] = L.DummyData(shape=dict(dim=[10, 3, 2]), data_filler=dict(type="gaussian"))
    n.ipx = L.InnerProduct(n.x, num_output=10, weight_filler=dict(type="xavier"))
    n.ipy = L.InnerProduct(n.y, num_output=10, weight_filler=dict(type="xavier"))
    n.loss = L.Python(n.ipx, n.ipy, module="pyloss", layer="EuclideanLossLayer", loss_weight=1)
    got = n.to_proto()
    got.name = "LinearRegressionExample"
    assert got == want


def _zoo_cases():
    if not ZOO.is_dir():
        return [pytest.param(None, 0, (), id="zoo-missing",
                             marks=pytest.mark.skip(reason=f"{ZOO} not found"))]
    cases = []
    for path in sorted(ZOO.rglob("*.prototxt")):
        if "solver" in path.name:
            continue
        net = read_upgraded_net(str(path))
        for phase in (caffe.TRAIN, caffe.TEST):
            for stages in stages_named(net):
                rel = path.relative_to(SHARED)
                cases.append(pytest.param(path, phase, stages, id=f"{rel}-"
                                          f"{'TRAIN' if phase == 0 else 'TEST'}"
                                          + "".join(f"-{s}" for s in stages)))
    return cases


@pytest.mark.parametrize("path,phase,stages", _zoo_cases())
def test_every_zoo_net_written_as_netspec_calls_comes_back_field_for_field(path, phase, stages):
    """Each phase of each zoo net, written as the calls a user makes (own-type parameters
    flat, other messages by name, ``name=`` where a layer is named unlike its top), gives
    the same layers: order, names, bottoms, tops and every field value."""
    want = layers_of_phase(read_upgraded_net(str(path)), phase, stages)
    try:
        spec = netspec_for(want)
    except NotExpressible as exc:
        pytest.fail(f"{path.name}: {exc}")
    got = spec.to_proto()
    assert [l.name for l in got.layer] == [l.name for l in want.layer]
    for got_layer, want_layer in zip(got.layer, want.layer):
        assert got_layer == want_layer, got_layer.name
    assert to_text(got) == to_text(want)


def test_param_name_dict_covers_caffes_types_and_the_forks():
    names = param_name_dict()
    assert names["Convolution"] == "convolution" and names["Pooling"] == "pooling"
    assert names["Transformation"] == "transform" and names["Loss"] == "loss"
    assert names["HDF5Data"] == "hdf5_data" and names["Python"] == "python"
    assert names["Normalize"] == "norm"               # SSD's NormalizeParameter
    assert names["PriorBox"] == "prior_box" and names["Permute"] == "permute"
    assert "Deconvolution" not in names                  # it shares convolution_param


def test_keywords_go_to_the_types_message_else_to_the_layer():
    top = L.Convolution(L.Input(shape=dict(dim=[1, 3, 8, 8])), num_output=4, kernel_size=3,
                        pad=[1], param=[dict(lr_mult=1, decay_mult=1), dict(lr_mult=2)],
                        include=dict(phase=caffe.TRAIN), loss_weight=0.5,
                        bias_filler=dict(type="constant", value=0.1),
                        propagate_down=[True], name="renamed")
    layer = top.to_proto().layer[1]
    assert layer.name == "renamed" and list(layer.top) == ["Convolution1"]
    conv = layer.convolution_param
    assert (conv.num_output, list(conv.kernel_size), list(conv.pad)) == (4, [3], [1])
    assert conv.bias_filler.type == "constant" and conv.bias_filler.value == pytest.approx(0.1)
    assert [(p.lr_mult, p.decay_mult) for p in layer.param] == [(1, 1), (2, 1)]
    assert not layer.param[1].HasField("decay_mult")
    assert [r.phase for r in layer.include] == [caffe.TRAIN]
    assert list(layer.loss_weight) == [0.5] and list(layer.propagate_down) == [True]


def test_fork_user_and_python_types_take_their_own_messages():
    data = L.Input(shape=dict(dim=[1, 8, 4, 4]))
    proto = caffe.to_proto(
        L.Permute(data, order=[0, 2, 3, 1]),
        L.PriorBox(data, data, min_size=30.0, max_size=60.0, aspect_ratio=[2.0], flip=True),
        L.Normalize(data, across_spatial=False, scale_filler=dict(type="constant", value=20)),
        L.Python(data, module="my_layers", layer="Mine", param_str="{'k': 3}"),
        L.MyOwnType(data, convolution_param=dict(num_output=2), ntop=2)[1],
        L.Deconvolution(data, convolution_param=dict(num_output=3, kernel_size=4, stride=2)))
    by_type = {l.type: l for l in proto.layer}
    assert list(by_type["Permute"].permute_param.order) == [0, 2, 3, 1]
    prior = by_type["PriorBox"].prior_box_param
    assert (list(prior.min_size), list(prior.max_size), list(prior.aspect_ratio), prior.flip) \
        == ([30.0], [60.0], [2.0], True)
    assert by_type["Normalize"].norm_param.scale_filler.value == 20
    assert by_type["Python"].python_param.param_str == "{'k': 3}"
    assert list(by_type["MyOwnType"].top) == ["MyOwnType1", "MyOwnType2"]
    assert by_type["MyOwnType"].convolution_param.num_output == 2
    assert by_type["Deconvolution"].convolution_param.stride == [2]


def test_params_are_the_enums_of_each_message():
    assert P.Pooling.MAX == 0 and P.Pooling.AVE == 1 and P.Pooling.STOCHASTIC == 2
    assert P.Eltwise.SUM == 1 and P.Eltwise.PROD == 0 and P.Eltwise.MAX == 2
    assert P.Loss.VALID == caffe_pb2.LossParameter.VALID
    assert P.Convolution.CUDNN == caffe_pb2.ConvolutionParameter.CUDNN
    with pytest.raises(AttributeError, match=r"caffe.params.Pooling has no 'MEAN' .*MAX, AVE"):
        P.Pooling.MEAN
    with pytest.raises(AttributeError, match="no NoSuchParameter message"):
        P.NoSuch.X


def test_in_place_layers_with_several_bottoms_and_multi_top_tuples():
    a, b = L.DummyData(shape=[dict(dim=[2]), dict(dim=[2])], ntop=2)
    assert isinstance(L.DummyData(ntop=3), tuple) and len(L.DummyData(ntop=3)) == 3
    proto = caffe.to_proto(L.Eltwise(a, b, in_place=True))
    assert list(proto.layer[1].top) == list(proto.layer[1].bottom) == ["DummyData1",
                                                                       "DummyData2"]


def test_a_top_named_twice_keeps_the_last_name_and_order_of_first_naming():
    n = caffe.NetSpec()
    n.x = L.Input(shape=dict(dim=[1]))
    n.y = L.ReLU(n.x)
    n.z = n.y
    proto = n.to_proto()
    assert [(l.name, list(l.top)) for l in proto.layer] == [("x", ["x"]), ("z", ["z"])]
    assert "y" in n and n["y"] is n.z


@pytest.mark.parametrize("call,error,message", [
    (lambda x: L.Convolution(x, kernal_size=3), UnknownFieldError,
     "layer 'Convolution1' (Convolution): 'kernal_size' is neither a field of "
     "convolution_param nor of LayerParameter; did you mean 'kernel_size'"),
    (lambda x: L.Deconvolution(x, num_output=3), UnknownFieldError,
     "Deconvolution's parameters go in convolution_param=dict(num_output=...)"),
    (lambda x: L.Convolution(x, weight_filler=dict(tpye="xavier")), UnknownFieldError,
     "FillerParameter has no field 'tpye' (at convolution_param.weight_filler.tpye); did "
     "you mean 'type'"),
    (lambda x: L.Pooling(x, kernel_size=[3, 4]), FieldValueError,
     "pooling_param.kernel_size holds one value, not a list ([3, 4])"),
    (lambda x: L.Convolution(x, weight_filler="xavier"), FieldValueError,
     "convolution_param.weight_filler is a FillerParameter message: give a dict"),
    (lambda x: L.Convolution(x, num_output="ten"), FieldValueError,
     "convolution_param.num_output cannot hold 'ten'"),
    (lambda x: L.Pooling(x, pool=9), FieldValueError, "pooling_param.pool cannot hold 9"),
    (lambda x: L.ReLU(x, param=["lr"]), FieldValueError,
     "param holds ParamSpec messages: give dicts, not 'lr'"),
    (lambda x: L.MyType(x, foo=1), UnknownFieldError,
     "MyType has no <type>_param message of its own"),
])
def test_bad_keywords_name_the_layer_field_and_value(call, error, message):
    top = call(L.Input(shape=dict(dim=[1, 1, 4, 4])))
    with pytest.raises(error) as info:
        top.to_proto()
    assert message in str(info.value)
    # the builtin class pycaffe's protobuf calls raise is kept for scripts that catch it
    assert isinstance(info.value, AttributeError if error is UnknownFieldError
                      else (TypeError, ValueError))


def test_netspec_refuses_what_is_not_a_top_and_misses_names_clearly():
    n = caffe.NetSpec()
    with pytest.raises(TypeError, match=re.escape("n.data, n.label = L.Data(..., ntop=2)")):
        n.both = L.DummyData(ntop=2)
    with pytest.raises(TypeError, match="got int"):
        n["x"] = 3
    with pytest.raises(KeyError, match="no top named 'nope'"):
        n.nope
    assert getattr(n, "nope", None) is None and not hasattr(n, "nope")
    with pytest.raises(TypeError, match="ntop must be a count"):
        L.Data(ntop=-1)


def test_values_from_numpy_and_tuples_are_accepted():
    proto = caffe.to_proto(L.Convolution(L.Input(), num_output=np.int64(4),
                                         kernel_size=(3, 5), pad=np.array([1, 2]).tolist(),
                                         weight_filler=dict(std=np.float32(0.5))))
    conv = proto.layer[1].convolution_param
    assert (conv.num_output, list(conv.kernel_size), list(conv.pad)) == (4, [3, 5], [1, 2])
    assert conv.weight_filler.std == 0.5


def test_empty_dicts_and_lists_set_nothing_as_in_pycaffe():
    layer = caffe.to_proto(L.Convolution(L.Input(), weight_filler={}, param=[])).layer[1]
    assert not layer.convolution_param.HasField("weight_filler") and not layer.param


def test_the_ssd_forks_keys_update_vals_and_del_as_model_libs_calls_them():
    """model_libs.py (SSD fork) names the last top with net.keys()[-1] and adds PriorBox
    fields with net.update(name, {...}) after the layer was made."""
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    n.conv = L.Convolution(n.data, num_output=4, kernel_size=3)
    n.relu = L.ReLU(n.conv, in_place=True)
    assert n.keys() == ["data", "conv", "relu"] and n.vals()[-1] is n.relu
    n.prior = L.PriorBox(n[n.keys()[-1]], n.data, min_size=[2.0])
    n.update("prior", {"max_size": [4.0], "aspect_ratio": [2], "flip": True})
    n.update("conv", {"dilation": 2})
    del n["relu"]
    proto = n.to_proto()
    assert [layer.name for layer in proto.layer] == ["data", "conv", "ReLU1", "prior"]
    prior = proto.layer[3].prior_box_param
    assert (list(prior.min_size), list(prior.max_size), list(prior.aspect_ratio),
            prior.flip) == ([2.0], [4.0], [2.0], True)
    assert list(proto.layer[1].convolution_param.dilation) == [2]
    with pytest.raises(KeyError, match="no top named 'nope'"):
        n.update("nope", {"flip": True})
