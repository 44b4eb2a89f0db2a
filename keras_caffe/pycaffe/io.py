"""pycaffe's ``caffe.io``: blob and Datum protos <-> arrays, the ``Transformer`` that readies
images for a net, and image loading, resizing and oversampling -- with pycaffe's numbers.

pycaffe builds these on scikit-image and SciPy; this module needs neither:

* :func:`load_image` decodes with the package's own decoder (OpenCV's channel rules) and
  converts as ``skimage.img_as_float`` (``x * (1 / 255)`` in float64) and ``rgb2gray``
  (``0.2125 R + 0.7154 G + 0.0721 B``) do.  PNG pixels are exact; JPEGs matched Pillow's
  libjpeg-turbo exactly in our tests, though other libjpeg builds may differ by a level.
* :func:`resize_image` interpolates in numpy (orders 0 and 1) with the coordinate maps of
  ``skimage.transform.resize`` (pixel centres, ``mode='constant'``: the border blends with
  the image's minimum; no anti-aliasing and float64 arithmetic, as in the skimage pycaffe
  was written for -- newer skimage keeps float32 and lands up to 1 ulp away) and of
  ``scipy.ndimage.zoom`` (corners aligned; a point that rounding puts past the last pixel
  is 0, as SciPy has it), summing taps in SciPy's order, which makes both bit-exact.

pycaffe raises a bare ``Exception`` for an unknown input name and for transpose or channel
swap orders of the wrong length; these raise ``ValueError`` (still caught by ``except
Exception``) with pycaffe's messages.  Deliberate departures, where pycaffe fails or
surprises:

* ``preprocess`` never writes into the caller's array (pycaffe scales a float32 input in
  place when it needs no resize and no channel swap);
* input shapes compare as tuples, whether given as lists or tuples;
* a constant mean of another size is resized to itself (pycaffe divides 0 by 0: NaN), and
  an H,W mean that needs resizing is taken as 1,H,W (pycaffe fails on it);
* colour images lose their alpha before the grey conversion (skimage >= 0.19 composites
  RGBA onto white first), and grey+alpha loads as grey (newer skimage gives 2 channels).
"""

from __future__ import annotations

import numpy as np

from ..data.formats.datum import decode_image_numpy
from ..proto import caffe_pb2

__all__ = ["blobproto_to_array", "array_to_blobproto", "arraylist_to_blobprotovector_str",
           "blobprotovector_str_to_arraylist", "array_to_datum", "datum_to_array",
           "Transformer", "load_image", "resize_image", "oversample"]

#: skimage.color.rgb2gray's luminance weights (ITU-R 709 primaries).
_LUMA = (0.2125, 0.7154, 0.0721)


# --------------------------------------------------------------------------- protos

def blobproto_to_array(blob, return_diff=False):
    """A BlobProto's data (or diff) as a float64 array, in the legacy N,C,H,W shape when any
    of num/channels/height/width is set, else in ``shape.dim`` (no dims: a scalar)."""
    data = np.array(blob.diff if return_diff else blob.data, dtype=np.float64)
    if any(blob.HasField(f) for f in ("num", "channels", "height", "width")):
        return data.reshape(blob.num, blob.channels, blob.height, blob.width)
    return data.reshape(tuple(blob.shape.dim))


def array_to_blobproto(arr, diff=None):
    """An N-D array (and optionally a diff of the same shape, unchecked) as a BlobProto with
    ``shape.dim``; values are stored as the proto's float32."""
    arr = np.asarray(arr)
    blob = caffe_pb2.BlobProto()
    blob.shape.dim.extend(arr.shape)
    blob.data.extend(arr.astype(np.float64).ravel().tolist())
    if diff is not None:
        blob.diff.extend(np.asarray(diff).astype(np.float64).ravel().tolist())
    return blob


def arraylist_to_blobprotovector_str(arraylist):
    """Serialized BlobProtoVector of the arrays (e.g. for a net's input)."""
    vec = caffe_pb2.BlobProtoVector()
    vec.blobs.extend([array_to_blobproto(arr) for arr in arraylist])
    return vec.SerializeToString()


def blobprotovector_str_to_arraylist(s):
    """The arrays of a serialized BlobProtoVector."""
    vec = caffe_pb2.BlobProtoVector()
    vec.ParseFromString(s)
    return [blobproto_to_array(blob) for blob in vec.blobs]


