"""Caffe's HDF5Data layer: a list file of .h5 files whose datasets are named after the tops.

Caffe reads the files in list order and their rows in order, converts every dataset to
float32, lets a batch span two files, and at the end wraps to the first file in the middle
of a batch.  With ``shuffle`` it shuffles the file order and the rows of each file every
time it starts over (TRAIN only in practice).
"""

from __future__ import annotations

import numpy as np

from ...errors import NetError, layer_named
from ...graph.memory import memory_limit
from ..formats.hdf5 import read_datasets, same_items
from ..formats.lists import file_list
from .base import BatchSource, data_layer


def _hdf5_data_shape(layer, bottoms):
    """Only the batch size is in the prototxt; a second top is taken for labels, one per item."""
    n = layer.hdf5_data_param.batch_size or None
    return [None, (n,)][:len(layer.top)] + [None] * max(0, len(layer.top) - 2)


@data_layer("HDF5Data", tops=(1, None), shape=_hdf5_data_shape)
class HDF5Source(BatchSource):
    shardable = True   # a worker keeps every workers-th item of the stream (Caffe's Skip)

    def __init__(self, list_path: str, tops: list[str], batch_size: int, shuffle: bool = False,
                 seed: int | None = None, layer: str | None = None):
        super().__init__(tops, batch_size, layer)
        self.shuffle = shuffle
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        with layer_named(layer):
            self.files = file_list(list_path)
            self.data, held, limit = [], 0, memory_limit()   # per file; all within the limit
            for path in self.files:
                self.data.append(read_datasets(path, tops, held, limit))
                held += sum(a.nbytes for a in self.data[-1].values())
            same_items(self.files, self.data, f"'{list_path}'")
        self.total = sum(len(d[tops[0]]) for d in self.data)
        if self.total == 0:
            raise NetError(f"the HDF5 files of '{list_path}' hold no rows", layer=layer)
        self._order, self._pass = self._make_order(), 0   # the order of pass _pass
        self._picks = (np.zeros(0, np.int64), np.zeros(0, np.int64))   # the last batch's items

    @classmethod
    def from_layer(cls, node, phase, seed=None, **options):
        p = node.param.hdf5_data_param
        return cls(p.source, [t.name for t in node.tops], p.batch_size, shuffle=p.shuffle,
                   seed=seed, layer=node.name)

    def shapes(self) -> dict[str, tuple]:
        """Caffe shapes of a batch: the batch size and the first file's items (Caffe sizes
        the tops by them; every file holds items of one shape), without reading a batch."""
        return {t: (self.batch_size,) + tuple(self.data[0][t].shape[1:]) for t in self.tops}

    def _make_order(self) -> tuple[np.ndarray, np.ndarray]:
        """The file and the row of each position of one pass over the data."""
        files = list(range(len(self.data)))
        if self.shuffle:
            self.rng.shuffle(files)
        file_of, row_of = [], []
        for i in files:
            rows = np.arange(len(self.data[i][self.tops[0]]))
            if self.shuffle:
                self.rng.shuffle(rows)
            file_of.append(np.full(len(rows), i))
            row_of.append(rows)
        return np.concatenate(file_of), np.concatenate(row_of)

    def _positions(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """The (files, rows) of stream items ``start..end-1``: array operations, so that a
        batch costs no Python work per item; a shuffled source reshuffles at each wrap, as
        Caffe does."""
        if not self.shuffle:
            positions = np.arange(start, end, dtype=np.int64) % self.total
            return self._order[0][positions], self._order[1][positions]
        files, rows, k = [], [], start
        while k < end:   # one piece per pass over the data
            position = k % self.total
            while self._pass < k // self.total:   # each pass reshuffles once, in order
                self._order, self._pass = self._make_order(), self._pass + 1
            take = min(end - k, self.total - position)
            files.append(self._order[0][position:position + take])
            rows.append(self._order[1][position:position + take])
            k += take
        return np.concatenate(files), np.concatenate(rows)

    def next_batch(self) -> dict[str, np.ndarray]:
        start = self.stream_item(self.batches_read * self.batch_size)
        files, rows = self._positions(start, start + (self.batch_size - 1) * self.workers + 1)
        files, rows = files[::self.workers], rows[::self.workers]
        self.batches_read += 1
        self._picks = (files, rows)
        used = np.unique(files)
        out = {}
        for t in self.tops:
            if len(used) == 1:
                out[t] = self.data[int(used[0])][t][rows]
                continue
            out[t] = np.empty((len(rows),) + self.data[0][t].shape[1:], np.float32)
            for i in used:   # a batch spanning files: each item where it was picked
                mask = files == i
                out[t][mask] = self.data[int(i)][t][rows[mask]]
        return out

    def describe_item(self, batch, item):
        """The file and row of an item of the batch just read."""
        files, rows = self._picks
        return f"HDF5 file '{self.files[int(files[item])]}', row {int(rows[item])}"

    def seek(self, batches_read: int) -> None:
        """Go to a position; a shuffled source replays its reshuffles from the seed, so the
        order after a resume is the order an uninterrupted run would have seen."""
        self.batches_read = batches_read
        if self.shuffle:
            self.rng = np.random.default_rng(self.seed)
            self._order, self._pass = self._make_order(), 0   # _positions replays the rest
