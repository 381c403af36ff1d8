"""XM2A: multi-scale multi-head attention with cross-talk (dissertation ch. 7, eq. 7.4-7.11; docs/methods/xm2a.md).

``XM2A()(x)`` with ``x`` of shape ``(B, T, V)`` returns ``(B, T, output_dim or V)``:

1. multi-scale patterns (eq. 7.4): head ``h`` (1-based) computes ``S_h = Conv1D(key_dim, len_h,
   padding="same")(x)``; ``len_h`` by ``variant`` (Table 7.1): ``xm2a`` h, ``msmsa`` 2h-1, ``exp``
   2^(h-1). The pool variants average-pool ``x`` first (size h for ``pool``, 2^(h-1) for ``exp_pool``,
   stride 1, ``same``) and then apply a kernel-1 convolution. ``S_h`` is also the head's value;
2. descriptors (eq. 7.5-7.6): ``q_h[c] = mean_t S_h[t, c]`` (key_dim,) and ``k_h[t] = mean_c S_h[t, c]``
   (T,); ``descriptor="max"`` uses the maximum instead of the mean;
3. talk (eq. 7.7-7.9): ``M_{h1,h2}[t, c] = softmax_t(k_{h2}[t] * q_{h1}[c])`` with the softmax over
   time; ``talk="scale"`` (cross-talk) pairs every h1 with every h2, ``talk="self"`` only h2 = h1;
4. sum & norm (eq. 7.10): ``Y_h1 = norm(sum_{h2} M_{h1,h2} * S_h1)``;
5. output (eq. 7.11): ``Dense(output_dim or V)(concat_h Y_h)``.

The heads' scales, kernels and receptive field: :mod:`keras_attention.layers.multi_scale_heads`.

Readings where the dissertation is silent:
- every head's convolution has a bias (Keras' Conv1D default); kernels are Glorot-uniform, biases zero
  (docs/methods/xm2a.md#xm2a-heads);
- ``norm`` acts per head: ``"layer"`` normalises each head's ``key_dim`` features at every time step
  (epsilon 1e-3, Keras' default) with its own gamma/beta per head; ``"batch"`` is a BatchNormalization
  over the ``num_heads * key_dim`` concatenated channels, which is the same thing as one per head
  (docs/methods/xm2a.md#xm2a-norm);
- Keras' ``same`` convention: a kernel (or pool) of length L pads ``(L-1)//2`` steps before and the
  rest after, so even lengths reach one step further into the future; average pooling averages only
  the steps inside the series (TensorFlow's ``same`` average pool; docs/methods/xm2a.md#xm2a-heads);
- no masking of padded time steps: the softmax runs over the whole (possibly variable) length T
  (docs/methods/xm2a.md#xm2a-talk).

Fused path (``implementation="fast"``, the default): heads are packed into few convolutions, each with
``len(group) * key_dim`` filters whose kernel stacks the group's per-head kernels zero-padded to the
group's longest length at the offset that reproduces each head's own ``same`` padding (a group grows
while padding at most doubles its multiply-adds: one convolution for ``xm2a``/``msmsa``, three for
``exp`` with 8 heads). The pool variants take every head's pool from one float32 cumulative sum over
time (window sums by static slices, divided by the in-series count), then one batched kernel-1
projection. Talk is batched over heads, with the softmax over time on the last axis of a
(B, H1, [H2,] C, T) layout (TensorFlow's native softmax axis; a softmax over axis 1 transposes the whole
logits tensor); the cross-talk form depends on the execution mode (``execution_mode()``): one
(B, H1, H2, C, T) softmax summed over h2 eagerly and under XLA, one (B, H1, C, T) softmax per partner
h2 in a ``tf.function`` graph (measured fastest at T = 25, 100, 256; see ``XM2A._talk_mask``).
``implementation="reference"`` is the straightforward per-head path (``ops.conv`` / ``same_average_pool_1d``
per head, one softmax per head pair) kept as a reference; both use the same weights and agree up to float
rounding.
"""

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_attention.kernels import IMPLEMENTATIONS
from keras_attention.kernels.convolution import conv
from keras_attention.kernels.probes import execution_mode
from keras_attention.layers.multi_scale_heads import (  # noqa: F401  (the heads; also importable from here)
    POOL_VARIANTS,
    VARIANTS,
    check_sequence_shape,
    head_scales,
    kernel_lengths,
    pack_heads,
    receptive_field,
    same_average_pool_1d,
    same_offsets,
)
from keras_attention.utils.checks import (
    check_choice,
    check_positive_int,
)
from keras_attention.utils.layer_arguments import WeightArguments, implementation_argument
from keras_attention.utils.layer_inputs import layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor


