"""CBAM: convolutional block attention module (Woo et al., ECCV 2018, eq. 1-3; docs/methods/cbam_bam_se.md#cbam).

``CBAM()(x)`` on ``x`` of shape ``(B, T, C)`` (sequences) or ``(B, H, W, C)`` (images), channel gate
first, then spatial gate (eq. 1, the sequential arrangement the paper and its official code use):

1. channel gate (eq. 2): one shared MLP ``C -> max(1, C // reduction) -> C`` (ReLU in between, bias
   on both layers) applied to the spatial average and to the spatial max;
   ``M_c = sigmoid(MLP(avg) + MLP(max))``, ``x' = x * M_c``;
2. spatial gate (eq. 3): ``[mean_c(x'), max_c(x')]`` concatenated along channels (2 channels) ->
   one rank-matched convolution to 1 filter, kernel ``spatial_kernel_size`` (7, or 7 steps for
   sequences), padding ``same``, no bias -> BatchNorm -> sigmoid = ``M_s`` of shape ``(B, *S, 1)``;
   ``out = x' * M_s``.

``return_attention=True`` returns ``(out, M_s)``.

A competitor module. Reading of what the paper leaves open (docs/methods/cbam_bam_se.md#cbam-readings):
- the pooled maps are concatenated in the order [mean, max] (paper eq. 3 and the documentation); the official code
  stacks [max, mean], which only permutes the input axis of the 7x7 kernel;
- the BatchNorm follows the official ``BasicConv``: epsilon 1e-5 and PyTorch momentum 0.01, i.e.
  Keras ``momentum=0.99``; ``training`` is passed through to it;
- kernels are initialised with Glorot-uniform and biases with zeros (Keras' defaults).

Implementations (``implementation="fast"``, the default, or ``"reference"``; both give the same output and
the same gradients, to float32 round-off):
- ``"reference"`` is the equations above written out and differentiated by the backend;
- ``"fast"`` computes the same values with fewer full-size ``(B, *S, C)`` passes:
  * the spatial average (and, under XLA, the spatial max) of ``x`` are one op whose gradient,
    ``d_avg / N [+ [x == max] * d_max / count]``, is added into the gradient that reaches ``x`` from
    the gated output, instead of materialising a broadcast of each and summing three full-size
    tensors (``count`` = number of maxima: ties split the gradient exactly as the backend's max does);
    outside XLA the spatial max is a whole-map ``max_pool``, whose backward pass is one kernel (see
    ``spatial_mean_max`` for its tie rule);
  * the channel gate and the channel mean/max of ``x' = x * M_c`` are one op whose gradient folds the
    mean's and max's shares into ``dx'`` (one select) before the single multiply by ``M_c``;
  * for images up to ``BANDED_MAX_WIDTH`` wide, the spatial gate's thin 2 -> 1 channel convolution runs as
    a convolution over rows with a banded (Toeplitz) kernel built from the 7x7 one (same values; see
    ``banded_conv`` in :mod:`keras_attention.kernels.convolution`; the fused pieces are in
    :mod:`keras_attention.kernels.gates`),
    several times faster on oneDNN and on XLA's CPU backend.
  The gated output ``x' * M_s`` and the small parts (MLP, convolution, BatchNorm) are differentiated
  by the backend as in the reference.
"""

import math
from collections.abc import Sequence
from typing import Any, cast

import keras
from keras import ops

from keras_attention.kernels import IMPLEMENTATIONS
from keras_attention.kernels.convolution import conv, conv_same
from keras_attention.kernels.gates import channel_gate_and_pool, spatial_mean_max
from keras_attention.kernels.probes import custom_gradients_supported
from keras_attention.utils.checks import check_choice, check_feature_shape, check_positive_int
from keras_attention.utils.layer_arguments import AttentionOutput, DataFormat, WeightArguments, batch_normalization
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor


