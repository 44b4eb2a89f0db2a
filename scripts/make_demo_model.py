"""Train the bundled ShapesNet and write keras_caffe/examples_data/shapes_net.caffemodel
and the demo samples.  Run once by a developer; its outputs are committed (about 100 KB).

    python scripts/make_demo_model.py
"""

from __future__ import annotations

import pathlib
import sys

import keras
import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from keras_caffe import build_net, save_caffemodel  # noqa: E402
from keras_caffe.tools.demo_shapes import make_batch  # noqa: E402
from keras_caffe.fileio import save_npz  # noqa: E402
from keras_caffe.graph import layout  # noqa: E402

DATA = ROOT / "keras_caffe" / "examples_data"


def main():
    keras.utils.set_random_seed(7)
    net = DATA / "shapes_net.prototxt"
    train = build_net(net, phase="train", seed=7)
    x, y = make_batch(8000, seed=1)
    model = train.model
    model.compile(optimizer=keras.optimizers.SGD(0.02, momentum=0.9),
                  loss={"prob": "sparse_categorical_crossentropy"}, metrics={"prob": ["accuracy"]})
    model.fit({"data": layout.to_internal_array(x)}, {"prob": y}, batch_size=32, epochs=8, verbose=2)
    test = build_net(net, phase="test")
    for name, blobs in train.get_blobs().items():
        from keras_caffe.weights.loader import set_layer_blobs
        set_layer_blobs(test.contexts[name], blobs)
    xs, ys = make_batch(256, seed=2)
    probs = np.asarray(test.model({"data": layout.to_internal_array(xs)})["prob"])
    print(f"held-out accuracy: {np.mean(probs.argmax(1) == ys):.3f}")
    save_caffemodel(test, DATA / "shapes_net.caffemodel")
    sx, sy = make_batch(16, seed=3)
    save_npz(DATA / "shapes_samples.npz", {"data": sx, "label": sy.astype(np.float32)})


if __name__ == "__main__":
    main()
