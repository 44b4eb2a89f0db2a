"""LSTM and RNN: Caffe's time-major recurrent layers with the ``cont`` input; LSTMUnit, the
LSTM's step."""

from __future__ import annotations

from ..errors import NetError
from ..graph.shapes import known_count
from ..layers import CaffeLSTM, CaffeLSTMUnit, CaffeRNN
from .registry import register
from .shape import caffe_ordered


def _recurrent(ctx, cls, state_count, xs):
    p = ctx.param.recurrent_param
    extra = len(xs) - 2 - (state_count if p.expose_hidden else 0)
    if extra not in (0, 1):
        want = 2 + (state_count if p.expose_hidden else 0)
        raise ctx.error(f"takes {want} bottoms (x, cont{', hidden states' if p.expose_hidden else ''})"
                        f" plus an optional static input, got {len(xs)}")
    if len(ctx.node.tops) != 1 + (state_count if p.expose_hidden else 0):
        raise ctx.error(f"has {len(ctx.node.tops)} tops; expected "
                        f"{1 + (state_count if p.expose_hidden else 0)}")
    layer = ctx.add(cls(num_output=p.num_output, expose_hidden=p.expose_hidden,
                        has_static_input=bool(extra), name=ctx.keras_name), holds_params=True)
    inputs = caffe_ordered(ctx, xs)
    out = layer(inputs)
    return list(out) if p.expose_hidden else out


def _recurrent_shape(layer, bottoms):
    t, n = bottoms[0][:2]
    return [(t, n, layer.recurrent_param.num_output)]


def _recurrent_params(gates: int, extra):
    """Caffe's blobs of an unrolled LSTM / RNN: the input transform (gates*N, K) and its bias,
    the static input's transform (gates*N, K_static) when there is one, then ``extra(N)``."""
    def params(layer, bottoms):
        p = layer.recurrent_param
        n, rows = p.num_output, gates * p.num_output
        states = (2 if gates == 4 else 1) if p.expose_hidden else 0
        out = [(rows, known_count(bottoms[0][2:])), (rows,)]
        if len(bottoms) - 2 - states == 1:
            out.append((rows, known_count(bottoms[2][1:])))
        return out + extra(n)
    return params


def _recurrent_fillers(lstm: bool):
    """Blob order: input weight, bias, [static-input weight], recurrent weight (LSTM); RNN
    adds the output weight and bias."""
    def fillers(layer, n_blobs):
        w, b = layer.recurrent_param.weight_filler, layer.recurrent_param.bias_filler
        static = n_blobs in (4, 6)
        return [w, b] + [w] * static + ([w] if lstm else [w, w, b])
    return fillers


@register("LSTM", bottoms=(2, 5), tops=(1, 3), shape=_recurrent_shape,
          params=_recurrent_params(4, lambda n: [(4 * n, n)]), fillers=_recurrent_fillers(True))
def lstm(ctx, *xs):
    return _recurrent(ctx, CaffeLSTM, 2, xs)


@register("RNN", bottoms=(2, 4), tops=(1, 2), shape=_recurrent_shape,
          params=_recurrent_params(1, lambda n: [(n, n), (n, n), (n,)]),
          fillers=_recurrent_fillers(False))
def rnn(ctx, *xs):
    return _recurrent(ctx, CaffeRNN, 1, xs)


def _lstm_unit_shape(layer, bottoms):
    c_prev, x, cont = (tuple(b) for b in bottoms)
    if len(c_prev) != 3 or len(x) != 3 or len(cont) != 2 or c_prev[0] != 1 or \
            x[0] != 1 or cont[0] != 1 or not c_prev[1] == x[1] == cont[1]:
        raise NetError(f"LSTMUnit takes c_prev (1 x N x D), gate inputs (1 x N x 4D) and cont "
                       f"(1 x N), got {c_prev}, {x} and {cont}", layer=layer.name)
    if x[2] != 4 * c_prev[2]:
        raise NetError(f"the gate inputs must have 4 x {c_prev[2]} values per item, got {x[2]}",
                       layer=layer.name)
    return [c_prev, c_prev]


@register("LSTMUnit", bottoms=3, tops=2, shape=_lstm_unit_shape)
def lstm_unit(ctx, c_prev, x, cont):
    return ctx.add(CaffeLSTMUnit(name=ctx.keras_name))([c_prev, x, cont])
