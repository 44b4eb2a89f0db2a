"""Caffe's blob shapes, by Caffe's own formulas, for every layer type we know.

One table maps a type to its shape function ``f(layer, bottom_shapes) -> top_shapes``
(shapes are Caffe-ordered tuples, NCHW).  ``infer_shapes`` walks a NetGraph with it.
Users who register a converter for a new type may register a shape function too; types
without one get their shapes from the built Keras graph instead.
"""

from __future__ import annotations

import math
from typing import Callable

from ..errors import NetError
from . import geometry
from .layout import normalize_axis
from .net import Blob, NetGraph

Shape = tuple
ShapeFn = Callable[..., list]
SHAPE_FUNCTIONS: dict[str, ShapeFn] = {}


def shape_function(*types: str):
    def deco(fn):
        for t in types:
            SHAPE_FUNCTIONS[t] = fn
        return fn
    return deco


def _blob_shape(shape_msg) -> Shape:
    return tuple(int(d) for d in shape_msg.dim)


@shape_function("Input")
def _input(layer, bottoms):
    shapes = [_blob_shape(s) for s in layer.input_param.shape]
    n = len(layer.top)
    if len(shapes) == 1 and n > 1:
        shapes = shapes * n
    if len(shapes) != n:
        raise NetError(f"input_param has {len(shapes)} shapes for {n} tops "
                       "(give one shape, or one per top)", layer=layer.name)
    return shapes


@shape_function("DummyData")
def _dummy(layer, bottoms):
    p = layer.dummy_data_param
    if p.shape:
        shapes = [_blob_shape(s) for s in p.shape]
    else:
        shapes = [tuple(int(x) for x in dims) for dims in zip(p.num, p.channels, p.height, p.width)]
    if len(shapes) == 1 and len(layer.top) > 1:
        shapes = shapes * len(layer.top)
    return shapes


@shape_function("MemoryData")
def _memory(layer, bottoms):
    p = layer.memory_data_param
    return [(p.batch_size, p.channels, p.height, p.width), (p.batch_size,)][:len(layer.top)]


@shape_function("Parameter")
def _parameter(layer, bottoms):
    return [_blob_shape(layer.parameter_param.shape)]


def _same(layer, bottoms):
    return [bottoms[0]] * max(1, len(layer.top))


for _t in ("ReLU", "PReLU", "ELU", "Sigmoid", "TanH", "AbsVal", "Power", "Exp", "Log", "BNLL",
           "Threshold", "Clip", "Swish", "Dropout", "Softmax", "LRN", "BatchNorm", "Scale", "Bias",
           "MVN", "Eltwise", "GELU", "HardSigmoid", "SELU", "Normalize", "Split"):
    SHAPE_FUNCTIONS[_t] = _same


@shape_function("Convolution", "ConvolutionDepthwise", "DepthwiseConvolution")
def _conv(layer, bottoms):
    n, c, h, w = _rank4(layer, bottoms[0])
    win = geometry.conv_window(layer)
    ho, wo = (geometry.conv_output_size(s, k, st, p, d) for s, k, st, p, d in
              zip((h, w), win.kernel, win.stride, win.pad, win.dilation))
    if (ho is not None and ho <= 0) or (wo is not None and wo <= 0):
        raise NetError(f"output would be {ho}x{wo} for a {h}x{w} input", layer=layer.name)
    return [(n, layer.convolution_param.num_output, ho, wo) for _ in bottoms]


@shape_function("Deconvolution")
def _deconv(layer, bottoms):
    n, c, h, w = _rank4(layer, bottoms[0])
    win = geometry.conv_window(layer)
    ho, wo = (geometry.deconv_output_size(s, k, st, p, d) for s, k, st, p, d in
              zip((h, w), win.kernel, win.stride, win.pad, win.dilation))
    return [(n, layer.convolution_param.num_output, ho, wo) for _ in bottoms]


@shape_function("Im2col")
def _im2col(layer, bottoms):
    n, c, h, w = _rank4(layer, bottoms[0])
    win = geometry.conv_window(layer)
    ho, wo = (geometry.conv_output_size(s, k, st, p, d) for s, k, st, p, d in
              zip((h, w), win.kernel, win.stride, win.pad, win.dilation))
    return [(n, c * win.kernel[0] * win.kernel[1], ho, wo)]


