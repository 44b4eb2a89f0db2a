"""``keras-caffe demo``: the bundled ShapesNet, converted and checked end to end.

It exercises what a user does first: read a prototxt and a caffemodel, get a Keras model,
classify, save it as ``.keras``, reload it safely, and write the weights back as a
caffemodel -- and checks each step gives identical numbers.
"""

from __future__ import annotations

import os
import time
from importlib import resources

import keras
import numpy as np

from .. import api
from ..proto import binary
from .demo_shapes import CLASSES


def bundled(name: str) -> str:
    return str(resources.files("keras_caffe") / "examples_data" / name)


def run_demo(workdir: str) -> int:
    os.makedirs(workdir, exist_ok=True)
    net, weights = bundled("shapes_net.prototxt"), bundled("shapes_net.caffemodel")
    with np.load(bundled("shapes_samples.npz")) as samples:
        data, labels = samples["data"], samples["label"].astype(int)

    t0 = time.perf_counter()
    cnet = api.build_net(net, weights, input_layout="NCHW")
    print(f"converted {os.path.basename(net)} + {os.path.basename(weights)} in "
          f"{time.perf_counter() - t0:.2f} s: {cnet.model.count_params():,} parameters, "
          f"inputs {list(cnet.inputs)}, outputs {[b.name for b in cnet.graph.outputs]}")

    probs = np.asarray(cnet.model({"data": data})["prob"])
    guesses = probs.argmax(axis=1)
    print("\n  #  true      predicted  p")
    for i, (g, t) in enumerate(zip(guesses, labels)):
        mark = "" if g == t else "   <- wrong"
        print(f"{i:3d}  {CLASSES[t]:<9} {CLASSES[g]:<10} {probs[i, g]:.3f}{mark}")
    accuracy = float(np.mean(guesses == labels))
    print(f"\naccuracy on {len(labels)} bundled samples: {accuracy:.3f}")

    keras_path = os.path.join(workdir, "shapes_net.keras")
    cnet.model.save(keras_path)
    reloaded = keras.saving.load_model(keras_path, safe_mode=True)
    same_keras = np.array_equal(np.asarray(reloaded({"data": data})["prob"]), probs)
    print(f"saved {keras_path}; reloaded with safe_mode=True: outputs identical = {same_keras}")

    caffemodel_path = os.path.join(workdir, "shapes_net_roundtrip.caffemodel")
    api.save_caffemodel(cnet, caffemodel_path)
    original = {l.name: l.blobs for l in binary.read_weights(weights)}
    written = {l.name: l.blobs for l in binary.read_weights(caffemodel_path)}
    same_blobs = original.keys() == written.keys() and all(
        len(original[k]) == len(written[k]) and
        all(np.array_equal(a, b) for a, b in zip(original[k], written[k])) for k in original)
    print(f"wrote {caffemodel_path}: blobs identical to the original = {same_blobs}")
    ok = same_keras and same_blobs and accuracy >= 0.75
    print("demo " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1
