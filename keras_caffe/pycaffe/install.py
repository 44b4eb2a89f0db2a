"""``install_as_caffe()``: let ``import caffe`` find this package, in the running process.

keras-caffe installs no top-level ``caffe`` package (it never shadows a real pycaffe).  A
script written for pycaffe runs unchanged once ``caffe`` and every ``caffe.<sub>`` name
(``caffe.io``, ``caffe.proto.caffe_pb2``, ...) resolve to ``keras_caffe.pycaffe`` and its
modules: the same module objects, so ``caffe.io.Transformer`` is
``keras_caffe.pycaffe.io.Transformer``.  ``keras-caffe python SCRIPT`` does this first.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

_PREFIX = "caffe"
_TARGET = "keras_caffe.pycaffe"


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Maps ``caffe.X`` to the module ``keras_caffe.pycaffe.X`` (the same object)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != _PREFIX and not fullname.startswith(_PREFIX + "."):
            return None
        real = _TARGET + fullname[len(_PREFIX):]
        if importlib.util.find_spec(real) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        return importlib.import_module(_TARGET + spec.name[len(_PREFIX):])

    def exec_module(self, module):
        pass   # the real module is already executed


_FINDER = _Alias()


def install_as_caffe(force: bool = False) -> None:
    """Make ``import caffe`` (and ``caffe.io``, ``from caffe.proto import caffe_pb2``, ...)
    resolve to ``keras_caffe.pycaffe`` in this process.  A real pycaffe already imported is
    replaced only with ``force``."""
    existing = sys.modules.get(_PREFIX)
    target = importlib.import_module(_TARGET)
    if existing is not None and existing is not target and not force:
        raise RuntimeError(f"a module 'caffe' is already imported ({getattr(existing, '__file__', existing)}); "
                           "pass force=True to replace it with keras_caffe.pycaffe")
    for name in [n for n in sys.modules if n == _PREFIX or n.startswith(_PREFIX + ".")]:
        if force:
            del sys.modules[name]
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    sys.modules[_PREFIX] = target
    for name, module in list(sys.modules.items()):
        if name.startswith(_TARGET + ".") and module is not None:
            sys.modules.setdefault(_PREFIX + name[len(_TARGET):], module)


def uninstall_as_caffe() -> None:
    """Undo :func:`install_as_caffe` (for tests)."""
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in [n for n in sys.modules if n == _PREFIX or n.startswith(_PREFIX + ".")]:
        module = sys.modules[name]
        if getattr(module, "__name__", "").startswith(_TARGET):
            del sys.modules[name]
