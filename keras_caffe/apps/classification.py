"""Image classification with pycaffe's ``caffe.Classifier``, as ``python/classify.py`` and the
web demo set it up: a net (or the bundled ShapesNet), its labels, a mean, and images read
from files, folders, ``.npy`` arrays or uploaded bytes.

Settings a net is given default to classify.py's (``--images_dim 256,256``, ``--raw_scale
255``, ``--channel_swap 2,1,0``, ten-crop oversampling; classify.py's ImageNet mean file is
not bundled, so there is no mean unless one is given).  A net with one input channel reads
images as grey (a colour file's luminance) and takes no channel swap; three channels read
RGB.  The bundled ShapesNet takes its 28x28 grey input at [0, 1] as trained: images are
resized to 28x28 and ``raw_scale`` is 1.

Every error about the user's input is a :class:`ClassifyError` naming the file.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

import numpy as np
from google.protobuf.message import DecodeError

from ..errors import CaffeError
from ..proto import caffe_pb2
from ..pycaffe import io as caffe_io
from ..pycaffe.classifier import Classifier
from ..tools.demo import bundled

__all__ = ["ClassifyError", "Labels", "read_labels", "read_words", "read_mean",
           "ImageClassifier", "CLASSIFY_DEFAULTS"]

#: classify.py's defaults for a net the user names.
CLASSIFY_DEFAULTS = {"image_dims": (256, 256), "raw_scale": 255.0, "channel_swap": (2, 1, 0)}
BUNDLED_NET = "shapes_net.prototxt"
BUNDLED_WEIGHTS = "shapes_net.caffemodel"
BUNDLED_LABELS = "shapes_labels.txt"
BUNDLED_HIERARCHY = "shapes_hierarchy.txt"


class ClassifyError(CaffeError):
    """Bad input to ``classify`` or ``serve``: names the file and what is wrong with it."""


@dataclass(frozen=True)
class Labels:
    """A net's class ``keys`` (ids) and display ``names``, in output order.  A line of
    ImageNet's ``synset_words.txt`` (``n01440764 tench, Tinca tinca``: a WordNet id, then
    the names) gives the id and the first name, as the web demo shows it; any other line is
    both."""

    keys: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def numbered(cls, n: int) -> Labels:
        keys = tuple(str(i) for i in range(n))
        return cls(keys, tuple(f"class {i}" for i in range(n)))


def _synset(line: str):
    head, _, rest = line.partition(" ")
    if len(head) == 9 and head[0] == "n" and head[1:].isdigit() and rest.strip():
        return head, rest.split(",")[0].strip()
    return line, line


def read_labels(path: str, classes: int | None = None) -> Labels:
    """One label a line (blank lines skipped); ``classes``: how many the net outputs."""
    with open(path, encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    if classes is not None and len(lines) != classes:
        raise ClassifyError(f"{path}: {len(lines)} labels, but the net outputs {classes} "
                            "classes (one label a line)")
    pairs = [_synset(line) for line in lines]
    return Labels(tuple(k for k, _ in pairs), tuple(n for _, n in pairs))


def read_words(path: str) -> dict[str, str]:
    """ImageNet's ``words.txt`` (``ID<TAB>name, synonyms``): id -> first name."""
    words = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            key, sep, names = line.rstrip("\n").partition("\t")
            if not sep:
                key, _, names = line.strip().partition(" ")
            if not names.strip():
                raise ClassifyError(f"{path}:{lineno}: expected 'ID<TAB>name', got {line!r}")
            words[key.strip()] = names.split(",")[0].strip()
    return words


def read_mean(path: str) -> np.ndarray:
    """A mean from a ``.npy`` file or a ``.binaryproto`` (``compute_image_mean``'s)."""
    if path.endswith(".npy"):
        try:
            return np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise ClassifyError(f"{path}: not a .npy array ({exc})") from None
    with open(path, "rb") as f:
        blob = caffe_pb2.BlobProto()
        try:
            blob.ParseFromString(f.read())
        except DecodeError:
            raise ClassifyError(f"{path}: not a .npy array or a BlobProto (.binaryproto)"
                                ) from None
    mean = caffe_io.blobproto_to_array(blob)
    if mean.size == 0:
        raise ClassifyError(f"{path}: an empty BlobProto, not a mean")
    return mean


def _fit_mean(mean: np.ndarray, channels: int, path: str) -> np.ndarray:
    """The mean as pycaffe's Transformer takes it (C, or C,H,W; a leading 1 dropped)."""
    shape = mean.shape
    if mean.ndim == 4 and shape[0] == 1:
        mean = mean[0]
    if mean.ndim == 2 and channels == 1:
        mean = mean[None]
    if mean.ndim not in (1, 3) or mean.shape[0] != channels:
        raise ClassifyError(f"{path}: a mean of shape {shape} does not fit the net's "
                            f"{channels}-channel input (expected ({channels},) or "
                            f"({channels}, H, W))")
    return mean.astype(np.float32)


