"""Caffe's Data layer: Datums from an LMDB or LevelDB database."""

from __future__ import annotations

from ...errors import CaffeError, NetError, layer_named
from ..formats.datum import datum_to_array
from ..formats.db import open_db
from ..pipelines import db_dataset
from ..transform import DataTransformer
from .base import PipelineSource, data_layer, python_error, tf_message


def _data_shape(layer, bottoms):
    """What the prototxt fixes of the tops: the batch size, channels from force_color /
    force_gray or the mean values, height and width from the crop (None: read from the
    database)."""
    p, t = layer.data_param, layer.transform_param
    n = p.batch_size or None
    c = 3 if t.force_color else 1 if t.force_gray else (
        len(t.mean_value) if len(t.mean_value) > 1 else None)
    crop = t.crop_size or p.crop_size or None
    return [(n, c, crop, crop), (n,)][:len(layer.top)]


@data_layer("Data", shape=_data_shape)
class DataSource(PipelineSource):
    """Caffe's ``Data`` layer (LMDB or LEVELDB backend)."""

    shardable = True

    def __init__(self, source: str, tops, batch_size: int, backend="lmdb", transform=None,
                 phase="test", seed=None, layer: str | None = None):
        if not 1 <= len(tops) <= 2:
            raise NetError(f"a Data layer has 1 or 2 tops (data, label), got {list(tops)}",
                           layer=layer)
        if batch_size <= 0:
            raise NetError(f"data_param.batch_size must be positive, got {batch_size}",
                           layer=layer)
        super().__init__(tops, batch_size, seed, layer)
        self.phase, self.param = phase, transform
        with layer_named(layer):
            self.transformer = DataTransformer(transform, phase, self.seed)
            self.db = open_db(source, backend)

    @classmethod
    def from_layer(cls, node, phase, seed=None, **options):
        p = node.param.data_param
        return cls(p.source, [t.name for t in node.tops], p.batch_size, p.backend,
                   node.param.transform_param, phase, seed, node.name)

    def _reseed(self):
        self.transformer = DataTransformer(self.param, self.phase, self.seed)

    def _make_dataset(self, layout, deferred, batch_size, start):
        try:   # the first record, read here for the items' format, names itself and the layer
            return db_dataset(self.db, batch_size, self.transformer, start_batch=start,
                              labels=len(self.tops) == 2, layout=layout, deferred=deferred,
                              shard=(self.rank, self.workers))
        except CaffeError as err:
            if isinstance(err, NetError) and err.layer is not None:
                raise
            raise NetError(str(err), layer=self.layer) from None

    def describe_item(self, batch, item):
        position = self.stream_item(batch * self.batch_size + item) % len(self.db)
        key, _ = self.db.get(position)
        return f"{self.db.backend} {self.db.describe(position, key)}"

    def _diagnose(self, batch, exc):
        n = len(self.db)
        t = self.transformer
        for item in range(batch * self.batch_size, (batch + 1) * self.batch_size):
            position = self.stream_item(item) % n
            key, value = self.db.get(position)
            where = self.db.describe(position, key)
            try:
                datum_to_array(value, t.force_color, t.force_gray, where)
            except CaffeError as err:
                return NetError(str(err), layer=self.layer)
        own = python_error(exc)   # a record read ahead, past this batch: it names itself
        if own is not None:
            return NetError(own, layer=self.layer)
        return NetError(f"{self.db.backend} '{self.db.path}', batch {batch}: "
                        f"{tf_message(exc)}", layer=self.layer)

    def close(self):
        self._iterator, self._datasets = None, {}
        self.db.close()
