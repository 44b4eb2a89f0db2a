"""HDF5 files as Caffe reads them (HDF5Data) and writes them (HDF5Output)."""

from __future__ import annotations

import math

import numpy as np

from ...errors import MemoryLimitError, NetError
from ...graph.limits import check_blob
from ...graph.memory import format_size, memory_limit

#: What h5py raises for a file it cannot make sense of: a corrupt or truncated superblock,
#: object header, heap or B-tree (it maps HDF5's error classes onto these).
_H5PY_ERRORS = (OSError, KeyError, RuntimeError, ValueError)


def read_datasets(path: str, names: list[str], held: int = 0,
                  limit: tuple | None = None) -> dict[str, np.ndarray]:
    """The datasets ``names`` of an HDF5 file as float32 arrays with one row count, as Caffe's
    HDF5Data layer loads a file (it converts every dataset to float32).  A caller reading
    several files gives the bytes it holds already (``held``), counted with this file's
    against the memory limit, and ``limit`` (``graph.memory.memory_limit()``, taken before
    the first file: the memory available shrinks as they are read; by default taken now)."""
    import h5py

    limit = limit or memory_limit()
    try:
        with h5py.File(path, "r") as f:
            missing = [t for t in names if t not in f]
            if missing:
                raise NetError(f"HDF5 file '{path}' has no dataset named {missing} (the "
                               f"datasets must be named after the tops {names}; it has "
                               f"{sorted(f.keys())})")
            arrays = {}
            for t in names:
                arrays[t] = _dataset(f[t], path, t, held, limit)
                held += arrays[t].nbytes
    except _H5PY_ERRORS as exc:
        reason = exc.args[0] if exc.args else exc
        raise NetError(f"cannot read HDF5 file '{path}': {reason} (a corrupt or truncated "
                       "file?)") from None
    rows = {len(a) for a in arrays.values()}
    if len(rows) != 1:
        raise NetError(f"HDF5 file '{path}': datasets {names} have different numbers of "
                       f"rows {sorted(rows)}")
    return arrays


def _dataset(item, path: str, name: str, held: int, limit: tuple) -> np.ndarray:
    """One dataset as float32 with at least one axis (Caffe: numeric data, 1 to 32 axes),
    checked before it is read: at most INT_MAX values (Caffe's blob bound), and, with the
    ``held`` bytes already read, no more memory than ``limit`` (``--max-memory``, or a share
    of the memory available) -- a small file may declare a dataset of terabytes, and a list
    may name a big file many times."""
    import h5py

    if not isinstance(item, h5py.Dataset):
        raise NetError(f"HDF5 file '{path}': '{name}' is a {type(item).__name__}, not a dataset")
    if item.dtype.kind not in "biuf":
        raise NetError(f"HDF5 file '{path}': dataset '{name}' holds {item.dtype} values; Caffe "
                       "reads numbers (float, or integers converted to float)")
    if item.ndim == 0:
        raise NetError(f"HDF5 file '{path}': dataset '{name}' is a scalar; it needs at least "
                       "one axis (the items)")
    check_blob(item.shape, f"HDF5 file '{path}': dataset '{name}'")
    count = math.prod(item.shape)
    needed = count * (4 if item.dtype == np.float32 else 4 + item.dtype.itemsize)
    limit, how = limit
    if limit and held + needed > limit:
        besides = f" besides the {format_size(held)} of the datasets read before" if held else ""
        raise MemoryLimitError(f"HDF5 file '{path}': dataset '{name}' of shape {item.shape} "
                               f"would take {format_size(needed)} to read as float32{besides}, "
                               f"over the memory limit of {format_size(limit)} ({how}); "
                               "Caffe's HDF5Data holds whole files in memory: split the file "
                               "into smaller ones, or give --max-memory SIZE (max_memory=; 0 "
                               "for no limit)", needed=held + needed, limit=limit)
    return np.asarray(item[...], np.float32)


def same_items(files: list[str], arrays: list[dict[str, np.ndarray]], where: str) -> None:
    """An error unless every file holds items of one shape per dataset, as Caffe's HDF5Data
    copies every file's rows into blobs shaped by the first file (``where`` names the list)."""
    for path, data in zip(files[1:], arrays[1:]):
        for name, array in data.items():
            first = arrays[0][name]
            if array.shape[1:] != first.shape[1:]:
                raise NetError(f"HDF5 file '{path}' (listed in {where}): dataset '{name}' holds "
                               f"items of shape {array.shape[1:]}, but '{files[0]}' holds "
                               f"items of shape {first.shape[1:]}; every file must hold items "
                               "of one shape")


def legacy_4d(array: np.ndarray, what: str) -> np.ndarray:
    """A blob as Caffe's legacy num/channels/height/width view."""
    if array.ndim > 4:
        raise NetError(f"HDF5Output saves blobs of at most 4 axes (Caffe's legacy N x C x H x "
                       f"W), got {what} of shape {array.shape}")
    return np.asarray(array, np.float32).reshape(array.shape + (1,) * (4 - array.ndim))
