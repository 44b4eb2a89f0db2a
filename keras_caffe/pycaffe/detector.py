"""pycaffe's ``caffe.Detector``: R-CNN style windowed detection -- crop windows out of
images (optionally with surrounding context), warp them to the net input and classify.

As with the Classifier, everything is in :class:`DetectorMixin` (it needs of its base only
pycaffe's ``Net(model_file, pretrained_file, phase)``, ``inputs``, ``outputs``,
``blobs[name].data.shape`` and ``forward_all``) and :class:`Detector` puts it on this
package's :class:`~keras_caffe.pycaffe.net.Net`.

Where pycaffe no longer runs, this one does and says so: ``detect_windows`` accepts any
iterable (pycaffe walks it twice, so the ``zip`` its selective search passes under Python 3
came back empty); windows may be lists or arrays and context crops index with integers
(pycaffe indexes with floats, which numpy refuses since 1.12); Python 3's ``round`` (half to
even) places the context crop, as pycaffe under Python 3 does.

This is pycaffe's Python crop, kept as pycaffe computes it; Caffe's C++ WindowData layer
(:mod:`keras_caffe.data.window_crop`) grows windows by the same formula but differs in its
corners (inclusive x1 y1 x2 y2, clipped to the last pixel), rounding (half away from zero,
float32), resize (OpenCV's uint8 INTER_LINEAR), square mode and mirror, so the two share no
code.
"""

from __future__ import annotations

import os

import numpy as np

from ..proto import caffe_pb2
from . import io as caffe_io
from .classifier import _configure_transformer
from .net import Net

__all__ = ["Detector", "DetectorMixin"]


