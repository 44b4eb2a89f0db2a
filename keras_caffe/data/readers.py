"""BatchSources for Caffe's Data, ImageData, MemoryData and DummyData layers.

``next_batch()`` returns ``{top: float32 array}`` in Caffe's shapes (data ``N x C x H x W``,
label ``(N,)``); ``state()``/``restore()``/``seek()`` resume exactly: the position is a batch
count, and random crops, mirrors and shuffles are functions of ``(seed, item index)``, so a
resumed stream is the uninterrupted one.  ``state()`` records the seed.
"""

from __future__ import annotations

import os
import re

import numpy as np

from ..errors import CaffeError, NetError
from ..proto import caffe_pb2
from .sources import BatchSource

__all__ = ["PipelineSource", "DataSource", "ImageDataSource", "MemoryDataSource",
           "DummyDataSource", "default_seed"]


def default_seed(seed) -> int:
    """Caffe seeds from the clock when ``random_seed`` is unset; we draw a seed once and
    record it in ``state()`` so that a resume still replays the same stream."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    return int(seed)


class PipelineSource(BatchSource):
    """Batches pulled from a ``tf.data`` pipeline that starts at ``self.batches_read``.

    Two pipelines read the same stream: Caffe's float32 NCHW batches (:meth:`next_batch`),
    and the model's NHWC feeds (:meth:`next_feeds`).  With an accelerator the feeds'
    pipeline is deferred: the host only reads and decodes, and the transform's array work
    runs on the accelerator, which receives a third of the bytes; without one the host's
    pipeline threads do it all, in parallel with the training step."""

    #: Defer the feeds' array work to where the model runs: None = when a GPU is visible.
    defer: bool | None = None

    def __init__(self, tops, batch_size, seed, layer):
        super().__init__(tops, batch_size)
        self.seed = default_seed(seed)
        self.layer = layer
        self._datasets = {}
        self._iterator = None
        self._mode = None
        # The batch a new iterator starts at; a holder (not self) so the pipeline does not
        # keep the source alive: dropping the source stops its read-ahead.
        self._start = _Start()

    def _make_dataset(self, layout: str, deferred: bool):
        """The pipeline (see ``lmdb_dataset``); it starts at ``self._start.value`` whenever
        an iterator starts."""
        raise NotImplementedError

    def _diagnose(self, batch: int, exc) -> Exception:
        """A clear error for a failed batch (names the record/line when it can)."""
        return NetError(f"reading batch {batch} failed: {_tf_message(exc)}", layer=self.layer)

    def _next(self, mode: tuple[str, bool]):
        import tensorflow as tf

        if mode not in self._datasets:
            self._datasets[mode] = self._make_dataset(*mode)
        if self._iterator is None or self._mode != mode:
            self._start.value = self.batches_read
            self._iterator, self._mode = iter(self._datasets[mode]), mode
        try:
            values = next(self._iterator)
        except tf.errors.OpError as exc:
            self._iterator = None
            raise self._diagnose(self.batches_read, exc) from None
        self.batches_read += 1
        return values if isinstance(values, tuple) else (values,)

    def next_batch(self) -> dict[str, np.ndarray]:
        return {t: v.numpy() for t, v in zip(self.tops, self._next(("NCHW", False)))}

    def next_feeds(self) -> dict:
        import tensorflow as tf

        if self.defer is None:   # decided once: the device list does not change in a run
            self.defer = bool(tf.config.list_logical_devices("GPU"))
        mode = ("NHWC", self.defer)
        values = dict(zip(self.tops, self._next(mode)))
        if mode[1]:
            values[self.tops[0]] = self._datasets[mode].finish(values[self.tops[0]])
        return values

    def seek(self, batches_read: int) -> None:
        self.batches_read = int(batches_read)
        self._iterator = None

    def state(self) -> dict:
        return {"batches_read": self.batches_read, "seed": self.seed}

    def restore(self, state: dict) -> None:
        if "seed" in state and int(state["seed"]) != self.seed:
            self.seed = int(state["seed"])
            self._reseed()
            self._datasets = {}
        self.seek(int(state["batches_read"]))

    def _reseed(self):
        pass

    def close(self) -> None:
        """Stop reading ahead (the source can still seek and read again)."""
        self._iterator = None


class _Start:
    value = 0

    def __call__(self) -> int:
        return self.value


def _tf_message(exc) -> str:
    """The useful part of a TF error from inside a pipeline (our assertion's text, or the
    failing op's message without TF's node and iterator boilerplate)."""
    message = getattr(exc, "message", str(exc))
    message = message.split("\n\t [[")[0].split("\n\t[[")[0].strip()
    if "assertion failed:" in message:
        message = message.split("assertion failed:", 1)[1].strip()
        if message.startswith("[") and message.endswith("]"):
            message = message[1:-1]
        message = message.replace("] [", " ")
    else:
        message = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", message)
        message = re.sub(r"^Error in user-defined function passed to .*? transformation with "
                         r"iterator: [\w:]+: ", "", message)
    return message.replace("\\'", "'").strip()


class DataSource(PipelineSource):
    """Caffe's ``Data`` layer (LMDB or LEVELDB backend)."""

    def __init__(self, source: str, tops, batch_size: int, backend="lmdb", transform=None,
                 phase="test", seed=None, layer: str | None = None):
        from .db import open_db
        from .transform import DataTransformer

        if not 1 <= len(tops) <= 2:
            raise NetError(f"a Data layer has 1 or 2 tops (data, label), got {list(tops)}",
                           layer=layer)
        if batch_size <= 0:
            raise NetError(f"data_param.batch_size must be positive, got {batch_size}",
                           layer=layer)
        super().__init__(tops, batch_size, seed, layer)
        self.phase, self.param = phase, transform
        self.transformer = DataTransformer(transform, phase, self.seed, layer)
        self.db = open_db(source, backend, layer)

    def _reseed(self):
        from .transform import DataTransformer

        self.transformer = DataTransformer(self.param, self.phase, self.seed, self.layer)

    def _make_dataset(self, layout, deferred):
        from .pipelines import db_dataset

        return db_dataset(self.db, self.batch_size, self.transformer, start_batch=self._start,
                          labels=len(self.tops) == 2, layout=layout, deferred=deferred)

    def _diagnose(self, batch, exc):
        from .datum import datum_to_array

        n = len(self.db)
        t = self.transformer
        for item in range(batch * self.batch_size, (batch + 1) * self.batch_size):
            position = item % n
            key, value = self.db.get(position)
            where = self.db.describe(position, key)
            try:
                datum_to_array(value, t.force_color, t.force_gray, where)
            except CaffeError as err:
                return NetError(str(err), layer=self.layer)
        return NetError(f"{self.db.backend} '{self.db.path}', batch {batch}: "
                        f"{_tf_message(exc)}", layer=self.layer)

    def close(self):
        self._iterator, self._datasets = None, {}
        self.db.close()


