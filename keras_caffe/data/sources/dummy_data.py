"""Caffe's DummyData layer: blobs filled by fillers."""

from __future__ import annotations

import numpy as np

from ...errors import NetError
from ...graph.shapes import blob_shape
from ...proto import caffe_pb2
from ...weights.fillers import fill
from .base import SeededSource, data_layer


def _dummy_data_shape(layer, bottoms):
    return dummy_shapes(layer.dummy_data_param, len(layer.top))


@data_layer("DummyData", tops=(1, None), shape=_dummy_data_shape)
class DummyDataSource(SeededSource):
    """Caffe's ``DummyData`` layer: each top filled by its filler; constant tops never
    change, random ones are drawn anew for each batch (from ``seed`` and the batch index)."""

    def __init__(self, tops, shapes, fillers=None, seed=None, layer: str | None = None):
        if not shapes:
            raise NetError("DummyData needs at least one shape", layer=layer)
        super().__init__(tops, shapes[0][0] if shapes[0] else 1, seed, layer)
        n = len(self.tops)
        if len(shapes) not in (1, n):
            raise NetError(f"DummyData needs 1 or {n} shapes, got {len(shapes)}", layer=layer)
        fillers = [_filler(f) for f in (fillers or [])]
        if len(fillers) not in (0, 1, n):
            raise NetError(f"DummyData needs 0, 1 or {n} data_fillers, got {len(fillers)}",
                           layer=layer)
        if not fillers:
            fillers = [_filler({"type": "constant", "value": 0.0})]
        self.shapes_ = [tuple(int(d) for d in shapes[i if len(shapes) > 1 else 0])
                        for i in range(n)]
        self.fillers = [fillers[i if len(fillers) > 1 else 0] for i in range(n)]
        self._constant = {}
        self.constant_tops = frozenset(t for t, f in zip(self.tops, self.fillers)
                                       if f.type == "constant")

    @classmethod
    def from_layer(cls, node, phase, seed=None, **options):
        p = node.param.dummy_data_param
        tops = [t.name for t in node.tops]
        return cls(tops, dummy_shapes(p, len(tops)), list(p.data_filler), seed, node.name)

    def shapes(self):
        return dict(zip(self.tops, self.shapes_))

    def next_batch(self):
        batch = {}
        for i, (top, shape, filler) in enumerate(zip(self.tops, self.shapes_, self.fillers)):
            if filler.type == "constant":
                if top not in self._constant:
                    self._constant[top] = fill(filler, shape, np.random.default_rng(0), self.layer)
                batch[top] = self._constant[top].copy()
            else:
                rng = np.random.default_rng([self.seed, self.batches_read, i])
                batch[top] = fill(filler, shape, rng, self.layer)
        self.batches_read += 1
        return batch

    def seek(self, batches_read: int) -> None:
        self.batches_read = int(batches_read)

    def describe_item(self, batch, item):
        return f"its filler (item {item} of batch {batch}; check the dummy_data_param filler)"


def _filler(f) -> caffe_pb2.FillerParameter:
    if isinstance(f, caffe_pb2.FillerParameter):
        return f
    param = caffe_pb2.FillerParameter()
    for name, value in dict(f).items():
        setattr(param, name, value)
    return param


def dummy_shapes(param: caffe_pb2.DummyDataParameter, n_tops: int) -> list[tuple]:
    """The Caffe shape of each top of a DummyData layer (``shape`` or the legacy
    num/channels/height/width fields, each given once or once per top)."""
    legacy = [list(param.num), list(param.channels), list(param.height), list(param.width)]
    if param.shape and any(legacy):
        raise NetError("dummy_data_param gives both shape and the legacy num/channels/height/"
                       "width fields")
    if any(legacy):
        for name, values in zip(("num", "channels", "height", "width"), legacy):
            if len(values) not in (1, n_tops):
                raise NetError(f"dummy_data_param.{name} needs 1 or {n_tops} values, got "
                               f"{len(values)}")
        return [tuple(v[i if len(v) > 1 else 0] for v in legacy) for i in range(n_tops)]
    if len(param.shape) not in (1, n_tops):
        raise NetError(f"dummy_data_param needs 1 or {n_tops} shapes, got {len(param.shape)}")
    return [blob_shape(param.shape[i if len(param.shape) > 1 else 0], "dummy_data_param.shape")
            for i in range(n_tops)]
