"""Non-local block, embedded Gaussian version (Wang et al., CVPR 2018, eq. 1-3 and 6).

Documented in docs/methods/spanet.md#non-local, as the competitor of SPANet (docs/methods/spanet.md).
``NonLocalBlock()(x)`` on ``x`` of shape ``(B, H, W, C)`` (or a sequence ``(B, T, C)``; the ``N`` positions are
flattened, everything else is the same):

1. embeddings: ``theta = theta(x)``, ``phi = phi(x)``, ``g = g(x)``, three 1x1 convolutions (with bias)
   from ``C`` to ``inter = inter_channels or max(1, C // 2)`` channels;
2. embedded Gaussian affinity (eq. 3 with the normalisation of eq. 2): ``f = softmax(theta phi^T)``
   over the key positions, shape ``(B, N, N')``; no ``1 / sqrt(d)`` scaling, as in the paper;
3. ``y = f g`` (eq. 1), shape ``(B, N, inter)``;
4. ``z = BN(W_z y) + x`` (eq. 6) with ``W_z`` a 1x1 convolution (with bias) from ``inter`` to ``C``.

``sub_sample=True`` is the paper's cheaper variant: ``phi`` and ``g`` are max-pooled by 2 along every
spatial axis (``valid`` padding, so ``N' = prod(floor(S / 2))``) after their convolutions; the
queries ``theta`` and the output keep the full resolution.

Reading of what the paper leaves open (docs/methods/spanet.md#non-local):
- the BatchNorm after ``W_z`` has its scale gamma (and beta) initialised to ZERO, the paper's practice
  ("we initialise the BN parameters to zero so the entire block is an identity mapping"): a freshly
  built block returns ``x`` exactly. Momentum 0.9 and epsilon 1e-5 are PyTorch's defaults;
- under mixed precision, ``theta phi^T`` is computed in the compute dtype and the softmax in float32
  (as Keras' ``Softmax`` layer does), then cast back.

One implementation, no separate fast path: the block's cost is its own arithmetic, ``theta phi^T`` and
``f g`` (``2 N N' inter`` multiply-adds, about the 3x3 convolution's at a VGG bottleneck) and the softmax
passes over the ``(B, N, N')`` affinity. The one exact reordering that saves passes, the three embeddings
as one ``C -> 3 * inter`` product, was measured slower on the CPU (x8.2 vs x7.1 of the base step in a
``tf.function``, x8.7 vs x8.7 under XLA; the slices of the fused product are copies), and folding ``W_z``
into ``g`` would multiply ``f g``'s arithmetic by ``C / inter``.
"""

import math
from collections.abc import Sequence
from typing import Any, cast

import keras
from keras import ops

from keras_attention.utils.checks import check_bool, check_feature_shape, check_positive_int, shape_str
from keras_attention.utils.layer_arguments import DataFormat, WeightArguments, batch_normalization
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor


def _check_input(layer_name: str, input_shape: ShapeLike, sub_sample: bool) -> Shape:
    shape = check_feature_shape(layer_name, input_shape)
    if sub_sample and any(d is not None and d < 2 for d in shape[1:-1]):
        raise ValueError(
            f"{layer_name}(sub_sample=True) max-pools phi and g by 2 along every spatial axis, which needs "
            f"spatial sizes >= 2; got input shape {shape_str(shape)}."
        )
    return shape