@keras.saving.register_keras_serializable(package="keras_attention")
class XM2A(WeightArguments, keras.layers.Layer):
    """Multi-scale multi-head attention with cross-talk on ``(B, T, V)`` sequences (dissertation ch. 7).

    Head ``h`` finds patterns at its own temporal scale, ``S_h = Conv1D(key_dim, len_h, padding="same")(x)``
    (eq. 7.4; the pool variants average-pool ``x`` first and apply a kernel-1 convolution); ``S_h`` is also the
    head's value. Its descriptors are ``q_h[c] = mean_t S_h[t, c]`` and ``k_h[t] = mean_c S_h[t, c]``
    (eq. 7.5-7.6). Every pair of heads talks (eq. 7.8; ``talk="self"``: each head only to itself, eq. 7.7)
    through the mask ``M_{h1,h2}[t, c] = softmax_t(k_{h2}[t] * q_{h1}[c])``, the masked values are summed
    over the partners and normalised, ``Y_h1 = norm(sum_{h2} M_{h1,h2} * S_h1)`` (eq. 7.9-7.10), and the
    heads are concatenated and projected, ``Dense(output_dim or V)(concat_h Y_h)`` (eq. 7.11). The readings
    where the dissertation is silent are in docs/methods/xm2a.md#xm2a-heads to
    docs/methods/xm2a.md#xm2a-output and in the module docstring.

    Args:
        num_heads: number of heads H; head h works at the scale set by ``variant``.
        key_dim: filters per head (d_k).
        variant: ``"xm2a"`` (kernel h), ``"msmsa"`` (2h-1), ``"exp"`` (2^(h-1)), ``"pool"`` (pool h,
            kernel 1) or ``"exp_pool"`` (pool 2^(h-1), kernel 1); Table 7.1.
        talk: ``"scale"`` (cross-talk, eq. 7.8) or ``"self"`` (eq. 7.7).
        descriptor: ``"mean"`` (eq. 7.5-7.6) or ``"max"``.
        norm: ``"layer"`` or ``"batch"`` (eq. 7.10).
        output_dim: units of the output projection W^O (eq. 7.11); ``None`` keeps V.
        implementation: ``"fast"`` (default: heads fused, module docstring) or ``"reference"`` (the
            straightforward per-head path). Configurations of 0.1.x saying ``fused=True / False`` load as
            ``"fast"`` / ``"reference"`` (with a ``DeprecationWarning``).
        epsilon: the layer (or batch) norm's epsilon, > 0.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for every head's
            convolution and the output projection; ``WeightArguments``.
        **kwargs: the arguments of ``keras.layers.Layer`` (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``(B, T, V)`` sequences with a known ``V``; ``T`` may vary from call to call.
        training: the mode of ``norm="batch"``'s BatchNormalization (batch statistics when True).

    Returns:
        ``(B, T, output_dim or V)``.

    Raises:
        ValueError: when constructed, for an argument outside its choices or range; when built or called, for
            inputs that are not one rank-3 tensor with a known ``V``.
        TypeError: when called on complex or string tensors.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import XM2A
        >>> series = np.random.rand(2, 30, 3).astype("float32")  # (B, T, V)
        >>> tuple(XM2A(num_heads=4, key_dim=8)(series).shape)  # output_dim defaults to V
        (2, 30, 3)
        >>> layer = XM2A(num_heads=3, key_dim=4, variant="exp_pool", talk="self", output_dim=16)
        >>> tuple(layer(series).shape), layer.scales
        ((2, 30, 16), [1, 2, 4])
    """

    def __init__(
        self,
        num_heads: int = 8,
        key_dim: int = 64,
        variant: str = "xm2a",
        talk: str = "scale",
        descriptor: str = "mean",
        norm: str = "layer",
        output_dim: int | None = None,
        implementation: str = "fast",
        epsilon: float = 1e-3,
        **kwargs: Any,
    ) -> None:
        implementation = implementation_argument(self, implementation, kwargs, choices=IMPLEMENTATIONS,
                                                 fused_forms={True: "fast", False: "reference"})
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.key_dim = check_positive_int("key_dim", key_dim)
        self.variant = check_choice("variant", variant, set(VARIANTS))
        self.talk = check_choice("talk", talk, {"scale", "self"})
        self.descriptor = check_choice("descriptor", descriptor, {"mean", "max"})
        self.norm = check_choice("norm", norm, {"layer", "batch"})
        self.output_dim = None if output_dim is None else check_positive_int("output_dim", output_dim)
        self.implementation = implementation
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or epsilon <= 0:
            raise ValueError(f"Argument `epsilon` must be a positive number; got {epsilon!r}.")
        self.epsilon = float(epsilon)
        self.scales = head_scales(self.variant, self.num_heads)
        self.lengths = kernel_lengths(self.variant, self.num_heads)

    # ------------------------------------------------------------------ build
    def build(self, input_shape: ShapeLike) -> None:
        shape = check_sequence_shape(type(self).__name__, input_shape)
        variates = int(shape[-1])
        self._variates = variates
        self.head_kernels = []
        self.head_biases = []
        for h, length in enumerate(self.lengths, start=1):
            kernel, bias = self.add_kernel_and_bias(f"head{h}", (length, variates, self.key_dim))
            self.head_kernels.append(kernel)
            self.head_biases.append(bias)
        width = self.num_heads * self.key_dim
        if self.norm == "layer":
            self.gamma = self.add_weight(name="norm_gamma", shape=(self.num_heads, self.key_dim), initializer="ones")
            self.beta = self.add_weight(name="norm_beta", shape=(self.num_heads, self.key_dim), initializer="zeros")
        else:
            self.batch_norm = keras.layers.BatchNormalization(axis=-1, epsilon=self.epsilon, name="norm")
            self.batch_norm.build((shape[0], shape[1], width))
        units = self.output_dim or variates
        self.output_kernel, self.output_bias = self.add_kernel_and_bias("output", (width, units))
        # fused path: heads packed into convolution groups (conv variants), window offsets (pool variants)
        self._groups = pack_heads(self.lengths)
        self._windows = [same_offsets(size) for size in self.scales]

    # ------------------------------------------------------------------ multi-scale patterns (eq. 7.4)
    def _patterns_fused(self, x: Tensor) -> Tensor:
        """``S`` of every head at once: (B, T, H, key_dim)."""
        batch, steps = ops.shape(x)[0], ops.shape(x)[1]
        bias = ops.stack([ops.cast(b, x.dtype) for b in self.head_biases], axis=0)  # (H, C)
        if self.variant in POOL_VARIANTS:
            pooled = ops.cast(self._pool_all(x), x.dtype)  # (B, T, H, V)
            kernels = ops.stack([ops.cast(k, x.dtype)[0] for k in self.head_kernels], axis=0)  # (H, V, C)
            return ops.einsum("bthv,hvc->bthc", pooled, kernels) + bias
        outputs = []
        for group in self._groups:
            longest = max(self.lengths[h] for h in group)
            before = same_offsets(longest)[0]
            padded = []
            for h in group:
                length = self.lengths[h]
                start = before - same_offsets(length)[0]
                kernel = ops.cast(self.head_kernels[h], x.dtype)
                padded.append(ops.pad(kernel, [[start, longest - length - start], [0, 0], [0, 0]]))
            kernel = padded[0] if len(padded) == 1 else ops.concatenate(padded, axis=-1)
            outputs.append(conv(x, kernel, strides=1, padding="same"))  # (B, T, len(group) * C)
        s = outputs[0] if len(outputs) == 1 else ops.concatenate(outputs, axis=-1)
        return ops.reshape(s, (batch, steps, self.num_heads, self.key_dim)) + bias

    def _pool_all(self, x: Tensor) -> Tensor:
        """Every head's ``same`` average pool of ``x`` from one float32 cumulative sum: (B, T, H, V)."""
        steps = ops.shape(x)[1]
        x32 = ops.cast(x, "float32")
        first = ops.zeros_like(x32[:, :1])
        prefix = ops.concatenate([first, ops.cumsum(x32, axis=1)], axis=1)  # prefix[i] = sum_{s<i} x[s]
        most_before = max(b for b, _ in self._windows)
        most_after = max(a for _, a in self._windows)
        # prefix clipped at both ends: zeros before the series, the total after it
        parts = [ops.repeat(first, most_before, axis=1)] if most_before else []
        parts.append(prefix)
        if most_after:
            parts.append(ops.repeat(prefix[:, -1:], most_after, axis=1))
        prefix = ops.concatenate(parts, axis=1) if len(parts) > 1 else prefix
        t = ops.cast(ops.arange(steps), "float32")
        total = ops.cast(steps, "float32")
        pooled = []
        for before, after in self._windows:
            upper = prefix[:, most_before + after + 1 : most_before + after + 1 + steps]
            lower = prefix[:, most_before - before : most_before - before + steps]
            count = ops.minimum(total, t + after + 1) - ops.maximum(0.0, t - before)
            pooled.append((upper - lower) / count[None, :, None])
        return ops.stack(pooled, axis=2)

    def _patterns_per_head(self, x: Tensor) -> list[Tensor]:
        """``S_h`` of each head, one at a time (the reference): H tensors (B, T, key_dim)."""
        heads = []
        for kernel, bias, size in zip(self.head_kernels, self.head_biases, self.scales):
            source = x
            if self.variant in POOL_VARIANTS:
                source = same_average_pool_1d(x, size)
            heads.append(conv(source, kernel, strides=1, padding="same") + bias)
        return heads

    # ------------------------------------------------------------------ descriptors (eq. 7.5-7.6)
    def _reduce(self, s: Tensor, axis: int) -> Tensor:
        """The descriptor of ``s`` along ``axis``: its mean (eq. 7.5-7.6) or, ``descriptor="max"``, its maximum."""
        return ops.mean(s, axis=axis) if self.descriptor == "mean" else ops.max(s, axis=axis)

    # ------------------------------------------------------------------ talk (eq. 7.7-7.9)
    def _talk_mask(self, q: Tensor, k: Tensor) -> Tensor:
        """``sum_{h2} M_{h1,h2}`` for every head at once: q (B, H, C), k (B, T, H) -> (B, T, H, C).

        The softmax runs over time on the last axis (TensorFlow's native softmax axis; any other axis
        costs two transposes of the whole logits tensor in each direction), in layout (B, H1, C, T); only
        the (B, H, C, T) mask is transposed back. Cross-talk in a ``tf.function`` graph: one (B, H1, C, T)
        softmax per partner h2, summed (the (B, H1, H2, C, T) tensor and its reduction over a middle axis
        cost more than H small softmaxes, at T = 25 to 256); eagerly (fewer dispatched ops) and under XLA
        (which fuses the one big softmax and its sum, but recomputes shared producers in H softmaxes):
        one (B, H1, H2, C, T) softmax summed over h2.
        """
        kt = ops.transpose(k, (0, 2, 1))  # (B, H2, T)
        if self.talk == "self":
            mask = ops.softmax(q[..., None] * kt[:, :, None, :], axis=-1)  # (B, H, C, T)
        elif execution_mode() != "graph":
            logits = q[:, :, None, :, None] * kt[:, None, :, None, :]  # (B, H1, H2, C, T)
            mask = ops.sum(ops.softmax(logits, axis=-1), axis=2)
        else:
            q = q[..., None]  # (B, H1, C, 1)
            mask = ops.softmax(q * kt[:, 0, None, None, :], axis=-1)
            for h2 in range(1, self.num_heads):
                mask = mask + ops.softmax(q * kt[:, h2, None, None, :], axis=-1)
        return ops.transpose(mask, (0, 3, 1, 2))

    # ------------------------------------------------------------------ norm (eq. 7.10)
    def _layer_norm(self, y: Tensor) -> Tensor:
        """Per-head layer norm over key_dim; y is (B, T, H, key_dim). Statistics in float32."""
        y32 = ops.cast(y, "float32")
        mean = ops.mean(y32, axis=-1, keepdims=True)
        var = ops.var(y32, axis=-1, keepdims=True)
        normed = (y32 - mean) * ops.rsqrt(var + self.epsilon)
        normed = normed * ops.cast(self.gamma, "float32") + ops.cast(self.beta, "float32")
        return ops.cast(normed, y.dtype)

    @layer_call
    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        x = inputs
        if self.implementation == "fast":
            s = self._patterns_fused(x)  # (B, T, H, C)
            q = self._reduce(s, axis=1)  # (B, H, C)
            k = self._reduce(s, axis=-1)  # (B, T, H)
            y = s * self._talk_mask(q, k)
        else:
            heads = self._patterns_per_head(x)  # H x (B, T, C)
            qs = [self._reduce(s, axis=1) for s in heads]  # (B, C)
            ks = [self._reduce(s, axis=-1) for s in heads]  # (B, T)
            outs = []
            for h1, s in enumerate(heads):
                partners = range(self.num_heads) if self.talk == "scale" else [h1]
                total = 0
                for h2 in partners:
                    m = ops.softmax(ks[h2][:, :, None] * qs[h1][:, None, :], axis=1)
                    total = total + m * s
                outs.append(total)
            y = ops.stack(outs, axis=2)  # (B, T, H, C)
        shape = ops.shape(y)
        if self.norm == "layer":
            y = self._layer_norm(y)
            y = ops.reshape(y, (shape[0], shape[1], self.num_heads * self.key_dim))
        else:
            y = ops.reshape(y, (shape[0], shape[1], self.num_heads * self.key_dim))
            y = self.batch_norm(y, training=training)
        return ops.matmul(y, self.output_kernel) + self.output_bias

    def compute_output_shape(self, input_shape: ShapeLike) -> Shape:
        shape = check_sequence_shape(type(self).__name__, input_shape)
        return (shape[0], shape[1], self.output_dim or shape[2])


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): the heads ``sum_h T len_h V C``, the talk ``2 P T C`` (``P`` head
        pairs: ``H^2`` for cross-talk, ``H`` for self-talk; the logits and the mask times the patterns), the output ``T
        (H C) units``."""
        steps, variates = int(input_shape[1]), int(input_shape[-1])
        heads = sum(steps * length * variates * self.key_dim for length in self.lengths)
        pairs = self.num_heads**2 if self.talk == "scale" else self.num_heads
        units = self.output_dim or variates
        return heads + 2 * pairs * steps * self.key_dim + steps * self.num_heads * self.key_dim * units

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "variant": self.variant,
                "talk": self.talk,
                "descriptor": self.descriptor,
                "norm": self.norm,
                "output_dim": self.output_dim,
                "implementation": self.implementation,
                "epsilon": self.epsilon,
            }
        )
        return config
