"""Squeeze-and-Excitation (Hu et al., CVPR 2018, eq. 2-4; docs/methods/cbam_bam_se.md#se), a competitor module.

``SqueezeExcitation()(x)`` on ``x`` of shape ``(B, T, C)`` (sequences) or ``(B, H, W, C)`` (images):

1. squeeze (eq. 2): ``z = GAP(x)``, the mean over every spatial axis, shape ``(B, C)``;
2. excitation (eq. 3): ``s = sigmoid(W2 relu(W1 z + b1) + b2)`` with ``W1: C -> max(1, C // reduction)``
   and ``W2: -> C``;
3. scale (eq. 4): ``out = x * s``, ``s`` broadcast over the spatial axes.

``return_attention=True`` returns ``(out, s)`` with ``s`` of shape ``(B, 1, C)`` or ``(B, 1, 1, C)``.

Reading of what the paper leaves open (docs/methods/cbam_bam_se.md#se-readings): both fully connected layers
carry a bias (as in the authors' released models); kernels are initialised with Glorot-uniform and biases with
zeros (Keras' Dense defaults). The hidden width is at least one unit, so narrow layers (``C < reduction``) still
work.

Implementations (``implementation="fast"``, the default, or ``"reference"``; both give the same output and
the same gradients, to float32 round-off): ``"reference"`` is the equations above differentiated by the
backend; ``"fast"`` makes the squeeze one op whose gradient ``d_z / N`` is added into the gradient that
reaches ``x`` from ``x * s`` (``keras_attention.kernels.gradients.spatial_pool``), instead of a materialised
full-size broadcast of it and a sum of two full-size tensors. Under XLA (``jit_compile=True``, or the JAX
backend), which fuses the reference's gradient into the same loop anyway, ``"fast"`` runs the reference formulation.
"""

import math
from collections.abc import Sequence
from typing import Any, cast

import keras
from keras import ops

from keras_attention.kernels import IMPLEMENTATIONS
from keras_attention.kernels.gradients import spatial_pool
from keras_attention.kernels.probes import custom_gradients_supported, in_xla_context
from keras_attention.utils.checks import check_choice, check_feature_shape, check_positive_int
from keras_attention.utils.layer_arguments import AttentionOutput, DataFormat, WeightArguments
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor


@keras.saving.register_keras_serializable(package="keras_attention")
class SqueezeExcitation(AttentionOutput, DataFormat, WeightArguments, keras.layers.Layer):
    """Squeeze-and-Excitation channel recalibration for ``(B, T, C)`` or ``(B, H, W, C)`` features.

    Squeeze (SE paper eq. 2): ``z = GAP(x)``, the mean over every spatial axis; excitation (eq. 3):
    ``s = sigmoid(W2 relu(W1 z + b1) + b2)`` with ``W1: C -> max(1, C // reduction)`` and ``W2: -> C``; scale
    (eq. 4): ``x * s``, ``s`` broadcast over the spatial axes. The readings where the paper is silent are in
    docs/methods/cbam_bam_se.md#se-readings.

    Args:
        reduction: reduction ratio ``r``; the hidden width is ``max(1, C // r)``.
        implementation: ``"fast"`` (default) or ``"reference"``, the same function computed with fewer
            full-size passes or written out as the equations (see the module docstring).
        return_attention: also return the channel scale ``s`` of shape ``(B, 1.., C)`` (default of every
            call; ``AttentionOutput``).
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``) images, None
            for ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs (attention maps included) back at its exit, the same
            values as channels-last; sequences are always ``(B, T, C)``.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: for both
            fully connected layers; ``WeightArguments``.
        **kwargs: the base layer's keyword arguments (``name``, ``dtype``, ...).

    Call arguments:
        inputs: ``(B, T, C)`` sequences or ``(B, H, W, C)`` images (``(B, C, H, W)`` with
            ``data_format="channels_first"``); the channel count must be known.
        return_attention: True or False decides for this call, None (default) takes the constructor's.

    Returns:
        ``x * s``, of the input's shape, or ``(x * s, s)`` when ``return_attention`` (the call's, else the
        constructor's), with ``s`` of shape ``(B, 1, C)`` or ``(B, 1, 1, C)`` (``(B, C, 1, 1)`` channels-first).

    Raises:
        ValueError: ``reduction`` is not a positive integer or ``implementation`` / ``data_format`` /
            ``return_attention`` is not one of the values above (when the layer is made or called); the input
            is not of rank 3 or 4 or has an unknown channel count (when the layer is built).

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import SqueezeExcitation
        >>> x = np.random.rand(2, 8, 8, 16).astype("float32")
        >>> out, s = SqueezeExcitation(reduction=4)(x, return_attention=True)
        >>> tuple(out.shape), tuple(s.shape)
        ((2, 8, 8, 16), (2, 1, 1, 16))
        >>> tuple(SqueezeExcitation(reduction=4)(np.random.rand(2, 10, 16).astype("float32")).shape)
        (2, 10, 16)
    """

    def __init__(self, reduction: int = 16, implementation: str = "fast", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self.implementation = check_choice("implementation", implementation, IMPLEMENTATIONS)

    @channels_last_shapes
    def build(self, input_shape: ShapeLike) -> None:
        shape = check_feature_shape(type(self).__name__, input_shape)
        channels = cast(int, shape[-1])  # known: check_feature_shape refuses None
        self._spatial_axes = tuple(range(1, len(shape) - 1))
        hidden = max(1, channels // self.reduction)
        self.squeeze_kernel, self.squeeze_bias = self.add_kernel_and_bias("squeeze", (channels, hidden))
        self.excite_kernel, self.excite_bias = self.add_kernel_and_bias("excite", (hidden, channels))

    @layer_call
    def call(self, inputs: Tensor, return_attention: bool | None = None) -> Tensor | tuple[Tensor, Tensor]:
        # XLA fuses the reference's gradient; torch cannot run the fast path's custom gradient
        if self.implementation == "fast" and not in_xla_context() and custom_gradients_supported():
            z, x = spatial_pool(inputs, self._spatial_axes, with_max=False)  # x carries z's gradient
        else:
            x = inputs
            z = ops.mean(x, axis=self._spatial_axes, keepdims=True)  # (B, 1.., C)
        h = ops.relu(ops.matmul(z, self.squeeze_kernel) + self.squeeze_bias)
        scale = ops.sigmoid(ops.matmul(h, self.excite_kernel) + self.excite_bias)
        output = x * scale
        return (output, scale) if self.returns_attention(return_attention) else output

    @channels_last_shapes
    def output_and_attention_shapes(self, input_shape: ShapeLike) -> tuple[Shape, Shape]:
        return self.channel_attention_shapes(input_shape)


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): ``2 C h``."""
        return 2 * math.prod(self.squeeze_kernel.shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"reduction": self.reduction, "implementation": self.implementation})
        return config
