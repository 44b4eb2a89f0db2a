"""Every per-layer golden case, run through ``keras-caffe forward`` and compared with Caffe."""

from __future__ import annotations

import pytest

from keras_caffe import build_net, cli, forward, resolve_net
from keras_caffe.converters import registry
from keras_caffe.graph import types
from tests.conformance.cases import assert_blobs_close, load_npz, meta, params


def gradient_tolerance(reference):
    return 1e-3, 1e-5

# Blobs compared exactly (indices and counts).
EXACT_TYPES = {"ArgMax", "Accuracy"}


def _xfail_unsupported(case):
    graph = resolve_net(case / "net.prototxt", phase=meta(case)["phase"].lower())
    missing = registry.find_unsupported([n for n in graph.layers if not types.is_source(n.param)])
    if missing:
        pytest.xfail("not yet supported: " + ", ".join(
            f"{t} ({', '.join(names)})" for t, names in sorted(missing.items())))
    return graph


def _run_case(case, tmp_path, monkeypatch):
    info = meta(case)
    graph = _xfail_unsupported(case)
    monkeypatch.chdir(case)  # Caffe resolves relative paths in the prototxt from here
    out = tmp_path / "out.npz"
    has_grads = (case / "grads.npz").is_file()
    argv = ["forward", "net.prototxt", "--weights", "weights.caffemodel", "--inputs", "inputs.npz",
            "--out", str(out), "--phase", info["phase"].lower()] + (["--backward"] if has_grads else [])
    assert cli.main(argv) == 0
    ours = load_npz(out)
    exact = {t.name for n in graph.layers if n.type in EXACT_TYPES for t in n.tops}
    assert_blobs_close(ours, load_npz(case / "outputs.npz"), exact=exact)
    if has_grads:
        assert_blobs_close(ours, load_npz(case / "grads.npz"), tol=gradient_tolerance)
    if (case / "params_after_forward.npz").is_file():
        _check_params_after_forward(case, info)


def _check_params_after_forward(case, info):
    """Layers that update their blobs in forward (BatchNorm's statistics) do it as Caffe."""
    cnet = build_net("net.prototxt", "weights.caffemodel", phase=info["phase"].lower(),
                     input_shapes={k: v.shape for k, v in load_npz(case / "inputs.npz").items()})
    forward(cnet, load_npz(case / "inputs.npz"))
    ours = {f"param/{layer}/{i}": b for layer, blobs in cnet.get_blobs().items()
            for i, b in enumerate(blobs)}
    assert_blobs_close(ours, load_npz(case / "params_after_forward.npz"))


@pytest.mark.parametrize("case", params("layers"))
def test_layer_case(case, tmp_path, monkeypatch):
    _run_case(case, tmp_path, monkeypatch)


@pytest.mark.parametrize("case", params("train_phase"))
def test_train_phase_case(case, tmp_path, monkeypatch):
    _run_case(case, tmp_path, monkeypatch)
