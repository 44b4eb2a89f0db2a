"""Inference folding (``weights.folding``): BatchNorm, Scale and Bias after a convolution or
inner product are folded into its blobs where Caffe's outputs cannot change, and only there;
the folded net computes the same outputs."""

from __future__ import annotations

import numpy as np
import pytest

import keras_caffe
from keras_caffe.export.common import folded_net
from keras_caffe.graph import layout
from keras_caffe.weights.folding import fold_affine_layers
from keras_caffe.weights.loader import expected_blob_shapes, set_layer_blobs

_IN = 'layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 2 dim: 3 dim: 6 dim: 6 } } }\n'


def _conv(name, bottom, top, bias=True, extra=""):
    return (f'layer {{ name: "{name}" type: "Convolution" bottom: "{bottom}" top: "{top}" {extra}'
            f'convolution_param {{ num_output: 4 kernel_size: 3 pad: 1 bias_term: {str(bias).lower()} }} }}\n')


def _layer(kind, name, bottom, top, body=""):
    return f'layer {{ name: "{name}" type: "{kind}" bottom: "{bottom}" top: "{top}" {body}}}\n'


NET = _IN + "".join([
    # conv without bias, BatchNorm and Scale in place, then ReLU: all three fold
    _conv("c1", "data", "c1", bias=False), _layer("BatchNorm", "bn1", "c1", "c1"),
    _layer("Scale", "sc1", "c1", "c1", "scale_param { bias_term: true } "),
    _layer("ReLU", "r1", "c1", "c1"),
    # out of place: the conv's top name goes, the last top's stays
    _conv("c2", "c1", "c2"), _layer("BatchNorm", "bn2", "c2", "b2"),
    _layer("Scale", "sc2", "b2", "b2", "scale_param { bias_term: false } "),
    # batch statistics: not an affine map
    _conv("c3", "b2", "c3"),
    _layer("BatchNorm", "bn3", "c3", "c3", "batch_norm_param { use_global_stats: false } "),
    # the conv's top has a second reader before the BatchNorm: nothing folds
    _conv("c4", "c3", "c4"), _layer("Sigmoid", "side", "c4", "s4"),
    _layer("BatchNorm", "bn4", "c4", "c4"),
    # shared weights: nothing folds
    _conv("c5", "c4", "c5", extra='param { name: "w5" } '), _layer("Bias", "bias5", "c5", "c5"),
    # an in-place layer between them: the BatchNorm reads its version, nothing folds
    _conv("c6", "c5", "c6"), _layer("TanH", "between", "c6", "c6"),
    _layer("BatchNorm", "bn6", "c6", "b6"),
    # a 2-D inner product, a BatchNorm and a Bias
    'layer { name: "fc" type: "InnerProduct" bottom: "b6" top: "fc" '
    'inner_product_param { num_output: 5 } }\n',
    _layer("BatchNorm", "bnf", "fc", "fc"), _layer("Bias", "biasf", "fc", "fc"),
])


def _random_blobs(cnet, seed=0):
    rng = np.random.default_rng(seed)
    for ctx in cnet.param_contexts:
        shapes = expected_blob_shapes(ctx)
        if ctx.node.type == "BatchNorm":
            blobs = [rng.normal(0, 1, shapes[0]), rng.uniform(0.5, 2, shapes[1]),
                     np.full(shapes[2], rng.uniform(0.5, 2))]
        else:
            blobs = [rng.normal(0, 0.5, s) for s in shapes]
        set_layer_blobs(ctx, [np.asarray(b, np.float32) for b in blobs])


@pytest.fixture(scope="module")
def built():
    cnet = keras_caffe.build_net(NET, phase="test", seed=0)
    _random_blobs(cnet)
    return cnet


def test_only_what_cannot_change_an_output_folds(built):
    ranks = {b: len(s) for b, s in built.shapes.items()}
    result = fold_affine_layers(built.graph, built.get_blobs(), built.phase, ranks)
    assert result.folds == {"c1": ["bn1", "sc1"], "c2": ["bn2", "sc2"], "fc": ["bnf", "biasf"]}
    layers = {l.name: l for l in result.param.layer}
    assert not {"bn1", "sc1", "bn2", "sc2", "bnf", "biasf"} & set(layers)
    assert {"bn3", "bn4", "bias5", "bn6"} <= set(layers)
    assert layers["c1"].convolution_param.bias_term and list(layers["c1"].top) == ["c1"]
    assert list(layers["c2"].top) == ["b2"] and list(layers["c3"].bottom) == ["b2"]
    assert [b.shape for b in result.blobs["c1"]] == [(4, 3, 3, 3), (4,)]
    assert "bn1" not in result.blobs and result.blobs["bn3"]
    # the input's own NetParameter is untouched
    assert [l.name for l in built.graph.param.layer].count("bn1") == 1


def test_a_name_kept_stops_the_chain(built):
    ranks = {b: len(s) for b, s in built.shapes.items()}
    result = fold_affine_layers(built.graph, built.get_blobs(), built.phase, ranks, keep={"b2"})
    assert result.folds["c2"] == ["bn2"]


def test_the_folded_net_computes_the_same_outputs(built):
    folded, folds = folded_net(built)
    assert folds and folded is not built
    x = np.random.default_rng(1).normal(0, 1, (2, 3, 6, 6)).astype(np.float32)
    feeds = {"data": layout.to_internal_array(x)}
    want, got = built.model(feeds), folded.model(feeds)
    assert set(got) == set(want) == {"fc", "s4"}
    for name in want:
        ref = np.asarray(want[name])
        np.testing.assert_allclose(np.asarray(got[name]), ref, rtol=0,
                                   atol=2e-5 * max(1.0, np.abs(ref).max()))


def test_a_train_phase_batch_norm_does_not_fold():
    cnet = keras_caffe.build_net(NET, phase="train", seed=0)
    ranks = {b: len(s) for b, s in cnet.shapes.items()}
    result = fold_affine_layers(cnet.graph, cnet.get_blobs(), cnet.phase, ranks)
    assert result.folds == {}


def test_nothing_to_fold_returns_the_net_itself():
    net = _IN + _conv("c", "data", "c") + _layer("ReLU", "r", "c", "c")
    cnet = keras_caffe.build_net(net, phase="test")
    assert folded_net(cnet) == (cnet, {})


def test_the_predictor_runs_the_folded_net(built):
    x = np.random.default_rng(2).normal(0, 1, (2, 3, 6, 6)).astype(np.float32)
    want = built.model({"data": layout.to_internal_array(x)})
    run = keras_caffe.predictor(built, runtime="keras")
    assert run.folds == {"c1": ["bn1", "sc1"], "c2": ["bn2", "sc2"], "fc": ["bnf", "biasf"]}
    # bn3 (batch statistics) updates its blobs on every call: the graph keeps its variables
    assert run.runner.frozen is None
    plain = keras_caffe.predictor(built, runtime="keras", fold=False)
    assert plain.folds == {}
    for got in (run(data=x), plain(data=x)):
        np.testing.assert_allclose(got["fc"], np.asarray(want["fc"]), rtol=0, atol=2e-4)
        np.testing.assert_allclose(got["s4"], layout.to_caffe_array(np.asarray(want["s4"])),
                                   rtol=0, atol=1e-5)
