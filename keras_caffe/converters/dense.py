"""InnerProduct (and its flatten order) and Embed."""

from __future__ import annotations

import keras

from ..graph import layout
from ..graph.shapes import known_count
from ..layers import CaffeEmbed, CaffeFlatten
from ..proto import caffe_pb2
from ..weights.layouts import DenseKernel
from .registry import absorb_affine, bias_blob, register, weight_and_bias
from .shape import in_caffe_order


def _inner_product_shape(layer, bottoms):
    shape = bottoms[0]
    axis = layout.normalize_axis(layer.inner_product_param.axis, len(shape))
    return [tuple(shape[:axis]) + (layer.inner_product_param.num_output,)]


def _inner_product_params(layer, bottoms):
    """Caffe's (num_output, K) weight ((K, num_output) with ``transpose``), K the product of
    the bottom's axes from ``axis``, and (num_output,) bias."""
    p, shape = layer.inner_product_param, bottoms[0]
    k = known_count(shape[layout.normalize_axis(p.axis, len(shape)):])
    weight = (k, p.num_output) if p.transpose else (p.num_output, k)
    return [weight] + bias_blob(p)


def _inner_product_absorb(layer, blobs, a, b):
    """A per-channel affine map after a 2-D inner product, folded into its weight and bias."""
    p = layer.inner_product_param
    if p.axis != 1:   # the top's axis 1 holds num_output only when the product starts there
        return None
    folded = caffe_pb2.LayerParameter()
    folded.CopyFrom(layer)
    folded.inner_product_param.bias_term = True
    return folded, absorb_affine(blobs, a, b, 1 if p.transpose else 0)


@register("InnerProduct", free_spatial=False, shape=_inner_product_shape,
          params=_inner_product_params, fillers=weight_and_bias("inner_product_param"),
          absorb=_inner_product_absorb)
def inner_product(ctx, x):
    p = ctx.param.inner_product_param
    shape = ctx.bottom_shapes[0]
    rank = len(shape)
    axis = layout.normalize_axis(p.axis, rank)
    chw = None
    if layout.is_channels_last(rank) and axis == 1:
        # Flatten our N,H,W,C tensor as it is and reorder the weight rows instead of
        # transposing activations: the rows follow H,W,C instead of Caffe's C,H,W.
        chw = tuple(shape[1:]) if rank == 4 else None
        if rank != 4:
            x = layout.to_caffe_order(x, ctx.helper_name("to_caffe"))
        x = ctx.add(keras.layers.Flatten(name=ctx.helper_name("flatten")))(x)
    elif axis != rank - 1:
        x = layout.to_caffe_order(x, ctx.helper_name("to_caffe"))
        x = ctx.add(CaffeFlatten(axis=axis, end_axis=-1, name=ctx.helper_name("flatten")))(x)
    elif layout.is_channels_last(rank):
        x = layout.to_caffe_order(x, ctx.helper_name("to_caffe"))
    # Weights always come from fillers or a caffemodel; "zeros" spares Keras's own init.
    dense = ctx.add(keras.layers.Dense(p.num_output, use_bias=p.bias_term,
                                       kernel_initializer="zeros", name=ctx.keras_name),
                    holds_params=True, layouts=(DenseKernel(bool(p.transpose), chw),))
    y = dense(x)
    if layout.is_channels_last(len(ctx.top_shapes[0])):
        y = layout.from_caffe_order(y, ctx.helper_name("from_caffe"))
    return y


def _embed_shape(layer, bottoms):
    return [tuple(bottoms[0]) + (layer.embed_param.num_output,)]


def _embed_ids(layer, bottoms):
    return {0: int(layer.embed_param.input_dim)}


def _embed_params(layer, bottoms):
    p = layer.embed_param
    return [(p.input_dim, p.num_output)] + bias_blob(p)


@register("Embed", shape=_embed_shape, params=_embed_params, classes=_embed_ids,
          fillers=weight_and_bias("embed_param"))
def embed(ctx, x):
    p = ctx.param.embed_param
    layer = CaffeEmbed(input_dim=p.input_dim, num_output=p.num_output, bias_term=p.bias_term,
                       name=ctx.keras_name)
    return in_caffe_order(ctx, x, layer, holds_params=True)
