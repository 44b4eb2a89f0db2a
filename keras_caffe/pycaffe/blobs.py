"""Blob storage behind ``caffe.Net``: persistent numpy arrays in Caffe's shapes, kept in step
with the Keras model's tensors and variables.

pycaffe's ``blob.data`` / ``blob.diff`` are views of Caffe's memory: a script may hold one,
write into it, and see it change at the next pass.  Here an array is made the first time a
blob's ``data`` or ``diff`` is asked for (it is then *exposed*); from then on every pass
copies the new values into that same array (in place, while the shape is unchanged), and a
pass reads what the script wrote.  Blobs never asked for stay TensorFlow tensors in the
model's layout and cost nothing; the price of an exposed blob is one NHWC -> NCHW copy per
pass (``benchmarks/pycaffe_net.py`` measures it).

Parameters work the same way: an exposed parameter array is written into its variable (in
the Keras layout, through the blob's layout) before each pass, and refreshed from it after
anything that changes the variable (a solver step, ``copy_from``).
"""

from __future__ import annotations

import numpy as np

from ..graph import layout
from ..layers.python_layer import Blob


def _caffe_array(value) -> np.ndarray:
    """A value from the model (internal layout tensor) or a Caffe-layout array, as float32
    NCHW numpy."""
    if isinstance(value, np.ndarray):
        return value
    return layout.to_caffe_array(np.asarray(value.numpy(), np.float32))


class BlobStore:
    """The data and diff of every blob of a net, by Caffe blob name."""

    def __init__(self, shapes: dict, loss_weights: dict):
        self.shapes = {k: tuple(v) for k, v in shapes.items()}
        self.loss_weights = dict(loss_weights)
        self._values: dict = {}     # name -> latest data (tensor or NCHW array), not exposed
        self._data: dict = {}       # name -> exposed NCHW array
        self._diff_values: dict = {}
        self._diff: dict = {}
        #: ``(names, compute)``: blobs a pass left uncomputed (a ``runtime`` pass computes
        #: only the outputs, see :mod:`.fast_forward`) and how to compute them all
        self.pending = None

    def resolve(self, name: str | None = None) -> None:
        """Compute the blobs a pass left uncomputed, if ``name`` (any, if None) is one."""
        if self.pending is not None and (name is None or name in self.pending[0]):
            compute, self.pending = self.pending[1], None
            compute()

    # -- data ----------------------------------------------------------------------------
    def data(self, name: str) -> np.ndarray:
        self.resolve(name)
        array = self._data.get(name)
        if array is None or array.shape != self.shapes[name]:
            value = self._values.pop(name, None)
            array = (np.zeros(self.shapes[name], np.float32) if value is None
                     else np.array(_caffe_array(value), np.float32, order="C"))
            if array.shape != self.shapes[name]:
                array = np.zeros(self.shapes[name], np.float32)
            self._data[name] = array
        return array

    def value(self, name: str):
        """The current data, as a tensor or array, without exposing it."""
        self.resolve(name)
        array = self._data.get(name)
        if array is not None:
            return array
        value = self._values.get(name)
        return np.zeros(self.shapes[name], np.float32) if value is None else value

    def set_values(self, values: dict) -> None:
        """New data for these blobs (tensors in the model's layout, or NCHW arrays)."""
        for name, value in values.items():
            array = self._data.get(name)
            shape = tuple(np.shape(value)) if isinstance(value, np.ndarray) else \
                layout.to_caffe_shape(tuple(value.shape))
            self.shapes[name] = shape
            if array is not None and array.shape == shape:
                np.copyto(array, _caffe_array(value))
                self._values.pop(name, None)
            else:
                self._data.pop(name, None)
                self._values[name] = value

    # -- diff ----------------------------------------------------------------------------
    def _default_diff(self, name: str) -> np.ndarray:
        """A fresh net's diff: a loss top holds its loss weight (Caffe's SetLossWeights)."""
        return np.full(self.shapes[name], self.loss_weights.get(name, 0.0), np.float32)

    def diff(self, name: str) -> np.ndarray:
        array = self._diff.get(name)
        if array is None or array.shape != self.shapes[name]:
            value = self._diff_values.pop(name, None)
            array = (self._default_diff(name) if value is None
                     else np.array(_caffe_array(value), np.float32, order="C"))
            if array.shape != self.shapes[name]:
                array = self._default_diff(name)
            self._diff[name] = array
        return array

    def diff_value(self, name: str):
        array = self._diff.get(name)
        if array is not None and array.shape == self.shapes[name]:
            return array
        value = self._diff_values.get(name)
        return self._default_diff(name) if value is None else value

    def set_diffs(self, values: dict) -> None:
        for name, value in values.items():
            array = self._diff.get(name)
            if array is not None and array.shape == self.shapes[name]:
                np.copyto(array, _caffe_array(value))
                self._diff_values.pop(name, None)
            else:
                self._diff.pop(name, None)
                self._diff_values[name] = value

    def reshape(self, name: str, shape: tuple) -> None:
        """A new shape (fresh zero storage, as Caffe's Reshape of a grown blob)."""
        self.shapes[name] = tuple(int(d) for d in shape)
        self._values.pop(name, None)
        self._diff_values.pop(name, None)
        self._data.pop(name, None)
        self._diff.pop(name, None)


