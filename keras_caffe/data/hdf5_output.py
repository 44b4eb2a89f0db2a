"""Caffe's HDF5Output layer: a sink that saves its two bottoms to an HDF5 file.

Caffe creates (truncates) ``hdf5_output_param.file_name`` when the net is set up and writes
the datasets ``data`` and ``label`` -- float32, shaped as legacy 4-D blobs ``N x C x H x W``
(1 for missing axes) -- at each forward pass; its second pass then fails, because the
datasets already exist.  Ours writes the first pass exactly so and appends the rows of later
passes (``forward --batches K`` saves all K batches).  The first pass is written to a
temporary file that is then renamed to ``file_name``, so no file is ever left half-written;
later passes append to it and flush.

Where the file goes is the writer's :class:`~keras_caffe.fileio.WritePolicy` (given by
whoever runs the net): ``file_name`` is taken in the working directory or the output
directory and must stay inside it unless the user allows otherwise, and an existing file is
replaced only with ``overwrite`` (a read-only one never).
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import NetError, layer_named
from ..fileio import WritePolicy
from ..graph import types
from .formats.hdf5 import legacy_4d

DATASETS = ("data", "label")   # Caffe's HDF5_DATA_DATASET_NAME, HDF5_DATA_LABEL_NAME


class HDF5Output:
    """One HDF5Output layer's file, created by the first :meth:`write`."""

    def __init__(self, file_name: str, layer: str):
        self.path, self.layer = os.fspath(file_name), layer
        self._file = None
        self.written = None   # the real path of the file, once the first pass is written

    @classmethod
    def from_layer(cls, node) -> "HDF5Output":
        name = node.param.hdf5_output_param.file_name
        if not name:
            raise NetError("hdf5_output_param.file_name is empty", layer=node.name)
        return cls(name, node.name)

    def write(self, data: np.ndarray, label: np.ndarray, writes: WritePolicy) -> None:
        """Save one pass's bottoms: the first creates the file where ``writes`` allows, later
        ones append to it."""
        import h5py

        with layer_named(self.layer):
            blobs = [legacy_4d(data, "data"), legacy_4d(label, "label")]
        if len(blobs[0]) != len(blobs[1]):
            raise NetError(f"data and label must have the same number of items, got shapes "
                           f"{data.shape} and {label.shape}", layer=self.layer)
        if self._file is None:
            target = writes.place(self.path, "HDF5Output file_name", self.layer)
            f = None
            try:
                with writes.new_file(target, ".h5", self.layer) as tmp:
                    f = h5py.File(tmp, "w")
                    for name, blob in zip(DATASETS, blobs):
                        f.create_dataset(name, data=blob, maxshape=(None,) + blob.shape[1:],
                                         chunks=True)
                    f.flush()
                self._file, self.written = f, target   # still open: renamed under it
            except OSError as exc:
                raise NetError(f"cannot write HDF5Output file '{self.path}': {exc}",
                               layer=self.layer) from None
            finally:
                if f is not None and self._file is None:
                    f.close()   # refused or failed: nothing stays open
            return
        for name, blob in zip(DATASETS, blobs):
            dataset = self._file[name]
            if dataset.shape[1:] != blob.shape[1:]:
                raise NetError(f"'{self.path}': this pass's {name} is {blob.shape[1:]} per item "
                               f"but the file's is {dataset.shape[1:]}", layer=self.layer)
            n = dataset.shape[0]
            dataset.resize(n + len(blob), axis=0)
            dataset[n:] = blob
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __del__(self):
        self.close()


types.declare("HDF5Output", sink=HDF5Output, bottoms=2, tops=0, module=__name__)
