"""LSTM and RNN: Caffe's time-major recurrent layers with the ``cont`` input; LSTMUnit, the
LSTM's step."""

from __future__ import annotations

from ..graph import layout
from ..layers import CaffeLSTM, CaffeLSTMUnit, CaffeRNN
from .registry import register


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
    inputs = [layout.to_caffe_order(x, ctx.helper_name(f"in{i}_to_caffe")) for i, x in enumerate(xs)]
    out = layer(inputs)
    return list(out) if p.expose_hidden else out


@register("LSTM", bottoms=(2, 5), tops=(1, 3))
def lstm(ctx, *xs):
    return _recurrent(ctx, CaffeLSTM, 2, xs)


@register("RNN", bottoms=(2, 4), tops=(1, 2))
def rnn(ctx, *xs):
    return _recurrent(ctx, CaffeRNN, 1, xs)


@register("LSTMUnit", bottoms=3, tops=2)
def lstm_unit(ctx, c_prev, x, cont):
    return ctx.add(CaffeLSTMUnit(name=ctx.keras_name))([c_prev, x, cont])
