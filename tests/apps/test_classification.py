"""The classifier set-up behind ``classify`` and ``serve``: labels, means, images, and the
bundled ShapesNet through pycaffe's Classifier."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import tensorflow as tf

import keras_caffe.pycaffe as caffe
from keras_caffe.apps.classification import (ClassifyError, ImageClassifier, Labels,
                                             read_labels, read_mean, read_words)
from keras_caffe.apps.images import decode_image, image_size, read_inputs, sample_images
from keras_caffe.data.formats.datum import decode_image_numpy
from keras_caffe.tools.demo import bundled
from keras_caffe.tools.demo_shapes import CLASSES

RNG = np.random.default_rng(7)


@pytest.fixture(scope="module")
def shapes():
    return ImageClassifier()


def test_synset_lines_and_plain_lines(tmp_path):
    path = tmp_path / "synset_words.txt"
    path.write_text("n01440764 tench, Tinca tinca\nn01443537 goldfish\n\nplain label\n")
    labels = read_labels(str(path), 3)
    assert labels == Labels(("n01440764", "n01443537", "plain label"),
                            ("tench", "goldfish", "plain label"))
    with pytest.raises(ClassifyError, match=r"synset_words.txt: 3 labels, but the net "
                                            r"outputs 4 classes"):
        read_labels(str(path), 4)
    words = tmp_path / "words.txt"
    words.write_text("n00001740\tentity\nn02121808\tdomestic cat, house cat\n")
    assert read_words(str(words)) == {"n00001740": "entity", "n02121808": "domestic cat"}


def test_means_from_npy_and_binaryproto(tmp_path):
    mean = RNG.uniform(0, 255, (1, 3, 4, 5)).astype(np.float32)
    np.save(tmp_path / "m.npy", mean[0])
    np.testing.assert_array_equal(read_mean(str(tmp_path / "m.npy")), mean[0])
    (tmp_path / "m.binaryproto").write_bytes(
        caffe.io.array_to_blobproto(mean).SerializeToString())
    np.testing.assert_array_equal(read_mean(str(tmp_path / "m.binaryproto")), mean)
    (tmp_path / "bad.npy").write_bytes(b"not numpy")
    with pytest.raises(ClassifyError, match="bad.npy: not a .npy array"):
        read_mean(str(tmp_path / "bad.npy"))
    (tmp_path / "bad.binaryproto").write_bytes(b"\xff\xff\xff")
    with pytest.raises(ClassifyError, match="bad.binaryproto: not a .npy array or a BlobProto"):
        read_mean(str(tmp_path / "bad.binaryproto"))


def test_image_sizes_from_headers():
    img = RNG.integers(0, 256, (7, 9, 3), np.uint8)
    assert image_size(tf.io.encode_png(img).numpy()) == (7, 9)
    assert image_size(tf.io.encode_jpeg(img).numpy()) == (7, 9)
    bmp = b"BM" + b"\0" * 16 + struct.pack("<ii", 9, -7)
    gif = b"GIF89a" + struct.pack("<HH", 9, 7)
    assert image_size(bmp) == (7, 9) and image_size(gif) == (7, 9)
    assert image_size(b"hello") is None


def test_decoding_bytes_as_load_image_reads_files(tmp_path):
    img = RNG.integers(0, 256, (6, 5, 3), np.uint8)
    png = tf.io.encode_png(img).numpy()
    (tmp_path / "a.png").write_bytes(png)
    for color in (True, False):
        np.testing.assert_array_equal(decode_image(png, "a.png", color=color),
                                      caffe.io.load_image(str(tmp_path / "a.png"), color))
    with pytest.raises(ClassifyError, match="^x.png: the file is empty$"):
        decode_image(b"", "x.png")
    with pytest.raises(ClassifyError, match=r"^x.txt: not an image that can be read \(Unknown "
                                            r"image file format"):
        decode_image(b"plain text", "x.txt")
    with pytest.raises(ClassifyError, match="a.png: the image is 5x6 pixels; at most 29 "):
        decode_image(png, "a.png", max_pixels=29)


def _with_exif(jpg: bytes, value: int) -> bytes:
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x0112, 3, 1, value, 0) + b"\0" * 4
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 6 + len(tiff)) + b"Exif\x00\x00" + tiff
    return jpg[:2] + app1 + jpg[2:]


@pytest.mark.parametrize("value", range(1, 9))
def test_exif_turns_match_opencvs(value):
    jpg = _with_exif(tf.io.encode_jpeg(RNG.integers(0, 256, (6, 10, 3), np.uint8)).numpy(),
                     value)
    turned = decode_image(jpg, "a.jpg", exif=True)
    np.testing.assert_array_equal(turned * 255, decode_image_numpy(jpg, "color")[..., ::-1])
    assert decode_image(jpg, "a.jpg").shape == (6, 10, 3)        # classify.py: as stored


def test_inputs_from_files_folders_and_npy(tmp_path):
    samples = sample_images()
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name, png in samples.items():
        (folder / f"{name}.png").write_bytes(png)
    (folder / "notes.txt").write_text("skipped")
    got = list(read_inputs([str(folder)], channels=1))
    assert [n for n, _ in got] == [str(folder / f"{c}.png") for c in sorted(CLASSES)]
    assert all(im.shape == (28, 28, 1) for _, im in got)
    assert [im.shape for _, im in read_inputs([str(folder / "circle.png")], channels=3)] == \
        [(28, 28, 3)]
    nhwc = RNG.uniform(size=(2, 8, 6, 3)).astype(np.float32)
    np.save(tmp_path / "nhwc.npy", nhwc)
    np.save(tmp_path / "nchw.npy", nhwc.transpose(0, 3, 1, 2))
    np.save(tmp_path / "one.npy", nhwc[0])
    for f in ("nhwc.npy", "nchw.npy"):
        got = list(read_inputs([str(tmp_path / f)], channels=3))
        assert [n for n, _ in got] == [f"{tmp_path / f}[0]", f"{tmp_path / f}[1]"]
        np.testing.assert_array_equal(np.stack([im for _, im in got]), nhwc)
    assert len(list(read_inputs([str(tmp_path / "one.npy")], channels=3))) == 1
    np.save(tmp_path / "bad.npy", np.zeros((2, 5, 5, 5)))
    for path, message in [("missing.png", "missing.png: no such file"),
                          ("bad.npy", "bad.npy: images of shape"),
                          ("missing.npy", "missing.npy: no such file")]:
        with pytest.raises(ClassifyError, match=message):
            list(read_inputs([str(tmp_path / path)], channels=1))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ClassifyError, match="empty: no images in the folder"):
        list(read_inputs([str(empty)], channels=3))


def test_the_bundled_net_classifies_its_samples(shapes):
    assert shapes.is_bundled and shapes.channels == 1 and shapes.labels.names == CLASSES
    images = [decode_image(png, n, color=False) for n, png in sample_images().items()]
    probs = shapes.predict(images)
    assert probs.shape == (4, 4)
    assert [shapes.top(p, 1)[0][0] for p in probs] == list(CLASSES)
    # exactly pycaffe's Classifier, set up as the bundled net is
    clf = caffe.Classifier(bundled("shapes_net.prototxt"), bundled("shapes_net.caffemodel"))
    np.testing.assert_array_equal(probs, clf.predict(images))
    np.testing.assert_array_equal(shapes.predict(images, oversample=False),
                                  clf.predict(images, oversample=False))
    colour = np.repeat(images[0], 3, axis=2)
    with pytest.raises(ClassifyError, match=r"shape \(28, 28, 3\) does not fit the net's "
                                            "1-channel input"):
        shapes.predict([colour])


def test_a_named_net_takes_classify_py_defaults(tmp_path):
    net, weights = bundled("shapes_net.prototxt"), bundled("shapes_net.caffemodel")
    named = ImageClassifier(net, weights)
    assert list(named.classifier.image_dims) == [256, 256]
    assert named.classifier.transformer.raw_scale == {"data": 255.0}
    assert named.classifier.transformer.channel_swap == {}          # 1 channel: no swap
    assert named.labels.names == ("class 0", "class 1", "class 2", "class 3")
    np.save(tmp_path / "mean.npy", np.full((3, 4, 4), 0.5))
    for kwargs, message in [
            ({"mean": str(tmp_path / "mean.npy")}, r"mean.npy: a mean of shape \(3, 4, 4\) "
                                                   r"does not fit the net's 1-channel input"),
            ({"channel_swap": (2, 1, 0)}, "--channel-swap: Channel swap needs"),
            ({"labels": str(tmp_path / "nope.txt")}, "nope.txt: no such file")]:
        with pytest.raises(ClassifyError, match=message):
            ImageClassifier(net, weights, **kwargs)
    with pytest.raises(ClassifyError, match="--weights is needed"):
        ImageClassifier(net)


def test_a_per_channel_mean_as_the_web_demo_takes_it(tmp_path):
    np.save(tmp_path / "mean.npy", np.arange(16, dtype=np.float32).reshape(1, 4, 4))
    clf = ImageClassifier(bundled("shapes_net.prototxt"), bundled("shapes_net.caffemodel"),
                          mean=str(tmp_path / "mean.npy"), mean_per_channel=True)
    np.testing.assert_array_equal(np.ravel(clf.classifier.transformer.mean["data"]), [7.5])