@shape_function("Pooling")
def _pool(layer, bottoms):
    n, c, h, w = _rank4(layer, bottoms[0])
    win = geometry.pool_window(layer, (h, w))
    mode = geometry.pool_round_mode(layer)
    ho, wo = (geometry.pool_output_size(s, k, st, p, mode) for s, k, st, p in
              zip((h, w), win.kernel, win.stride, win.pad))
    return [(n, c, ho, wo)] * len(layer.top)


@shape_function("SPP")
def _spp(layer, bottoms):
    n, c, h, w = _rank4(layer, bottoms[0])
    if layer.spp_param.pyramid_height == 1:
        return [(n, c, 1, 1)]  # Caffe then returns its single pooling's top as it is
    bins = sum(4 ** level for level in range(layer.spp_param.pyramid_height))
    return [(n, c * bins)]


@shape_function("InnerProduct")
def _inner_product(layer, bottoms):
    shape = bottoms[0]
    axis = normalize_axis(layer.inner_product_param.axis, len(shape))
    return [tuple(shape[:axis]) + (layer.inner_product_param.num_output,)]


@shape_function("Embed")
def _embed(layer, bottoms):
    return [tuple(bottoms[0]) + (layer.embed_param.num_output,)]


@shape_function("Concat")
def _concat(layer, bottoms):
    p = layer.concat_param
    axis = p.concat_dim if p.HasField("concat_dim") else p.axis
    axis = normalize_axis(axis, len(bottoms[0]))
    out = list(bottoms[0])
    for b in bottoms[1:]:
        if len(b) != len(out) or any(x != y for i, (x, y) in enumerate(zip(b, out)) if i != axis):
            raise NetError(f"cannot concatenate shapes {bottoms} along axis {axis}", layer=layer.name)
        out[axis] = None if out[axis] is None or b[axis] is None else out[axis] + b[axis]
    return [tuple(out)]


