"""``caffe.Net``: construction, blobs and params as persistent arrays, forward and backward
(whole net and layer ranges), weights in and out, and pycaffe's errors."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import keras_caffe.pycaffe as caffe
from tests.pycaffe.nets import DEPLOY, LEVELS, STAGES, simple_net


@pytest.fixture
def write(tmp_path):
    def write(text, name="net.prototxt"):
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return write


@pytest.fixture
def net(write):
    net = caffe.Net(write(simple_net()), caffe.TRAIN)
    net.blobs["label"].data[...] = np.random.default_rng(0).integers(
        13, size=net.blobs["label"].data.shape)
    return net


def test_blobs_and_params_outlive_the_net(net):
    params = sum(map(list, net.params.values()), [])
    blobs = list(net.blobs.values())
    net.forward()
    del net
    total = sum(float(p.data.sum() + p.diff.sum()) for p in params)
    total += sum(float(b.data.sum() + b.diff.sum()) for b in blobs)
    assert np.isfinite(total)


def test_names_in_caffes_order(net):
    assert list(net.blobs) == ["data", "label", "conv", "ip_blob", "loss"]
    assert list(net._layer_names) == ["data", "conv", "ip", "loss"]
    assert list(net.layer_dict) == list(net._layer_names)
    assert [l.type for l in net.layers] == ["DummyData", "Convolution", "InnerProduct",
                                             "SoftmaxWithLoss"]
    assert isinstance(net.layers[1], caffe.Layer) and len(net.layers[1].blobs) == 2
    assert net.inputs == [] and net.outputs == ["loss"]
    assert net.top_names == OrderedDict([("data", ["data", "label"]), ("conv", ["conv"]),
                                         ("ip", ["ip_blob"]), ("loss", ["loss"])])
    assert net.bottom_names == OrderedDict([("data", []), ("conv", ["data"]), ("ip", ["conv"]),
                                            ("loss", ["ip_blob", "label"])])
    assert net.blob_loss_weights == OrderedDict(
        [("data", 0), ("label", 0), ("conv", 0), ("ip_blob", 0), ("loss", 1.0)])
    assert net.blobs["conv"].shape == (5, 11, 8, 9) and net.blobs["conv"].count == 5 * 11 * 72
    assert (net.blobs["conv"].num, net.blobs["conv"].channels, net.blobs["conv"].height,
            net.blobs["conv"].width) == (5, 11, 8, 9)
    assert net.params["conv"][0].shape == (11, 2, 2, 2)


def test_forward_matches_numpy_and_keeps_the_written_labels(net):
    labels = net.blobs["label"].data.copy()
    loss = float(net.forward()["loss"])
    data, conv = net.blobs["data"].data, net.blobs["conv"].data
    w, b = (p.data for p in net.params["ip"])
    logits = conv.reshape(5, -1) @ w.T + b
    logits -= logits.max(1, keepdims=True)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    expected = -np.mean(np.log(np.maximum(p[np.arange(5), labels.ravel().astype(int)],
                                          np.finfo(np.float32).tiny)))
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
    np.testing.assert_array_equal(net.blobs["label"].data, labels)   # constant: not refilled
    before = data.copy()
    net.forward()
    assert not np.array_equal(net.blobs["data"].data, before)        # gaussian: a new batch
    assert net.blobs["data"].data is data                            # the same array


def test_writes_into_params_take_effect_at_the_next_forward(net):
    net.params["ip"][0].data[...] = 0
    net.params["ip"][1].data[...] = np.arange(13, dtype=np.float32)
    net.forward()
    np.testing.assert_allclose(net.blobs["ip_blob"].data, np.tile(np.arange(13), (5, 1)))


def test_backward_diffs_and_clear_param_diffs(net):
    net.forward()
    net.backward()
    diff = net.params["conv"][0].diff
    assert diff.max() > 0 and net.blobs["data"].diff.any()
    ip = net.params["ip"][0].diff.copy()
    net.forward()
    net.backward()                       # parameter diffs accumulate, as Caffe's layers add
    assert not np.allclose(net.params["ip"][0].diff, ip)
    net.clear_param_diffs()
    assert (diff == 0).all()


def test_forward_start_end(net):
    conv, ip = net.blobs["conv"], net.blobs["ip_blob"]
    x = np.random.default_rng(1).uniform(size=conv.data.shape).astype(np.float32)
    conv.data[:] = x
    out = net.forward(start="ip", end="ip")
    assert list(out) == ["ip_blob"]
    w, b = net.params["ip"][0].data, net.params["ip"][1].data
    np.testing.assert_allclose(ip.data, x.reshape(5, -1) @ w.T + b, rtol=1e-3, atol=1e-5)


def test_backward_start_end(net):
    conv, ip = net.blobs["conv"], net.blobs["ip_blob"]
    g = np.random.default_rng(2).uniform(size=ip.data.shape).astype(np.float32)
    ip.diff[:] = g
    out = net.backward(start="ip", end="ip")
    assert "conv" in out
    np.testing.assert_allclose(conv.diff, (g @ net.params["ip"][0].data).reshape(conv.shape),
                               rtol=1e-3, atol=1e-5)


def test_save_and_read_with_both_constructors(net, write, tmp_path):
    path = str(tmp_path / "w.caffemodel")
    net.save(path)
    legacy = caffe.Net(write(simple_net()), path, caffe.TRAIN)
    named = caffe.Net(write(simple_net()), caffe.TRAIN, weights=path)
    for name, blobs in net.params.items():
        for i, blob in enumerate(blobs):
            np.testing.assert_array_equal(legacy.params[name][i].data, blob.data)
            np.testing.assert_array_equal(named.params[name][i].data, blob.data)


def test_save_hdf5_and_load_hdf5(net, write, tmp_path):
    import h5py

    path = str(tmp_path / "w.h5")
    net.save_hdf5(path)
    with h5py.File(path) as f:
        assert sorted(f["data"]) == ["conv", "data", "ip", "loss"]
        assert f["data/conv/0"].shape == (11, 2, 2, 2) and len(f["data/loss"]) == 0
    other = caffe.Net(write(simple_net()), caffe.TRAIN)
    other.load_hdf5(path)
    for name, blobs in net.params.items():
        for i, blob in enumerate(blobs):
            np.testing.assert_array_equal(other.params[name][i].data, blob.data)


@pytest.mark.parametrize("level,expected", [
    (0, ["NoLevel", "Level0Only", "Level>=0"]),
    (1, ["NoLevel", "Level1Only", "Level>=0", "Level>=1"])])
def test_levels(write, level, expected):
    net = caffe.Net(write(LEVELS), caffe.TEST, level=level)
    assert [b for b in net.blobs if "data" not in b] == expected


@pytest.mark.parametrize("stages,expected", [
    (["A"], ["A", "AorB"]), (["B"], ["B", "AorB"]), (["A", "B"], ["A", "B", "AorB", "AandB"])])
def test_stages(write, stages, expected):
    net = caffe.Net(write(STAGES), caffe.TEST, stages=stages)
    assert [b for b in net.blobs if "data" not in b] == expected


def test_deploy_net_inputs_kwargs_and_seeded_backward(write):
    net = caffe.Net(write(DEPLOY.replace("name: 'deploy'", "name: 'deploy' force_backward: true")),
                    caffe.TEST)
    assert net.inputs == ["data"] and net.outputs == ["prob"]
    x = np.random.default_rng(3).standard_normal((2, 3, 6, 6)).astype(np.float32)
    out = net.forward(data=x)
    np.testing.assert_allclose(out["prob"].sum(1), 1, rtol=1e-5)
    np.testing.assert_array_equal(net.blobs["data"].data, x)
    # A saliency-style backward: seed the output's diff, read the input's.
    seed = np.zeros((2, 5), np.float32)
    seed[:, 0] = 1
    grads = net.backward(prob=seed)
    eps = 1e-2
    bumped = x.copy()
    bumped[0, 1, 2, 3] += eps
    up = net.forward(data=bumped)["prob"][0, 0]
    bumped[0, 1, 2, 3] -= 2 * eps
    down = net.forward(data=bumped)["prob"][0, 0]
    np.testing.assert_allclose(grads["data"][0, 1, 2, 3], (up - down) / (2 * eps),
                               rtol=2e-2, atol=1e-4)


def test_forward_all_pads_the_last_batch(write):
    net = caffe.Net(write(DEPLOY), caffe.TEST)
    x = np.random.default_rng(4).standard_normal((5, 3, 6, 6)).astype(np.float32)
    out = net.forward_all(data=x)
    assert out["prob"].shape == (5, 5)
    np.testing.assert_allclose(out["prob"][:2], net.forward(data=x[:2])["prob"], rtol=1e-5)


def test_pycaffes_errors_are_python_exceptions(write, tmp_path):
    with pytest.raises(FileNotFoundError, match="Could not open network file"):
        caffe.Net(str(tmp_path / "nope.prototxt"), caffe.TEST)
    path = write(DEPLOY)
    with pytest.raises(FileNotFoundError, match="Could not open weights file"):
        caffe.Net(path, caffe.TEST, weights=str(tmp_path / "nope.caffemodel"))
    net = caffe.Net(path, caffe.TEST)
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        net.forward(start="nope")
    with pytest.raises(ValueError, match="do not match the net's inputs"):
        net.forward(image=np.zeros((2, 3, 6, 6)))
    with pytest.raises(ValueError, match="not batch sized"):
        net.forward(data=np.zeros((3, 3, 6, 6)))
    with pytest.raises(KeyError):
        net.blobs["nope"]
    with pytest.raises(ValueError):
        net.blobs["data"].data[...] = np.zeros((2, 3, 5, 5))
    with pytest.raises(ValueError, match="phase"):
        caffe.Net(path, 7)


def test_memory_data_set_input_arrays(write):
    net = caffe.Net(write("""