@keras.saving.register_keras_serializable(package="keras_attention")
class CBAM(AttentionOutput, DataFormat, WeightArguments, keras.layers.Layer):
    """Convolutional block attention module for ``(B, T, C)`` or ``(B, H, W, C)`` features.

    A channel gate, then a spatial gate (CBAM paper eq. 1): ``x' = x * M_c(x)`` with
    ``M_c = sigmoid(MLP(avg) + MLP(max))`` of the spatial average and maximum (eq. 2), then
    ``out = x' * M_s(x')`` with ``M_s = sigmoid(BN(conv([mean_c(x'), max_c(x')])))`` (eq. 3, with the official
    code's BatchNorm). The readings where the paper is silent are in docs/methods/cbam_bam_se.md#cbam-readings.

    Args:
        reduction: reduction ratio ``r`` of the channel MLP; the hidden width is ``max(1, C // r)``.
        spatial_kernel_size: kernel size of the spatial gate's convolution (7 in the paper).
        implementation: ``"fast"`` (default) or ``"reference"``, the same function computed with fewer
            full-size passes or written out as the equations (see the module docstring).
        return_attention: also return the spatial mask (default of every call; ``AttentionOutput``).
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``) images, None
            for ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs (attention maps included) back at its exit, the same
            values as channels-last; sequences are always ``(B, T, C)``.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for the MLP and
            the spatial convolution (which has no bias); ``WeightArguments``.
        **kwargs: the base layer's keyword arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``(B, T, C)`` sequences or ``(B, H, W, C)`` images (``(B, C, H, W)`` with
            ``data_format="channels_first"``); the channel count must be known.
        training: passed to the spatial gate's BatchNorm (batch statistics when True).
        return_attention: True or False decides for this call, None (default) takes the constructor's.

    Returns:
        ``x' * M_s``, of the input's shape, or ``(x' * M_s, M_s)`` when ``return_attention`` (the call's, else
        the constructor's), with the spatial mask ``M_s`` of shape ``(B, *S, 1)`` (``(B, 1, H, W)``
        channels-first).

    Raises:
        ValueError: ``reduction`` or ``spatial_kernel_size`` is not a positive integer, or ``implementation`` /
            ``data_format`` / ``return_attention`` is not one of the values above (when the layer is made or
            called); the input is not of rank 3 or 4 or has an unknown channel count (when it is built).

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import CBAM
        >>> x = np.random.rand(2, 8, 8, 16).astype("float32")
        >>> out, mask = CBAM(reduction=4)(x, return_attention=True)
        >>> tuple(out.shape), tuple(mask.shape)
        ((2, 8, 8, 16), (2, 8, 8, 1))
        >>> tuple(CBAM(reduction=4)(np.random.rand(2, 10, 16).astype("float32")).shape)
        (2, 10, 16)
    """

    def __init__(self, reduction: int = 16, spatial_kernel_size: int = 7, implementation: str = "fast",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self.spatial_kernel_size = check_positive_int("spatial_kernel_size", spatial_kernel_size)
        self.implementation = check_choice("implementation", implementation, IMPLEMENTATIONS)
        # the official BasicConv's BatchNorm: PyTorch momentum 0.01, i.e. Keras 0.99 (module docstring)
        self.spatial_norm = batch_normalization("spatial_norm", dtype=self.dtype_policy, momentum=0.99)

    @channels_last_shapes
    def build(self, input_shape: ShapeLike) -> None:
        shape = check_feature_shape(type(self).__name__, input_shape)
        channels = cast(int, shape[-1])  # known: check_feature_shape refuses None
        self._spatial_rank = len(shape) - 2
        hidden = max(1, channels // self.reduction)
        self.mlp_kernel_1, self.mlp_bias_1 = self.add_kernel_and_bias("mlp_1", (channels, hidden))
        self.mlp_kernel_2, self.mlp_bias_2 = self.add_kernel_and_bias("mlp_2", (hidden, channels))
        window = (self.spatial_kernel_size,) * self._spatial_rank
        self.spatial_kernel = self.add_kernel("spatial_kernel", window + (2, 1))
        self.spatial_norm.build(shape[:-1] + (1,))

    def _mlp(self, v: Tensor) -> Tensor:
        h = ops.relu(ops.matmul(v, self.mlp_kernel_1) + self.mlp_bias_1)
        return ops.matmul(h, self.mlp_kernel_2) + self.mlp_bias_2

    @layer_call
    def call(self, inputs: Tensor, training: bool | None = None,
             return_attention: bool | None = None) -> Tensor | tuple[Tensor, Tensor]:
        with_mask = self.returns_attention(return_attention)
        if self.implementation == "reference" or not custom_gradients_supported():
            return self._call_reference(inputs, training, with_mask)
        spatial_axes = tuple(range(1, self._spatial_rank + 1))
        avg, mx, x = spatial_mean_max(inputs, spatial_axes)  # x: the same tensor, carrying their gradient
        gate = ops.sigmoid(self._mlp(avg) + self._mlp(mx))  # eq. 2
        x, mean_map, max_map = channel_gate_and_pool(x, gate, spatial_axes, int(inputs.shape[-1]))
        z = conv_same(ops.concatenate([mean_map, max_map], axis=-1), self.spatial_kernel)
        mask = ops.sigmoid(self.spatial_norm(z, training=training))  # eq. 3, (B, *S, 1)
        output = x * mask
        return (output, mask) if with_mask else output

    def _call_reference(self, inputs: Tensor, training: bool | None,
                        with_mask: bool) -> Tensor | tuple[Tensor, Tensor]:
        x = inputs
        spatial_axes = tuple(range(1, self._spatial_rank + 1))
        avg = ops.mean(x, axis=spatial_axes, keepdims=True)  # (B, 1.., C)
        mx = ops.max(x, axis=spatial_axes, keepdims=True)
        x = x * ops.sigmoid(self._mlp(avg) + self._mlp(mx))  # eq. 2
        pooled = ops.concatenate([ops.mean(x, axis=-1, keepdims=True), ops.max(x, axis=-1, keepdims=True)], axis=-1)
        z = conv(pooled, self.spatial_kernel, strides=1, padding="same")
        mask = ops.sigmoid(self.spatial_norm(z, training=training))  # eq. 3, (B, *S, 1)
        output = x * mask
        return (output, mask) if with_mask else output

    @channels_last_shapes
    def output_and_attention_shapes(self, input_shape: ShapeLike) -> tuple[Shape, Shape]:
        shape = check_feature_shape(type(self).__name__, input_shape)
        return shape, shape[:-1] + (1,)


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): ``4 C h`` (the shared MLP on two descriptors) ``+ 2 N k^r`` (the
        spatial convolution, 2 -> 1)."""
        positions = math.prod(input_shape[1:-1])
        mlp = math.prod(self.mlp_kernel_1.shape) + math.prod(self.mlp_kernel_2.shape)
        return 2 * mlp + positions * math.prod(self.spatial_kernel.shape[:-2]) * 2

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "reduction": self.reduction,
                "spatial_kernel_size": self.spatial_kernel_size,
                "implementation": self.implementation,
            }
        )
        return config