def array_to_datum(arr, label=None):
    """A C,H,W array as a Datum: uint8 as raw bytes in ``data``, anything else as
    ``float_data``; ``label`` only when given (an unset label serializes smaller)."""
    if arr.ndim != 3:
        raise ValueError('Incorrect array shape.')
    datum = caffe_pb2.Datum()
    datum.channels, datum.height, datum.width = arr.shape
    if arr.dtype == np.uint8:
        datum.data = arr.tobytes()
    else:
        datum.float_data.extend(arr.astype(np.float64).ravel().tolist())
    if label is not None:
        datum.label = label
    return datum


def datum_to_array(datum):
    """A Datum's pixels as C,H,W: uint8 from ``data`` when it holds bytes, else float64
    from ``float_data`` (the label stays in ``datum.label``)."""
    shape = (datum.channels, datum.height, datum.width)
    if len(datum.data):
        return np.frombuffer(datum.data, dtype=np.uint8).reshape(shape).copy()
    return np.array(datum.float_data, dtype=np.float64).reshape(shape)


# --------------------------------------------------------------------------- Transformer

class Transformer:
    """Formats H,W,K images for a net's inputs (``inputs``: name -> blob shape N,C,H,W) and
    back: resize, transpose, channel swap, raw scale, mean, input scale, in that order."""

    def __init__(self, inputs):
        self.inputs = inputs
        self.transpose = {}
        self.channel_swap = {}
        self.raw_scale = {}
        self.mean = {}
        self.input_scale = {}

    def _check_input(self, in_):
        if in_ not in self.inputs:
            raise ValueError('{} is not one of the net inputs: {}'.format(in_, self.inputs))

    def preprocess(self, in_, data):
        """An H',W',K image as the float32 K,H,W blob of input ``in_``.

        The steps run in float32, in place on a private copy (so a float64 mean is
        subtracted exactly as pycaffe's ``-=`` does)."""
        self._check_input(in_)
        caffe_in = np.array(data, dtype=np.float32)
        in_dims = tuple(self.inputs[in_][2:])
        if caffe_in.shape[:2] != in_dims:
            caffe_in = resize_image(caffe_in, in_dims)
        transpose = self.transpose.get(in_)
        channel_swap = self.channel_swap.get(in_)
        raw_scale = self.raw_scale.get(in_)
        mean = self.mean.get(in_)
        input_scale = self.input_scale.get(in_)
        if transpose is not None:
            caffe_in = caffe_in.transpose(transpose)
        if channel_swap is not None:
            caffe_in = caffe_in[list(channel_swap), :, :]
        if raw_scale is not None:
            caffe_in *= raw_scale
        if mean is not None:
            caffe_in -= mean
        if input_scale is not None:
            caffe_in *= input_scale
        return caffe_in

    def deprocess(self, in_, data):
        """Undo :meth:`preprocess` (but not its resize) on a blob, squeezed first."""
        self._check_input(in_)
        decaf_in = data.copy().squeeze()
        transpose = self.transpose.get(in_)
        channel_swap = self.channel_swap.get(in_)
        raw_scale = self.raw_scale.get(in_)
        mean = self.mean.get(in_)
        input_scale = self.input_scale.get(in_)
        if input_scale is not None:
            decaf_in /= input_scale
        if mean is not None:
            decaf_in += mean
        if raw_scale is not None:
            decaf_in /= raw_scale
        if channel_swap is not None:
            decaf_in = decaf_in[np.argsort(channel_swap), :, :]
        if transpose is not None:
            decaf_in = decaf_in.transpose(np.argsort(transpose))
        return decaf_in

    def set_transpose(self, in_, order):
        """Axis order from the image to the blob, e.g. (2, 0, 1) for H,W,C -> C,H,W."""
        self._check_input(in_)
        if len(order) != len(self.inputs[in_]) - 1:
            raise ValueError('Transpose order needs to have the same number of '
                             'dimensions as the input.')
        self.transpose[in_] = order

    def set_channel_swap(self, in_, order):
        """Channel order taken after the transpose, e.g. (2, 1, 0) for RGB -> BGR."""
        self._check_input(in_)
        if len(order) != self.inputs[in_][1]:
            raise ValueError('Channel swap needs to have the same number of '
                             'dimensions as the input channels.')
        self.channel_swap[in_] = order

    def set_raw_scale(self, in_, scale):
        """Multiplier before the mean, e.g. 255 for nets trained on 0..255 from [0, 1]."""
        self._check_input(in_)
        self.raw_scale[in_] = scale

    def set_mean(self, in_, mean):
        """Mean to subtract: one value per channel (a C vector), or elementwise (C,H,W or
        H,W), resized to the input's H,W by :func:`resize_image` when it differs."""
        self._check_input(in_)
        mean = np.asarray(mean)
        ms = mean.shape
        if mean.ndim == 1:
            if ms[0] != self.inputs[in_][1]:
                raise ValueError('Mean channels incompatible with input.')
            mean = mean[:, np.newaxis, np.newaxis]
        else:
            if len(ms) == 2:
                ms = (1,) + ms
            if len(ms) != 3:
                raise ValueError('Mean shape invalid')
            in_shape = tuple(self.inputs[in_][1:])
            if ms != in_shape:
                mean = mean.reshape(ms)   # H,W as 1,H,W (pycaffe fails to transpose it)
                m_min, m_max = mean.min(), mean.max()
                if m_max > m_min:   # pycaffe's recipe: normalise, resize, scale back
                    normal_mean = (mean - m_min) / (m_max - m_min)
                    mean = resize_image(normal_mean.transpose((1, 2, 0)), in_shape[1:]
                                        ).transpose((2, 0, 1)) * (m_max - m_min) + m_min
                else:
                    mean = np.full((ms[0],) + in_shape[1:], m_min, dtype=np.float32)
        self.mean[in_] = mean

    def set_input_scale(self, in_, scale):
        """Multiplier after the mean (raw_scale acts before it)."""
        self._check_input(in_)
        self.input_scale[in_] = scale


