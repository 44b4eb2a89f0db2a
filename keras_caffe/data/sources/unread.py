"""Data layers that keras_caffe does not read yet: they parse and build as model inputs
whose shapes the caller gives (``input_shapes``, ``--input-shape``)."""

from __future__ import annotations

from ...graph import types


# SSD's annotated images (Datum plus boxes) and video frames.
types.declare("AnnotatedData", source="data", bottoms=0, tops=(1, 2), origin="SSD fork",
              module=__name__)
types.declare("VideoData", source="data", bottoms=0, tops=(1, 2), origin="SSD fork",
              module=__name__)
