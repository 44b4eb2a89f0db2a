"""``caffe.Net(..., runtime=...)``: whole-net TEST forwards through ``keras_caffe.predictor``
give pycaffe's numbers, the other blobs are computed when read, and weight changes are seen."""

from __future__ import annotations

import numpy as np
import pytest

import keras_caffe
import keras_caffe.pycaffe as caffe
from tests.export.nets import CLASSIFIER, write_net


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    net, weights = write_net(tmp_path_factory.mktemp("runtime_net"), CLASSIFIER, seed=5)
    return str(net), str(weights)


def _x(seed):
    return np.random.default_rng(seed).standard_normal((1, 3, 12, 10)).astype(np.float32) * 2


@pytest.mark.parametrize("runtime", ["litert", "keras"])
def test_forward_matches_the_plain_net(files, runtime):
    net_file, weights = files
    plain = caffe.Net(net_file, caffe.TEST, weights=weights)
    fast = caffe.Net(net_file, caffe.TEST, weights=weights, runtime=runtime)
    assert fast.runtime is None and plain.runtime is None   # no pass yet / no runtime
    for seed in (1, 2):
        want = plain.forward(data=_x(seed))["prob"].copy()
        got = fast.forward(data=_x(seed))["prob"]
        assert fast.runtime == runtime
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        # a blob the predictor did not compute is computed when read
        np.testing.assert_allclose(fast.blobs["fc"].data, plain.blobs["fc"].data,
                                   rtol=0, atol=1e-5)
    # a script's write into the weights is seen by the next pass
    fast.params["fc"][1].data[...] += 3.0
    plain.params["fc"][1].data[...] += 3.0
    fast.params["fc"][0].data[...] *= -1.0
    plain.params["fc"][0].data[...] *= -1.0
    np.testing.assert_allclose(fast.forward(data=_x(3))["prob"],
                               plain.forward(data=_x(3))["prob"], rtol=0, atol=1e-5)


def test_classifier_and_errors(files):
    net_file, weights = files
    clf = caffe.Classifier(net_file, weights, runtime="litert")
    plain = caffe.Classifier(net_file, weights)
    images = [np.random.default_rng(s).random((14, 11, 3)).astype(np.float32) for s in (0, 1)]
    np.testing.assert_allclose(clf.predict(images), plain.predict(images), rtol=0, atol=1e-5)
    assert clf.runtime == "litert"
    with pytest.raises(keras_caffe.CaffeError, match=r"runtime must be one of .*got 'fast'"):
        caffe.Net(net_file, caffe.TEST, runtime="fast")
    with pytest.raises(keras_caffe.CaffeError, match="not shared ones"):
        clf.share_with(plain)


PYTHON_NET = ("name: 'pythonnet'\ninput: 'data' input_shape { dim: 2 dim: 3 }\n"
              "layer { type: 'Python' name: 'one' bottom: 'data' top: 'one' python_param { "
              "module: 'tests.pycaffe.python_layers' layer: 'TimesTen' } }\n")


def test_python_layers_run_on_the_nets_own_pass_with_auto(tmp_path):
    path = tmp_path / "py.prototxt"
    path.write_text(PYTHON_NET)
    net = caffe.Net(str(path), caffe.TEST, runtime="auto")
    assert np.all(net.forward(data=np.full((2, 3), 2, np.float32))["one"] == 20)
    assert net.runtime == "net"
    strict = caffe.Net(str(path), caffe.TEST, runtime="litert")
    with pytest.raises(keras_caffe.CaffeError, match=r"cannot export Python layer\(s\)"):
        strict.forward(data=np.ones((2, 3), np.float32))
