"""The fields Caffe forks define and keras-caffe's schema lacks: which forks, and whether a net
read without them still computes what the fork computes.

An unknown field in a prototxt is a :class:`~keras_caffe.errors.PrototxtError` by default;
this catalogue lets the message say which forks define the field (with their field numbers,
which forks do not always agree on) and whether ``ignore_unknown_fields=True``
(``--ignore-unknown-fields``) may skip it:

* fields whose value changes nothing a forward pass on given inputs computes (solver and
  training settings, fillers, engines, precision, debug output, how data layers read and
  augment their records, loss and metric settings) may be skipped, with one warning each
  saying why they are harmless, or what they still change (a data layer's batches);
* fields that change what a layer computes stay errors: keras-caffe does not implement them.

The data is :mod:`.fork_fields_table`; :func:`lookup` reads it.  Only fields of messages our
schema has are listed; a fork's new message is reached through a field that is itself listed.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools

from .fork_fields_table import TABLE

#: Each fork read for the catalogue: its key in the table -> (name, repository and branch).
FORKS = {
    "ssd": ("SSD", "weiliu89/caffe, branch ssd; also S3FD's sfzhang15/SFD"),
    "fastrcnn": ("Fast R-CNN", "rbgirshick/caffe-fast-rcnn, branch fast-rcnn"),
    "fasterrcnn": ("Faster R-CNN", "rbgirshick/caffe-fast-rcnn, branch faster-rcnn"),
    "rfcn": ("R-FCN", "daijifeng001/caffe-rfcn"),
    "segnet": ("SegNet", "alexgkendall/caffe-segnet"),
    "segnet5": ("SegNet cuDNN 5", "TimoSaemann/caffe-segnet-cudnn5"),
    "pspnet": ("PSPNet", "hszhao/PSPNet"),
    "deeplab": ("DeepLab v2", "deeplab-public-ver2"),
    "nvidia": ("NVIDIA Caffe", "NVIDIA/caffe 0.17"),
    "intel": ("Intel Caffe", "intel/caffe"),
    "openpose": ("OpenPose training", "CMU-Perceptual-Computing-Lab/caffe_train"),
    "tsn": ("TSN", "yjxiong/caffe, branch action_recog"),
    "windows": ("caffe-windows", "happynear/caffe-windows"),
    "yolo": ("MobileNet-YOLO", "eric612/MobileNet-YOLO"),
}

#: Why a field may be skipped, or why not: reason -> (may be ignored, what it does).
REASONS = {
    "solver": (True, "it is a solver setting, which a forward pass never reads (training "
                     "with keras-caffe does not follow it)"),
    "train_only": (True, "it is read in the TRAIN phase only"),
    "filler": (True, "it fills learned blobs before training: weights loaded from a "
                     "caffemodel replace them (a net built without weights gets the default "
                     "filler)"),
    "engine": (True, "it picks the implementation or algorithm that computes the layer: "
                     "the same numbers up to rounding"),
    "precision": (True, "it sets the floating-point type the fork computes or stores in; "
                        "keras-caffe computes in float32 (or --precision)"),
    "distributed": (True, "it sets multi-node, gradient-scaling or memory-sharing details of "
                          "training"),
    "debug": (True, "it turns on debug or display output only"),
    "data": (True, "it sets how a data layer reads or augments its records: a net fed "
                   "through its inputs is unchanged, but batches its own data layers read "
                   "(forward --batches, train, test) are read without it"),
    "loss": (True, "it sets a loss or metric layer of training: only that layer's loss or "
                   "metric would differ, not what a deploy net computes"),
    "computes": (False, "it changes what the layer computes"),
}


@dataclasses.dataclass(frozen=True)
class ForkField:
    """A field that forks define and our schema lacks."""

    message: str                               # without the package: "BatchNormParameter"
    field: str
    defined: tuple[tuple[str, int, str], ...]  # (fork key, field number, type; "*": repeated)
    reason: str                                # a key of REASONS
    note: str = ""

    @property
    def ignorable(self) -> bool:
        """Whether skipping the field leaves a forward pass on given inputs unchanged."""
        return REASONS[self.reason][0]

    @property
    def effect(self) -> str:
        """What the field does, in words (with the note)."""
        text = REASONS[self.reason][1]
        return f"{text} ({self.note})" if self.note else text

    @property
    def forks(self) -> list[str]:
        """The names of the forks that define it."""
        return [FORKS[key][0] for key, _, _ in self.defined]

    def forks_text(self) -> str:
        """``"NVIDIA Caffe (NVIDIA/caffe 0.17; field 15, Engine), ..."``."""
        parts = []
        for key, number, kind in self.defined:
            name, repo = FORKS[key]
            repeated = "repeated " if kind.endswith("*") else ""
            parts.append(f"{name} ({repo}; field {number}, {repeated}{kind.rstrip('*')})")
        return ", ".join(parts)


def _parse(table: str) -> dict[tuple[str, str], ForkField]:
    entries, message = {}, None
    for line in table.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            message = line.strip()
            continue
        body, _, note = line.partition("|")
        field, *defs, reason = body.split()
        defined = []
        for item in defs:
            keys, _, spec = item.partition("=")
            number, _, kind = spec.partition(":")
            defined.extend((key, int(number), kind) for key in keys.split(","))
        if reason not in REASONS or any(key not in FORKS for key, _, _ in defined):
            raise ValueError(f"fork_fields_table: bad entry {line.strip()!r}")
        entries[(message, field)] = ForkField(message, field, tuple(defined), reason,
                                              note.strip())
    return entries


@functools.cache
def catalogue() -> dict[tuple[str, str], ForkField]:
    """Every entry, keyed by ``(message, field)`` (message names without the package)."""
    return _parse(TABLE)


def lookup(message: str, field: str) -> ForkField | None:
    """The entry of ``field`` in ``message`` (``"caffe.X"`` or ``"X"``), or None."""
    return catalogue().get((message.removeprefix("caffe."), field))


def closest(descriptor, name: str, n: int = 3) -> list[str]:
    """The field names of a message descriptor nearest to ``name`` (a typo's suggestions)."""
    return difflib.get_close_matches(name, list(descriptor.fields_by_name), n=n, cutoff=0.6)