# --------------------------------------------------------------------------- images

def _is_16bit_grey_png(data):
    """IHDR bit depth 16, colour type 0."""
    return data[:8] == b"\x89PNG\r\n\x1a\n" and data[24:26] == b"\x10\x00"


def _decode_rgb(data):
    """H,W,C (1 grey, 3 RGB, 4 RGBA; grey+alpha as G,G,G,A) integer pixels of a file.

    16-bit PNGs: skimage (through Pillow) reads grey as uint16 and colour as its high
    bytes; the package's decoder keeps the high bytes of all, so grey is decoded here."""
    if _is_16bit_grey_png(data):
        import tensorflow as tf

        return tf.io.decode_png(data, channels=1, dtype=tf.uint16).numpy()
    img = decode_image_numpy(data, "unchanged")          # OpenCV order: B,G,R(,A)
    if img.shape[-1] == 3:
        return img[..., ::-1]
    return img[..., [2, 1, 0, 3]] if img.shape[-1] == 4 else img


def load_image(filename, color=True):
    """An image file as float32 in [0, 1]: H,W,3 RGB (grey repeated, alpha dropped) when
    ``color``, else H,W,1 (a colour file's skimage luminance, a grey file as stored).
    ``filename`` may also be a binary file object (``io.BytesIO``), as skimage allows."""
    if hasattr(filename, "read"):
        img = _decode_rgb(filename.read())
    else:
        with open(filename, "rb") as f:
            img = _decode_rgb(f.read())
    unit = 1.0 / np.iinfo(img.dtype).max                  # skimage.img_as_float
    if not color and img.shape[-1] >= 3:
        rgb = np.multiply(img[..., :3], unit, dtype=np.float64)
        grey = _LUMA[0] * rgb[..., 0]                     # rgb2gray, term by term
        grey += _LUMA[1] * rgb[..., 1]
        grey += _LUMA[2] * rgb[..., 2]
        return grey[..., np.newaxis].astype(np.float32)
    img = np.multiply(img, unit, dtype=np.float64).astype(np.float32)
    if img.shape[-1] == 1 and color:
        return np.tile(img, (1, 1, 3))
    return img[..., :3] if img.shape[-1] == 4 else img


def _axis_taps(n_in, n_out, order, grid):
    """One axis of SciPy's zoom: per output index the source taps (clipped), their weights,
    whether each tap is inside the image, and whether the point itself is (non-grid
    ``mode='constant'`` gives 0 for a point past either end)."""
    k = np.arange(n_out, dtype=np.float64)
    if grid:     # skimage.transform.resize: pixel centres (SciPy's grid_mode)
        cc = (k + 0.5) * (n_in / n_out) - 0.5
        inside = np.ones(n_out, dtype=bool)
    else:        # scipy.ndimage.zoom: first and last pixels aligned
        cc = k * ((n_in - 1) / (n_out - 1) if n_out > 1 else 1.0)
        inside = (cc >= 0) & (cc <= n_in - 1)
    if order == 0:
        idx = np.floor(cc + 0.5)[:, None]
        w = np.ones_like(idx)
    else:
        start = np.floor(cc)
        w0 = 1.0 - (cc - start)
        idx = np.stack([start, start + 1], axis=1)
        w = np.stack([w0, 1.0 - w0], axis=1)              # SciPy's last weight: 1 - the rest
    idx = idx.astype(np.int64)
    valid = (idx >= 0) & (idx < n_in)
    return np.clip(idx, 0, n_in - 1), w, valid, inside


