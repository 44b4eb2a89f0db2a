"""Data layers that keras_caffe does not read yet: they parse and build as model inputs
whose shapes the caller gives (``input_shapes``, ``--input-shape``)."""

from __future__ import annotations

from ...graph import types


# SSD's annotated images (Datum plus boxes) and video frames.
types.declare("AnnotatedData", source="data", bottoms=0, tops=(1, 2), origin="SSD fork",
              module=__name__)
types.declare("VideoData", source="data", bottoms=0, tops=(1, 2), origin="SSD fork",
              module=__name__)


def _dense_image_data_shape(layer, bottoms):
    """SegNet's DenseImageData: the images and their one-channel label maps, as large as
    the crop (crop_height / crop_width), else the resize (new_height / new_width), else
    the images on disk (unknown here)."""
    p = layer.dense_image_data_param
    hw = tuple((crop or new or None) for crop, new in ((p.crop_height, p.new_height),
                                                        (p.crop_width, p.new_width)))
    batch = p.batch_size or None
    return [(batch, 3 if p.is_color else 1) + hw, (batch, 1) + hw][:len(layer.top)]


# SegNet's images with dense label maps (alexgkendall/caffe-segnet).
types.declare("DenseImageData", source="data", bottoms=0, tops=(1, 2),
              shape=_dense_image_data_shape, origin="SegNet fork", module=__name__)