class ImageDataSource(PipelineSource):
    """Caffe's ``ImageData`` layer."""

    def __init__(self, param: caffe_pb2.ImageDataParameter, tops, transform=None, phase="test",
                 seed=None, layer: str | None = None):
        from .pipelines import read_image_list

        if not 1 <= len(tops) <= 2:
            raise NetError(f"an ImageData layer has 1 or 2 tops (data, label), got "
                           f"{list(tops)}", layer=layer)
        super().__init__(tops, param.batch_size, seed, layer)
        self.param, self.transform, self.phase = param, transform, phase
        self.entries = read_image_list(param.source, param.root_folder, layer)

    def _make_dataset(self, layout, deferred):
        from .pipelines import image_data_dataset

        p = self.param
        return image_data_dataset(
            p.source, p.batch_size, p.root_folder, p.new_height, p.new_width, p.is_color,
            p.shuffle, p.rand_skip, self.transform, self.phase, self.seed,
            start_batch=self._start, labels=len(self.tops) == 2, layer=self.layer,
            layout=layout, deferred=deferred)

    def _diagnose(self, batch, exc):
        from .datum import decode_image_numpy
        from .pipelines import image_order

        p = self.param
        order = image_order(len(self.entries), p.shuffle, p.rand_skip, self.seed,
                            batch * self.batch_size)
        for _ in range(self.batch_size):
            _, i = next(order)
            path, _, line = self.entries[i]
            shown = path.decode("utf-8", "backslashreplace")
            where = f"{p.source}:{line}"
            if not os.path.isfile(path):
                return NetError(f"{where}: could not load '{shown}': no such file (paths are "
                                f"root_folder + name, relative to {os.getcwd()})",
                                layer=self.layer)
            try:
                with open(path, "rb") as f:
                    decode_image_numpy(f.read(), "color" if p.is_color else "gray")
            except ValueError as err:
                return NetError(f"{where}: could not load '{shown}': {err}", layer=self.layer)
        return NetError(f"ImageData '{p.source}', batch {batch}: {_tf_message(exc)}",
                        layer=self.layer)


