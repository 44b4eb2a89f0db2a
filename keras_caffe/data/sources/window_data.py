"""Caffe's WindowData layer: windows of images named by a window file (R-CNN fine-tuning).

Each batch is ``batch_size - num_fg`` background windows (label 0) followed by ``num_fg =
int(batch_size * fg_fraction)`` foreground ones, each cropped, warped to ``crop_size`` and
normalised as ``WindowDataLayer::load_batch`` does (see :mod:`..window_crop`).  The windows
and mirror flags are drawn as Caffe's ``PrefetchRand`` draws them: one 32-bit number per item
(``% len(windows)`` picks the window), then, only when ``mirror`` is set, one more (``% 2``),
from a Mersenne Twister (``boost::mt19937``).  Caffe seeds that generator from its global
stream; we seed it with the run's seed modulo 2**32 (recorded in :meth:`state`), so a given
seed gives the windows and flips Caffe's layer draws from that prefetch seed.  Phase plays no
part (Caffe samples and mirrors in TEST as in TRAIN).

Caffe's layer reads ``transform_param``'s ``crop_size``, ``mirror``, ``mean_file`` and
``mean_value``, but ``window_data_param``'s ``scale`` (``transform_param.scale`` is ignored).
"""

from __future__ import annotations

import concurrent.futures
import logging
import os

import numpy as np

from ...errors import MemoryLimitError, NetError, layer_named
from ...graph.limits import check_blob
from ...graph.memory import format_size, memory_limit
from ...proto import caffe_pb2
from ..formats.datum import decode_image_numpy
from ..formats.windows import IMAGE, LABEL, X1, Y2, read_window_file
from ..transform import DataTransformer, as_transform_param
from ..window_crop import crop_window, window_geometry, write_window
from .base import SeededSource, data_layer

log = logging.getLogger("keras_caffe.data")

_SKIP_CHUNK = 1 << 20   # draws discarded at a time when seeking


def _window_data_shape(layer, bottoms):
    """The crops (3 channels: images are read in colour; ``transform_param.crop_size``
    square) and a label per item."""
    n = layer.window_data_param.batch_size or None
    crop = layer.transform_param.crop_size or None
    return [(n, 3, crop, crop), (n,)]


