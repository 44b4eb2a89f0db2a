"""Named layouts: how one Caffe blob is held as one Keras weight, and the way back.

A converter picks a layout for each blob of its layer when it builds it (``ctx.add(layer,
holds_params=True, layouts=(CONV_KERNEL,))``); loading, saving, Caffe's blob shapes,
gradients in Caffe's layout and the chunked assignment of big weights all derive from it.
Layouts only move values around, so every pair is exact both ways (tests check it).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from ..graph import layout


class BlobLayout:
    """The identity: the Keras weight is the Caffe blob."""

    name = "identity"
    #: The Keras weight's axis that Caffe's first axis becomes, element for element, or None
    #: when it does not (big blobs are then converted whole instead of in row blocks).
    row_axis: int | None = 0

    def caffe_shape(self, shape: tuple) -> tuple:
        """Caffe's blob shape for a Keras weight of ``shape``."""
        return tuple(shape)

    def to_keras(self, blob: np.ndarray, shape: tuple) -> np.ndarray:
        """The Keras weight (of ``shape``) holding Caffe's ``blob``."""
        return blob

    def to_caffe(self, weight: np.ndarray) -> np.ndarray:
        return weight

    def __repr__(self):
        return f"<blob layout {self.name}>"


IDENTITY = BlobLayout()


class _SpatialFirst(BlobLayout):
    """A 4-D kernel with Caffe's two leading axes last, in reverse: Convolution's
    (out, in/group, kh, kw) <-> Keras Conv2D's (kh, kw, in/group, out), and Deconvolution's
    (in, out/group, kh, kw) <-> our (kh, kw, out/group, in)."""

    row_axis = 3

    def __init__(self, name: str):
        self.name = name

    def caffe_shape(self, shape):
        kh, kw, b, a = shape
        return (a, b, kh, kw)

    def to_keras(self, blob, shape):
        return np.ascontiguousarray(np.transpose(blob, (2, 3, 1, 0)))

    def to_caffe(self, weight):
        return np.ascontiguousarray(np.transpose(weight, (3, 2, 0, 1)))


class _DepthwiseKernel(BlobLayout):
    """Depthwise convolution: Caffe (C*m, 1, kh, kw) <-> Keras DepthwiseConv2D (kh, kw, C, m).
    Caffe's output channel ``c*m + j`` reads input channel ``c``, as Keras's does."""

    name = "depthwise (C*m)1HW->HWCm"
    row_axis = None

    def caffe_shape(self, shape):
        kh, kw, c, m = shape
        return (c * m, 1, kh, kw)

    def to_keras(self, blob, shape):
        kh, kw, c, m = shape
        return np.ascontiguousarray(np.transpose(blob.reshape(c, m, kh, kw), (2, 3, 0, 1)))

    def to_caffe(self, weight):
        kh, kw, c, m = weight.shape
        return np.ascontiguousarray(np.transpose(weight, (2, 3, 0, 1)).reshape(c * m, 1, kh, kw))


CONV_KERNEL = _SpatialFirst("conv OIHW->HWIO")
DECONV_KERNEL = _SpatialFirst("deconv IOHW->HWOI")
DEPTHWISE_KERNEL = _DepthwiseKernel()


@dataclasses.dataclass(frozen=True, repr=False)
class DenseKernel(BlobLayout):
    """InnerProduct: Caffe (out, in), or (in, out) with ``transpose``, <-> Keras Dense (in, out).

    When the input is a 4-D blob that we hold as NHWC and flatten as it is, ``chw`` =
    (C, H, W) reorders the input rows from Caffe's C,H,W order to our H,W,C, so that the
    activations need no transpose."""

    transpose: bool = False
    chw: tuple | None = None

    @property
    def name(self):
        return "inner product" + (" transposed" if self.transpose else "") + \
            (f" after a {self.chw} flatten" if self.chw else "")

    @property
    def row_axis(self):
        if not self.transpose:
            return 1
        return None if self.chw else 0

    def caffe_shape(self, shape):
        features, out = shape
        return (features, out) if self.transpose else (out, features)

    def to_keras(self, blob, shape):
        kernel = blob if self.transpose else blob.T
        if self.chw is not None:
            kernel = kernel[layout.chw_to_hwc_rows(*self.chw)]
        return np.ascontiguousarray(kernel)

    def to_caffe(self, weight):
        kernel = weight
        if self.chw is not None:
            kernel = np.empty_like(weight)
            kernel[layout.chw_to_hwc_rows(*self.chw)] = weight
        return np.ascontiguousarray(kernel if self.transpose else kernel.T)


@dataclasses.dataclass(frozen=True, repr=False)
class Flattened(BlobLayout):
    """Caffe keeps the values as one vector (``scalar``: as a blob with no axes at all, as
    PReLU's shared slope; ``channels``: as a 1 x C x 1 x 1 blob, as the forks' BN), Keras in
    whatever shape its layer wants (e.g. (1, 1, C))."""

    scalar: bool = False
    channels: bool = False
    row_axis = None

    @property
    def name(self):
        return "scalar" if self.scalar else "vector as 1xCx1x1" if self.channels else "vector"

    def _caffe(self, size: int) -> tuple:
        return () if self.scalar else (1, size, 1, 1) if self.channels else (size,)

    def caffe_shape(self, shape):
        return self._caffe(math.prod(shape))

    def to_keras(self, blob, shape):
        return np.asarray(blob).reshape(shape)

    def to_caffe(self, weight):
        weight = np.asarray(weight)
        return weight.reshape(self._caffe(weight.size))


#: The forks' BN blobs (SegNet's scale and shift, PSPNet's slope, bias, mean and variance).
CHANNEL_VECTOR = Flattened(channels=True)


class _InternalOrder(BlobLayout):
    """A blob held in our internal axis order (a rank-4 Parameter blob as N,H,W,C)."""

    name = "internal order"
    row_axis = None

    def caffe_shape(self, shape):
        return layout.to_caffe_shape(shape)

    def to_keras(self, blob, shape):
        return layout.to_internal_array(blob)

    def to_caffe(self, weight):
        return layout.to_caffe_array(weight)


INTERNAL_ORDER = _InternalOrder()
