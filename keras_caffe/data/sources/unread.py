"""Data layers that keras_caffe does not read yet: they parse and build as model inputs
whose shapes the caller gives (``input_shapes``, ``--input-shape``)."""

from __future__ import annotations

from ...graph import types


def _window_data_shape(layer, bottoms):
    """WindowData's crops: 3 channels, the crop size square; a label per item."""
    q = layer.window_data_param
    n = q.batch_size or None
    crop = (layer.transform_param.crop_size or q.crop_size) or None
    return [(n, 3, crop, crop), (n,)][:len(layer.top)]


types.declare("WindowData", source="data", bottoms=0, tops=(1, 2), shape=_window_data_shape,
              module=__name__)
# SSD's annotated images (Datum plus boxes) and video frames.
types.declare("AnnotatedData", source="data", bottoms=0, tops=(1, 2), origin="SSD fork",
              module=__name__)
types.declare("VideoData", source="data", bottoms=0, tops=(1, 2), origin="SSD fork",
              module=__name__)
