"""Converters: one module per family of Caffe types, each type registered (with its traits)
by a decorator in its module.  Importing the package registers them all."""

from . import (activations, conv, dense, detection, eltwise, forks, losses,  # noqa: F401
               misc, normalization, pooling, python_layer, rcnn, recurrent, reduction, shape)
