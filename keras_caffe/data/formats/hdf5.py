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
            arrays = {t: np.asarray(f[t][...], np.float32) for t in names}
    except OSError as exc:
        raise NetError(f"cannot read HDF5 file '{path}': {exc}") from exc
    rows = {len(a) for a in arrays.values()}
    if len(rows) != 1:
        raise NetError(f"HDF5 file '{path}': datasets {names} have different numbers of "
                       f"rows {sorted(rows)}")
    return arrays


def legacy_4d(array: np.ndarray, what: str) -> np.ndarray:
    """A blob as Caffe's legacy num/channels/height/width view."""
    if array.ndim > 4:
        raise NetError(f"HDF5Output saves blobs of at most 4 axes (Caffe's legacy N x C x H x "
                       f"W), got {what} of shape {array.shape}")
    return np.asarray(array, np.float32).reshape(array.shape + (1,) * (4 - array.ndim))
