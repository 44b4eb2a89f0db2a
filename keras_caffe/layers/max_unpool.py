"""SegNet's Upsample with a pooling mask (max-unpooling) on NHWC tensors."""

from __future__ import annotations

import keras

from keras_caffe.layers._utils import check_pair


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeMaxUnpool2D(keras.layers.Layer):
    """SegNet's two-bottom `Upsample` (alexgkendall/caffe-segnet): `call([x, mask])` puts
    each value of `x` where the pooling mask says, zeros elsewhere.

    `x` and `mask` are NHWC `(N, H, W, C)`; `mask` holds, as Caffe's MAX Pooling writes it
    in its second top (`CaffePooling2D(return_mask=True)`), the index `h * W_in + w` of each
    maximum in its channel's plane, here read as the index `oh * out_w + ow` of the output
    plane: `size = (out_h, out_w)`, or else `H * scale_h - pad_out_h` by
    `W * scale_w - pad_out_w` (SegNet's deprecated form).  The mask is truncated to int as Caffe's
    `static_cast<int>`.  Where two values name one output position (overlapping pooling
    windows), the later one in row-major order wins, as in Caffe's loop; the gradient of
    every input value is the output gradient at its mask position (Caffe's backward, also
    for the values that lost).  An index outside the output plane is an error at run time
    (Caffe aborts: "upsample top index ... out of range").

    Args:
        size: the output `(out_h, out_w)`, or None (default) for `scales` and `pad_out`.
        scales: `(scale_h, scale_w)`, default `(2, 2)`.
        pad_out: `(pad_out_h, pad_out_w)`, each 0 or 1, default `(0, 0)`.

    Example:

    >>> x = np.array([[[[5.0]]]], "float32")             # (1, 1, 1, 1)
    >>> mask = np.array([[[[3.0]]]], "float32")          # position (1, 1) of a 2x2 plane
    >>> CaffeMaxUnpool2D((2, 2))([x, mask])[0, :, :, 0]  # [[0, 0], [0, 5]]
    """

    def __init__(self, size=None, scales=(2, 2), pad_out=(0, 0), **kwargs):
        kwargs.setdefault("autocast", False)   # the mask stays float32 (exact indices)
        super().__init__(**kwargs)
        self.size = None if size is None else check_pair(size, "size", 1)
        self.scales = check_pair(scales, "scales", 1)
        self.pad_out = check_pair(pad_out, "pad_out", 0)
        if max(self.pad_out) > 1:
            raise ValueError(f"`pad_out` values must be 0 or 1, got pad_out={pad_out!r}.")

    def _out_size(self, h, w):
        if self.size is not None:
            return self.size
        if h is None or w is None:
            return None, None
        return h * self.scales[0] - self.pad_out[0], w * self.scales[1] - self.pad_out[1]

    def build(self, input_shape):
        if not (isinstance(input_shape, (list, tuple)) and len(input_shape) == 2):
            raise ValueError(f"CaffeMaxUnpool2D takes [x, mask], got input_shape={input_shape!r}.")
        x, mask = (tuple(s) for s in input_shape)
        if len(x) != 4 or len(mask) != 4 or any(
                a is not None and b is not None and a != b for a, b in zip(x, mask)):
            raise ValueError(f"CaffeMaxUnpool2D: x and mask must be N, H, W, C of one shape, "
                             f"got {x} and {mask}.")

    def call(self, inputs):
        import tensorflow as tf

        x, mask = inputs
        x = tf.cast(x, self.compute_dtype)
        shape = tf.shape(x)
        n, h, w, c = shape[0], shape[1], shape[2], shape[3]
        out_h, out_w = self._out_size(h, w)
        plane = out_h * out_w
        index = tf.cast(tf.cast(mask, tf.float32), tf.int32)      # static_cast<int>
        bad = tf.logical_or(index < 0, index >= plane)
        check = tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)), [
            f"layer {self.name}: a pooling-mask index is outside the output plane "
            "(Caffe aborts: 'upsample top index out of range - check scale settings match "
            "input pooling layer's downsample setup'); the mask's indices run from",
            tf.reduce_min(index), "to", tf.reduce_max(index), "for an output of",
            out_h, "x", out_w])
        with tf.control_dependencies([check]):
            index = tf.identity(index)
        return _unpool(x, index, n, h, w, c, out_h, out_w)

    def compute_output_shape(self, input_shape):
        x = tuple(input_shape[0])
        return (x[0], *self._out_size(x[1], x[2]), x[3])

    def get_config(self):
        return {**super().get_config(), "size": None if self.size is None else list(self.size),
                "scales": list(self.scales), "pad_out": list(self.pad_out)}


def _unpool(x, index, n, h, w, c, out_h, out_w):
    """Caffe's scatter, last write winning, with Caffe's gather as the gradient."""
    import tensorflow as tf

    plane = out_h * out_w
    # Per (item, channel) plane: target t = (n * C + c) * plane + index, source i = h * W + w.
    items = tf.range(n)[:, None, None, None]
    chans = tf.range(c)[None, None, None, :]
    source = (tf.range(h)[None, :, None, None] * w + tf.range(w)[None, None, :, None]
              + tf.zeros_like(index))
    target = (items * c + chans) * plane + index
    segments = n * c * plane
    winner = tf.math.unsorted_segment_max(tf.reshape(source, [-1]), tf.reshape(target, [-1]),
                                          segments)                     # (N * C * plane,)
    filled = winner >= 0                                                # empty: INT_MIN
    winner = tf.maximum(winner, 0)
    # Back to NHWC: flat source position of (n, c, i) is (n * H * W + i) * C + c.
    t = tf.range(segments)
    t_item, t_chan = t // (c * plane), (t // plane) % c
    gather_at = (t_item * h * w + winner) * c + t_chan
    gather_at = tf.reshape(gather_at, tf.stack([n, c, out_h, out_w]))
    filled = tf.reshape(filled, tf.stack([n, c, out_h, out_w]))
    gather_at = tf.transpose(gather_at, [0, 2, 3, 1])
    filled = tf.transpose(filled, [0, 2, 3, 1])
    # Where each input value lands (its gradient comes from there), as flat NHWC positions.
    land = ((items * out_h * out_w + index) * c + chans)

    @tf.custom_gradient
    def unpool(values):
        flat = tf.reshape(values, [-1])
        out = tf.where(filled, tf.gather(flat, gather_at), tf.zeros([], values.dtype))

        def grad(dy):
            return tf.reshape(tf.gather(tf.reshape(dy, [-1]), land), tf.shape(values))
        return out, grad

    return unpool(x)