@data_layer("WindowData", tops=2, shape=_window_data_shape)
class WindowDataSource(SeededSource):
    """Caffe's ``WindowData`` layer (see the module docstring)."""

    def __init__(self, param: caffe_pb2.WindowDataParameter, transform=None,
                 tops=("data", "label"), seed=None, layer: str | None = None):
        if len(tops) != 2:
            raise NetError(f"a WindowData layer has exactly 2 tops (data, label), got "
                           f"{list(tops)}", layer=layer)
        super().__init__(tops, param.batch_size, seed, layer)
        self.param = param
        self._rng = None            # the prefetch generator, at self.batches_read
        self._picks = (-1, None)    # (batch, its window rows) of the last batch read
        self._pool = None
        with layer_named(layer):
            self._setup(param, as_transform_param(transform))

    @classmethod
    def from_layer(cls, node, phase, seed=None, **options):
        return cls(node.param.window_data_param, node.param.transform_param,
                   [t.name for t in node.tops], seed, node.name)

    # ------------------------------------------------------------------ set-up (Caffe's CHECKs)
    def _setup(self, p, t):
        if p.batch_size <= 0:
            raise NetError(f"window_data_param.batch_size must be positive, got {p.batch_size}")
        if p.crop_mode not in ("warp", "square"):
            raise NetError(f"window_data_param.crop_mode is {p.crop_mode!r}; Caffe knows "
                           "'warp' and 'square' (and warps on anything else)")
        if not 0 <= p.fg_fraction <= 1:
            raise NetError(f"window_data_param.fg_fraction must be in [0, 1], got "
                           f"{p.fg_fraction:g} (Caffe would write past its batch)")
        self.crop = int(t.crop_size)
        if self.crop <= 0:
            legacy = (f" (window_data_param.crop_size: {p.crop_size} is read only in V1 nets, "
                      "which Caffe upgrades into transform_param)" if p.crop_size else "")
            raise NetError("WindowData needs transform_param.crop_size > 0: every window is "
                           f"warped to a crop_size square{legacy}")
        check_blob((p.batch_size, 3, self.crop, self.crop), "the data top")   # Caffe's bound
        self.square = p.crop_mode == "square"
        self.context_pad = int(p.context_pad)
        if (self.context_pad or self.square) and self.crop - 2 * self.context_pad <= 0:
            raise NetError(f"context_pad {self.context_pad} leaves no room in a crop of "
                           f"{self.crop}: it must be less than crop_size / 2")
        if t.scale != 1:
            log.warning("layer '%s': Caffe's WindowData ignores transform_param.scale (%g) "
                        "and applies window_data_param.scale (%g)", self.layer, t.scale,
                        p.scale)
        self.scale = np.float32(p.scale)
        self.mirror = bool(t.mirror)
        self.num_fg = int(np.float32(self.batch_size) * np.float32(p.fg_fraction))
        self.windows = read_window_file(p.source, p.root_folder, p.fg_threshold,
                                        p.bg_threshold)
        self._check_windows(p)
        self._read_mean(DataTransformer(t, "test", 0))
        self._find_images(p.cache_images)
        w = self.windows
        log.info("layer '%s': window file '%s': %d images, %d foreground and %d background "
                 "windows", self.layer, p.source, len(w.images), len(w.fg), len(w.bg))

    def _check_windows(self, p):
        w = self.windows
        for kind, rows, rule in (("foreground", w.fg, f"overlap >= fg_threshold "
                                  f"{p.fg_threshold:g}"),
                                 ("background", w.bg, f"overlap < bg_threshold "
                                  f"{p.bg_threshold:g}")):
            if len(rows) == 0:
                raise NetError(f"window file '{w.path}' has no {kind} windows ({rule}); "
                               "Caffe samples both kinds for every batch")
        if w.channels != 3:
            raise NetError(f"{w.path}:{w.channels_line}: the last image declares {w.channels} "
                           "channels, which Caffe takes for the top's; WindowData reads every "
                           "image in colour (3 channels)")

    def _read_mean(self, transformer: DataTransformer):
        self.mean, self.mean_values, self.mean_off = transformer.mean, None, 0
        if transformer.mean_values.size:
            values = transformer.mean_values
            if values.size not in (1, 3):
                raise NetError(f"transform_param has {values.size} mean_value; give 1 or one "
                               "per channel (3)")
            self.mean_values = np.broadcast_to(values, (3,)).astype(np.float32)
        if self.mean is not None:
            c, h, w = self.mean.shape
            self.mean_off = (w - self.crop) // 2
            if c != 3 or w < self.crop or self.mean_off + self.crop > h:
                raise NetError(f"mean_file '{transformer.mean_file}' is {c} x {h} x {w}; "
                               f"WindowData reads a 3-channel mean at rows and columns "
                               f"(width - crop_size) / 2 + 0..{self.crop - 1}, so it must be "
                               f"at least {self.crop} wide and tall enough for them")

    def _find_images(self, cache: bool):
        """Absolute paths of the images (the reading must not follow a later chdir), checked
        to exist; with ``cache_images`` their bytes (Caffe caches the files, encoded)."""
        w = self.windows
        used = range(len(w.images)) if cache else \
            np.unique(np.concatenate([w.fg[:, IMAGE], w.bg[:, IMAGE]])).tolist()
        self.paths = [os.path.abspath(p) for p in w.images]
        self.cache = {} if cache else None
        for i in used:
            if not os.path.isfile(self.paths[i]):
                raise NetError(f"{w.path}:{w.image_lines[i]}: image '{w.shown(i)}' not found "
                               f"(paths are root_folder + name, relative to {os.getcwd()})")
        if cache:
            total = sum(os.path.getsize(self.paths[i]) for i in used)
            limit, how = memory_limit()
            if limit and total > limit:
                named = f"layer '{self.layer}': " if self.layer else ""
                raise MemoryLimitError(f"{named}cache_images would hold the "
                                       f"{len(used)} image files of '{w.path}' ("
                                       f"{format_size(total)}, {total:,} bytes) in memory, over "
                                       f"the memory limit of {format_size(limit)} ({limit:,} "
                                       f"bytes; {how}); set "
                                       "cache_images: false, or give --max-memory SIZE "
                                       "(max_memory=; 0 for no limit)", layer=self.layer,
                                       needed=total, limit=limit)
            self.cache = {i: self._read(i) for i in used}

    def _read(self, i: int) -> bytes:
        try:
            with open(self.paths[i], "rb") as f:
                return f.read()
        except OSError as exc:
            w = self.windows
            raise NetError(f"{w.path}:{w.image_lines[i]}: cannot read image '{w.shown(i)}': "
                           f"{exc.strerror or exc}", layer=self.layer) from None

    # ------------------------------------------------------------------ batches
    @property
    def draws_per_batch(self) -> int:
        return self.batch_size * (2 if self.mirror else 1)

    def _generator(self, batch: int) -> np.random.RandomState:
        """The prefetch generator after ``batch`` batches (``boost::mt19937``'s stream)."""
        rng = np.random.RandomState(self.seed & 0xFFFFFFFF)
        left = batch * self.draws_per_batch
        while left:
            take = min(left, _SKIP_CHUNK)
            rng.randint(0, 2**32, size=take, dtype=np.uint32)
            left -= take
        return rng

    def _choose(self, rng: np.random.RandomState):
        """The window rows and mirror flags of the batch whose draws ``rng`` gives next
        (Caffe's order: background items first, each item's window draw followed by its
        mirror draw)."""
        draws = rng.randint(0, 2**32, size=self.draws_per_batch, dtype=np.uint32)
        step = 2 if self.mirror else 1
        picks = draws[0::step].astype(np.int64)
        flips = (draws[1::step] % 2).astype(bool) if self.mirror else \
            np.zeros(self.batch_size, bool)
        num_bg = self.batch_size - self.num_fg
        w = self.windows
        rows = np.concatenate([w.bg[picks[:num_bg] % len(w.bg)],
                               w.fg[picks[num_bg:] % len(w.fg)]])
        return rows, flips

    def next_batch(self) -> dict[str, np.ndarray]:
        if self._rng is None:
            self._rng = self._generator(self.batches_read)
        rows, flips = self._choose(self._rng)
        batch = self.batches_read
        self.batches_read += 1
        self._picks = (batch, rows)
        data = np.zeros((self.batch_size, 3, self.crop, self.crop), np.float32)
        items = range(self.batch_size)
        if self.batch_size > 1:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(min(8, os.cpu_count() or 1))
            list(self._pool.map(lambda k: self._item(data[k], rows[k], flips[k]), items))
        else:
            self._item(data[0], rows[0], flips[0])
        return {self.tops[0]: data, self.tops[1]: rows[:, LABEL].astype(np.float32)}

    def _item(self, out: np.ndarray, row, mirror: bool) -> None:
        i = int(row[IMAGE])
        w = self.windows
        data = self.cache[i] if self.cache is not None else self._read(i)
        try:
            image = decode_image_numpy(data, "color")
        except ValueError as err:
            raise NetError(f"{w.path}:{w.image_lines[i]}: could not decode image "
                           f"'{w.shown(i)}': {err}", layer=self.layer) from None
        try:
            geometry = window_geometry(row[X1:Y2 + 1], image.shape[0], image.shape[1],
                                       self.crop, self.context_pad, self.square, mirror)
        except NetError as err:
            raise NetError(f"{w.where(row)}: {err.reason}", layer=self.layer) from None
        write_window(out, crop_window(image, geometry, mirror), geometry, self.scale,
                     self.mean_values, self.mean, self.mean_off)

    def shapes(self) -> dict[str, tuple]:
        return {self.tops[0]: (self.batch_size, 3, self.crop, self.crop),
                self.tops[1]: (self.batch_size,)}

    def describe_item(self, batch: int, item: int) -> str:
        rows = self._picks[1] if self._picks[0] == batch else \
            self._choose(self._generator(batch))[0]
        return f"the window at {self.windows.where(rows[item])}"

    # ------------------------------------------------------------------ position
    def seek(self, batches_read: int) -> None:
        self.batches_read = int(batches_read)
        self._rng = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