def _interpolate(im, out_h, out_w, order, grid):
    """H,W,K float64 image resampled to out_h,out_w (taps outside count as 0)."""
    if order not in (0, 1):
        raise NotImplementedError(
            f"resize_image: interp_order {order} is not supported (orders 0 and 1 are; "
            "pycaffe's default is 1)")
    iy, wy, vy, in_y = _axis_taps(im.shape[0], out_h, order, grid)
    ix, wx, vx, in_x = _axis_taps(im.shape[1], out_w, order, grid)
    out = np.zeros((out_h, out_w, im.shape[2]), dtype=np.float64)
    for a in range(wy.shape[1]):
        rows = np.where(vy[:, a, None, None], im[iy[:, a]], 0.0)
        for b in range(wx.shape[1]):
            p = np.where(vx[None, :, b, None], rows[:, ix[:, b]], 0.0)
            out += p * wy[:, a, None, None] * wx[None, :, b, None]   # SciPy's product order
    out[~(in_y[:, None] & in_x[None, :])] = 0.0
    return out


def resize_image(im, new_dims, interp_order=1):
    """An H,W,K image resized to ``new_dims`` (height, width) as float32, as pycaffe does:
    1 or 3 channels go through skimage's resize in [0, 1] (normalised by the image's own
    min and max, then scaled back); other channel counts through scipy's zoom."""
    if im.shape[-1] in (1, 3):
        new_h, new_w = (int(d) for d in new_dims)
        im_min, im_max = im.min(), im.max()
        if not im_max > im_min:   # a constant image: avoid 0 / 0
            return np.full((new_h, new_w, im.shape[-1]), im_min, dtype=np.float32)
        im_std = ((im - im_min) / (im_max - im_min)).astype(np.float64)
        flat = im_std.ndim == 2
        out = _interpolate(im_std[..., None] if flat else im_std, new_h, new_w,
                           interp_order, grid=True)
        out = np.clip(out, im_std.min(), im_std.max())    # skimage's clip=True
        resized = (out[..., 0] if flat else out) * (im_max - im_min) + im_min
        return resized.astype(np.float32)
    if im.ndim != 3:
        raise ValueError(f"resize_image takes an H x W x K image, got shape {im.shape}")
    scale = np.array(new_dims, dtype=float) / np.array(im.shape[:2])
    out_h, out_w = (int(round(n * z)) for n, z in zip(im.shape[:2], scale))   # zoom's shape
    out = _interpolate(im.astype(np.float64), out_h, out_w, interp_order, grid=False)
    if np.issubdtype(im.dtype, np.integer):               # zoom rounds into the input's type
        info = np.iinfo(im.dtype)
        out = np.clip(np.trunc(out + np.where(out > 0, 0.5, -0.5)), info.min, info.max)
    return out.astype(np.float32)


def oversample(images, crop_dims):
    """10 crops of each H,W,K image (all the first one's size): the four corners (top-left,
    top-right, bottom-left, bottom-right), the centre, then those five mirrored left-right.
    Returns a float32 (10 N, crop_h, crop_w, K) array."""
    im_shape = np.array(images[0].shape)
    crop_dims = np.array(crop_dims)
    im_center = im_shape[:2] / 2.0
    crops_ix = np.empty((5, 4), dtype=int)
    curr = 0
    for i in (0, im_shape[0] - crop_dims[0]):
        for j in (0, im_shape[1] - crop_dims[1]):
            crops_ix[curr] = (i, j, i + crop_dims[0], j + crop_dims[1])
            curr += 1
    # the centre crop's bounds truncate toward zero, as pycaffe's int assignment does
    crops_ix[4] = np.tile(im_center, 2) + np.concatenate([-crop_dims / 2.0, crop_dims / 2.0])
    crops = np.empty((10 * len(images), crop_dims[0], crop_dims[1], im_shape[-1]),
                     dtype=np.float32)
    ix = 0
    for im in images:
        for y0, x0, y1, x1 in crops_ix:
            crops[ix] = im[y0:y1, x0:x1, :]
            crops[ix + 5] = im[y0:y1, x0:x1, :][:, ::-1, :]
            ix += 1
        ix += 5
    return crops
