"""A numpy reference of SSD's DetectionOutput layer, written from the fork's C++
(weiliu89/caffe, branch ssd): ``DetectionOutputLayer::Forward_cpu``
(src/caffe/layers/detection_output_layer.cpp) and, in src/caffe/util/bbox_util.cpp,
``GetLocPredictions``, ``GetConfidenceScores``, ``GetPriorBBoxes``, ``DecodeBBox``,
``GetMaxScoreIndex``, ``ApplyNMSFast``, ``JaccardOverlap``, ``IntersectBBox`` and
``BBoxSize``, statement by statement in float32, with Python's maps and loops.

One departure, the GPU path's: with ``share_location`` and ``background_label_id: -1``
the CPU's ``DecodeBBoxesAll`` skips the shared location label -1 (it equals the
background id) and ``Forward_cpu`` then aborts ("Could not find location predictions");
``DecodeBBoxesKernel`` skips the background only when locations are per class, so the GPU
path runs.  The reference decodes as the GPU does.
"""

from __future__ import annotations

import numpy as np

f32 = np.float32
FLT_MAX = float(np.finfo(np.float32).max)


def bbox_size(b) -> np.float32:
    """BBoxSize(bbox, normalized=true): 0 for xmax < xmin or ymax < ymin."""
    if b[2] < b[0] or b[3] < b[1]:
        return f32(0)
    return f32(f32(b[2] - b[0]) * f32(b[3] - b[1]))


def jaccard_overlap(b1, s1, b2, s2) -> np.float32:
    """JaccardOverlap(bbox1, bbox2, normalized=true) with the sizes DecodeBBox stored."""
    if b2[0] > b1[2] or b2[2] < b1[0] or b2[1] > b1[3] or b2[3] < b1[1]:
        inter = (f32(0), f32(0), f32(0), f32(0))          # IntersectBBox: no intersection
    else:
        inter = (max(b1[0], b2[0]), max(b1[1], b2[1]), min(b1[2], b2[2]), min(b1[3], b2[3]))
    width, height = f32(inter[2] - inter[0]), f32(inter[3] - inter[1])
    if width > 0 and height > 0:
        inter_size = f32(width * height)
        return f32(inter_size / f32(f32(s1 + s2) - inter_size))
    return f32(0)


def decode_bbox(prior, var, b, code_type, variance_encoded_in_target):
    """DecodeBBox(..., clip_bbox=false): the decoded box and its size."""
    if variance_encoded_in_target:
        var = [f32(1)] * 4   # the same arithmetic without the variance factors
    if code_type == "CORNER":
        out = [f32(prior[k] + f32(var[k] * b[k])) for k in range(4)]
    elif code_type == "CENTER_SIZE":
        pw, ph = f32(prior[2] - prior[0]), f32(prior[3] - prior[1])
        pcx, pcy = f32(f32(prior[0] + prior[2]) / 2), f32(f32(prior[1] + prior[3]) / 2)
        cx = f32(f32(f32(var[0] * b[0]) * pw) + pcx)
        cy = f32(f32(f32(var[1] * b[1]) * ph) + pcy)
        w = f32(np.exp(f32(var[2] * b[2])) * pw)
        h = f32(np.exp(f32(var[3] * b[3])) * ph)
        out = [f32(cx - w / f32(2)), f32(cy - h / f32(2)), f32(cx + w / f32(2)),
               f32(cy + h / f32(2))]
    elif code_type == "CORNER_SIZE":
        pw, ph = f32(prior[2] - prior[0]), f32(prior[3] - prior[1])
        sizes = (pw, ph, pw, ph)
        out = [f32(prior[k] + f32(f32(var[k] * b[k]) * sizes[k])) for k in range(4)]
    else:
        raise ValueError(code_type)
    return out, bbox_size(out)


