"""Caffe's ``type: "Python"`` layers: pycaffe's ``Layer`` and ``Blob``, and the Keras layer
that runs such a layer inside a model.

A Python layer is a class with ``setup / reshape / forward / backward`` working on numpy
blobs (``bottom[i].data``, ``top[j].diff``), as pycaffe's ``caffe.Layer``.  In a Keras model
(:class:`CaffePythonLayer`) its forward runs as a numpy call and its backward is the
gradient: the layer keeps Caffe's contract (``reshape`` before every ``forward``, ``backward``
after the ``forward`` of the same batch, ``self.blobs`` as learnable parameters, ``phase`` and
``param_str`` set before ``setup``).  Such a model cannot be exported (the numpy call is
Python).

Which class a prototxt's ``python_param { module layer }`` names is looked up in
:func:`register_python_layer`'s registry first; importing the module it names runs code from
the prototxt, so that happens only where the caller allows it (``caffe.Net`` does, as pycaffe;
``load_model`` needs ``allow_python_layers=True``).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from typing import Callable

import keras
import numpy as np

from ..proto import caffe_pb2

_FACTORIES: dict[str, Callable] = {}
#: ``register_python_layer(..., most=)`` by the same names.
_BOUNDS: dict[str, Callable] = {}


class Blob:
    """A Caffe blob as pycaffe shows it: ``data`` and ``diff``, float32 arrays of one shape."""

    def __init__(self, *shape):
        self._data = np.zeros(_dims(shape), np.float32)
        self._diff = np.zeros(_dims(shape), np.float32)

    @property
    def data(self) -> np.ndarray:
        return self._data

    @property
    def diff(self) -> np.ndarray:
        return self._diff

    @property
    def shape(self) -> tuple:
        return tuple(self._data.shape)

    def reshape(self, *shape) -> None:
        """New storage when the shape changes (values are then zero, as a fresh blob's)."""
        shape = _dims(shape)
        if shape != self.shape:
            self._data = np.zeros(shape, np.float32)
            self._diff = np.zeros(shape, np.float32)

    @property
    def count(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def _legacy(self, index: int) -> int:
        """Caffe's ``LegacyShape``: axis ``index`` of at most 4, 1 where the blob has none."""
        shape = self.shape
        if len(shape) > 4:
            raise ValueError(f"num/channels/height/width are for blobs of at most 4 axes; this "
                             f"one has shape {shape}")
        return shape[index] if index < len(shape) else 1

    num = property(lambda self: self._legacy(0))
    channels = property(lambda self: self._legacy(1))
    height = property(lambda self: self._legacy(2))
    width = property(lambda self: self._legacy(3))

    def __repr__(self):
        return f"<Blob shape={self.shape}>"


def _dims(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    dims = tuple(int(d) for d in shape)
    if any(d < 0 for d in dims):
        raise ValueError(f"a blob shape has no negative sizes, got {dims}")
    return dims


class BlobVec(list):
    """A layer's parameter blobs (pycaffe's ``BlobVec``)."""

    def add_blob(self, *shape) -> None:
        self.append(Blob(*shape))


class Layer:
    """pycaffe's ``caffe.Layer``: subclass it and define ``setup``, ``reshape``, ``forward``
    and ``backward`` on lists of :class:`Blob`.  Before ``setup`` the layer gets
    ``param_str`` (``python_param.param_str``) and ``phase`` (0 TRAIN, 1 TEST)."""

    def __init__(self, param=None):
        self.layer_param = param
        self.blobs = BlobVec()
        self.param_str = param.python_param.param_str if param is not None else ""
        self.phase = 1

    @property
    def type(self) -> str:
        return "Python"

    def setup(self, bottom, top):
        pass

    def reshape(self, bottom, top):
        raise NotImplementedError(f"{type(self).__name__} defines no reshape(bottom, top)")

    def forward(self, bottom, top):
        raise NotImplementedError(f"{type(self).__name__} defines no forward(bottom, top)")

    def backward(self, top, propagate_down, bottom):
        pass


def register_python_layer(name: str, factory: Callable, override: bool = False, *,
                          most: Callable | None = None) -> None:
    """Make ``python_param { module: M layer: L }`` build ``factory``: a :class:`Layer`
    subclass (run as Caffe runs it), or a function ``factory(param_str=..., name=...)``
    returning a Keras layer that takes the bottoms in Caffe's axis order (a factory whose
    signature names ``phase`` or ``n_tops`` also gets the build's phase, 0 TRAIN / 1 TEST,
    and the layer's number of tops).  A registered name is built without importing its
    module, even where imports are allowed.

    ``name`` is ``"M.L"`` (or just ``"L"`` to match any module).  ``most(param_str, phase,
    bottom_shapes) -> [shape, ...]``: the largest Caffe shapes its tops reach when it runs,
    for a layer that writes more than its ``setup`` shows (the memory projection counts
    those; py-faster-rcnn's proposal layer: ``post_nms_topN`` rows)."""
    if name in _FACTORIES and not override:
        raise ValueError(f"a Python layer '{name}' is already registered; pass override=True")
    _FACTORIES[name] = factory
    _BOUNDS.pop(name, None)
    if most is not None:
        _BOUNDS[name] = most


def python_layer_bound(python_param) -> Callable | None:
    """The ``most`` registered with the Python layer ``python_param`` names, or None."""
    qualified = f"{python_param.module}.{python_param.layer}"
    if qualified in _FACTORIES:
        return _BOUNDS.get(qualified)
    return _BOUNDS.get(python_param.layer)


def python_layer_factory(python_param, allow_import: bool):
    """What ``python_param`` names: a registered factory, else (``allow_import``) the
    attribute ``layer`` of the imported module ``module``.  Raises LookupError with the
    reason when it is neither."""
    qualified = f"{python_param.module}.{python_param.layer}"
    factory = _FACTORIES.get(qualified) or _FACTORIES.get(python_param.layer)
    if factory is not None:
        return factory
    if not allow_import:
        raise LookupError(
            f"is a Python layer ({qualified}); register a layer for it with "
            f"keras_caffe.register_python_layer({qualified!r}, factory), or pass "
            "allow_python_layers=True to import that module (this runs code the prototxt names)")
    try:
        module = importlib.import_module(python_param.module)
    except ImportError as exc:
        raise LookupError(f"cannot import Python layer module '{python_param.module}': "
                          f"{exc}") from exc
    factory = getattr(module, python_param.layer, None)
    if factory is None:
        raise LookupError(f"module '{python_param.module}' has no '{python_param.layer}'")
    return factory


def is_caffe_layer_class(factory) -> bool:
    return isinstance(factory, type) and issubclass(factory, Layer)


def start_layer(cls, layer_param, phase: int, bottom_shapes) -> tuple[Layer, list, list]:
    """A new instance of a :class:`Layer` subclass, set up as Caffe's ``Layer::SetUp`` does
    (``param_str`` and ``phase`` set, ``setup`` then ``reshape`` called on blobs of the
    bottoms' shapes); returns it with its bottom and top blobs."""
    impl = cls(layer_param)
    if not isinstance(getattr(impl, "blobs", None), BlobVec):
        impl.blobs = BlobVec()   # a subclass whose __init__ did not call Layer's
    impl.param_str = layer_param.python_param.param_str
    impl.phase = int(phase)
    bottoms = [Blob(*shape) for shape in bottom_shapes]
    tops = [Blob() for _ in layer_param.top]
    impl.setup(bottoms, tops)
    impl.reshape(bottoms, tops)
    return impl, bottoms, tops


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffePythonLayer(keras.layers.Layer):
    """A pycaffe-style Python layer inside a Keras model.

    Bottoms come in Caffe's axis order; the layer's forward is a numpy call and its backward
    the gradient (with respect to the bottoms and to ``self.blobs``, which become the Keras
    layer's weights, initialised with what ``setup`` left in them).  Reloading a saved model
    needs the layer's class importable under its module name (it is looked up, not imported).
    """

    def __init__(self, module: str, layer: str, param_str: str = "", phase: int = 1,
                 bottom_shapes=(), n_tops: int = 1, impl: Layer | None = None,
                 shared_weights=None, **kwargs):
        super().__init__(**kwargs)
        self.module, self.layer_name = module, layer
        self.param_str, self.phase = param_str, int(phase)
        self.bottom_shapes = [tuple(int(d) for d in s) for s in bottom_shapes]
        self.n_tops = int(n_tops)
        if impl is None:
            impl = _start_from_config(module, layer, param_str, self.phase, self.bottom_shapes,
                                      self.n_tops)
        self.impl = impl
        self._blobs = impl.blobs   # what forward/backward see (a net may show others)
        self.propagate_down = [True] * len(self.bottom_shapes)   # the model sets Caffe's
        self._bottoms = [Blob(*s) for s in self.bottom_shapes]
        self._tops = [Blob() for _ in range(self.n_tops)]
        self.impl.reshape(self._bottoms, self._tops)
        self.top_shapes = [t.shape for t in self._tops]
        if shared_weights is not None:   # the same layer in another phase's net
            self.blob_weights = list(shared_weights)
        else:
            self.blob_weights = [
                self.add_weight(shape=b.shape, name=f"blob{i}",
                                initializer=keras.initializers.Constant(b.data))
                for i, b in enumerate(self.impl.blobs)]

    def _numpy_forward(self, *arrays):
        n = len(self._bottoms)
        with self._own_blobs():
            self._set(arrays[:n], arrays[n:])
            self.impl.reshape(self._bottoms, self._tops)
            self.impl.forward(self._bottoms, self._tops)
        return [np.array(t.data, np.float32) for t in self._tops]

    def _numpy_backward(self, *arrays):
        n, w, t = len(self._bottoms), len(self.blob_weights), len(self._tops)
        with self._own_blobs():
            self._set(arrays[:n], arrays[n:n + w])
            for top, value, diff in zip(self._tops, arrays[n + w:n + w + t],
                                        arrays[n + w + t:]):
                top.reshape(*np.shape(value))
                top.data[...] = value
                top.diff[...] = diff
            for blob in list(self._bottoms) + list(self._blobs):
                blob.diff[...] = 0
            self.impl.backward(self._tops, list(self.propagate_down), self._bottoms)
        return [np.array(b.diff, np.float32) for b in self._bottoms] + \
            [np.array(b.diff, np.float32) for b in self._blobs]

    @contextlib.contextmanager
    def _own_blobs(self):
        """The layer's ``self.blobs`` during a numpy call: blobs holding the variables'
        values (a ``caffe.Net`` shows its persistent parameter blobs there otherwise)."""
        shown, self.impl.blobs = self.impl.blobs, self._blobs
        try:
            yield
        finally:
            self.impl.blobs = shown

    def _set(self, bottoms, weights):
        for blob, value in zip(self._bottoms, bottoms):
            blob.reshape(*np.shape(value))
            blob.data[...] = value
        for blob, value in zip(self._blobs, weights):
            blob.data[...] = value

    def call(self, inputs):
        import tensorflow as tf

        xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        xs = [tf.cast(x, tf.float32) for x in xs]
        weights = [tf.convert_to_tensor(v.value) for v in self.blob_weights]
        shapes = self.top_shapes

        @tf.custom_gradient
        def run(*args):
            tops = _as_list(tf.numpy_function(self._numpy_forward, list(args),
                                              [tf.float32] * len(shapes), stateful=True))
            tops = [tf.ensure_shape(t, s) for t, s in zip(tops, shapes)]

            def grad(*dys):
                grads = _as_list(tf.numpy_function(self._numpy_backward,
                                                   list(args) + tops + list(dys),
                                                   [tf.float32] * len(args), stateful=True))
                return [tf.ensure_shape(g, a.shape) for g, a in zip(grads, args)]
            return tops, grad

        tops = run(*(xs + weights))
        tops = list(tops) if isinstance(tops, (list, tuple)) else [tops]
        return tops if len(tops) != 1 else tops[0]

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in self.top_shapes]
        return shapes if len(shapes) != 1 else shapes[0]

    def get_config(self):
        config = super().get_config()
        config.update(module=self.module, layer=self.layer_name, param_str=self.param_str,
                      phase=self.phase, bottom_shapes=[list(s) for s in self.bottom_shapes],
                      n_tops=self.n_tops)
        return config


def _as_list(values) -> list:
    """numpy_function's results as a list (eagerly, one result comes back bare)."""
    return list(values) if isinstance(values, (list, tuple)) else [values]


def _start_from_config(module, layer, param_str, phase, bottom_shapes, n_tops) -> Layer:
    """Rebuild a Python layer from a saved config: its class is looked up (registry, then
    modules already imported), never imported from the saved file's say-so."""
    cls = _FACTORIES.get(f"{module}.{layer}") or _FACTORIES.get(layer)
    if cls is None and module in sys.modules:
        cls = getattr(sys.modules[module], layer, None)
    if not is_caffe_layer_class(cls):
        raise ValueError(f"cannot rebuild Python layer {module}.{layer}: import its module "
                         f"(or keras_caffe.register_python_layer it) before loading the model")
    param = caffe_pb2.LayerParameter(type="Python", top=[f"top{i}" for i in range(n_tops)])
    param.python_param.module, param.python_param.layer = module, layer
    param.python_param.param_str = param_str
    return start_layer(cls, param, phase, bottom_shapes)[0]
