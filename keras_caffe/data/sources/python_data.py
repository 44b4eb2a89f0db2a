"""A Python layer without bottoms (pycaffe's Python data layer): its ``forward`` makes each
batch, run in Python before the model as Caffe runs it before the layers that read it."""

from __future__ import annotations

import numpy as np

from ...errors import NetError
from ...graph import types
from ...layers.python_layer import is_caffe_layer_class, python_layer_factory, start_layer
from .base import BatchSource


class PythonDataSource(BatchSource):
    """Batches from a ``caffe.Layer`` subclass with no bottoms: ``reshape`` then ``forward``
    on its top blobs, once per batch.  Its position cannot be replayed (the layer's own state
    decides what comes next), so a resumed run continues from where the layer is."""

    def __init__(self, impl, tops: list, names: list[str], layer: str | None = None):
        self.impl, self._tops = impl, tops
        super().__init__(names, tops[0].shape[0] if tops and tops[0].shape else 1, layer)
        self.constant_tops = frozenset()

    @classmethod
    def from_layer(cls, node, phase, seed=None, allow_python_layers: bool = False):
        try:
            factory = python_layer_factory(node.param.python_param, allow_python_layers)
        except LookupError as exc:
            raise NetError(str(exc), layer=node.name) from exc.__cause__
        if not is_caffe_layer_class(factory):
            raise NetError("a Python layer without bottoms is a data layer: it must be a "
                           "caffe.Layer subclass (setup/reshape/forward on its top blobs)",
                           layer=node.name)
        impl, _, tops = start_layer(factory, node.param, phase, [])
        return cls(impl, tops, [t.name for t in node.tops], node.name)

    def shapes(self) -> dict[str, tuple]:
        return {name: blob.shape for name, blob in zip(self.tops, self._tops)}

    def next_batch(self) -> dict[str, np.ndarray]:
        self.impl.reshape([], self._tops)
        self.impl.forward([], self._tops)
        self.batches_read += 1
        return {name: np.array(blob.data, np.float32) for name, blob in zip(self.tops, self._tops)}

    def seek(self, batches_read: int) -> None:
        self.batches_read = int(batches_read)


types.attach_reader("Python", PythonDataSource)
