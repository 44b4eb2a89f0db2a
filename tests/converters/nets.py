"""Shared by the converter tests: one-layer prototxts, running them, and the checks every
parameter-holding variant gets (Caffe blob shapes and a caffemodel round trip; parameter
gradients against central finite differences of the total loss).

Only keras_caffe's public API is used, plus ``keras_caffe.proto.binary.write_caffemodel``
(the project's own caffemodel writer) to put chosen blobs into a file for ``weights=``.
"""

from __future__ import annotations

import numpy as np

import keras_caffe
from keras_caffe.proto.binary import write_caffemodel

RTOL, ATOL = 1e-4, 1e-5

# Fillers with values that are neither zeros nor ones, so weight layouts matter.
FILLERS = ('weight_filler { type: "gaussian" std: 0.5 } '
           'bias_filler { type: "gaussian" mean: 0.2 std: 0.3 }')


def randn(*shape, seed=0, scale=1.0, shift=0.0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * scale + shift).astype(np.float32)


def layer(name, kind, bottoms=(), tops=None, body=""):
    """One ``layer { }``; ``tops`` defaults to a single top named after the layer."""
    bottoms = [bottoms] if isinstance(bottoms, str) else list(bottoms)
    tops = [name] if tops is None else [tops] if isinstance(tops, str) else list(tops)
    words = [f'name: "{name}"', f'type: "{kind}"']
    words += [f'bottom: "{b}"' for b in bottoms] + [f'top: "{t}"' for t in tops]
    return "layer { " + " ".join(words + [body]) + " }"


def net(inputs, *layers, header=""):
    """A prototxt: ``header`` lines, one Input layer for ``inputs`` (name -> array or
    shape), then ``layers``."""
    shapes = {k: tuple(np.shape(v)) if hasattr(v, "shape") else tuple(v)
              for k, v in inputs.items()}
    tops = " ".join(f'top: "{k}"' for k in shapes)
    dims = " ".join("shape { " + " ".join(f"dim: {int(d)}" for d in s) + " }"
                    for s in shapes.values())
    source = f'layer {{ name: "input" type: "Input" {tops} input_param {{ {dims} }} }}'
    return "\n".join([header, source, *layers])


def euclidean(bottom, target="target", name="loss"):
    return layer(name, "EuclideanLoss", [bottom, target])


def build(text, inputs, phase="test", **kwargs):
    return keras_caffe.build_net(text, phase=phase, seed=0,
                                 input_shapes={k: np.shape(v) for k, v in inputs.items()},
                                 **kwargs)


def run(text, inputs, phase="test", **kwargs):
    """(CaffeNet, every blob after one forward pass, NCHW by name)."""
    cnet = build(text, inputs, phase, **kwargs)
    return cnet, keras_caffe.forward(cnet, inputs)


def keras_class(cnet, name):
    return type(cnet.model.get_layer(name)).__name__


def keras_classes(cnet):
    return [type(layer).__name__ for layer in cnet.model.layers]


def assert_close(actual, expected, rtol=RTOL, atol=ATOL):
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"shape {actual.shape} != Caffe's {expected.shape}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def blobs_of(cnet):
    return {k: [np.array(b) for b in v] for k, v in cnet.get_blobs().items()}


def assert_blob_round_trip(cnet, tmp_path, shapes):
    """``get_blobs()`` holds Caffe's blob shapes (``{layer: [shape, ...]}``) and
    save_caffemodel + read_weights gives back exactly those arrays; returns the blobs."""
    blobs = blobs_of(cnet)
    assert {k: [b.shape for b in v] for k, v in blobs.items()} == \
        {k: [tuple(s) for s in v] for k, v in shapes.items()}
    path = tmp_path / "roundtrip.caffemodel"
    keras_caffe.save_caffemodel(cnet, path)
    read = {entry.name: [np.array(b) for b in entry.blobs]
            for entry in keras_caffe.read_weights(path) if entry.blobs}
    assert sorted(read) == sorted(blobs)
    for name, arrays in blobs.items():
        assert [a.shape for a in read[name]] == [a.shape for a in arrays]
        for saved, held in zip(read[name], arrays):
            np.testing.assert_array_equal(saved, held)
    return blobs


def write_blobs(path, blobs):
    write_caffemodel(str(path), {k: [np.asarray(b, np.float32) for b in v]
                                 for k, v in blobs.items()})
    return path


def total_loss(text, inputs, blobs, path, phase="test", losses=("loss",)):
    out = keras_caffe.forward(text, inputs, weights=write_blobs(path, blobs), phase=phase)
    return float(sum(np.float64(out[name]).sum() for name in losses))


def _picks(grad):
    """Two elements to perturb: the largest gradient, and the largest in the blob's later
    half (so a transposed or reordered layout is caught); one for a single value."""
    flat = np.abs(grad).ravel()
    if flat.size == 1:
        return [np.unravel_index(0, grad.shape)]
    first = int(flat.argmax())
    half = flat.size // 2
    second = half + int(flat[half:].argmax())
    if second == first:
        second = int(np.argsort(flat)[-2])
    return [np.unravel_index(i, grad.shape) for i in (first, second)]


def check_param_grads(text, inputs, blobs, tmp_path, layers, phase="test", eps=1e-2,
                      rtol=2e-2, atol=1e-3, losses=("loss",)):
    """``param/<layer>/<i>`` of ``forward(..., backward=True)`` has the Caffe blob's shape
    and equals, at two elements, the central difference of the total loss obtained by
    moving that element of the Caffe blob (written to a caffemodel and loaded)."""
    layers = [layers] if isinstance(layers, str) else layers
    base = write_blobs(tmp_path / "base.caffemodel", blobs)
    out = keras_caffe.forward(text, inputs, weights=base, phase=phase, backward=True)
    for name in layers:
        for i, blob in enumerate(blobs[name]):
            grad = out[f"param/{name}/{i}"]
            assert grad.shape == blob.shape, (name, i, grad.shape, blob.shape)
            assert np.abs(grad).max() > 20 * atol, f"param/{name}/{i} is ~0: nothing to check"
            for idx in _picks(grad):
                values = []
                for sign in (1, -1):
                    moved = {k: [np.array(b, np.float32) for b in v] for k, v in blobs.items()}
                    moved[name][i][idx] += sign * eps
                    values.append(total_loss(text, inputs, moved, tmp_path / "fd.caffemodel",
                                             phase, losses))
                numeric = (values[0] - values[1]) / (2 * eps)
                np.testing.assert_allclose(grad[idx], numeric, rtol=rtol, atol=atol,
                                           err_msg=f"param/{name}/{i}{list(idx)}")
    return out
