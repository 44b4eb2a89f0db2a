"""The R-CNN family's fork types: Fast R-CNN's SmoothL1Loss (rbgirshick/caffe-fast-rcnn),
R-FCN's PSROIPooling (daijifeng001/caffe-rfcn) and region proposals: py-faster-rcnn's Python
layer ``rpn.proposal_layer.ProposalLayer``, built in (a prototxt naming it builds
``CaffeProposal``; no user code is imported), and OpenCV's C++ ``Proposal`` type."""

from __future__ import annotations

import ast
import re

from ..errors import NetError
from ..graph.shapes import legacy_dim
from ..layers import CaffeProposal, CaffePSROIPooling, CaffeSmoothL1Loss
from ..layers.proposal import RPN_CONFIG
from ..layers.python_layer import register_python_layer
from ..proto import caffe_pb2
from .forks import roi_bottoms
from .registry import register
from .shape import caffe_ordered


def _smooth_l1_shape(layer, bottoms):
    """Fast R-CNN's Reshape checks: every bottom has the first's channels, height, width."""
    first = [legacy_dim(bottoms[0], i) for i in (1, 2, 3)]
    for i, other in enumerate(bottoms[1:], 1):
        if any(a is not None and b is not None and a != b for a, b in zip(first, (legacy_dim(other, i) for i in (1, 2, 3)))):
            raise NetError(f"bottom {i} {tuple(other)} must have the channels, height and width "
                           f"of bottom 0 {tuple(bottoms[0])}", layer=layer.name)
    return [()]


@register("SmoothL1Loss", bottoms=(2, 4), shape=_smooth_l1_shape, loss=True, labels=(2, 3),
          origin="Fast R-CNN fork")
def smooth_l1_loss(ctx, *xs):
    if len(xs) == 3:
        raise ctx.error("with weights, give both the inside and the outside weights (4 "
                        "bottoms), as Fast R-CNN requires")
    inputs = caffe_ordered(ctx, xs)
    layer = CaffeSmoothL1Loss(sigma=ctx.param.smooth_l1_loss_param.sigma, name=ctx.keras_name)
    return ctx.add(layer)(inputs)


def psroi_settings(layer) -> tuple[float, int, int]:
    """(spatial_scale, output_dim, group_size): required in R-FCN, output_dim and group_size
    > 0."""
    p = layer.psroi_pooling_param
    missing = [f for f in ("spatial_scale", "output_dim", "group_size") if not p.HasField(f)]
    if missing:
        raise NetError(f"psroi_pooling_param needs {', '.join(missing)} (required in R-FCN)",
                       layer=layer.name)
    if p.output_dim <= 0 or p.group_size <= 0:
        raise NetError(f"output_dim and group_size must be > 0, got {p.output_dim} and "
                       f"{p.group_size}", layer=layer.name)
    return p.spatial_scale, p.output_dim, p.group_size


def _psroi_shape(layer, bottoms):
    _, output_dim, group = psroi_settings(layer)
    feat, rois = roi_bottoms(layer, bottoms)
    if feat[1] is not None and feat[1] != output_dim * group * group:
        raise NetError(f"input channel number does not match layer parameters: {feat[1]} "
                       f"channels, output_dim {output_dim} x group_size {group}^2 = "
                       f"{output_dim * group * group}", layer=layer.name)
    return [(rois[0], output_dim, group, group)]


def _psroi_workspace(layer, bottoms):
    """``CaffePSROIPooling``'s sums over each bin's rows (R x G x W x C / G) and its row
    masks per image (R x N x G x H)."""
    (n, c, h, w), rois = bottoms[0], bottoms[1]
    _, output_dim, group = psroi_settings(layer)
    return [(rois[0], group, w, output_dim, group), (rois[0], n, group, h)]


@register("PSROIPooling", bottoms=2, shape=_psroi_shape, workspace=_psroi_workspace,
          origin="R-FCN fork")
def psroi_pooling(ctx, features, rois):
    """The ROIs may come as ``(R, 5)`` or as a 4-D ``(R, 5, 1, 1)`` blob."""
    scale, output_dim, group = psroi_settings(ctx.param)
    layer = CaffePSROIPooling(output_dim, group, scale, name=ctx.keras_name)
    return ctx.add(layer)([features, rois])


# ---------------------------------------------------------------- region proposals

def _proposal_checks(layer, bottoms, anchors: int) -> None:
    scores, deltas = (tuple(b) for b in bottoms[:2])
    for what, shape, per in (("scores", scores, 2), ("bbox deltas", deltas, 4)):
        if len(shape) != 4 or shape[1] not in (None, per * anchors):
            raise NetError(f"{what} must be 1 x {per * anchors} x H x W ({per} per anchor, "
                           f"{anchors} anchors), got {shape}", layer=layer.name)
    if scores[0] not in (None, 1):
        raise NetError(f"only single item batches are supported (as in py-faster-rcnn), got "
                       f"a batch of {scores[0]}", layer=layer.name)


def proposal_settings(layer) -> dict:
    """CaffeProposal's arguments from OpenCV's ``proposal_param`` (empty ratio / scale:
    py-faster-rcnn's 0.5 1 2 and 8 16 32)."""
    p = layer.proposal_param
    if p.feat_stride <= 0 or p.base_size <= 0:
        raise NetError(f"feat_stride and base_size must be > 0, got {p.feat_stride} and "
                       f"{p.base_size}", layer=layer.name)
    return dict(feat_stride=p.feat_stride, base_size=p.base_size, min_size=p.min_size,
                ratios=list(p.ratio) or [0.5, 1, 2], scales=list(p.scale) or [8, 16, 32],
                pre_nms_top_n=p.pre_nms_topn, post_nms_top_n=p.post_nms_topn,
                nms_threshold=p.nms_thresh)