@keras.saving.register_keras_serializable(package="keras_attention")
class NonLocalBlock(DataFormat, WeightArguments, keras.layers.Layer):
    """Embedded-Gaussian non-local block for ``(B, H, W, C)`` images or ``(B, T, C)`` sequences.

    Over the ``N`` flattened positions: the embeddings ``theta``, ``phi``, ``g`` (1x1 convolutions to ``inter``
    channels), the affinity ``f = softmax(theta phi^T)`` over the key positions (non-local paper eq. 3 with the
    normalisation of eq. 2), ``y = f g`` (eq. 1) and ``z = BN(W_z y) + x`` (eq. 6). The BatchNorm starts at zero,
    so a new block is the identity; the readings are in docs/methods/spanet.md#non-local.

    Args:
        inter_channels: channels of the embeddings; default ``max(1, C // 2)``.
        sub_sample: max-pool ``phi`` and ``g`` by 2 along every spatial axis.
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``) images, None
            for ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs (attention maps included) back at its exit, the same
            values as channels-last; sequences are always ``(B, T, C)``.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for the four 1x1
            convolutions ``theta``, ``phi``, ``g`` and ``W_z``; ``WeightArguments``.
        **kwargs: the base layer's keyword arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``(B, T, C)`` sequences or ``(B, H, W, C)`` images (``(B, C, H, W)`` with
            ``data_format="channels_first"``); the channel count must be known.
        training: passed to the BatchNorm after ``W_z`` (batch statistics when True).

    Returns:
        ``z = x + BN(W_z (softmax(theta phi^T) g))``, of the input's shape.

    Raises:
        ValueError: ``inter_channels`` is not a positive integer (or None), ``sub_sample`` is not a bool, or
            ``data_format`` is not one of the values above (when the layer is made); the input is not of rank 3
            or 4, has an unknown channel count, or with ``sub_sample=True`` a spatial size below 2 (when it is
            built).

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import NonLocalBlock
        >>> x = np.random.rand(2, 6, 6, 8).astype("float32")
        >>> block = NonLocalBlock(sub_sample=True)
        >>> tuple(block(x).shape)
        (2, 6, 6, 8)
        >>> bool(np.allclose(block(x), x))  # the BatchNorm starts at zero: a new block is the identity
        True
    """

    def __init__(self, inter_channels: int | None = None, sub_sample: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if inter_channels is not None:
            check_positive_int("inter_channels", inter_channels)
        self.inter_channels = inter_channels
        self.sub_sample = check_bool("sub_sample", sub_sample)
        self.norm = batch_normalization("norm", dtype=self.dtype_policy, gamma_initializer="zeros",
                                        beta_initializer="zeros")

    @channels_last_shapes
    def build(self, input_shape: ShapeLike) -> None:
        shape = _check_input(type(self).__name__, input_shape, self.sub_sample)
        channels = cast(int, shape[-1])  # known: check_feature_shape refuses None
        inter = self.inter_channels or max(1, channels // 2)
        self._inter = inter
        self._spatial_rank = len(shape) - 2

        self.theta_kernel, self.theta_bias = self.add_kernel_and_bias("theta", (channels, inter))
        self.phi_kernel, self.phi_bias = self.add_kernel_and_bias("phi", (channels, inter))
        self.g_kernel, self.g_bias = self.add_kernel_and_bias("g", (channels, inter))
        self.w_kernel, self.w_bias = self.add_kernel_and_bias("w", (inter, channels))
        self.norm.build(shape)

    def _keys(self, x: Tensor, kernel: Tensor, bias: Tensor, batch: Tensor | int) -> Tensor:
        e = ops.matmul(x, kernel) + bias
        if self.sub_sample:
            pool = (2,) * self._spatial_rank
            e = ops.max_pool(e, pool_size=pool, strides=pool, padding="valid")
        return ops.reshape(e, (batch, -1, self._inter))

    @layer_call
    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        x = inputs
        batch = ops.shape(x)[0]
        theta = ops.reshape(ops.matmul(x, self.theta_kernel) + self.theta_bias, (batch, -1, self._inter))
        phi = self._keys(x, self.phi_kernel, self.phi_bias, batch)
        g = self._keys(x, self.g_kernel, self.g_bias, batch)
        logits = ops.matmul(theta, ops.transpose(phi, (0, 2, 1)))  # (B, N, N')
        f = ops.cast(ops.softmax(ops.cast(logits, "float32"), axis=-1), g.dtype)
        y = ops.matmul(f, g)  # (B, N, inter)
        y = ops.reshape(y, tuple(ops.shape(x)[:-1]) + (self._inter,))
        w = ops.matmul(y, self.w_kernel) + self.w_bias
        return self.norm(w, training=training) + x

    @channels_last_shapes
    def compute_output_shape(self, input_shape: ShapeLike) -> Shape:
        return _check_input(type(self).__name__, input_shape, self.sub_sample)


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): ``3 N C d + 2 N N' d + N d C`` (theta, phi, g; affinity and
        aggregation over the ``N'`` keys; ``W``)."""
        spatial = input_shape[1:-1]
        n, c, d = math.prod(spatial), int(input_shape[-1]), self._inter
        keys = math.prod(s // 2 for s in spatial) if self.sub_sample else n
        return 3 * n * c * d + 2 * n * keys * d + n * d * c

    def attention_map_entries(self, input_shape: Sequence[int]) -> int:
        """Entries per sample of the affinity ``f`` one call keeps: ``N x N'``."""
        spatial = input_shape[1:-1]
        n = math.prod(spatial)
        return n * (math.prod(s // 2 for s in spatial) if self.sub_sample else n)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"inter_channels": self.inter_channels, "sub_sample": self.sub_sample})
        return config