class ImageClassifier:
    """pycaffe's ``Classifier`` for a net (the bundled ShapesNet when ``net`` is None), with
    its labels; thread-safe ``predict``.

    ``image_dims``, ``raw_scale``, ``channel_swap``: None for the defaults (classify.py's
    for a named net, the net's own input and no scaling for the bundled one; an empty
    ``channel_swap`` is none); ``mean``: a
    file (``.npy`` or ``.binaryproto``); ``mean_per_channel`` averages it over H,W as the
    web demo does.  ``runtime``: ``caffe.Net``'s (``"auto"``, ``"keras"``, ``"litert"``)."""

    def __init__(self, net: str | None = None, weights: str | None = None, *,
                 labels: str | None = None, mean: str | None = None,
                 image_dims=None, raw_scale=None, channel_swap=None, input_scale=None,
                 mean_per_channel: bool = False, runtime: str | None = None):
        self.is_bundled = net is None
        if net is None:
            net, weights = bundled(BUNDLED_NET), bundled(BUNDLED_WEIGHTS)
            labels = labels or bundled(BUNDLED_LABELS)
            defaults = {"image_dims": None, "raw_scale": None, "channel_swap": None}
        else:
            defaults = CLASSIFY_DEFAULTS
        if weights is None:
            raise ClassifyError(f"{net}: --weights is needed (a caffemodel for the net)")
        for path in (net, weights) + ((labels,) if labels else ()) + ((mean,) if mean else ()):
            if not os.path.isfile(path):
                raise ClassifyError(f"{path}: no such file")
        dims = image_dims if image_dims is not None else defaults["image_dims"]
        # runtime: the Net's forward passes through keras_caffe.predictor (None: as usual)
        self.classifier = Classifier(net, weights, image_dims=dims,
                                     **({"runtime": runtime} if runtime else {}))
        clf = self.classifier
        in_ = clf.inputs[0]
        shape = clf.blobs[in_].data.shape
        if len(shape) != 4:
            raise ClassifyError(f"{net}: input '{in_}' has shape {shape}; a classifier "
                                "takes N,C,H,W images")
        self.channels = int(shape[1])
        self.color = self.channels != 1
        swap = channel_swap if channel_swap is not None else defaults["channel_swap"]
        if swap is not None and channel_swap is None and self.channels != len(swap):
            swap = None                                # the default swap fits 3 channels
        swap = tuple(swap) if swap else None           # () / '': no swap
        settings = [("--raw-scale", clf.transformer.set_raw_scale,
                     raw_scale if raw_scale is not None else defaults["raw_scale"]),
                    ("--channel-swap", clf.transformer.set_channel_swap, swap),
                    ("--input-scale", clf.transformer.set_input_scale, input_scale)]
        if mean is not None:
            values = _fit_mean(read_mean(mean), self.channels, mean)
            if mean_per_channel and values.ndim == 3:
                values = values.mean(1).mean(1)
            settings.append((mean, clf.transformer.set_mean, values))
        for what, setter, value in settings:
            if value is not None:
                try:
                    setter(in_, value)
                except ValueError as exc:
                    raise ClassifyError(f"{what}: {exc}") from None
        self.output = clf.outputs[0]
        self.classes = int(np.prod(clf.blobs[self.output].data.shape[1:]))
        self.labels = (read_labels(labels, self.classes) if labels
                       else Labels.numbered(self.classes))
        self._lock = threading.Lock()

    def predict(self, images, oversample: bool = True) -> np.ndarray:
        """(N, classes) probabilities of N H,W,K images (the Classifier's ``predict``)."""
        images = [self._fit_channels(im) for im in images]
        with self._lock:
            out = self.classifier.predict(images, oversample=oversample)
        return np.asarray(out).reshape(len(images), -1)

    def _fit_channels(self, img: np.ndarray) -> np.ndarray:
        img = np.asarray(img, dtype=np.float32)
        if img.ndim == 2:
            img = img[..., None]
        if img.ndim != 3 or img.shape[2] not in (1, self.channels):
            raise ClassifyError(f"an image of shape {img.shape} does not fit the net's "
                                f"{self.channels}-channel input")
        if img.shape[2] != self.channels:
            img = np.repeat(img, self.channels, axis=2)
        return img

    def top(self, probs, k: int = 5) -> list[tuple[str, float]]:
        """The ``k`` most probable labels of one image's probabilities, best first."""
        probs = np.asarray(probs).reshape(-1)
        order = np.argsort(-probs, kind="stable")[:k]
        return [(self.labels.names[i], float(probs[i])) for i in order]
