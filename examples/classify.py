"""Classification with a trained net, as Caffe's 00-classification notebook does it.

The bundled ShapesNet (circle / square / triangle / cross on 28x28 grey images in [0, 1])
stands in for CaffeNet.  The script draws a few shapes, writes them as PNG files, loads them
back with ``caffe.io.load_image`` and classifies them two ways:

* ``caffe.Classifier`` -- resize to ``image_dims``, then ten crops averaged (oversample=True)
  or the centre crop alone (oversample=False);
* a ``caffe.io.Transformer`` and ``net.forward()`` on a batch, as the notebook does.

    keras-caffe python examples/classify.py [--out DIR]
"""

try:
    import caffe
except ImportError:  # run directly rather than through `keras-caffe python`
    from keras_caffe.pycaffe import install_as_caffe
    install_as_caffe()
    import caffe

import argparse
import importlib.resources
import os
import sys
import tempfile

import numpy as np

# draws and saves the example images (no Caffe involved)
from keras_caffe.tools.demo_shapes import draw, write_png

LABELS = ["circle", "square", "triangle", "cross"]



def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="output folder (default: a temp dir)")
    parser.add_argument("--images", type=int, default=24, help="how many images to draw")
    args = parser.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="caffe_classify_")
    os.makedirs(out, exist_ok=True)

    caffe.set_mode_cpu()
    models = importlib.resources.files("keras_caffe") / "examples_data"
    model_def = str(models / "shapes_net.prototxt")
    model_weights = str(models / "shapes_net.caffemodel")

    # the labels file, as synset_words.txt is for ImageNet
    labels_file = os.path.join(out, "labels.txt")
    with open(labels_file, "w") as f:
        f.write("\n".join(f"{i} {name}" for i, name in enumerate(LABELS)) + "\n")
    labels = np.loadtxt(labels_file, str, delimiter="\t")

    # -- some images on disk ---------------------------------------------------------------
    rng = np.random.default_rng(2024)
    truth, paths, pixels = [], [], []
    for i in range(args.images):
        kind = i % len(LABELS)
        path = os.path.join(out, f"shape_{i:02d}_{LABELS[kind]}.png")
        pixels.append(np.round(draw(kind, rng)).astype(np.uint8))
        write_png(path, pixels[-1])
        truth.append(kind)
        paths.append(path)
    truth = np.array(truth)
    images = [caffe.io.load_image(p, color=False) for p in paths]   # H x W x 1 in [0, 1]
    # skimage's img_as_float: the grey levels divided by 255
    assert all(np.allclose(im[..., 0] * 255, px, atol=1e-3) for im, px in zip(images, pixels))
    print(f"wrote {len(paths)} PNGs to {out}; loaded as {images[0].shape} "
          f"{images[0].dtype} in [{images[0].min():.2f}, {images[0].max():.2f}]")

    # -- 1. caffe.Classifier ---------------------------------------------------------------
    # ShapesNet was trained on [0, 1] pixels with no mean, and load_image gives [0, 1],
    # so raw_scale is 1 (CaffeNet would take raw_scale=255, a mean and channel_swap).
    centre = caffe.Classifier(model_def, model_weights, raw_scale=1.0)
    p_centre = centre.predict(images, oversample=False)        # image_dims = 28x28: one crop
    tenfold = caffe.Classifier(model_def, model_weights, image_dims=(30, 30), raw_scale=1.0)
    p_tenfold = tenfold.predict(images, oversample=True)       # 30x30, ten 28x28 crops
    print(f"Classifier: {p_centre.shape} centre-crop predictions, {p_tenfold.shape} "
          "ten-crop predictions")

    # -- 2. Transformer + net.forward(), the notebook's way ---------------------------------
    net = caffe.Net(model_def, model_weights, caffe.TEST)
    transformer = caffe.io.Transformer({"data": net.blobs["data"].data.shape})
    transformer.set_transpose("data", (2, 0, 1))   # H x W x C -> C x H x W
    transformer.set_raw_scale("data", 1.0)         # [0, 1] in, [0, 1] expected
    net.blobs["data"].reshape(len(images), 1, 28, 28)   # a batch of all the images
    net.blobs["data"].data[...] = np.array([transformer.preprocess("data", im)
                                            for im in images])
    output = net.forward()
    p_forward = output["prob"].copy()
    print("blobs:", [(k, v.data.shape) for k, v in net.blobs.items()])

    print(f"{'image':28s} {'forward':>18s} {'Classifier':>18s} {'10 crops':>18s}")
    for path, pf, pc, pt in zip(paths, p_forward, p_centre, p_tenfold):
        cells = [f"{labels[p.argmax()].split()[1]:>9s} {p.max():.3f}" for p in (pf, pc, pt)]
        print(f"{os.path.basename(path):28s} " + " ".join(f"{c:>18s}" for c in cells))

    top = p_forward[0].argsort()[::-1]
    print("first image, all classes:", [(round(float(p_forward[0][i]), 4), str(labels[i]))
                                       for i in top])

    acc_forward = float(np.mean(p_forward.argmax(1) == truth))
    acc_centre = float(np.mean(p_centre.argmax(1) == truth))
    acc_tenfold = float(np.mean(p_tenfold.argmax(1) == truth))
    diff = float(np.abs(p_forward - p_centre).max())
    print(f"max |forward - Classifier(oversample=False)| = {diff:.2e}")
    print(f"accuracy: forward {acc_forward:.3f}, Classifier centre crop {acc_centre:.3f}, "
          f"Classifier ten crops {acc_tenfold:.3f}")

    # a 28x28 image resized to 28x28 and centre-cropped is the image itself: the two ways agree
    assert diff < 1e-4, diff
    assert (p_forward.argmax(1) == p_centre.argmax(1)).all()
    assert np.allclose(p_tenfold.sum(1), 1, atol=1e-4)
    assert acc_forward >= 0.9 and acc_tenfold >= 0.8, (acc_forward, acc_tenfold)
    print("classify: OK")


if __name__ == "__main__":
    sys.exit(main())
