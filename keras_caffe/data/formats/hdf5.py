"""HDF5 files as Caffe reads them (HDF5Data) and writes them (HDF5Output)."""

from __future__ import annotations

import numpy as np

from ...errors import NetError


def read_datasets(path: str, names: list[str]) -> dict[str, np.ndarray]:
    """The datasets ``names`` of an HDF5 file as float32 arrays with one row count, as Caffe's
    HDF5Data layer loads a file (it converts every dataset to float32)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            missing = [t for t in names if t not in f]
            if missing:
                raise NetError(f"HDF5 file '{path}' has no dataset named {missing} (the "
                               f"datasets must be named after the tops {names}; it has "
                               f"{sorted(f.keys())})")
            arrays = {t: _dataset(f[t], path, t) for t in names}
    except OSError as exc:
        raise NetError(f"cannot read HDF5 file '{path}': {exc}") from exc
    rows = {len(a) for a in arrays.values()}
    if len(rows) != 1:
        raise NetError(f"HDF5 file '{path}': datasets {names} have different numbers of "
                       f"rows {sorted(rows)}")
    return arrays


def _dataset(item, path: str, name: str) -> np.ndarray:
    """One dataset as float32 with at least one axis (Caffe: numeric data, 1 to 32 axes)."""
    import h5py

    if not isinstance(item, h5py.Dataset):
        raise NetError(f"HDF5 file '{path}': '{name}' is a {type(item).__name__}, not a dataset")
    if item.dtype.kind not in "biuf":
        raise NetError(f"HDF5 file '{path}': dataset '{name}' holds {item.dtype} values; Caffe "
                       "reads numbers (float, or integers converted to float)")
    if item.ndim == 0:
        raise NetError(f"HDF5 file '{path}': dataset '{name}' is a scalar; it needs at least "
                       "one axis (the items)")
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
