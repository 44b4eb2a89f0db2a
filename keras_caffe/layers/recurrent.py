"""Caffe's recurrent layers, LSTM and RNN, on time-major inputs, and LSTMUnit, the LSTM's
step as a layer of its own (Caffe's unrolled LSTM net is built from it).

LSTM and RNN live in one module because they share everything but the step: the
input list (`x`, `cont`, optional `x_static`, optional exposed states), the
flattening of `x` from axis 2 and of `x_static` from axis 1, the projection of
all time steps at once, the scan over time, and the exposed-state outputs.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from keras_caffe.layers._utils import check_bool, check_int


def _flat_dim(shape, start, layer, what):
    """prod(shape[start:]), which must be known: Caffe's InnerProduct input size."""
    dims = tuple(shape[start:])
    if any(d is None for d in dims):
        raise ValueError(
            f"{layer}: the dims of `{what}` from axis {start} on must be known (they "
            f"size the weights), got shape {tuple(shape)}.")
    return int(math.prod(dims))


def _flatten_from(x, axis, dim):
    """Reshape `x` to `x.shape[:axis] + (dim,)`, the leading dims possibly dynamic."""
    if len(x.shape) == axis + 1:
        return x
    shape = ops.shape(x)
    return ops.reshape(x, tuple(shape[:axis]) + (dim,))


def lstm_cell(c_prev, a, cont, hidden):
    """One LSTM step as Caffe computes it (``LSTMUnitLayer``): gate pre-activations ``a``
    (``[..., 4 * hidden]``, in the order i, f, o, g) and the sequence-continuation flag
    ``cont`` (broadcast over the last axis), which scales the forget gate.  Returns
    ``(c, h)``."""
    i = ops.sigmoid(a[..., :hidden])
    f = ops.multiply(cont, ops.sigmoid(a[..., hidden:2 * hidden]))
    o = ops.sigmoid(a[..., 2 * hidden:3 * hidden])
    g = ops.tanh(a[..., 3 * hidden:])
    c = ops.add(ops.multiply(f, c_prev), ops.multiply(i, g))
    return c, ops.multiply(o, ops.tanh(c))


def _pack_steps(x_proj, cont):
    """One (T, N, K + 1) tensor to scan over: the projection, then `cont`.

    A single sequence, because Keras's TensorFlow `scan` fails on several when the
    number of steps is unknown at trace time.
    """
    return ops.concatenate([x_proj, ops.expand_dims(cont, -1)], axis=-1)