def slice_sizes(layer, dim: int, n_tops: int) -> list[int]:
    """Sizes of Slice's tops along its axis (equal split when no slice_point)."""
    points = list(layer.slice_param.slice_point)
    if points:
        if len(points) != n_tops - 1:
            raise NetError(f"{len(points)} slice_point(s) for {n_tops} tops", layer=layer.name)
        edges = [0] + points + [dim]
        sizes = [b - a for a, b in zip(edges, edges[1:])]
        if min(sizes) <= 0:
            raise NetError(f"slice points {points} do not fit a dimension of {dim}", layer=layer.name)
        return sizes
    if dim % n_tops:
        raise NetError(f"dimension {dim} does not split equally into {n_tops} tops", layer=layer.name)
    return [dim // n_tops] * n_tops


def slice_axis(layer, rank: int) -> int:
    p = layer.slice_param
    return normalize_axis(p.slice_dim if p.HasField("slice_dim") else p.axis, rank)


@shape_function("Slice")
def _slice(layer, bottoms):
    shape = bottoms[0]
    axis = slice_axis(layer, len(shape))
    sizes = slice_sizes(layer, shape[axis], len(layer.top))
    return [tuple(shape[:axis]) + (s,) + tuple(shape[axis + 1:]) for s in sizes]


def flatten_range(layer, rank: int) -> tuple[int, int]:
    p = layer.flatten_param
    return normalize_axis(p.axis, rank), normalize_axis(p.end_axis, rank)


@shape_function("Flatten")
def _flatten(layer, bottoms):
    shape = bottoms[0]
    start, end = flatten_range(layer, len(shape))
    merged = shape[start:end + 1]
    size = None if None in merged else math.prod(merged)
    return [tuple(shape[:start]) + (size,) + tuple(shape[end + 1:])]


def reshape_shape(layer, shape: Shape) -> Shape:
    """Caffe's Reshape: dims 0 copy, one -1 inferred, over bottom axes [axis, axis+num_axes)."""
    p = layer.reshape_param
    dims = [int(d) for d in p.shape.dim]
    rank = len(shape)
    start = p.axis + rank + 1 if p.axis < 0 else p.axis
    if not 0 <= start <= rank:
        raise NetError(f"reshape axis {p.axis} out of range for rank {rank}", layer=layer.name)
    end = rank if p.num_axes == -1 else start + p.num_axes
    if p.num_axes < -1 or end > rank:
        raise NetError(f"num_axes {p.num_axes} out of range", layer=layer.name)
    out = []
    infer = None
    for i, d in enumerate(dims):
        if d == 0:
            if start + i >= rank:
                raise NetError(f"dim {i} is 0 (copy) but the bottom has no axis {start + i}",
                               layer=layer.name)
            out.append(shape[start + i])
        elif d == -1:
            if infer is not None:
                raise NetError("more than one dim is -1", layer=layer.name)
            infer = i
            out.append(-1)
        elif d < -1:
            raise NetError(f"invalid dim {d}", layer=layer.name)
        else:
            out.append(d)
    new = list(shape[:start]) + out + list(shape[end:])
    if infer is not None:
        total = math.prod(shape) if None not in shape else None
        known = [d for j, d in enumerate(new) if j != start + infer]
        if total is None or None in known:
            new[start + infer] = None
        else:
            rest = math.prod(known)
            if rest == 0 or total % rest:
                raise NetError(f"cannot reshape {shape} to {tuple(new)}", layer=layer.name)
            new[start + infer] = total // rest
    elif None not in shape and None not in new and math.prod(new) != math.prod(shape):
        raise NetError(f"cannot reshape {shape} ({math.prod(shape)} values) to {tuple(new)}",
                       layer=layer.name)
    return tuple(new)


@shape_function("Reshape")
def _reshape(layer, bottoms):
    return [reshape_shape(layer, bottoms[0])]


@shape_function("Crop")
def _crop(layer, bottoms):
    a, b = bottoms
    axis = normalize_axis(layer.crop_param.axis, len(a))
    return [tuple(a[:axis]) + tuple(b[axis:])]


@shape_function("Silence", "HDF5Output")
def _silence(layer, bottoms):
    return []


@shape_function("Reduction")
def _reduction(layer, bottoms):
    axis = normalize_axis(layer.reduction_param.axis, len(bottoms[0]))
    return [tuple(bottoms[0][:axis])]


@shape_function("ArgMax")
def _argmax(layer, bottoms):
    p = layer.argmax_param
    shape = bottoms[0]
    if p.HasField("axis"):
        axis = normalize_axis(p.axis, len(shape))
        return [tuple(shape[:axis]) + (p.top_k,) + tuple(shape[axis + 1:])]
    return [(shape[0], 2 if p.out_max_val else 1, p.top_k)]


@shape_function("Tile")
def _tile(layer, bottoms):
    shape = list(bottoms[0])
    axis = normalize_axis(layer.tile_param.axis, len(shape))
    shape[axis] = None if shape[axis] is None else shape[axis] * layer.tile_param.tiles
    return [tuple(shape)]


@shape_function("LSTM", "RNN")
def _recurrent(layer, bottoms):
    t, n = bottoms[0][:2]
    return [(t, n, layer.recurrent_param.num_output)]


@shape_function("LSTMUnit")
def _lstm_unit(layer, bottoms):
    c_prev, x, cont = (tuple(b) for b in bottoms)
    if len(c_prev) != 3 or len(x) != 3 or len(cont) != 2 or c_prev[0] != 1 or \
            x[0] != 1 or cont[0] != 1 or not c_prev[1] == x[1] == cont[1]:
        raise NetError(f"LSTMUnit takes c_prev (1 x N x D), gate inputs (1 x N x 4D) and cont "
                       f"(1 x N), got {c_prev}, {x} and {cont}", layer=layer.name)
    if x[2] != 4 * c_prev[2]:
        raise NetError(f"the gate inputs must have 4 x {c_prev[2]} values per item, got {x[2]}",
                       layer=layer.name)
    return [c_prev, c_prev]


@shape_function("Accuracy")
def _accuracy(layer, bottoms):
    shapes = [()]
    if len(layer.top) > 1:
        axis = normalize_axis(layer.accuracy_param.axis, len(bottoms[0]))
        shapes.append((bottoms[0][axis],))
    return shapes


@shape_function("SoftmaxWithLoss", "InfogainLoss")
def _softmax_loss(layer, bottoms):
    return [()] + [bottoms[0]] * (len(layer.top) - 1)


@shape_function("EuclideanLoss", "SigmoidCrossEntropyLoss", "HingeLoss", "ContrastiveLoss",
                "MultinomialLogisticLoss")
def _loss(layer, bottoms):
    return [()]


def _rank4(layer, shape):
    if len(shape) != 4:
        raise NetError(f"needs a 4-D (N,C,H,W) bottom, got shape {tuple(shape)}", layer=layer.name)
    return shape


# Types of converters/forks.py and converters/misc.py (SSD, DeepLab, YOLO, ShuffleNet, BVLC).
SHAPE_FUNCTIONS["ShuffleChannel"] = _same


def permute_order(layer, rank: int) -> list[int]:
    """SSD's Permute order: the given axes, then the missing ones in their own order."""
    order = [int(o) for o in layer.permute_param.order]
    if any(o >= rank for o in order) or len(set(order)) != len(order):
        raise NetError(f"permute order {order} must name distinct axes below {rank}",
                       layer=layer.name)
    return order + [i for i in range(rank) if i not in order]


@shape_function("Permute")
def _permute(layer, bottoms):
    return [tuple(bottoms[0][o] for o in permute_order(layer, len(bottoms[0])))]


def interp_rule(layer, two_bottoms: bool) -> dict:
    """DeepLab's output size: a second bottom's; else {shrink_factor, zoom_factor} (shrink
    first) if either is set; else {size: (height, width)}."""
    p = layer.interp_param
    rule = {f: getattr(p, f) for f in ("shrink_factor", "zoom_factor") if p.HasField(f)}
    if p.pad_beg > 0 or p.pad_end > 0 or min(rule.values(), default=1) < 1:
        raise NetError("pad_beg and pad_end must be <= 0, zoom/shrink factors >= 1",
                       layer=layer.name)
    if two_bottoms or rule:
        if two_bottoms and (rule or p.HasField("height") or p.HasField("width")):
            raise NetError("a second bottom sets the size: shrink_factor, zoom_factor, height "
                           "and width must be unset", layer=layer.name)
        return rule
    if not (p.HasField("height") and p.HasField("width")) or min(p.height, p.width) <= 0:
        raise NetError("no output size: give zoom_factor, shrink_factor, height and width (> 0), "
                       "or a second bottom", layer=layer.name)
    return {"size": (p.height, p.width)}


@shape_function("ROIPooling")
def _roi_pooling(layer, bottoms):
    feat, rois = (tuple(b) for b in bottoms)
    p = layer.roi_pooling_param
    if p.pooled_h < 1 or p.pooled_w < 1:
        raise NetError(f"pooled_h and pooled_w must be positive, got {p.pooled_h} x "
                       f"{p.pooled_w}", layer=layer.name)
    if len(feat) != 4 or math.prod(rois[1:]) != 5:
        raise NetError(f"ROIPooling takes an N x C x H x W map and R ROIs of 5 values [batch, "
                       f"x1, y1, x2, y2], got shapes {feat} and {rois}", layer=layer.name)
    return [(rois[0], feat[1], p.pooled_h, p.pooled_w)]


@shape_function("Interp")
def _interp(layer, bottoms):
    n, c, h, w = _rank4(layer, bottoms[0])
    rule, p = interp_rule(layer, len(bottoms) > 1), layer.interp_param
    if len(bottoms) > 1 or "size" in rule:
        return [(n, c) + tuple(rule.get("size") or _rank4(layer, bottoms[1])[2:])]
    shrink, zoom = rule.get("shrink_factor", 1), rule.get("zoom_factor", 1)
    out = [None if d is None else (d + p.pad_beg + p.pad_end - 1) // shrink + 1 for d in (h, w)]
    return [(n, c) + tuple(None if d is None else d + (d - 1) * (zoom - 1) for d in out)]


@shape_function("Upsample")
def _upsample(layer, bottoms):
    n, c, h, w = _rank4(layer, bottoms[0])
    p = layer.upsample_param
    if p.HasField("upsample_h") and p.HasField("upsample_w"):  # SegNet's explicit size
        return [(n, c, p.upsample_h, p.upsample_w)]
    scales = [getattr(p, f) if p.HasField(f) else p.scale for f in ("scale_h", "scale_w")]
    return [(n, c) + tuple(None if d is None else d * k - int(pad) for d, k, pad in
                           zip((h, w), scales, (p.pad_out_h, p.pad_out_w)))]


@shape_function("BatchReindex")
def _batch_reindex(layer, bottoms):
    if len(bottoms[1]) != 1:
        raise NetError(f"the index bottom must be a vector, got {tuple(bottoms[1])}",
                       layer=layer.name)
    return [(bottoms[1][0],) + tuple(bottoms[0][1:])]


@shape_function("Filter")
def _filter(layer, bottoms):
    """As Caffe's first Reshape: the tops keep their bottoms' shapes (how many samples pass
    is known only from the selector's values)."""
    *xs, selector = bottoms
    if len(layer.top) != len(xs):
        raise NetError(f"a Filter layer has one top per filtered bottom: {len(xs)} bottoms "
                       f"before the selector but {len(layer.top)} tops", layer=layer.name)
    if any(d != 1 for d in selector[1:]):
        raise NetError(f"the selector (last bottom) must hold one value per sample, got shape "
                       f"{tuple(selector)}", layer=layer.name)
    for x in xs:
        if x[0] != selector[0]:
            raise NetError(f"each bottom must have as many samples as the selector "
                           f"({selector[0]}), got shape {tuple(x)}", layer=layer.name)
    return [tuple(x) for x in xs]


@shape_function("PriorBox")
def _prior_box(layer, bottoms):
    n, c, h, w = _rank4(layer, bottoms[0])
    p, ratios = layer.prior_box_param, [1.0]
    for ar in p.aspect_ratio:  # SSD skips repeats; flip adds 1/ar
        if all(abs(ar - r) >= 1e-6 for r in ratios):
            ratios += [ar, 1.0 / ar] if p.flip else [ar]
    priors = len(ratios) * len(p.min_size) + len(p.max_size)
    return [(1, 2, None if h is None or w is None else h * w * priors * 4)]


def node_shapes(node, bottom_shapes: list[Shape], path=None) -> list[Shape] | None:
    """Caffe's shapes of a layer's tops, or None when its type has no shape function."""
    fn = SHAPE_FUNCTIONS.get(node.type)
    if fn is None:
        return None
    try:
        tops = fn(node.param, list(bottom_shapes))
    except NetError:
        raise
    except (IndexError, ValueError, ZeroDivisionError) as exc:
        raise NetError(f"cannot infer its output shape from bottoms {list(bottom_shapes)}: {exc}",
                       layer=node.name, path=path) from exc
    if tops is None:
        return None
    if len(tops) < len(node.tops):
        raise NetError(f"has {len(node.tops)} tops but type {node.type} makes {len(tops)}",
                       layer=node.name, path=path)
    return [tuple(t) for t in tops[:len(node.tops)]]


def infer_shapes(graph: NetGraph, source_shapes: dict[str, Shape] | None = None,
                 strict: bool = True) -> dict[Blob, Shape]:
    """Shapes of every blob version.  ``source_shapes`` overrides or supplies the shapes of
    blobs made by input/data layers (by blob name).  Types without a shape function raise
    when ``strict``; otherwise their tops are left out (and so is everything after them)."""
    source_shapes = dict(source_shapes or {})
    shapes: dict[Blob, Shape] = {}
    for node in graph.layers:
        overrides = [source_shapes.get(t.name) for t in node.tops]
        if node.tops and all(s is not None for s in overrides) and not node.bottoms:
            for t, s in zip(node.tops, overrides):
                shapes[t] = tuple(s)
            continue
        tops = None
        if all(b in shapes for b in node.bottoms):
            tops = node_shapes(node, [shapes[b] for b in node.bottoms], graph.path)
        if tops is None:
            if strict:
                what = (f"no shape function for type '{node.type}'"
                        if node.type not in SHAPE_FUNCTIONS else
                        "its output shapes are unknown: a data layer's shapes come from its "
                        "source; give them as input_shapes (by top name)")
                raise NetError(what, layer=node.name, path=graph.path)
            continue
        for t, s in zip(node.tops, tops):
            shapes[t] = s
    return shapes
