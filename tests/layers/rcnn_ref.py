"""Numpy references for the R-CNN family's fork layers, written from the forks' code and
independent of keras_caffe: py-faster-rcnn's ``rpn/proposal_layer.py`` forward (with its
``generate_anchors``, ``bbox_transform_inv``, ``clip_boxes``, ``_filter_boxes``,
``py_cpu_nms`` and the TEST/TRAIN ``cfg``), R-FCN's ``PSROIPoolingForward``
(caffe-rfcn ``psroi_pooling_layer.cu``) and Fast R-CNN's ``SmoothL1Loss``
(caffe-fast-rcnn ``smooth_L1_loss_layer.cu``)."""

from __future__ import annotations

import numpy as np

#: The 9 default anchors (base 16, ratios 0.5 1 2, scales 8 16 32) of the original MATLAB
#: implementation, as generate_anchors.py records them: 1-based, so its own 0-based
#: anchors are these minus 1.
MATLAB_ANCHORS = np.array([
    [-83, -39, 100, 56], [-175, -87, 192, 104], [-359, -183, 376, 200],
    [-55, -55, 72, 72], [-119, -119, 136, 136], [-247, -247, 264, 264],
    [-35, -79, 52, 96], [-79, -167, 96, 184], [-167, -343, 184, 360]], np.float64)

#: cfg.TEST / cfg.TRAIN: pre-NMS top N, post-NMS top N, NMS threshold, min size.
CFG = {"TEST": (6000, 300, 0.7, 16), "TRAIN": (12000, 2000, 0.7, 16)}


def anchors(base=16, ratios=(0.5, 1, 2), scales=(8, 16, 32)):
    """Ratio-major windows centred on the reference box (0, 0, base-1, base-1): for ratio r
    the rounded width sqrt(base^2 / r) and height width * r, times each scale."""
    centre = (base - 1) / 2.0
    rows = []
    for r in ratios:
        w = np.round(np.sqrt(base * base / r))
        h = np.round(w * r)
        for s in scales:
            half_w, half_h = (w * s - 1) / 2.0, (h * s - 1) / 2.0
            rows.append([centre - half_w, centre - half_h, centre + half_w, centre + half_h])
    return np.array(rows)


def _nms(dets, thresh):
    """py_cpu_nms: greedy by score, overlaps with +1 widths, keep while overlap <= thresh."""
    x1, y1, x2, y2, s = (dets[:, k] for k in range(5))
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = s.argsort(kind="stable")[::-1]
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(np.float32(0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(np.float32(0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        overlap = inter / (areas[i] + areas[rest] - inter)
        order = rest[overlap <= np.float32(thresh)]
    return np.array(keep, np.int64)


def proposals(scores, deltas, im_info, feat_stride=16, scales=(8, 16, 32), phase="TEST",
              ratios=(0.5, 1, 2), base=16, cfg=None):
    """ProposalLayer.forward on one image: (rois (R, 5), scores (R, 1)), float32."""
    pre, post, thresh, min_size = cfg or CFG[phase]
    base_anchors = anchors(base, ratios, scales)
    a = len(base_anchors)
    fg = scores[:, a:]
    height, width = fg.shape[-2:]
    sx, sy = np.meshgrid(np.arange(width) * feat_stride, np.arange(height) * feat_stride)
    shifts = np.stack([sx.ravel(), sy.ravel(), sx.ravel(), sy.ravel()], axis=1)
    boxes = (base_anchors[None] + shifts[:, None]).reshape(-1, 4).astype(np.float32)
    d = deltas.transpose(0, 2, 3, 1).reshape(-1, 4)
    s = fg.transpose(0, 2, 3, 1).reshape(-1)
    w = boxes[:, 2] - boxes[:, 0] + np.float32(1)
    h = boxes[:, 3] - boxes[:, 1] + np.float32(1)
    cx, cy = boxes[:, 0] + np.float32(0.5) * w, boxes[:, 1] + np.float32(0.5) * h
    px, py = d[:, 0] * w + cx, d[:, 1] * h + cy
    pw, ph = np.exp(d[:, 2]) * w, np.exp(d[:, 3]) * h
    half = np.float32(0.5)
    props = np.stack([px - half * pw, py - half * ph, px + half * pw, py + half * ph], axis=1)
    info = im_info.reshape(-1)
    limit = np.array([info[1], info[0], info[1], info[0]], np.float32) - np.float32(1)
    props = np.maximum(np.minimum(props, limit), np.float32(0))
    least = np.float32(min_size) * info[2]
    ok = ((props[:, 2] - props[:, 0] + 1) >= least) & ((props[:, 3] - props[:, 1] + 1) >= least)
    props, s = props[ok], s[ok]
    order = s.argsort(kind="stable")[::-1]
    if pre > 0:
        order = order[:pre]
    props, s = props[order], s[order]
    keep = _nms(np.hstack([props, s[:, None]]), thresh)
    if post > 0:
        keep = keep[:post]
    props, s = props[keep], s[keep]
    rois = np.hstack([np.zeros((len(props), 1), np.float32), props]).astype(np.float32)
    return rois, s[:, None].astype(np.float32)


def psroi_pooling(feat, rois, output_dim, group, scale):
    """PSROIPoolingForward on N, C, H, W in float32: (R, output_dim, group, group)."""
    n, c, height, width = feat.shape
    out = np.zeros((len(rois), output_dim, group, group), np.float32)
    scale = np.float32(scale)
    for r, roi in enumerate(np.asarray(rois, np.float32)):
        b = int(roi[0])
        rnd = [np.float32(np.sign(v) * np.floor(abs(float(v)) + 0.5)) for v in roi[1:]]
        sw, sh = rnd[0] * scale, rnd[1] * scale
        ew, eh = (rnd[2] + np.float32(1)) * scale, (rnd[3] + np.float32(1)) * scale
        rw, rh = max(ew - sw, np.float32(0.1)), max(eh - sh, np.float32(0.1))
        bh, bw = rh / np.float32(group), rw / np.float32(group)
        for o in range(output_dim):
            for i in range(group):
                for j in range(group):
                    hs = min(max(int(np.floor(np.float32(i) * bh + sh)), 0), height)
                    he = min(max(int(np.ceil(np.float32(i + 1) * bh + sh)), 0), height)
                    ws = min(max(int(np.floor(np.float32(j) * bw + sw)), 0), width)
                    we = min(max(int(np.ceil(np.float32(j + 1) * bw + sw)), 0), width)
                    if he <= hs or we <= ws:
                        continue
                    channel = (o * group + i) * group + j
                    cells = np.float64(feat[b, channel, hs:he, ws:we])
                    out[r, o, i, j] = cells.sum() / ((he - hs) * (we - ws))
    return out


def smooth_l1(pred, target, inside=None, outside=None, sigma=1.0):
    """Fast R-CNN's loss (float64) and its gradient with respect to pred."""
    d = np.float64(pred) - np.float64(target)
    if inside is not None:
        d = d * inside
    s2 = float(np.float32(sigma)) ** 2
    small = np.abs(d) < 1.0 / s2
    f = np.where(small, 0.5 * d * d * s2, np.abs(d) - 0.5 / s2)
    fprime = np.where(small, s2 * d, np.sign(d))
    if outside is not None:
        f = f * outside
        fprime = fprime * outside
    if inside is not None:
        fprime = fprime * inside
    n = pred.shape[0]
    return f.sum() / n, fprime / n