class _CaffeRecurrent(keras.layers.Layer):
    """Shared input handling of `CaffeLSTM` and `CaffeRNN` (not public)."""

    # Set by the subclasses.
    _state_names = ()      # Caffe's recurrent inputs, in bottom order
    _gates = 1             # rows of the input weights per output unit
    _x_weight = ""         # name of the input weight; "<name>_static" for x_static
    _x_bias = ""           # name of the bias added to the input projection

    def __init__(self, num_output, expose_hidden=False, has_static_input=False,
                 weight_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        self.num_output = check_int(num_output, "num_output", 1)
        self.expose_hidden = check_bool(expose_hidden, "expose_hidden")
        self.has_static_input = check_bool(has_static_input, "has_static_input")
        self.weight_initializer = keras.initializers.get(weight_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    # -- inputs ---------------------------------------------------------------

    def _input_names(self):
        names = ["x", "cont"]
        if self.has_static_input:
            names.append("x_static")
        if self.expose_hidden:
            names.extend(self._state_names)
        return names

    def _split(self, inputs):
        """{name: item} from the input list (shapes or tensors), checking its length."""
        names = self._input_names()
        is_list = isinstance(inputs, (list, tuple)) and not any(
            i is None or isinstance(i, int) for i in inputs)  # not a single shape
        if not is_list or len(inputs) != len(names):
            got = (f"{len(inputs)} inputs" if is_list
                   else f"one input of shape {tuple(getattr(inputs, 'shape', inputs))}")
            raise ValueError(
                f"{self.__class__.__name__} with expose_hidden={self.expose_hidden} and "
                f"has_static_input={self.has_static_input} takes the list "
                f"[{', '.join(names)}], got {got}.")
        return dict(zip(names, inputs))

    def build(self, input_shape):
        shapes = {k: tuple(v) for k, v in self._split(input_shape).items()}
        name = self.__class__.__name__
        x_shape, cont_shape = shapes["x"], shapes["cont"]
        if len(x_shape) < 3:
            raise ValueError(
                f"{name}: `x` must have shape (T, N, ...) with at least one feature "
                f"axis, got shape {x_shape}.")
        if len(cont_shape) != 2:
            raise ValueError(
                f"{name}: `cont` must have shape (T, N), got shape {cont_shape}.")
        for i, what in ((0, "T"), (1, "N")):
            a, b = x_shape[i], cont_shape[i]
            if a is not None and b is not None and a != b:
                raise ValueError(
                    f"{name}: `x` {x_shape} and `cont` {cont_shape} disagree on {what}.")
        self._input_dim = _flat_dim(x_shape, 2, name, "x")
        self._static_dim = None
        if self.has_static_input:
            s_shape = shapes["x_static"]
            if len(s_shape) < 2:
                raise ValueError(
                    f"{name}: `x_static` must have shape (N, ...) with at least one "
                    f"feature axis, got shape {s_shape}.")
            if None not in (s_shape[0], x_shape[1]) and s_shape[0] != x_shape[1]:
                raise ValueError(
                    f"{name}: `x_static` {s_shape} and `x` {x_shape} disagree on N.")
            self._static_dim = _flat_dim(s_shape, 1, name, "x_static")
        for state in self._state_names if self.expose_hidden else ():
            shape = shapes[state]
            if (len(shape) != 3 or shape[0] not in (None, 1)
                    or shape[2] not in (None, self.num_output)
                    or None not in (shape[1], x_shape[1]) and shape[1] != x_shape[1]):
                raise ValueError(
                    f"{name}: `{state}` must have Caffe's shape (1, N, "
                    f"{self.num_output}) with N = {x_shape[1]}, got shape {shape}.")

        rows = self._gates * self.num_output
        self._add(self._x_weight, (rows, self._input_dim), self.weight_initializer)
        self._add(self._x_bias, (rows,), self.bias_initializer)
        if self.has_static_input:
            self._add(self._x_weight + "_static", (rows, self._static_dim),
                      self.weight_initializer)
        self._build_recurrent_weights()

    def _add(self, name, shape, initializer):
        setattr(self, name, self.add_weight(name=name, shape=shape,
                                            initializer=initializer))

    def _build_recurrent_weights(self):
        raise NotImplementedError

    # -- forward --------------------------------------------------------------

    def _w(self, name, dtype):
        return ops.cast(ops.convert_to_tensor(getattr(self, name)), dtype)

    def call(self, inputs):
        items = self._split(inputs)
        x = ops.convert_to_tensor(items["x"])
        dtype = x.dtype
        x = _flatten_from(x, 2, self._input_dim)
        # Caffe never sends a gradient to `cont`.
        cont = ops.stop_gradient(ops.cast(items["cont"], dtype))
        # All time steps at once, as Caffe's unrolled net does (InnerProduct axis 2).
        x_proj = ops.add(ops.matmul(x, ops.transpose(self._w(self._x_weight, dtype))),
                         self._w(self._x_bias, dtype))
        if self.has_static_input:
            xs = _flatten_from(ops.convert_to_tensor(items["x_static"], dtype), 1,
                               self._static_dim)
            w_s = self._w(self._x_weight + "_static", dtype)
            x_proj = ops.add(x_proj, ops.expand_dims(
                ops.matmul(xs, ops.transpose(w_s)), 0))
        if self.expose_hidden:
            # Caffe shares only the data of exposed states: no gradient flows into
            # h_0/c_0 nor back from h_T/c_T ("we can't backpropagate across batches").
            init = tuple(ops.stop_gradient(ops.cast(items[s], dtype))[0]
                         for s in self._state_names)
        else:
            n = ops.shape(x)[1]
            init = tuple(ops.zeros((n, self.num_output), dtype)
                         for _ in self._state_names)
        output, final = self._run(x_proj, cont, init, dtype)
        if not self.expose_hidden:
            return output
        return [output] + [ops.expand_dims(ops.stop_gradient(s), 0) for s in final]

    def _run(self, x_proj, cont, init, dtype):
        """(output (T, N, H), final states) from the projected inputs."""
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        shapes = self._split(input_shape)
        x_shape = tuple(shapes["x"])
        out = (x_shape[0], x_shape[1], self.num_output)
        if not self.expose_hidden:
            return out
        return [out] + [(1, x_shape[1], self.num_output) for _ in self._state_names]

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_output": self.num_output,
            "expose_hidden": self.expose_hidden,
            "has_static_input": self.has_static_input,
            "weight_initializer": keras.initializers.serialize(self.weight_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        })
        return config


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeLSTM(_CaffeRecurrent):
    """Caffe's `LSTM` layer on time-major inputs, in Caffe's blob order and layout.

    For each step t (H = `num_output`, gate rows in the order i, f, o, g):

        a_t = W_xc x_t + b_c [+ W_xc_static x_static] + W_hc (cont_t * h_{t-1})
        i = sigmoid(a_i), f = cont_t * sigmoid(a_f), o = sigmoid(a_o), g = tanh(a_g)
        c_t = f * c_{t-1} + i * g
        h_t = o * tanh(c_t)

    so `cont[t, n] = 0` starts a new sequence for stream n at step t (both
    states are dropped); fractional `cont` scales them as in Caffe.

    Inputs, a list in Caffe's bottom order:

    * `x` `(T, N, ...)`, flattened from axis 2 in C order (Caffe's InnerProduct
      with axis 2): a rank-4/5 `x` must be handed over in Caffe's axis order.
    * `cont` `(T, N)`, sequence-continuation markers (no gradient).
    * `x_static` `(N, ...)` when `has_static_input`, flattened from axis 1; its
      projection is added at every step.
    * `h_0`, `c_0` `(1, N, H)` when `expose_hidden`.

    Outputs: `h` `(T, N, H)`; with `expose_hidden` the list `[h, h_T, c_T]`, the
    last two of shape `(1, N, H)`.

    Weights, created in Caffe's blob order (so `set_weights(caffe_blobs)` works):
    `W_xc` `(4H, D)`, `b_c` `(4H,)`, [`W_xc_static` `(4H, D_static)`], `W_hc`
    `(4H, H)`, with D = prod(x.shape[2:]).

    T and N may both be unknown; T is Keras's batch axis here. Differences from
    Caffe, both deliberate:

    * without `expose_hidden` the states start at zero on every call. Caffe's
      layer instead starts from the previous forward pass's final states, which
      only matters when `cont[0]` is not all 0 (Caffe's first pass also starts
      at zero).
    * `Model.predict`/`fit` slice inputs along axis 0 = time (and want every
      input to share it): call the model directly, or feed whole sequences.

    As in Caffe, no gradient reaches `cont`, `h_0` or `c_0`, and none flows back
    from `h_T`/`c_T`.

    Args:
        num_output: H, the number of hidden units, >= 1.
        expose_hidden: take `h_0`, `c_0` and return `h_T`, `c_T`. Default False.
        has_static_input: take `x_static` (the third input). Default False.
        weight_initializer: initializer of the `W_*` weights, default
            `"glorot_uniform"`.
        bias_initializer: initializer of `b_c`, default `"zeros"`.

    Example:

    >>> lstm = CaffeLSTM(4)
    >>> x, cont = np.zeros((3, 2, 5), "float32"), np.ones((3, 2), "float32")
    >>> lstm([x, cont]).shape  # (3, 2, 4); weights (16, 5), (16,), (16, 4)
    """

    _state_names = ("h_0", "c_0")
    _gates = 4
    _x_weight = "W_xc"
    _x_bias = "b_c"

    def _build_recurrent_weights(self):
        self._add("W_hc", (4 * self.num_output, self.num_output),
                  self.weight_initializer)

    def _run(self, x_proj, cont, init, dtype):
        hidden = self.num_output
        w_hc_t = ops.transpose(self._w("W_hc", dtype))

        def step(carry, inputs):
            h_prev, c_prev = carry
            a_x, cont_t = inputs[:, :-1], inputs[:, -1:]
            a = ops.add(ops.matmul(ops.multiply(cont_t, h_prev), w_hc_t), a_x)
            c, h = lstm_cell(c_prev, a, cont_t, hidden)
            return (h, c), (h, c)

        final, (hs, _) = ops.scan(step, init, _pack_steps(x_proj, cont))
        return hs, final


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeRNN(_CaffeRecurrent):
    """Caffe's `RNN` layer (tanh) on time-major inputs, in Caffe's blob order.

    For each step t (H = `num_output`):

        h_t = tanh(W_xh x_t + b_h [+ W_xh_static x_static] + W_hh (cont_t * h_{t-1}))
        o_t = tanh(W_ho h_t + b_o)

    so `cont[t, n] = 0` starts a new sequence for stream n at step t. The output
    is `o`; `h` is the recurrent state. Caffe gives `o` the same width H.

    Inputs, a list in Caffe's bottom order: `x` `(T, N, ...)` (flattened from
    axis 2 in C order, so a rank-4/5 `x` comes in Caffe's axis order), `cont`
    `(T, N)`, `x_static` `(N, ...)` when `has_static_input` (flattened from axis
    1), and `h_0` `(1, N, H)` when `expose_hidden`.

    Outputs: `o` `(T, N, H)`; with `expose_hidden` the list `[o, h_T]`, `h_T` of
    shape `(1, N, H)` (the last hidden state, not the last output).

    Weights, created in Caffe's blob order: `W_xh` `(H, D)`, `b_h` `(H,)`,
    [`W_xh_static` `(H, D_static)`], `W_hh` `(H, H)`, `W_ho` `(H, H)`, `b_o` `(H,)`.

    T and N may both be unknown. Without `expose_hidden` the state starts at
    zero on every call (Caffe carries it over from its previous forward pass,
    which matters only when `cont[0]` is not all 0); no gradient reaches `cont`
    or `h_0`, and none flows back from `h_T`, as in Caffe. `Model.predict`/`fit`
    slice along axis 0 = time: call the model directly.

    Args:
        num_output: H, >= 1.
        expose_hidden: take `h_0` and return `h_T`. Default False.
        has_static_input: take `x_static` (the third input). Default False.
        weight_initializer: initializer of the `W_*` weights, default
            `"glorot_uniform"`.
        bias_initializer: initializer of `b_h` and `b_o`, default `"zeros"`.

    Example:

    >>> rnn = CaffeRNN(4)
    >>> x, cont = np.zeros((3, 2, 5), "float32"), np.ones((3, 2), "float32")
    >>> rnn([x, cont]).shape  # (3, 2, 4)
    """

    _state_names = ("h_0",)
    _gates = 1
    _x_weight = "W_xh"
    _x_bias = "b_h"

    def _build_recurrent_weights(self):
        hidden = self.num_output
        self._add("W_hh", (hidden, hidden), self.weight_initializer)
        self._add("W_ho", (hidden, hidden), self.weight_initializer)
        self._add("b_o", (hidden,), self.bias_initializer)

    def _run(self, x_proj, cont, init, dtype):
        w_hh_t = ops.transpose(self._w("W_hh", dtype))

        def step(h_prev, inputs):
            a_x, cont_t = inputs[:, :-1], inputs[:, -1:]
            h_in = ops.multiply(cont_t, h_prev)
            h = ops.tanh(ops.add(ops.matmul(h_in, w_hh_t), a_x))
            return h, h

        h_final, hs = ops.scan(step, init[0], _pack_steps(x_proj, cont))
        out = ops.tanh(ops.add(ops.matmul(hs, ops.transpose(self._w("W_ho", dtype))),
                               self._w("b_o", dtype)))
        return out, (h_final,)


@keras.saving.register_keras_serializable(package="keras_caffe")
class CaffeLSTMUnit(keras.layers.Layer):
    """Caffe's `LSTMUnit` layer: `call([c_prev, x, cont])` returns `[c, h]`, one LSTM step
    for a batch of sequences (see `lstm_cell`).

    `c_prev` is `(1, N, D)`, `x` the gate pre-activations `(1, N, 4 * D)` in the order
    i, f, o, g, and `cont` `(1, N)`: 0 where a sequence starts (the forget gate is then
    zero), 1 elsewhere. `c` and `h` have the shape of `c_prev`. `cont` gets no gradient.
    """

    def _shapes(self, input_shape):
        if not (isinstance(input_shape, (list, tuple)) and len(input_shape) == 3
                and all(isinstance(s, (list, tuple)) for s in input_shape)):
            raise ValueError("CaffeLSTMUnit takes three inputs [c_prev, x, cont], got "
                             f"input_shape={input_shape!r}.")
        c_shape, x_shape, cont_shape = (tuple(s) for s in input_shape)
        if len(c_shape) != 3 or len(x_shape) != 3 or len(cont_shape) != 2:
            raise ValueError(f"CaffeLSTMUnit: c_prev and x must be 1 x N x D and 1 x N x 4D, "
                             f"cont 1 x N; got {c_shape}, {x_shape}, {cont_shape}.")
        if None not in (c_shape[2], x_shape[2]) and x_shape[2] != 4 * c_shape[2]:
            raise ValueError(f"CaffeLSTMUnit: x must have 4 x {c_shape[2]} gate inputs, got "
                             f"{x_shape[2]}.")
        return c_shape

    def build(self, input_shape):
        if self._shapes(input_shape)[2] is None:
            raise ValueError("CaffeLSTMUnit needs the hidden size D (the last axis of c_prev).")

    def call(self, inputs):
        c_prev, x, cont = inputs
        cont = ops.stop_gradient(ops.expand_dims(ops.cast(cont, x.dtype), -1))
        c, h = lstm_cell(c_prev, x, cont, c_prev.shape[-1])
        return [c, h]

    def compute_output_shape(self, input_shape):
        c_shape = self._shapes(input_shape)
        return [c_shape, c_shape]
