"""Batch sources: one data layer's stream of batches, as Caffe's data layers produce them.

A source yields dicts ``{top name: float32 array in Caffe's shape}``, one per
``net.forward()``, and can report and restore its position so that a resumed training
run sees exactly the batches an uninterrupted one would.  Each data layer type has its
module here, whose source class declares the type (``@data_layer``) with its traits.
"""

from __future__ import annotations

import abc
import atexit
import gc
import re
import weakref

import numpy as np

from ... import errors
from ...errors import LabelError, NetError, layer_named
from ...graph import layout, types
from ...graph.labels import IndexCheck


class BatchSource(abc.ABC):
    """One data layer's stream of batches."""

    #: Tops whose values never change after the first batch (DummyData's constant fillers):
    #: pycaffe keeps what a user writes into them.
    constant_tops: frozenset = frozenset()
    #: The range checks of the tops the net reads as class labels or indices (set by
    #: :func:`watch_indices` when the net is opened), run on every batch read.
    index_checks: tuple = ()
    #: Whether the source can read one worker's share of its stream (:meth:`shard`).
    shardable: bool = False

    def __init__(self, tops: list[str], batch_size: int, layer: str | None = None):
        self.tops = list(tops)
        self.batch_size = int(batch_size)
        self.batches_read = 0
        self.layer = layer   # named in the errors of reading
        self.rank, self.workers = 0, 1   # this worker's share of the stream (see shard)

    def shard(self, rank: int, count: int) -> None:
        """Read only worker ``rank``'s share of the stream when ``count`` workers train
        together, as Caffe's data-parallel Data and HDF5Data layers read (``Skip()``): item
        ``o`` of the whole stream goes to worker ``o % count``, and every worker's batch
        keeps ``batch_size`` items (the global batch is ``count * batch_size``).  No two
        workers read the same item, and their batches ``k`` together are batch ``k`` of one
        reader with the global batch."""
        if count > 1 and not self.shardable:
            shardable = sorted(s.name for s in types.declared()
                               if getattr(s.reader, "shardable", False))
            raise NetError(f"this data layer's records cannot be split over {count} workers "
                           f"({', '.join(shardable)} layers can, as in Caffe's data-parallel "
                           "training); train it on one worker", layer=self.layer)
        if not 0 <= rank < count:
            raise NetError(f"worker {rank} of {count} does not exist", layer=self.layer)
        self.rank, self.workers = int(rank), int(count)
        self.seek(self.batches_read)

    def stream_item(self, item: int) -> int:
        """Where item ``item`` of this worker's share sits in the whole stream."""
        return item * self.workers + self.rank

    @abc.abstractmethod
    def next_batch(self) -> dict[str, np.ndarray]:
        ...

    def next_feeds(self) -> dict:
        """The next batch as a model takes it: our internal layout (NHWC images), as arrays
        or (on the accelerator when there is one) tensors.  Same stream as :meth:`next_batch`."""
        return {k: layout.to_internal_array(v) for k, v in self.next_batch().items()}

    def describe_item(self, batch: int, item: int) -> str:
        """Which record item ``item`` of batch ``batch`` (counted from 0) came from; a source
        that knows its records (a database key, a file and row, a list line) names it."""
        return f"item {item} of batch {batch} (this source does not name its records)"

    def check_indices(self, batch: dict) -> None:
        """Refuse a batch (just read) holding a class label or index out of its range,
        naming the layer reading it, the value, the class count and the record."""
        for check in self.index_checks:
            if check.blob not in batch:
                continue
            bad = check.first_bad(batch[check.blob])
            if bad is not None:
                item, value = bad
                source = f"data layer '{self.layer}'" if self.layer else "the data layer"
                raise LabelError(f"{check.message(value)}; read by {source} from "
                                 f"{self.describe_item(self.batches_read - 1, item)}",
                                 layer=check.layer)

    def shapes(self) -> dict[str, tuple]:
        """Caffe shapes of one batch (reads one batch and rewinds)."""
        position = self.state()
        batch = self.next_batch()
        self.restore(position)
        return {k: v.shape for k, v in batch.items()}

    def state(self) -> dict:
        return {"batches_read": self.batches_read}

    def restore(self, state: dict) -> None:
        self.seek(int(state["batches_read"]))

    @abc.abstractmethod
    def seek(self, batches_read: int) -> None:
        ...