class DetectorMixin:
    """pycaffe's Detector on any pycaffe-like Net base (see the module docstring).

    ``mean``, ``input_scale``, ``raw_scale``, ``channel_swap``: Transformer settings of the
    first input.  ``context_pad``: pixels of the (square) net input that show context
    around the window, as in R-CNN's feature extraction; the part of that border that falls
    outside the image is filled with the mean."""

    def __init__(self, model_file, pretrained_file, mean=None, input_scale=None,
                 raw_scale=None, channel_swap=None, context_pad=None):
        super().__init__(model_file, pretrained_file, caffe_pb2.TEST)
        self.transformer = _configure_transformer(self, mean, input_scale, raw_scale,
                                                  channel_swap)
        self.configure_crop(context_pad)

    def detect_windows(self, images_windows):
        """Classify windows (ymin, xmin, ymax, xmax) of image files.

        ``images_windows``: (filename, windows) pairs.  Returns one dict per window, in
        order: ``{'window', 'prediction', 'filename'}``."""
        images_windows = [(fname, list(windows)) for fname, windows in images_windows]
        window_inputs = []
        for image_fname, windows in images_windows:
            image = caffe_io.load_image(image_fname).astype(np.float32)
            for window in windows:
                window_inputs.append(self.crop(image, window))

        in_ = self.inputs[0]
        caffe_in = np.zeros((len(window_inputs), window_inputs[0].shape[2])
                            + tuple(self.blobs[in_].data.shape[2:]), dtype=np.float32)
        for ix, window_in in enumerate(window_inputs):
            caffe_in[ix] = self.transformer.preprocess(in_, window_in)   # warps to the input
        out = self.forward_all(**{in_: caffe_in})
        predictions = out[self.outputs[0]]

        detections = []
        ix = 0
        for image_fname, windows in images_windows:
            for window in windows:
                detections.append({'window': window, 'prediction': predictions[ix],
                                   'filename': image_fname})
                ix += 1
        return detections

    def detect_selective_search(self, image_fnames):
        """:meth:`detect_windows` over Selective Search proposals, which pycaffe takes from
        the MATLAB-backed ``selective_search_ijcv_with_python`` package; it is not bundled,
        so this works only where that package is installed."""
        try:
            import selective_search_ijcv_with_python as selective_search
        except ImportError:
            raise NotImplementedError(
                "Detector.detect_selective_search: Selective Search is not bundled with "
                "keras_caffe (pycaffe calls the MATLAB-backed "
                "selective_search_ijcv_with_python package, which is not installed); "
                "compute the windows yourself and call detect_windows") from None
        image_fnames = [os.path.abspath(f) for f in image_fnames]   # for MATLAB
        windows_list = selective_search.get_windows(image_fnames,
                                                    cmd='selective_search_rcnn')
        return self.detect_windows(zip(image_fnames, windows_list))

    def crop(self, im, window):
        """The window (ymin, xmin, ymax, xmax; ymax and xmax exclusive) of an H,W,K image;
        with ``context_pad``, the window grown so that after warping to the input a border
        of ``context_pad`` pixels is context, resized and placed on the mean."""
        window = np.asarray(window)
        y0, x0, y1, x1 = (int(v) for v in window[:4])
        crop = im[y0:y1, x0:x1]
        if not self.context_pad:
            return crop

        box = window.astype(np.float64)
        crop_size = self.blobs[self.inputs[0]].data.shape[3]   # assumes a square input
        scale = crop_size / (1. * crop_size - self.context_pad * 2)
        # this box counts its last row and column (+ 1), unlike the plain crop above
        half_h = (box[2] - box[0] + 1) / 2.
        half_w = (box[3] - box[1] + 1) / 2.
        center = (box[0] + half_h, box[1] + half_w)
        scaled_dims = scale * np.array((-half_h, -half_w, half_h, half_w))
        box = np.round(np.tile(center, 2) + scaled_dims)
        full_h = box[2] - box[0] + 1
        full_w = box[3] - box[1] + 1
        scale_h = crop_size / full_h
        scale_w = crop_size / full_w
        pad_y = round(float(max(0, -box[0]) * scale_h))   # rows of mean above the image
        pad_x = round(float(max(0, -box[1]) * scale_w))

        im_h, im_w = im.shape[:2]
        box = np.clip(box, 0., [im_h, im_w, im_h, im_w])
        clip_h = box[2] - box[0] + 1
        clip_w = box[3] - box[1] + 1
        if not (clip_h > 0 and clip_w > 0):
            raise ValueError(f"window {window.tolist()} leaves nothing of a "
                             f"{im_h}x{im_w} image to crop")
        crop_h = round(float(clip_h * scale_h))
        crop_w = round(float(clip_w * scale_w))
        if pad_y + crop_h > crop_size:
            crop_h = crop_size - pad_y
        if pad_x + crop_w > crop_size:
            crop_w = crop_size - pad_x

        b0, b1, b2, b3 = (int(v) for v in box)
        context_crop = caffe_io.resize_image(im[b0:b2, b1:b3], (crop_h, crop_w))
        crop = np.ones(self.crop_dims, dtype=np.float32) * self.crop_mean
        crop[pad_y:(pad_y + crop_h), pad_x:(pad_x + crop_w)] = context_crop
        return crop

    def configure_crop(self, context_pad):
        """Set ``crop_dims`` (the input's H,W,K), ``context_pad`` and, with context, the
        ``crop_mean`` that fills the border: the mean taken back to raw image space
        (untransposed, channels unswapped, divided by the raw scale)."""
        in_ = self.inputs[0]
        tpose = self.transformer.transpose[in_]
        inv_tpose = [tpose[t] for t in tpose]   # pycaffe's inverse; right for (2, 0, 1)
        self.crop_dims = np.array(self.blobs[in_].data.shape[1:])[inv_tpose]
        self.context_pad = context_pad
        if self.context_pad:
            channel_order = self.transformer.channel_swap.get(in_)
            raw_scale = self.transformer.raw_scale.get(in_)
            mean = self.transformer.mean.get(in_)
            if mean is not None:
                crop_mean = mean.copy().transpose(inv_tpose)
                if channel_order is not None:
                    channel_order = list(channel_order)
                    channel_order_inverse = [channel_order.index(i)
                                             for i in range(crop_mean.shape[2])]
                    crop_mean = crop_mean[:, :, channel_order_inverse]
                if raw_scale is not None:
                    crop_mean /= raw_scale
                self.crop_mean = crop_mean
            else:
                self.crop_mean = np.zeros(self.crop_dims, dtype=np.float32)


class Detector(DetectorMixin, Net):
    """Windowed detection with a Caffe net: ``Detector(model_file, pretrained_file,
    mean=None, input_scale=None, raw_scale=None, channel_swap=None, context_pad=None)``
    then ``detect_windows([(filename, windows), ...])``, as in pycaffe."""
