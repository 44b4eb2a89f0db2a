"""Numpy references of Caffe's arithmetic used by several families, written from Caffe's
C++ (BVLC master: conv_layer / deconv_layer / im2col / pooling_layer / softmax_layer),
in float64 on NCHW arrays.  Independent of keras_caffe."""

from __future__ import annotations

import math

import numpy as np

FLT_MAX = float(np.finfo(np.float32).max)


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def conv2d(x, w, b=None, stride=1, pad=0, dilation=1, group=1):
    """Caffe's Convolution: ``w`` is (out, in/group, kh, kw)."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(pad), _pair(dilation)
    x, w = np.float64(x), np.float64(w)
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    wo = (wd + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    out = np.zeros((n, o, ho, wo))
    og = o // group
    for g in range(group):
        xs = xp[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                patch = xs[:, :, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                           j * dw:j * dw + sw * (wo - 1) + 1:sw]
                out[:, g * og:(g + 1) * og] += np.einsum("nchw,oc->nohw", patch,
                                                         w[g * og:(g + 1) * og, :, i, j])
    if b is not None:
        out += np.float64(b).reshape(1, -1, 1, 1)
    return out


def deconv2d(x, w, b=None, stride=1, pad=0, dilation=1, group=1):
    """Caffe's Deconvolution (the adjoint of conv2d): ``w`` is (in, out/group, kh, kw);
    output size stride * (H - 1) + dilation * (k - 1) + 1 - 2 * pad."""
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(pad), _pair(dilation)
    x, w = np.float64(x), np.float64(w)
    n, c, h, wd = x.shape
    _, og, kh, kw = w.shape
    full_h = sh * (h - 1) + dh * (kh - 1) + 1
    full_w = sw * (wd - 1) + dw * (kw - 1) + 1
    full = np.zeros((n, og * group, full_h, full_w))
    cg = c // group
    for g in range(group):
        xs = x[:, g * cg:(g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                full[:, g * og:(g + 1) * og, i * dh:i * dh + sh * (h - 1) + 1:sh,
                     j * dw:j * dw + sw * (wd - 1) + 1:sw] += np.einsum(
                         "nchw,co->nohw", xs, w[g * cg:(g + 1) * cg, :, i, j])
    out = full[:, :, ph:full_h - ph, pw:full_w - pw]
    if b is not None:
        out = out + np.float64(b).reshape(1, -1, 1, 1)
    return out


def im2col(x, kernel, stride=1, pad=0, dilation=1):
    """Caffe's Im2col top: channel (c * kh + i) * kw + j holds x[c] at offset (i, j)."""
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (_pair(kernel), _pair(stride), _pair(pad),
                                              _pair(dilation))
    n, c, h, wd = x.shape
    xp = np.pad(np.float64(x), ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho = (h + 2 * ph - (dh * (kh - 1) + 1)) // sh + 1
    wo = (wd + 2 * pw - (dw * (kw - 1) + 1)) // sw + 1
    out = np.zeros((n, c * kh * kw, ho, wo))
    for ch in range(c):
        for i in range(kh):
            for j in range(kw):
                out[:, (ch * kh + i) * kw + j] = xp[:, ch, i * dh:i * dh + sh * (ho - 1) + 1:sh,
                                                    j * dw:j * dw + sw * (wo - 1) + 1:sw]
    return out


def pool_out(size, k, s, p, ceil=True):
    rounding = math.ceil if ceil else math.floor
    out = int(rounding((size + 2 * p - k) / s)) + 1
    if p and (out - 1) * s >= size + p:
        out -= 1
    return out


def pool2d(x, kind, kernel, stride=1, pad=0, ceil=True):
    """Caffe's MAX / AVE pooling (CPU), and STOCHASTIC's TEST rule (GPU only in Caffe:
    sum(x^2) / sum(x) over the window)."""
    (kh, kw), (sh, sw), (ph, pw) = _pair(kernel), _pair(stride), _pair(pad)
    x = np.float64(x)
    n, c, h, w = x.shape
    ho, wo = pool_out(h, kh, sh, ph, ceil), pool_out(w, kw, sw, pw, ceil)
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            hs, ws = i * sh - ph, j * sw - pw
            he, we = min(hs + kh, h + ph), min(ws + kw, w + pw)
            size = (he - hs) * (we - ws)
            hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, h), min(we, w)
            win = x[:, :, hs:he, ws:we]
            if kind == "max":  # starts at -FLT_MAX, which a window past the edge keeps
                out[:, :, i, j] = win.max(axis=(2, 3), initial=-FLT_MAX)
            elif kind == "ave":  # a window past the edge is 0 / 0
                with np.errstate(invalid="ignore"):
                    out[:, :, i, j] = win.sum(axis=(2, 3)) / np.float64(size)
            else:
                s = win.sum(axis=(2, 3))
                out[:, :, i, j] = np.where(s > 0, (win * win).sum(axis=(2, 3)) / np.where(
                    s > 0, s, 1), 0)
    return out


def softmax(x, axis=1):
    x = np.float64(x)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.float64(x)))