def apply_nms_fast(bboxes, sizes, scores, score_threshold, nms_threshold, eta, top_k):
    """ApplyNMSFast: GetMaxScoreIndex (scores > threshold, std::stable_sort descending,
    top_k), then keep a box when its overlap with each kept one is <= the adaptive
    threshold, which shrinks by eta after each kept box while above 0.5."""
    pairs = [(scores[i], i) for i in range(len(scores)) if scores[i] > score_threshold]
    pairs.sort(key=lambda p: -p[0])                      # Python's sort is stable
    if -1 < top_k < len(pairs):
        pairs = pairs[:top_k]
    adaptive = f32(nms_threshold)
    indices = []
    for _, idx in pairs:
        keep = True
        for kept in indices:
            if not keep:
                break
            keep = jaccard_overlap(bboxes[idx], sizes[idx], bboxes[kept], sizes[kept]) <= adaptive
        if keep:
            indices.append(idx)
        if keep and eta < 1 and adaptive > 0.5:
            adaptive = f32(adaptive * f32(eta))
    return indices


def ref_detection_output(loc, conf, prior, num_classes, share_location=True,
                         background_label_id=0, nms_threshold=0.3, top_k=-1, eta=1.0,
                         keep_top_k=-1, confidence_threshold=None, code_type="CORNER",
                         variance_encoded_in_target=False):
    """Caffe's top blob, (1, 1, rows, 7), from NCHW blobs."""
    num = loc.shape[0]
    num_priors = prior.shape[2] // 4
    num_loc_classes = 1 if share_location else num_classes
    threshold = f32(-FLT_MAX if confidence_threshold is None else confidence_threshold)
    loc_data, conf_data = loc.astype(f32).ravel(), conf.astype(f32).ravel()
    prior_data = prior.astype(f32).ravel()
    priors = [prior_data[p * 4:p * 4 + 4] for p in range(num_priors)]
    variances = [prior_data[(num_priors + p) * 4:(num_priors + p) * 4 + 4]
                 for p in range(num_priors)]

    all_indices, all_boxes, all_scores, num_kept = [], [], [], 0
    for i in range(num):
        boxes = {}                                       # label -> ([box], [size])
        for c in range(num_loc_classes):
            label = -1 if share_location else c
            if not share_location and label == background_label_id:
                continue
            decoded = []
            for p in range(num_priors):
                start = (i * num_priors + p) * num_loc_classes * 4 + c * 4
                decoded.append(decode_bbox(priors[p], variances[p], loc_data[start:start + 4],
                                           code_type, variance_encoded_in_target))
            boxes[label] = ([d[0] for d in decoded], [d[1] for d in decoded])
        scores = {c: [conf_data[(i * num_priors + p) * num_classes + c]
                      for p in range(num_priors)] for c in range(num_classes)}
        indices, num_det = {}, 0
        for c in range(num_classes):
            if c == background_label_id:
                continue
            bboxes, sizes = boxes[-1 if share_location else c]
            indices[c] = apply_nms_fast(bboxes, sizes, scores[c], threshold, nms_threshold,
                                        eta, top_k)
            num_det += len(indices[c])
        if -1 < keep_top_k < num_det:
            pairs = [(scores[c][idx], (c, idx)) for c in sorted(indices) for idx in indices[c]]
            pairs.sort(key=lambda p: -p[0])
            indices = {}
            for _, (c, idx) in pairs[:keep_top_k]:
                indices.setdefault(c, []).append(idx)
            num_kept += keep_top_k
        else:
            num_kept += num_det
        all_indices.append(indices)
        all_boxes.append(boxes)
        all_scores.append(scores)

    if num_kept == 0:
        rows = np.full((num, 7), -1, f32)
        rows[:, 0] = np.arange(num)
        return rows[None, None]
    rows = []
    for i in range(num):
        for label in sorted(all_indices[i]):             # std::map: labels in order
            bboxes, _ = all_boxes[i][-1 if share_location else label]
            for idx in all_indices[i][label]:
                rows.append([i, label, all_scores[i][label][idx], *bboxes[idx]])
    return np.asarray(rows, f32).reshape(1, 1, -1, 7)
