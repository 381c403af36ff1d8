"""MSMSA: multi-scale multi-head self-attention, the XM2A competitor (dissertation ch. 7, eq. 7.1-7.3;
docs/methods/xm2a.md#xm2a-msmsa).

``MultiScaleSelfAttention()(x)`` with ``x`` of shape ``(B, T, V)`` returns ``(B, T, output_dim or V)``.
Head h (1-based) replaces the linear maps of eq. 7.1-7.2 by convolutions of length ``2h - 1`` (Table 7.1,
"MSMSA"): ``Q_h, K_h, V_h = Conv1D(key_dim, 2h-1, padding="same")(x)`` (three separate kernels), then
scaled dot-product attention over time, ``head_h = softmax_s(Q_h K_h^T / sqrt(key_dim)) V_h``, and
eq. 7.3: ``Dense(output_dim or V)(concat_h head_h)``.

Reading where the dissertation is silent (docs/methods/xm2a.md#xm2a-msmsa): every convolution has a bias
(Keras' default), Glorot-uniform kernels and zero biases; no dropout and no masking.

Two exact forms (``implementation``), tested equal in outputs and gradients to float32 round-off:
- ``"reference"``: the straightforward form, ``3 H`` convolutions and ``H`` attentions, one per head,
  concatenated; ``"fast"`` (the default) is this form too, the faster one measured (below);
- ``"fused"``: the three per-head kernels zero-padded to the longest length ``2H - 1`` (odd lengths, so
  the centres line up and ``same`` padding is unchanged) and stacked into one convolution with
  ``3 * num_heads * key_dim`` filters; all heads attend in one batched contraction.
The padding multiplies the projection arithmetic by ``(2H - 1) / H`` (x1.75 at H = 4, x1.9 at H = 8), which
one convolution call does not repay on a CPU: at T = 256, 4 heads of 16, one training step measured
54 ms per head vs 77 ms fused in a ``tf.function`` and 69 vs 80 ms under XLA
(``benchmarks/results/layer_overhead.md``, sequence shape), hence ``"fast"`` runs the per-head form.
Configurations of 0.1.x saying ``fused=True / False`` load as ``"fused"`` / ``"reference"``.
"""

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

from keras_attention.kernels import IMPLEMENTATIONS
from keras_attention.kernels.convolution import conv
from keras_attention.layers.multi_scale_heads import check_sequence_shape
from keras_attention.utils.checks import check_positive_int
from keras_attention.utils.layer_arguments import WeightArguments, implementation_argument
from keras_attention.utils.layer_inputs import layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor


