"""benchmarks/suite_nets.py writes GoogLeNet as the model zoo has it (the GPU suite runs where
../shared/zoo is absent), and its reduced depth keeps the layer types."""

import pathlib
import sys

from keras_caffe.proto import text
from tests.shared_paths import ZOO, require

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))
import suite_nets  # noqa: E402


def test_googlenet_is_the_zoo_deploy_net():
    zoo = text.read_net(str(require(ZOO / "bvlc" / "models" / "bvlc_googlenet" / "deploy.prototxt")))
    generated = text.parse_net(suite_nets.googlenet_prototxt(10, 224))
    assert len(generated.layer) == len(zoo.layer) == 143
    for ours, theirs in zip(generated.layer, zoo.layer):
        assert ours == theirs, theirs.name
    assert generated == zoo


def test_googlenet_cut_after_an_inception_pools_what_is_left():
    net = text.parse_net(suite_nets.googlenet_prototxt(2, 64, last="inception_3b"))
    names = [layer.name for layer in net.layer]
    assert names[-5:] == ["inception_3b/output", "pool5/7x7_s1", "pool5/drop_7x7_s1",
                          "loss3/classifier", "prob"]
    assert "pool3/3x3_s2" not in names
    pool5 = net.layer[names.index("pool5/7x7_s1")]
    assert list(pool5.bottom) == ["inception_3b/output"]
    assert pool5.pooling_param.kernel_size == 64 // 8
    assert suite_nets.googlenet_downsampling() == 32
    assert suite_nets.googlenet_downsampling("inception_4a") == 16
    assert {layer.type for layer in net.layer} == {"Input", "Convolution", "ReLU", "Pooling",
                                                    "LRN", "Concat", "Dropout", "InnerProduct",
                                                    "Softmax"}