class NetBlob(Blob):
    """One blob of a ``caffe.Net``: ``data`` / ``diff`` are the store's persistent arrays."""

    def __init__(self, store: BlobStore, name: str, on_reshape=None):
        self._store, self._name, self._on_reshape = store, name, on_reshape

    data = property(lambda self: self._store.data(self._name))
    diff = property(lambda self: self._store.diff(self._name))

    @property
    def shape(self) -> tuple:
        return tuple(self._store.shapes[self._name])

    def reshape(self, *shape) -> None:
        shape = tuple(int(d) for d in (shape[0] if len(shape) == 1 and
                                       isinstance(shape[0], (tuple, list)) else shape))
        if shape != self.shape:
            self._store.reshape(self._name, shape)
            if self._on_reshape is not None:
                self._on_reshape(self._name)

    def __repr__(self):
        return f"<Blob '{self._name}' shape={self.shape}>"


class Params:
    """The parameter blobs of a built net, by variable (two layers sharing a blob show the
    same arrays), in Caffe's layout through each blob's layout.

    An exposed ``data`` array keeps a copy of what was last written into its variable, so a
    pass writes only the arrays a script changed.  Diffs accumulate in the model's layout,
    as tensors, until a script asks for one; from then on its array is the diff."""

    def __init__(self):
        self._data: dict = {}    # id(variable) -> [variable, layout, array, last synced copy]
        self._diff: dict = {}    # id(variable) -> [variable, layout, array | None, tensor | None]

    def data(self, variable, blob_layout) -> np.ndarray:
        entry = self._data.get(id(variable))
        if entry is None:
            array = np.array(blob_layout.to_caffe(np.asarray(variable.numpy())), np.float32)
            entry = self._data[id(variable)] = [variable, blob_layout, array, array.copy()]
        return entry[2]

    def _diff_entry(self, variable, blob_layout) -> list:
        entry = self._diff.get(id(variable))
        if entry is None:
            entry = self._diff[id(variable)] = [variable, blob_layout, None, None]
        return entry

    def diff(self, variable, blob_layout) -> np.ndarray:
        entry = self._diff_entry(variable, blob_layout)
        if entry[2] is None:
            shape = blob_layout.caffe_shape(tuple(int(d) for d in variable.shape))
            entry[2] = (np.zeros(shape, np.float32) if entry[3] is None else
                        np.array(blob_layout.to_caffe(np.asarray(entry[3])), np.float32))
            entry[3] = None
        return entry[2]

    def keras_diff(self, variable, blob_layout) -> np.ndarray:
        """The diff in the variable's own (Keras) layout."""
        entry = self._diff.get(id(variable))
        shape = tuple(int(d) for d in variable.shape)
        if entry is None or (entry[2] is None and entry[3] is None):
            return np.zeros(shape, np.float32)
        if entry[2] is not None:
            return np.asarray(blob_layout.to_keras(entry[2], shape), np.float32)
        return np.asarray(entry[3], np.float32)

    def upload(self) -> bool:
        """Write into its variable every exposed parameter array a script changed; returns
        whether there was one."""
        changed = False
        for variable, blob_layout, array, synced in self._data.values():
            if not np.array_equal(array, synced):
                shape = tuple(int(d) for d in variable.shape)
                variable.assign(np.asarray(blob_layout.to_keras(array, shape), np.float32))
                np.copyto(synced, array)
                changed = True
        return changed

    def download(self, updates: bool = False) -> None:
        """Refresh exposed arrays from the variables; ``updates``: the diffs become what the
        change was (old - new: after Caffe's ApplyUpdate a diff holds the step taken)."""
        for variable, blob_layout, array, synced in self._data.values():
            new = blob_layout.to_caffe(np.asarray(variable.numpy()))
            if updates:
                self.diff(variable, blob_layout)[...] = synced - new
            np.copyto(array, new)
            np.copyto(synced, new)

    def unexposed_values(self, pairs) -> list:
        """``(variable, layout, value)`` for each ``(variable, layout)`` pair whose data is
        not exposed: the values before a step (tensors, no copy to numpy), so that
        :meth:`record_steps` can leave its diffs too."""
        seen, out = set(self._data), []
        for variable, blob_layout in pairs:
            if id(variable) not in seen:
                seen.add(id(variable))
                out.append((variable, blob_layout, _snapshot(variable)))
        return out

    def record_steps(self, befores: list) -> None:
        """After a step: the diff of each parameter in ``befores`` (from
        :meth:`unexposed_values`) is the step taken, old - new, as :meth:`download` leaves it
        for exposed ones; kept in the variable's layout until a script asks for it."""
        for variable, blob_layout, old in befores:
            entry = self._diff_entry(variable, blob_layout)
            step = old - _snapshot(variable)
            if entry[2] is not None:
                entry[2][...] = np.asarray(blob_layout.to_caffe(np.asarray(step)), np.float32)
            else:
                entry[3] = step

    def expose_data_of_diffs(self) -> None:
        """Expose the data of every parameter whose diff is exposed (a solver step then
        knows the old value for the diff it leaves)."""
        for variable, blob_layout, array, _ in list(self._diff.values()):
            if array is not None:
                self.data(variable, blob_layout)

    def accumulate(self, variable, blob_layout, grad) -> None:
        """Caffe's layers add their parameter gradients into the diffs (``grad`` is in the
        variable's layout)."""
        entry = self._diff_entry(variable, blob_layout)
        if entry[2] is not None:
            entry[2][...] += np.asarray(blob_layout.to_caffe(np.asarray(grad)), np.float32)
        else:
            entry[3] = grad if entry[3] is None else entry[3] + grad

    def clear_diffs(self) -> None:
        for entry in self._diff.values():
            if entry[2] is not None:
                entry[2][...] = 0
            entry[3] = None


def _snapshot(variable):
    """The variable's current value as a tensor that later assignments leave unchanged."""
    import keras

    return keras.ops.copy(variable.value)


class ParamBlob(Blob):
    """A parameter blob of a ``caffe.Net`` (``net.params[layer][i]``)."""

    def __init__(self, params: Params, variable, blob_layout):
        self._params, self._variable, self._layout = params, variable, blob_layout

    data = property(lambda self: self._params.data(self._variable, self._layout))
    diff = property(lambda self: self._params.diff(self._variable, self._layout))

    @property
    def shape(self) -> tuple:
        return tuple(self._layout.caffe_shape(tuple(int(d) for d in self._variable.shape)))

    def reshape(self, *shape) -> None:
        if tuple(int(d) for d in shape) != self.shape:
            raise ValueError(f"a parameter blob keeps its shape {self.shape} (the layer's "
                             "definition decides it); got reshape{tuple(shape)}")

    def __repr__(self):
        return f"<Blob shape={self.shape}>"