class MemoryDataSource(BatchSource):
    """Caffe's ``MemoryData`` layer: batches of the arrays the user hands over.

    ``set_input_arrays(data, labels)`` (Caffe's ``Reset``, pycaffe's ``set_input_arrays``)
    takes float32 ``N x C x H x W`` data as is; ``add_images(images, labels)`` (Caffe's
    ``AddMatVector``) applies the layer's transform_param once to ``H x W x C`` BGR images.
    ``N`` must be a multiple of the batch size; batches cycle through the rows.
    """

    def __init__(self, tops, batch_size: int, chw, transform=None, phase="test", seed=None,
                 layer: str | None = None):
        super().__init__(tops, batch_size)
        if batch_size <= 0:
            raise NetError(f"memory_data_param.batch_size must be positive, got {batch_size}",
                           layer=layer)
        self.chw = tuple(int(d) for d in chw)
        self.layer = layer
        self.transform, self.phase, self.seed = transform, phase, default_seed(seed)
        self.data = self.labels = None

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
        from .transform import DataTransformer

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

    def seek(self, batches_read: int) -> None:
        self.batches_read = int(batches_read)


class DummyDataSource(BatchSource):
    """Caffe's ``DummyData`` layer: each top filled by its filler; constant tops never
    change, random ones are drawn anew for each batch (from ``seed`` and the batch index)."""

    def __init__(self, tops, shapes, fillers=None, seed=None, layer: str | None = None):
        if not shapes:
            raise NetError("DummyData needs at least one shape", layer=layer)
        super().__init__(tops, shapes[0][0] if shapes[0] else 1)
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
        self.seed = default_seed(seed)
        self.layer = layer
        self._constant = {}

    def shapes(self):
        return dict(zip(self.tops, self.shapes_))

    def next_batch(self):
        from ..weights.fillers import fill

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

    def state(self):
        return {"batches_read": self.batches_read, "seed": self.seed}

    def restore(self, state):
        self.seed = int(state.get("seed", self.seed))
        self.seek(int(state["batches_read"]))


def _filler(f) -> caffe_pb2.FillerParameter:
    if isinstance(f, caffe_pb2.FillerParameter):
        return f
    param = caffe_pb2.FillerParameter()
    for name, value in dict(f).items():
        setattr(param, name, value)
    return param


def dummy_shapes(param: caffe_pb2.DummyDataParameter, n_tops: int, layer=None) -> list[tuple]:
    """The Caffe shape of each top of a DummyData layer (``shape`` or the legacy
    num/channels/height/width fields, each given once or once per top)."""
    legacy = [list(param.num), list(param.channels), list(param.height), list(param.width)]
    if param.shape and any(legacy):
        raise NetError("dummy_data_param gives both shape and the legacy num/channels/height/"
                       "width fields", layer=layer)
    if any(legacy):
        for name, values in zip(("num", "channels", "height", "width"), legacy):
            if len(values) not in (1, n_tops):
                raise NetError(f"dummy_data_param.{name} needs 1 or {n_tops} values, got "
                               f"{len(values)}", layer=layer)
        return [tuple(v[i if len(v) > 1 else 0] for v in legacy) for i in range(n_tops)]
    if len(param.shape) not in (1, n_tops):
        raise NetError(f"dummy_data_param needs 1 or {n_tops} shapes, got {len(param.shape)}",
                       layer=layer)
    return [tuple(param.shape[i if len(param.shape) > 1 else 0].dim) for i in range(n_tops)]