@keras.saving.register_keras_serializable(package="keras_attention")
class MultiScaleSelfAttention(WeightArguments, keras.layers.Layer):
    """Multi-scale multi-head self-attention (MSMSA) on ``(B, T, V)`` sequences, XM2A's competitor.

    Dissertation ch. 7, eq. 7.1-7.3 and Table 7.1; docs/methods/xm2a.md#xm2a-msmsa. Head ``h`` (1-based)
    replaces the linear maps of eq. 7.1-7.2 by three convolutions of length ``2h - 1``,
    ``Q_h, K_h, V_h = Conv1D(key_dim, 2h - 1, padding="same")(x)``, and attends over time,
    ``head_h = softmax_s(Q_h K_h^T / sqrt(key_dim)) V_h`` (eq. 7.1-7.2); the heads are concatenated and
    projected, ``Dense(output_dim or V)(concat_h head_h)`` (eq. 7.3). Every convolution has a bias; no dropout,
    no masking.

    Args:
        num_heads: number of heads H; head h uses convolutions of length 2h-1.
        key_dim: filters per head for each of Q, K and V.
        output_dim: units of the output projection (eq. 7.3); ``None`` keeps V.
        implementation: ``"fast"`` (default) or ``"reference"``: one head at a time; ``"fused"``: all heads in one
            zero-padded convolution and one contraction (module docstring). Configurations of 0.1.x saying
            ``fused=True / False`` load as ``"fused"`` / ``"reference"`` (with a ``DeprecationWarning``).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for every head's three
            convolutions and the output projection; ``WeightArguments``.
        **kwargs: the arguments of ``keras.layers.Layer`` (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``(B, T, V)`` sequences with a known ``V``.

    Returns:
        ``(B, T, output_dim or V)``.

    Raises:
        ValueError: when constructed, for an argument outside its choices or range; when built or called, for
            inputs that are not one rank-3 tensor with a known ``V``.
        TypeError: when called on complex or string tensors.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import MSMSA
        >>> series = np.random.rand(2, 30, 3).astype("float32")  # (B, T, V)
        >>> layer = MSMSA(num_heads=2, key_dim=4)
        >>> tuple(layer(series).shape), layer.lengths  # heads of lengths 1 and 3
        ((2, 30, 3), [1, 3])
        >>> tuple(MSMSA(num_heads=3, key_dim=4, output_dim=8, implementation="fused")(series).shape)
        (2, 30, 8)
    """

    IMPLEMENTATIONS = IMPLEMENTATIONS + ("fused",)

    def __init__(
        self,
        num_heads: int = 8,
        key_dim: int = 64,
        output_dim: int | None = None,
        implementation: str = "fast",
        **kwargs: Any,
    ) -> None:
        implementation = implementation_argument(self, implementation, kwargs, choices=self.IMPLEMENTATIONS,
                                                 fused_forms={True: "fused", False: "reference"})
        super().__init__(**kwargs)
        self.num_heads = check_positive_int("num_heads", num_heads)
        self.key_dim = check_positive_int("key_dim", key_dim)
        self.output_dim = None if output_dim is None else check_positive_int("output_dim", output_dim)
        self.implementation = implementation
        self.lengths = [2 * h - 1 for h in range(1, self.num_heads + 1)]

    def build(self, input_shape: ShapeLike) -> None:
        shape = check_sequence_shape(type(self).__name__, input_shape)
        variates = int(shape[-1])
        self.kernels: dict[str, list[Tensor]] = {"query": [], "key": [], "value": []}
        self.biases: dict[str, list[Tensor]] = {"query": [], "key": [], "value": []}
        for h, length in enumerate(self.lengths, start=1):
            for role in ("query", "key", "value"):
                kernel, bias = self.add_kernel_and_bias(f"head{h}_{role}", (length, variates, self.key_dim))
                self.kernels[role].append(kernel)
                self.biases[role].append(bias)
        units = self.output_dim or variates
        width = self.num_heads * self.key_dim
        self.output_kernel, self.output_bias = self.add_kernel_and_bias("output", (width, units))

    def _attend(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        """Scaled dot-product attention over time (eq. 7.1-7.2) for ``(B, T, H, C)`` heads."""
        scale = ops.cast(1.0 / np.sqrt(self.key_dim), q.dtype)
        weights = ops.softmax(ops.einsum("bthc,bshc->bhts", q, k) * scale, axis=-1)
        return ops.einsum("bhts,bshc->bthc", weights, v)

    @layer_call
    def call(self, inputs: Tensor) -> Tensor:
        x = inputs
        if self.implementation != "fused":
            return self._call_per_head(x)
        longest = self.lengths[-1]
        kernels, biases = [], []
        for role in ("query", "key", "value"):
            for kernel, bias, length in zip(self.kernels[role], self.biases[role], self.lengths):
                pad = (longest - length) // 2
                kernels.append(ops.pad(ops.cast(kernel, x.dtype), [[pad, pad], [0, 0], [0, 0]]))
                biases.append(ops.cast(bias, x.dtype))
        kernel = ops.concatenate(kernels, axis=-1)  # (2H-1, V, 3 * H * key_dim), roles outermost
        bias = ops.concatenate(biases, axis=0)
        qkv = conv(x, kernel, strides=1, padding="same") + bias
        shape = ops.shape(qkv)
        qkv = ops.reshape(qkv, (shape[0], shape[1], 3, self.num_heads, self.key_dim))
        heads = self._attend(qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2])  # (B, T, H, C)
        heads = ops.reshape(heads, (shape[0], shape[1], self.num_heads * self.key_dim))
        return ops.matmul(heads, self.output_kernel) + self.output_bias

    def _call_per_head(self, x: Tensor) -> Tensor:
        """The reference: head h's three convolutions of length ``2h - 1`` and its attention, one at a time."""
        heads = []
        for h in range(self.num_heads):
            q, k, v = (
                conv(x, ops.cast(self.kernels[role][h], x.dtype), strides=1, padding="same")
                + ops.cast(self.biases[role][h], x.dtype)
                for role in ("query", "key", "value")
            )
            heads.append(self._attend(*(ops.expand_dims(t, 2) for t in (q, k, v)))[:, :, 0])
        return ops.matmul(ops.concatenate(heads, axis=-1), self.output_kernel) + self.output_bias

    def compute_output_shape(self, input_shape: ShapeLike) -> Shape:
        shape = check_sequence_shape(type(self).__name__, input_shape)
        return (shape[0], shape[1], self.output_dim or shape[2])


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): per head ``3 T (2h - 1) V d`` (Q, K, V) ``+ 2 T^2 d`` (the affinity
        and the weighted sum), and the output ``T (H d) units``."""
        steps, variates = int(input_shape[1]), int(input_shape[-1])
        heads = sum(3 * steps * length * variates * self.key_dim + 2 * steps * steps * self.key_dim
                    for length in self.lengths)
        return heads + steps * self.num_heads * self.key_dim * (self.output_dim or variates)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "output_dim": self.output_dim,
                "implementation": self.implementation,
            }
        )
        return config


MSMSA = MultiScaleSelfAttention
