"""Caffe's HDF5 weight files (``Net::ToHDF5`` / ``CopyTrainedLayersFromHDF5``): a group
``data`` with one group per layer (in net order, empty for layers without parameters) and,
in it, one float32 dataset per parameter blob named ``0``, ``1``, ... in Caffe's shape.  A
blob shared through ``param { name }`` is written once, under the layer that owns it."""

from __future__ import annotations

import numpy as np

from ..errors import WeightError
from ..fileio import atomic_path


def save_hdf5(net, path: str) -> None:
    import h5py

    written = set()
    with atomic_path(path, ".h5") as tmp, h5py.File(tmp, "w") as f:
        data = f.create_group("data")
        for name, layer in zip(net._layer_names, net.layers):
            group = data.require_group(name)
            for i, blob in enumerate(layer.blobs):
                owner = id(blob._variable)
                if owner in written:
                    continue   # saved by the layer that owns it
                written.add(owner)
                group.create_dataset(str(i), data=np.asarray(blob.data, np.float32))


def load_hdf5(net, path: str) -> None:
    """Copy the parameter blobs of the layers the file has into the net (shapes must match)."""
    import h5py

    with h5py.File(path, "r") as f:
        if "data" not in f:
            raise WeightError(f"{path} has no 'data' group: not a Caffe HDF5 weights file")
        data, loaded = f["data"], set()
        for name, layer in zip(net._layer_names, net.layers):
            if name not in data or not layer.blobs:
                continue
            group = data[name]
            for i, blob in enumerate(layer.blobs):
                if str(i) not in group:
                    if id(blob._variable) in loaded:
                        continue   # a shared blob, saved under its owner
                    raise WeightError(f"incompatible number of blobs: the net has "
                                      f"{len(layer.blobs)}, {path} has {len(group)}",
                                      layer=name)
                loaded.add(id(blob._variable))
                values = np.asarray(group[str(i)], np.float32)
                if values.shape != blob.shape:
                    raise WeightError(f"{path}: shape {values.shape} for a blob of shape "
                                      f"{blob.shape}", layer=name, blob=i)
                blob.data[...] = values
    net._params.upload()