def _proposal_shape(layer, bottoms):
    """Caffe's Reshape: ``(1, 5)`` rois and ``(1, 1)`` scores; the number of rows is known
    only when the layer runs (the Keras tensors leave it open)."""
    settings = proposal_settings(layer)
    _proposal_checks(layer, bottoms, len(settings["ratios"]) * len(settings["scales"]))
    return [(1, 5), (1, 1)][:max(1, len(layer.top))]


def most_proposals(scores, pre_nms_top_n: int, post_nms_top_n: int, anchors: int):
    """The most ROIs py-faster-rcnn's algorithm can return: ``post_nms_top_n``, fewer when
    ``pre_nms_top_n`` or the anchors of a ``scores`` map of known size are fewer (a count
    <= 0 cuts nothing); None when nothing bounds it."""
    cells = scores[2] * scores[3] * anchors if None not in tuple(scores)[2:4] else None
    limits = [n for n in (pre_nms_top_n, post_nms_top_n) if n > 0]
    limits += [cells] if cells is not None else []
    return min(limits) if limits else None


def _proposal_most(layer, bottoms, phase):
    """The tops at the most rows they can hold (the memory projection's count)."""
    s = proposal_settings(layer)
    rows = most_proposals(bottoms[0], s["pre_nms_top_n"], s["post_nms_top_n"],
                          len(s["ratios"]) * len(s["scales"]))
    return [(rows, 5), (rows, 1)][:max(1, len(layer.top))] if rows else None


@register("Proposal", bottoms=3, tops=(1, 2), shape=_proposal_shape, float32=True,
          origin="OpenCV / Faster R-CNN ports", most=_proposal_most)
def proposal(ctx, scores, deltas, info):
    """py-faster-rcnn's algorithm with ``proposal_param``'s settings (OpenCV's own layer
    approximates it: no min_size filter, SSD-style decoding, zero-padded rows)."""
    layer = CaffeProposal(return_scores=len(ctx.node.tops) > 1, name=ctx.keras_name,
                          **proposal_settings(ctx.param))
    inputs = caffe_ordered(ctx, (scores, deltas, info))
    return ctx.add(layer)(inputs)


_KEYS = ("feat_stride", "scales")


def parse_param_str(text: str) -> dict:
    """py-faster-rcnn's ``yaml.load(param_str)`` for the mappings its prototxts write
    (``'feat_stride': 16``, one key per line or in braces, ``!!python/tuple [...]``)."""
    body = re.sub(r"!!python/tuple\s*", "", text).strip()
    if not body.startswith("{"):
        body = "{" + ", ".join(line for line in body.splitlines() if line.strip()) + "}"
    body = re.sub(r"([{,]\s*)([A-Za-z_]\w*)\s*:", r"\1'\2':", body)
    try:
        value = ast.literal_eval(body)
    except (ValueError, SyntaxError) as exc:
        raise ValueError(f"param_str {text!r} is not a mapping such as \"'feat_stride': 16\"") \
            from exc
    if not isinstance(value, dict):
        raise ValueError(f"param_str {text!r} is not a mapping such as \"'feat_stride': 16\"")
    return value


def proposal_layer(param_str: str, name: str, phase: int = caffe_pb2.TEST, n_tops: int = 1):
    """py-faster-rcnn's ``rpn.proposal_layer.ProposalLayer`` as ``CaffeProposal``: the
    ``param_str`` keys it reads (``feat_stride``, ``scales``), its ``generate_anchors``
    ratios, and its ``cfg`` for the phase (TEST: 6000 / 300 boxes, NMS 0.7, min size 16;
    TRAIN: 12000 / 2000)."""
    settings = parse_param_str(param_str)
    unknown = sorted(set(settings) - set(_KEYS))
    if unknown or "feat_stride" not in settings:
        raise ValueError(f"py-faster-rcnn's ProposalLayer reads 'feat_stride' (required) and "
                         f"'scales' from param_str, got {sorted(settings)}: a fork's "
                         "ProposalLayer that reads more is not built in (register yours with "
                         "keras_caffe.register_python_layer('rpn.proposal_layer.ProposalLayer', "
                         "..., override=True))")
    pre, post, nms, min_size = RPN_CONFIG["TRAIN" if phase == caffe_pb2.TRAIN else "TEST"]
    return CaffeProposal(feat_stride=settings["feat_stride"],
                         scales=tuple(settings.get("scales", (8, 16, 32))), min_size=min_size,
                         pre_nms_top_n=pre, post_nms_top_n=post, nms_threshold=nms,
                         return_scores=n_tops > 1, name=name)


def _python_proposal_most(param_str: str, phase: int, bottoms):
    """The Python layer's tops at the most rows its phase's config lets it return."""
    scales = parse_param_str(param_str).get("scales", (8, 16, 32))
    pre, post, _, _ = RPN_CONFIG["TRAIN" if phase == caffe_pb2.TRAIN else "TEST"]
    rows = most_proposals(bottoms[0], pre, post, 3 * len(scales))
    return [(rows, 5), (rows, 1)] if rows else None


register_python_layer("rpn.proposal_layer.ProposalLayer", proposal_layer,
                      most=_python_proposal_most)