layer { name: 'data' type: 'MemoryData' top: 'data' top: 'label'
        memory_data_param { batch_size: 2 channels: 1 height: 2 width: 2 } }
layer { name: 'fc' type: 'InnerProduct' bottom: 'data' top: 'fc'
        inner_product_param { num_output: 1 weight_filler { type: 'constant' value: 1 } } }
"""), caffe.TEST)
    data = np.arange(16, dtype=np.float32).reshape(4, 1, 2, 2)
    net.set_input_arrays(data, np.arange(4, dtype=np.float32)[:, None, None, None])
    first = net.forward()["fc"].ravel().tolist()
    second = net.forward()["fc"].ravel().tolist()
    assert first == [6, 22] and second == [38, 54]
    np.testing.assert_array_equal(net.blobs["label"].data.ravel(), [2, 3])


TRAIN_WITH_DROPOUT = simple_net().replace(
    "layer { type: 'InnerProduct'",
    "layer { type: 'Dropout' name: 'drop' bottom: 'conv' top: 'conv' "
    "dropout_param { dropout_ratio: 0.5 } }\nlayer { type: 'InnerProduct'")


def _close(ours, reference):
    """Equal but for float32 summation order (one compiled call against two)."""
    np.testing.assert_allclose(ours, reference, rtol=1e-5,
                               atol=1e-6 * max(1.0, float(np.max(np.abs(reference)))))


def _pair(write):
    nets = []
    for _ in range(2):
        caffe.set_random_seed(5)
        net = caffe.Net(write(TRAIN_WITH_DROPOUT), caffe.TRAIN)
        net.blobs["label"].data[...] = np.arange(5).reshape(5, 1, 1, 1)
        nets.append(net)
    nets[1]._runtime.allow_speculation = False
    return nets


def test_a_training_loop_computes_backward_with_forward_and_gets_caffes_numbers(write):
    fast, slow = _pair(write)
    for _ in range(3):
        for net in (fast, slow):
            net.forward()
            net.backward()
        for name in ("conv", "ip_blob", "loss"):
            _close(fast.blobs[name].data, slow.blobs[name].data)
        for name in ("conv", "ip"):
            _close(fast.params[name][0].diff, slow.params[name][0].diff)
        _close(fast.blobs["data"].diff, slow.blobs["data"].diff)
    assert fast._runtime.speculation_hits == 2 and slow._runtime.speculation_hits == 0


def test_what_changes_after_forward_is_what_backward_uses(write):
    fast, slow = _pair(write)
    for net in (fast, slow):
        net.forward()
        net.backward()
        net.clear_param_diffs()
        net.forward()
        net.blobs["loss"].diff[...] = 2.0           # a new seed
        net.params["ip"][0].data[...] *= 0.5        # and new weights
        net.backward()
    assert fast._runtime.speculation_hits == 0
    _close(fast.params["conv"][0].diff, slow.params["conv"][0].diff)


def test_deep_dream_style_backward_from_an_intermediate_layer(write):
    """forward(end=L), seed L's top with its own data, backward(start=L): the data's diff is
    the gradient of sum(seed * top) (Caffe runs backward from L down, ignoring later layers)."""
    net = caffe.Net(write(DEPLOY.replace("name: 'deploy'", "name: 'd' force_backward: true")),
                    caffe.TEST)
    x = np.random.default_rng(5).standard_normal((2, 3, 6, 6)).astype(np.float32)
    net.blobs["data"].data[...] = x
    out = net.forward(end="pool1")
    assert list(out) == ["pool1"]
    seed = net.blobs["pool1"].data.copy()
    net.blobs["pool1"].diff[...] = seed
    net.blobs["prob"].diff[...] = 123.0            # above the start layer: never read
    grads = net.backward(start="pool1")
    objective = lambda: float(np.sum(net.forward(end="pool1")["pool1"] * seed))  # noqa: E731
    eps = 1e-2
    for index in [(0, 0, 1, 1), (1, 2, 4, 3)]:
        bumped = x.copy()
        bumped[index] += eps
        net.blobs["data"].data[...] = bumped
        up = objective()
        bumped[index] -= 2 * eps
        net.blobs["data"].data[...] = bumped
        down = objective()
        np.testing.assert_allclose(grads["data"][index], (up - down) / (2 * eps), rtol=2e-2,
                                   atol=1e-3)
