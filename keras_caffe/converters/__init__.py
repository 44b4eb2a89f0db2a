"""Converters: one module per family of Caffe types, each type registered (with its traits)
by a decorator in its module.  Importing the package registers them all."""

from . import (activations, conv, dense, eltwise, forks, losses, misc,  # noqa: F401
               normalization, pooling, python_layer, recurrent, reduction, shape)
