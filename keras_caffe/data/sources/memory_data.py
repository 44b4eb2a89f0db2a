"""Caffe's MemoryData layer: batches of arrays the user hands over."""

from __future__ import annotations

import numpy as np

from ...errors import NetError
from ..transform import DataTransformer
from .base import BatchSource, data_layer, default_seed


def _memory_data_shape(layer, bottoms):
    p = layer.memory_data_param
    return [(p.batch_size, p.channels, p.height, p.width), (p.batch_size,)][:len(layer.top)]


@data_layer("MemoryData", shape=_memory_data_shape)
class MemoryDataSource(BatchSource):
    """Caffe's ``MemoryData`` layer: batches of the arrays the user hands over.

    ``set_input_arrays(data, labels)`` (Caffe's ``Reset``, pycaffe's ``set_input_arrays``)
    takes float32 ``N x C x H x W`` data as is; ``add_images(images, labels)`` (Caffe's
    ``AddMatVector``) applies the layer's transform_param once to ``H x W x C`` BGR images.
    ``N`` must be a multiple of the batch size; batches cycle through the rows.
    """

    def __init__(self, tops, batch_size: int, chw, transform=None, phase="test", seed=None,
                 layer: str | None = None):
        super().__init__(tops, batch_size, layer)
        if batch_size <= 0:
            raise NetError(f"memory_data_param.batch_size must be positive, got {batch_size}",
                           layer=layer)
        self.chw = tuple(int(d) for d in chw)
        self.transform, self.phase, self.seed = transform, phase, default_seed(seed)
        self.data = self.labels = None

    @classmethod
    def from_layer(cls, node, phase, seed=None, **options):
        p = node.param.memory_data_param
        return cls([t.name for t in node.tops], p.batch_size, (p.channels, p.height, p.width),
                   node.param.transform_param, phase, seed, node.name)

    def shapes(self):
        shapes = {self.tops[0]: (self.batch_size,) + self.chw}
        if len(self.tops) > 1:
            shapes[self.tops[1]] = (self.batch_size,)
        return shapes

    def set_input_arrays(self, data, labels) -> None:
        data = np.ascontiguousarray(data, np.float32)
        labels = np.ascontiguousarray(labels, np.float32).reshape(-1)
        if data.ndim != 4 or data.shape[1:] != self.chw:
            raise NetError(f"MemoryData expects N x {' x '.join(map(str, self.chw))} data, got "
                           f"shape {data.shape}", layer=self.layer)
        if len(labels) != len(data):
            raise NetError(f"{len(data)} data rows but {len(labels)} labels", layer=self.layer)
        if len(data) == 0 or len(data) % self.batch_size:
            raise NetError(f"the number of rows ({len(data)}) must be a positive multiple of "
                           f"the batch size {self.batch_size}", layer=self.layer)
        self.data, self.labels = data, labels
        self.batches_read = 0

    def add_images(self, images, labels) -> None:
        t = DataTransformer(self.transform, self.phase, self.seed, self.layer)
        out = np.stack([t.numpy(np.asarray(img).reshape(np.shape(img)[:2] + (-1,)), i)
                        for i, img in enumerate(images)]) if len(images) else np.zeros((0,))
        self.set_input_arrays(out, labels)

    def next_batch(self):
        if self.data is None:
            raise NetError("MemoryData has no data: call set_input_arrays(data, labels) or "
                           "add_images(images, labels) on its source first", layer=self.layer)
        start = (self.batches_read * self.batch_size) % len(self.data)
        self.batches_read += 1
        rows = slice(start, start + self.batch_size)
        batch = {self.tops[0]: self.data[rows].copy()}
        if len(self.tops) > 1:
            batch[self.tops[1]] = self.labels[rows].copy()
        return batch

    def describe_item(self, batch, item):
        row = (batch * self.batch_size) % len(self.data) + item
        return f"row {row} of the arrays given to set_input_arrays / add_images"

    def seek(self, batches_read: int) -> None:
        self.batches_read = int(batches_read)
