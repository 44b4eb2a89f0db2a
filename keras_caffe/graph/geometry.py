"""Caffe's window geometry (kernel, stride, pad, dilation) read once from the params.

Caffe accepts ``kernel_size: 3``, ``kernel_size: 2 kernel_size: 3`` (one per spatial axis)
or ``kernel_h``/``kernel_w``; the same for pad and stride.  Shape inference and the
converters both read geometry from here so they can never disagree.
"""

from __future__ import annotations

import dataclasses
import math

from ..errors import NetError


@dataclasses.dataclass(frozen=True)
class Window:
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    dilation: tuple[int, int] = (1, 1)


def _pair(layer, repeated, h, w, has_h, has_w, default, what):
    if has_h or has_w:
        if repeated:
            raise NetError(f"{what} is given both as {what}_h/{what}_w and as repeated {what}",
                           layer=layer)
        if not (has_h and has_w):
            raise NetError(f"{what}_h and {what}_w must be given together", layer=layer)
        return (int(h), int(w))
    values = list(repeated)
    if not values:
        return (default, default)
    if len(values) == 1:
        return (int(values[0]),) * 2
    if len(values) == 2:
        return (int(values[0]), int(values[1]))
    raise NetError(f"{what} has {len(values)} values; only 2-D windows are supported", layer=layer)


def conv_window(layer) -> Window:
    p = layer.convolution_param
    kernel = _pair(layer.name, p.kernel_size, p.kernel_h, p.kernel_w,
                   p.HasField("kernel_h"), p.HasField("kernel_w"), None, "kernel")
    if kernel[0] is None:
        raise NetError("convolution_param has no kernel_size", layer=layer.name)
    stride = _pair(layer.name, p.stride, p.stride_h, p.stride_w,
                   p.HasField("stride_h"), p.HasField("stride_w"), 1, "stride")
    pad = _pair(layer.name, p.pad, p.pad_h, p.pad_w,
                p.HasField("pad_h"), p.HasField("pad_w"), 0, "pad")
    dil = list(p.dilation)
    if len(dil) > 2:
        raise NetError(f"dilation has {len(dil)} values; only 2-D is supported", layer=layer.name)
    dilation = (1, 1) if not dil else ((dil[0],) * 2 if len(dil) == 1 else (dil[0], dil[1]))
    for what, v in (("kernel", kernel), ("stride", stride), ("dilation", dilation)):
        if min(v) <= 0:
            raise NetError(f"{what} must be positive, got {v}", layer=layer.name)
    if min(pad) < 0:
        raise NetError(f"pad must be >= 0, got {pad}", layer=layer.name)
    return Window(kernel, stride, pad, dilation)


def conv_output_size(size: int | None, k: int, s: int, p: int, d: int) -> int | None:
    if size is None:
        return None
    extent = d * (k - 1) + 1
    return (size + 2 * p - extent) // s + 1


def deconv_output_size(size: int | None, k: int, s: int, p: int, d: int) -> int | None:
    if size is None:
        return None
    extent = d * (k - 1) + 1
    return s * (size - 1) + extent - 2 * p


def pool_window(layer, input_hw=None) -> Window:
    """Pooling geometry; with ``global_pooling`` the kernel is the input size."""
    p = layer.pooling_param
    stride = _pair(layer.name, [p.stride] if p.HasField("stride") else [], p.stride_h, p.stride_w,
                   p.HasField("stride_h"), p.HasField("stride_w"), 1, "stride")
    pad = _pair(layer.name, [p.pad] if p.HasField("pad") else [], p.pad_h, p.pad_w,
                p.HasField("pad_h"), p.HasField("pad_w"), 0, "pad")
    if p.global_pooling:
        if p.HasField("kernel_size") or p.HasField("kernel_h"):
            raise NetError("global_pooling cannot be combined with a kernel size", layer=layer.name)
        if pad != (0, 0) or stride != (1, 1):
            raise NetError("global_pooling needs pad 0 and stride 1", layer=layer.name)
        kernel = tuple(input_hw) if input_hw is not None else (None, None)
    else:
        kernel = _pair(layer.name, [p.kernel_size] if p.HasField("kernel_size") else [],
                       p.kernel_h, p.kernel_w, p.HasField("kernel_h"), p.HasField("kernel_w"),
                       None, "kernel")
        if kernel[0] is None:
            raise NetError("pooling_param needs kernel_size (or kernel_h/kernel_w) or "
                           "global_pooling", layer=layer.name)
        if pad[0] >= kernel[0] or pad[1] >= kernel[1]:
            raise NetError(f"pad {pad} must be smaller than the kernel {kernel}", layer=layer.name)
    return Window(kernel, stride, pad)


def pool_round_mode(layer) -> str:
    """'ceil' (BVLC Caffe) unless a fork's ``ceil_mode: false`` / ``round_mode: FLOOR`` says floor."""
    p = layer.pooling_param
    if p.HasField("ceil_mode") and p.HasField("round_mode") and p.ceil_mode != (
            p.round_mode == p.CEIL):
        raise NetError(f"pooling_param says ceil_mode: {str(p.ceil_mode).lower()} (the forks' "
                       f"field) and round_mode: {p.RoundMode.Name(p.round_mode)} (BVLC's), "
                       "which disagree", layer=layer.name)
    if p.HasField("ceil_mode") and not p.ceil_mode:
        return "floor"
    if p.HasField("round_mode") and p.round_mode == p.FLOOR:
        return "floor"
    return "ceil"


def pool_output_size(size, k, s, p, round_mode="ceil"):
    if size is None:
        return None
    if round_mode == "floor":
        return (size + 2 * p - k) // s + 1
    out = int(math.ceil((size + 2 * p - k) / s)) + 1
    if p > 0 and (out - 1) * s >= size + p:
        out -= 1  # the last window would start inside the padding: Caffe drops it
    return out


def padded_shape(shape, pad, extra=(0, 0)) -> tuple:
    """An N,C,H,W shape with H and W grown by ``2 * pad + extra`` (unknown sizes stay
    unknown): the padded copy of a bottom that a window layer's implementation makes."""
    n, c, h, w = shape
    return (n, c) + tuple(None if s is None else s + 2 * p + e
                          for s, p, e in zip((h, w), pad, extra))
