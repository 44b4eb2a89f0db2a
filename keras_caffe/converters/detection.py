"""SSD's DetectionOutput (weiliu89/caffe, branch ssd): the detections of an SSD head."""

from __future__ import annotations

import logging

from ..errors import NetError
from ..graph import layout
from ..graph.shapes import legacy_dim
from ..layers import CaffeDetectionOutput
from ..layers.detection_output import CODE_TYPES
from .registry import register
from .shape import caffe_ordered

log = logging.getLogger(__name__)


def detection_params(layer) -> dict:
    """CaffeDetectionOutput's arguments from ``detection_output_param``, with the checks of
    SSD's ``DetectionOutputLayer::LayerSetUp``."""
    p = layer.detection_output_param
    nms = p.nms_param
    if not p.HasField("num_classes") or p.num_classes < 1:
        raise NetError("detection_output_param needs num_classes (>= 1)", layer=layer.name)
    if nms.nms_threshold < 0:
        raise NetError(f"nms_threshold must be non negative, got {nms.nms_threshold}",
                       layer=layer.name)
    if not 0 < nms.eta <= 1:
        raise NetError(f"nms_param.eta must be in (0, 1], got {nms.eta}", layer=layer.name)
    return dict(num_classes=p.num_classes, share_location=p.share_location,
                background_label_id=p.background_label_id, nms_threshold=nms.nms_threshold,
                top_k=nms.top_k if nms.HasField("top_k") else -1, eta=nms.eta,
                keep_top_k=p.keep_top_k,
                confidence_threshold=(p.confidence_threshold
                                      if p.HasField("confidence_threshold") else None),
                code_type=CODE_TYPES[p.code_type - 1],
                variance_encoded_in_target=p.variance_encoded_in_target)


def _detection_output_shape(layer, bottoms):
    """``(1, 1, 1, 7)``, as SSD's Reshape sets it: the number of rows is known only when the
    layer runs (Forward reshapes the top; the Keras tensor leaves it open).  Checks what
    SSD's Reshape checks: ``prior.height / 4`` priors,
    ``loc.channels`` = priors x location classes x 4, ``conf.channels`` = priors x
    classes, as many images in loc as in conf."""
    params = detection_params(layer)
    loc, conf, prior = (tuple(b) for b in bottoms[:3])
    if max(len(loc), len(conf), len(prior)) > 4:
        raise NetError(f"loc, conf and prior need at most 4 axes (Caffe reads them as num, "
                       f"channels, height, width), got shapes {loc}, {conf}, {prior}",
                       layer=layer.name)
    height = legacy_dim(prior, 2)
    if height is not None:
        priors, loc_classes = height // 4, 1 if params["share_location"] else params["num_classes"]
        for what, shape, per_prior in (("location", loc, loc_classes * 4),
                                       ("confidence", conf, params["num_classes"])):
            channels = legacy_dim(shape, 1)
            if channels is not None and channels != priors * per_prior:
                raise NetError(f"number of priors must match number of {what} predictions: "
                               f"the prior blob {prior} holds {priors} priors, which need "
                               f"{priors * per_prior} {what} channels, got {channels} "
                               f"(shape {shape})", layer=layer.name)
    if None not in (loc[0], conf[0]) and loc[0] != conf[0]:
        raise NetError(f"loc has {loc[0]} images, conf {conf[0]}", layer=layer.name)
    return [(1, 1, 1, 7)]


@register("DetectionOutput", bottoms=(3, 4), shape=_detection_output_shape, float32=True,
          origin="SSD fork")
def detection_output(ctx, loc, conf, prior, *image):
    """The fourth bottom (the image, for ``visualize``) is not read.  Nothing is written
    and nothing is drawn: ``save_output_param`` and ``visualize`` are ignored, with a
    warning when they would make SSD write files or open a window."""
    p = ctx.param.detection_output_param
    saves = p.save_output_param
    if saves.output_directory:
        log.warning("layer '%s': save_output_param is ignored (SSD creates %s and, given "
                    "label_map_file and name_size_file, writes result files there); nothing "
                    "is written: the detections are the layer's top blob", ctx.name,
                    saves.output_directory)
    if p.visualize:
        log.warning("layer '%s': visualize is ignored (SSD draws the detections in a window"
                    "%s); the detections are the layer's top blob", ctx.name,
                    f" and writes {p.save_file}" if p.save_file else "")
    inputs = caffe_ordered(ctx, (loc, conf, prior), ("loc", "conf", "prior"))
    layer = ctx.add(CaffeDetectionOutput(name=ctx.keras_name, **detection_params(ctx.param)))
    return layout.from_caffe_order(layer(inputs), ctx.helper_name("from_caffe"))
