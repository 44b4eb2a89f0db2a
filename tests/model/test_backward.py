"""Gradients as Caffe's net.backward() leaves them: force_backward, propagate_down, lr_mult;
and `keras-caffe verify` / `dump-reference`."""

from __future__ import annotations

import numpy as np
import pytest

import keras_caffe
from keras_caffe import cli

NET = """
{force}
layer {{ name: "data" type: "Input" top: "x" top: "t" input_param {{ shape {{ dim: 3 dim: 4 }} shape {{ dim: 3 dim: 2 }} }} }}
layer {{ name: "fc" type: "InnerProduct" bottom: "x" top: "fc" param {{ lr_mult: 0 }} param {{ lr_mult: 2 decay_mult: 0 }}
  inner_product_param {{ num_output: 2 weight_filler {{ type: "gaussian" std: 1 }} bias_filler {{ type: "constant" value: 1 }} }} }}
layer {{ name: "loss" type: "EuclideanLoss" bottom: "fc" bottom: "t" top: "loss" {propagate} }}
"""


def _run(force="", propagate=""):
    rng = np.random.default_rng(0)
    inputs = {"x": rng.standard_normal((3, 4)).astype(np.float32),
              "t": rng.standard_normal((3, 2)).astype(np.float32)}
    net = NET.format(force=force, propagate=propagate)
    return keras_caffe.forward(net, inputs, backward=True), inputs


def test_gradients_match_the_closed_form_with_force_backward():
    out, inputs = _run("force_backward: true")
    w, b = keras_caffe.build_net(NET.format(force="", propagate="")).get_blobs()["fc"]
    residual = (inputs["x"] @ w.T + b - inputs["t"]) / 3  # d/dfc of sum(r^2)/(2N)
    np.testing.assert_allclose(out["diff/x"], residual @ w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["diff/t"], -residual, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["param/fc/0"], residual.T @ inputs["x"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["param/fc/1"], residual.sum(0), rtol=1e-5, atol=1e-6)


def test_without_force_backward_inputs_and_frozen_params_get_no_diff():
    out, _ = _run()
    assert not out["diff/x"].any() and not out["diff/t"].any()
    assert not out["param/fc/0"].any()   # lr_mult 0
    assert out["param/fc/1"].any()       # lr_mult 2


def test_propagate_down_false_stops_the_gradient():
    out, _ = _run("force_backward: true", "propagate_down: true propagate_down: false")
    assert out["diff/x"].any() and not out["diff/t"].any()


def test_lr_and_decay_multipliers_are_recorded_and_lr0_freezes():
    cnet = keras_caffe.build_net(NET.format(force="", propagate=""))
    mults = [(v.name, lr, decay) for v, lr, decay in cnet.param_multipliers()]
    assert mults == [("kernel", 0.0, 1.0), ("bias", 2.0, 0.0)]
    assert [v.name for v in cnet.model.trainable_weights] == ["bias"]


def test_verify_reports_the_first_mismatch(tmp_path, capsys):
    net = tmp_path / "n.prototxt"
    net.write_text(NET.format(force="force_backward: true", propagate=""))
    out, inputs = _run("force_backward: true")
    np.savez(tmp_path / "in.npz", **inputs)
    reference = dict(out)
    np.savez(tmp_path / "good.npz", **reference)
    assert cli.main(["verify", str(net), "--inputs", str(tmp_path / "in.npz"),
                     "--reference", str(tmp_path / "good.npz")]) == 0
    assert "match the reference" in capsys.readouterr().out
    reference["fc"] = reference["fc"] + 1
    reference["param/fc/1"] = reference["param/fc/1"] * 2
    np.savez(tmp_path / "bad.npz", **reference)
    assert cli.main(["verify", str(net), "--inputs", str(tmp_path / "in.npz"),
                     "--reference", str(tmp_path / "bad.npz")]) == 1
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "first mismatch: fc (made by layer 'fc')"
    assert "param/fc/1" in text and text.count("DIFFERS") == 2


def test_dump_reference_without_pycaffe_says_so(tmp_path, capfd):
    try:
        import caffe  # noqa: F401
        pytest.skip("pycaffe is installed here")
    except ImportError:
        pass
    net = tmp_path / "n.prototxt"
    net.write_text(NET.format(force="", propagate=""))
    np.savez(tmp_path / "in.npz", x=np.zeros((3, 4), np.float32), t=np.zeros((3, 2), np.float32))
    assert cli.main(["dump-reference", str(net), "--inputs", str(tmp_path / "in.npz"),
                     "--out", str(tmp_path / "ref.npz")]) == 3
    assert "pycaffe is not importable" in capfd.readouterr().err
    assert not (tmp_path / "ref.npz").exists()


LABELLED = """
force_backward: true
layer { name: "in" type: "Input" top: "x" top: "t" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "loss" type: "SigmoidCrossEntropyLoss" bottom: "x" bottom: "t" top: "loss" }
"""


def test_force_backward_leaves_a_loss_layers_labels_without_diff():
    """Caffe's loss layers refuse to propagate into their labels even with force_backward
    (AllowForceBackward), although the loss is differentiable in them."""
    x = np.array([[0.5, -1, 2], [0.1, 0.2, -0.3]], np.float32)
    t = np.array([[1, 0, 1], [0, 1, 0]], np.float32)
    out = keras_caffe.forward(LABELLED, {"x": x, "t": t}, backward=True)
    np.testing.assert_allclose(out["diff/x"], (1 / (1 + np.exp(-x)) - t) / 2, rtol=1e-5)
    assert out["diff/t"].shape == t.shape and not out["diff/t"].any()
