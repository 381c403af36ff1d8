"""SimAM: a simple, parameter-free attention module (Yang, Zhang, Li and Xie, "SimAM: A Simple, Parameter-Free
Attention Module for Convolutional Neural Networks", ICML 2021), a competitor module.

``SimAM()(x)`` on ``x`` of shape ``(B, T, C)`` (sequences) or ``(B, H, W, C)`` (images). Each neuron ``t``
of a channel gets the minimal energy of a linear separation of it from the other ``M - 1`` neurons of its
channel (the paper's energy function with binary labels and a regulariser,
``e_t = (1 / (M-1)) sum_i (-1 - (w_t x_i + b_t))^2 + (1 - (w_t t + b_t))^2 + lambda w_t^2``), which in closed
form, with the channel's mean ``mu`` and variance ``sigma^2`` standing for those of the other neurons, is
(eq. 5; the official README calls the code's ``lambda`` the "coefficient lambda in Eqn (5)")::

    e_t* = 4 (sigma^2 + lambda) / ((t - mu)^2 + 2 sigma^2 + 2 lambda)

A distinctive neuron (low energy) matters more; the output (the paper's refinement step) is
``x * sigmoid(1 / E)``, ``E`` all the ``e_t*`` of the input, where

    1 / e_t* = (t - mu)^2 / (4 (sigma^2 + lambda)) + 1/2.

``return_attention=True`` returns ``(out, sigmoid(1 / E))``, both of the input's shape. The module has no
weights; ``lambda_`` (``lambda``, 1e-4) is its one constant.

Where the paper and the official code differ (ZjjConan/SimAM, ``networks/attentions/simam_module.py`` at
ae98f43, October 2022; the mmdetection copy is the same): the code computes ``sigma^2`` as the sum of
``(x - mu)^2`` over the channel's ``M = H * W`` positions divided by ``n = M - 1`` (the paper's ``sigma^2``
in eq. 5 averages over the channel); this layer follows the code. With a single position (``M = 1``) the code
divides 0 by 0 and returns NaN; here ``n = max(M - 1, 1)``, so such an input gets ``1 / E = 1/2`` (its one
neuron differs from no other) and finite outputs.

Reading of what the paper leaves open: the mean and variance are over every spatial axis of the channel, so
sequences ``(B, T, C)`` work as images do.
"""

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_attention.utils.checks import check_feature_shape, check_real
from keras_attention.utils.layer_arguments import AttentionOutput, DataFormat
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor


@keras.saving.register_keras_serializable(package="keras_attention")
class SimAM(AttentionOutput, DataFormat, keras.layers.Layer):
    """Parameter-free energy attention for ``(B, T, C)`` or ``(B, H, W, C)`` features (module docstring):
    ``x * sigmoid(1 / E)``, ``1 / E = (x - mu)^2 / (4 (sigma^2 + lambda)) + 1/2`` per channel.

    Args:
        lambda_: the regulariser ``lambda`` of the energy (1e-4 in the paper and the code); ``> 0``.
        return_attention: also return ``sigmoid(1 / E)`` (default of every call; ``AttentionOutput``).
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``) images, None
            for ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs (attention maps included) back at its exit, the same
            values as channels-last; sequences are always ``(B, T, C)``.

    Call arguments:
        inputs: ``(B, T, C)`` sequences or images ``(B, H, W, C)`` (``(B, C, H, W)`` channels-first).
        return_attention: None (the constructor's setting), True or False.

    Returns:
        ``x * sigmoid(1 / E)`` of the input's shape, or ``(x * sigmoid(1 / E), sigmoid(1 / E))``.

    Raises:
        ValueError: ``lambda_`` is not a finite number ``> 0``, ``return_attention`` or ``data_format`` invalid; at
            build or call, an input that is not ``(B, T, C)`` or ``(B, H, W, C)`` with known channels.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import SimAM
        >>> layer = SimAM()
        >>> y, a = layer(np.random.rand(2, 16, 16, 8).astype("float32"), return_attention=True)
        >>> tuple(y.shape), tuple(a.shape), len(layer.weights)  # no weights
        ((2, 16, 16, 8), (2, 16, 16, 8), 0)
        >>> bool(np.all(np.asarray(a) >= 0.6224))  # 1 / E >= 1/2, so every weight is at least sigmoid(1/2)
        True
    """

    def __init__(self, lambda_: float = 1e-4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lambda_ = check_real("lambda_", lambda_, minimum=0, exclusive=True)

    @channels_last_shapes
    def build(self, input_shape: ShapeLike) -> None:
        shape = check_feature_shape(type(self).__name__, input_shape)
        self._spatial_axes = tuple(range(1, len(shape) - 1))

    @layer_call
    def call(self, inputs: Tensor, return_attention: bool | None = None) -> Tensor | tuple[Tensor, Tensor]:
        axes = self._spatial_axes
        positions: Tensor = 1  # H * W, a tensor where the sizes are symbolic
        for axis in axes:
            positions = positions * ops.shape(inputs)[axis]
        n = ops.cast(ops.maximum(positions - 1, 1), inputs.dtype)  # the code's n = H * W - 1 (module docstring)
        d = ops.square(inputs - ops.mean(inputs, axis=axes, keepdims=True))  # (t - mu)^2
        inverse_energy = d / (4.0 * (ops.sum(d, axis=axes, keepdims=True) / n + self.lambda_)) + 0.5  # 1 / e_t*
        attention = ops.sigmoid(inverse_energy)
        output = inputs * attention  # x * sigmoid(1 / E)
        return (output, attention) if self.returns_attention(return_attention) else output

    @channels_last_shapes
    def output_and_attention_shapes(self, input_shape: ShapeLike) -> tuple[Shape, Shape]:
        shape = check_feature_shape(type(self).__name__, input_shape)
        return shape, shape


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): 0: an energy computed element-wise (no weights)."""
        return 0

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["lambda_"] = self.lambda_
        return config
