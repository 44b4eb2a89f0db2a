"""Classifier on a fake net whose forward is a known function (tests/pycaffe/fake_net.py):
the resize, the ten crops or the centre crop, the preprocessing and the averaging, each
against a reference written out with plain numpy slicing."""

import numpy as np
import pytest

from keras_caffe.proto import caffe_pb2
from keras_caffe.pycaffe import classifier, io
from keras_caffe.pycaffe import net as net_module
from tests.pycaffe.fake_net import FakeNet, score


class FakeClassifier(classifier.ClassifierMixin, FakeNet):
    """The seam: pycaffe's Classifier logic on the fake net (input 1 x 3 x 6 x 6)."""


MEAN = np.array([0.25, 0.5, 0.75])
rng = np.random.default_rng(1)


def make(**kwargs):
    settings = dict(mean=MEAN, raw_scale=2.0, input_scale=3.0, channel_swap=(2, 1, 0))
    settings.update(kwargs)
    return FakeClassifier("deploy.prototxt", "weights.caffemodel", **settings)


def ref_preprocess(crop):
    """H,W,3 crop -> 3,H,W as make()'s Transformer does it."""
    x = crop.astype(np.float32).transpose(2, 0, 1)[[2, 1, 0]] * np.float32(2.0)
    x = (x.astype(np.float64) - MEAN[:, None, None]).astype(np.float32)
    return x * np.float32(3.0)


def test_construction_configures_net_and_transformer():
    clf = make(image_dims=(8, 8))
    assert clf.init_args == ("deploy.prototxt", "weights.caffemodel", caffe_pb2.TEST)
    t = clf.transformer
    assert t.inputs == {"data": (1, 3, 6, 6)}
    assert t.transpose["data"] == (2, 0, 1) and t.channel_swap["data"] == (2, 1, 0)
    assert t.raw_scale["data"] == 2.0 and t.input_scale["data"] == 3.0
    assert t.mean["data"].shape == (3, 1, 1)
    np.testing.assert_array_equal(clf.crop_dims, [6, 6])
    assert tuple(clf.image_dims) == (8, 8)
    np.testing.assert_array_equal(make().image_dims, [6, 6])     # default: the input size
    np.testing.assert_array_equal(make(image_dims=np.array([7, 9])).image_dims, [7, 9])
    plain = FakeClassifier("a", "b")
    assert plain.transformer.mean == {} and plain.transformer.channel_swap == {}


def test_predict_averages_ten_crops():
    clf = make(image_dims=(8, 9))
    images = [rng.random((8, 9, 3)).astype(np.float32) for _ in range(2)]
    pred = clf.predict(images)
    assert pred.shape == (2, 3)
    (batch,) = clf.batches
    assert batch.shape == (20, 3, 6, 6)
    for i, im in enumerate(images):
        im = io.resize_image(im, (8, 9))       # pycaffe resizes even at the same size
        crops = [im[:6, :6], im[:6, 3:], im[2:, :6], im[2:, 3:], im[1:7, 1:7]]
        crops += [c[:, ::-1] for c in crops]
        fed = np.stack([ref_preprocess(c) for c in crops])
        np.testing.assert_array_equal(batch[10 * i:10 * i + 10], fed)
        np.testing.assert_allclose(pred[i], score(fed).mean(0), rtol=1e-6)
    # the crops matter: a centre-only score is not the average
    assert not np.allclose(pred[0], score(batch[4:5])[0], rtol=1e-3)


def test_predict_centre_only():
    clf = make(image_dims=(9, 9))
    images = [rng.random((9, 9, 3)).astype(np.float32) for _ in range(3)]
    pred = clf.predict(images, oversample=False)
    (batch,) = clf.batches
    assert batch.shape == (3, 3, 6, 6) and pred.shape == (3, 3)
    for i, im in enumerate(images):
        # 4.5 -+ 3 = 1.5..7.5, truncated to rows and columns 1..6
        crop = io.resize_image(im, (9, 9))[1:7, 1:7]
        np.testing.assert_array_equal(batch[i], ref_preprocess(crop))
    np.testing.assert_array_equal(pred, score(batch))


def test_predict_resizes_to_image_dims():
    clf = make(image_dims=(10, 8))
    im = rng.random((5, 7, 3)).astype(np.float32) * 4
    clf.predict([im], oversample=False)
    resized = io.resize_image(im, (10, 8))
    assert resized.shape == (10, 8, 3) and np.ptp(resized) > 0
    np.testing.assert_array_equal(clf.batches[0][0], ref_preprocess(resized[2:8, 1:7]))


def test_predict_default_image_dims_takes_whole_image():
    clf = make()
    im = rng.random((11, 4, 3)).astype(np.float32)
    clf.predict([im])
    whole = ref_preprocess(io.resize_image(im, (6, 6)))
    batch = clf.batches[0]
    for k in range(5):
        np.testing.assert_array_equal(batch[k], whole)
        np.testing.assert_array_equal(batch[5 + k], whole[:, :, ::-1])


def test_classifier_is_a_net():
    assert issubclass(classifier.Classifier, classifier.ClassifierMixin)
    assert issubclass(classifier.Classifier, net_module.Net)
    with pytest.raises(TypeError):    # mixin without a Net base: nothing to initialise
        classifier.ClassifierMixin("a", "b")