def data_layer(type_name: str, *, tops=(1, 2), shape=None, origin: str = types.BVLC):
    """Class decorator: declare a data layer type, read by this :class:`BatchSource` class
    (built by its ``from_layer(node, phase, seed)``)."""
    def deco(cls):
        types.declare(type_name, source="data", reader=cls, bottoms=0, tops=tops, shape=shape,
                      origin=origin, module=cls.__module__)
        return cls
    return deco


def default_seed(seed) -> int:
    """Caffe seeds from the clock when ``random_seed`` is unset; we draw a seed once and
    record it in ``state()`` so that a resume still replays the same stream."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    return int(seed)


class SeededSource(BatchSource):
    """A source whose stream is drawn from ``seed`` (:func:`default_seed`), which its
    ``state()`` records and ``restore()`` takes back, so that a resume replays the stream."""

    def __init__(self, tops, batch_size, seed, layer: str | None = None):
        super().__init__(tops, batch_size, layer)
        self.seed = default_seed(seed)

    def state(self) -> dict:
        return {"batches_read": self.batches_read, "seed": self.seed}

    def restore(self, state: dict) -> None:
        self.seed = int(state.get("seed", self.seed))
        self.seek(int(state["batches_read"]))


class PipelineSource(SeededSource):
    """Batches pulled from a ``tf.data`` pipeline that starts at ``self.batches_read``.

    Two pipelines read the same stream: Caffe's float32 NCHW batches (:meth:`next_batch`),
    and the model's NHWC feeds (:meth:`next_feeds`).  With an accelerator the feeds'
    pipeline is deferred: the host only reads and decodes, and the transform's array work
    runs on the accelerator, which receives a third of the bytes; without one the host's
    pipeline threads do it all, in parallel with the training step."""

    #: Defer the feeds' array work to where the model runs: None = when a GPU is visible.
    defer: bool | None = None

    def __init__(self, tops, batch_size, seed, layer):
        super().__init__(tops, batch_size, seed, layer)
        self._datasets = {}
        self._iterator = None
        self._mode = None
        # The batch a new iterator starts at; a holder (not self) so the pipeline does not
        # keep the source alive: dropping the source stops its read-ahead.
        self._start = _Start()
        _LIVE.add(self)
        if not _LIVE.hooked:
            atexit.register(_stop_all)
            _LIVE.hooked = True

    def _make_dataset(self, layout: str, deferred: bool, batch_size: int, start):
        """The pipeline of ``batch_size`` batches (see ``lmdb_dataset``); it starts at batch
        ``start`` (an int, or a callable read whenever an iterator starts)."""
        raise NotImplementedError

    def _diagnose(self, batch: int, exc) -> Exception:
        """A clear error for a failed batch (names the record/line when it can)."""
        own = python_error(exc)
        if own is not None:
            return NetError(own, layer=self.layer)
        return NetError(f"reading batch {batch} failed: {tf_message(exc)}", layer=self.layer)

    def _next(self, mode: tuple[str, bool]):
        import tensorflow as tf

        if mode not in self._datasets:
            self._datasets[mode] = self._make_dataset(*mode, self.batch_size, self._start)
        if self._iterator is None or self._mode != mode:
            self._start.value = self.batches_read
            self._iterator, self._mode = iter(self._datasets[mode]), mode
        try:
            values = next(self._iterator)
        except (tf.errors.OpError, UnicodeDecodeError) as exc:
            # (TF raises UnicodeDecodeError for an op error whose message holds bytes that
            # are not UTF-8: a file name read from a list)
            self._iterator = None
            raise self._diagnose(self.batches_read, exc) from None
        self.batches_read += 1
        return values if isinstance(values, tuple) else (values,)

    def next_batch(self) -> dict[str, np.ndarray]:
        return {t: v.numpy() for t, v in zip(self.tops, self._next(("NCHW", False)))}

    def shapes(self) -> dict[str, tuple]:
        """Caffe shapes of a batch, sized by the stream's first item as Caffe's data layers
        size their tops (``InferBlobShape`` of one datum): one item is read, never a whole
        batch, so a batch too large for memory is refused (blob bounds, memory projection)
        before any batch is read."""
        import tensorflow as tf

        if _FIRST_ITEM not in self._datasets:   # one-item batches from item 0
            self._datasets[_FIRST_ITEM] = self._make_dataset("NCHW", False, 1, 0)
        try:
            first = next(iter(self._datasets[_FIRST_ITEM]))
        except (tf.errors.OpError, UnicodeDecodeError) as exc:   # as in _next
            raise self._diagnose(0, exc) from None
        first = first if isinstance(first, tuple) else (first,)
        return {t: (self.batch_size,) + tuple(v.shape[1:]) for t, v in zip(self.tops, first)}

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

    def shard(self, rank: int, count: int) -> None:
        super().shard(rank, count)
        self._datasets = {}   # made again for this share

    def restore(self, state: dict) -> None:
        seed = self.seed
        super().restore(state)
        if self.seed != seed:   # another stream: its pipelines are made again
            self._reseed()
            self._datasets = {}

    def _reseed(self):
        """Remake what was drawn from the seed (the pipelines are remade anyway)."""

    def close(self) -> None:
        """Stop reading ahead (the source can still seek and read again)."""
        self._iterator = None


#: The key of the one-item pipeline that :meth:`PipelineSource.shapes` reads.
_FIRST_ITEM = ("NCHW", False, "first item")


class _Live(weakref.WeakSet):
    hooked = False


_LIVE = _Live()


def _stop_all() -> None:
    """At exit, stop the pipelines' read-ahead while Python still runs (TensorFlow otherwise
    finalises their generator threads after the interpreter and complains)."""
    for source in list(_LIVE):
        source._iterator, source._datasets = None, {}
    gc.collect()


class _Start:
    value = 0

    def __call__(self) -> int:
        return self.value


def tf_message(exc) -> str:
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
        message = message.split(_TRACEBACK, 1)[0]   # a Python error: TF appends its traceback
    return message.replace("\\'", "'").strip()


_TRACEBACK = "\nTraceback (most recent call last):"


def python_error(exc) -> str | None:
    """The message of a CaffeError that Python code in a pipeline raised (a generator walking
    a database names the record it failed on), which TF reports with its traceback; None
    when the TF error is not one of those."""
    message = getattr(exc, "message", str(exc))
    found = re.search(r"(?:^|[\s}])(\w+): (.*?)" + re.escape(_TRACEBACK), message, re.S)
    cls = getattr(errors, found.group(1), None) if found else None
    if isinstance(cls, type) and issubclass(cls, errors.CaffeError):
        return found.group(2).strip()
    return None


def source_for(node, phase: int, seed: int | None = None,
               allow_python_layers: bool = False) -> BatchSource:
    """The source of a data layer (paths resolve against the working directory, as in
    Caffe); errors name the layer.  ``allow_python_layers`` lets a Python data layer's
    module be imported (see ``layers.python_layer``)."""
    spec = types.get(node.type)
    if spec is None or spec.reader is None:
        readable = sorted(s.name for s in types.declared() if s.reader is not None)
        raise NetError(f"reading {node.type} layers is not supported yet ({', '.join(readable)} "
                       "are); feed the net through its inputs instead", layer=node.name)
    with layer_named(node.name):
        return spec.reader.from_layer(node, phase, seed,
                                      allow_python_layers=allow_python_layers)


def open_sources(graph, phase: int, seed: int | None = None,
                 allow_python_layers: bool = False) -> dict[str, BatchSource]:
    """A source for each data layer of a resolved net, by layer key (Input layers are fed by
    the caller)."""
    return {node.key: source_for(node, phase, seed, allow_python_layers)
            for node in graph.input_layers if types.source_of(node.param) != "caller"}


def batch_shapes(sources) -> dict[str, tuple]:
    """Caffe shapes of the tops of ``sources`` (one batch read and rewound)."""
    shapes = {}
    for source in sources.values():
        shapes.update(source.shapes())
    return shapes


def watch_indices(sources, checks: list[IndexCheck]) -> None:
    """Give each source the checks of the tops it writes (see ``graph.labels``)."""
    for source in sources.values():
        source.index_checks = tuple(c for c in checks if c.blob in source.tops)


def next_batches(sources) -> dict[str, np.ndarray]:
    """The next batch of every source, by top name (NCHW, as Caffe's data layers give);
    labels out of range are refused (``BatchSource.check_indices``)."""
    batch = {}
    for source in sources.values():
        values = source.next_batch()
        source.check_indices(values)
        batch.update(values)
    return batch


def next_feeds(sources) -> dict:
    """The next batch of every source as the model takes it (see ``BatchSource.next_feeds``);
    labels out of range are refused."""
    feeds = {}
    for source in sources.values():
        values = source.next_feeds()
        source.check_indices(values)
        feeds.update(values)
    return feeds

