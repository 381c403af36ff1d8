"""scSE: concurrent spatial and channel squeeze & excitation (Roy, Navab and Wachinger, "Concurrent Spatial and
Channel 'Squeeze & Excitation' in Fully Convolutional Networks", MICCAI 2018, arXiv:1803.02579), a competitor
module.

``SCSE()(x)`` on ``x`` of shape ``(B, T, C)`` (sequences) or ``(B, H, W, C)`` (images), two recalibrations of
the same input, combined:

- cSE, spatial squeeze and channel excitation (SE): ``z = GAP(x)``,
  ``s = sigmoid(W2 ReLU(W1 z))`` with ``W1: C -> max(1, C // reduction)``, ``W2: -> C``;
  ``x_cSE = x * s`` (``s`` broadcast over the positions);
- sSE, channel squeeze and spatial excitation: ``q = sigmoid(x W_sq)``, a 1x1 convolution ``C -> 1``,
  one value per position; ``x_sSE = x * q`` (``q`` broadcast over the channels);
- scSE: ``mode="max"`` (default): ``max(x_cSE, x_sSE)`` elementwise; ``mode="add"``:
  ``x_cSE + x_sSE``.

Where the paper and the official code differ (the authors' ai-med/squeeze_and_excitation,
``squeeze_and_excitation/squeeze_and_excitation.py``, ``ChannelSpatialSELayer`` at acdd26e, June 2020):

- the MICCAI paper adds the two recalibrated maps; the code takes their elementwise maximum
  (``torch.max(self.cSE(x), self.sSE(x))``), the aggregation the authors' journal version (arXiv:1808.08127)
  found best. ``mode="max"`` is the default here, as in the code; ``mode="add"`` is the MICCAI paper's;
- the code's reduction ratio is 2 (``reduction_ratio=2``), the default here;
- both fully connected layers and the 1x1 convolution have biases (the code's ``nn.Linear`` / ``nn.Conv2d``);
- the hidden width is ``C // 2`` in the code; here at least one unit, so that ``C = 1`` works.

Reading of what both leave open: kernels by ``kernel_initializer`` (Glorot-uniform, Keras' default) and biases by
``bias_initializer`` (zeros). Both gates are defined over any number of spatial axes, so sequences work as images
do. The module has two gates of different shapes and, in ``"max"`` mode, no single mask the output is ``x`` times;
it does not take ``return_attention``.
"""

import math
from collections.abc import Sequence
from typing import Any, cast

import keras
from keras import ops

from keras_attention.utils.checks import check_choice, check_feature_shape, check_positive_int
from keras_attention.utils.layer_arguments import DataFormat, WeightArguments
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor

MODES = ("max", "add")


@keras.saving.register_keras_serializable(package="keras_attention")
class SCSE(DataFormat, WeightArguments, keras.layers.Layer):
    """Concurrent spatial and channel squeeze & excitation for ``(B, T, C)`` or ``(B, H, W, C)`` features
    (module docstring): ``max(x * s, x * q)`` (or their sum), ``s`` cSE's channel gate and ``q`` sSE's spatial gate.

    Args:
        reduction: reduction ratio ``r`` of cSE; its hidden width is ``max(1, C // r)`` (2 in the official code).
        mode: ``"max"`` (the official code, default) or ``"add"`` (the MICCAI paper).
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``) images, None
            for ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs (attention maps included) back at its exit, the same
            values as channels-last; sequences are always ``(B, T, C)``.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: of cSE's two fully connected
            layers and sSE's 1x1 convolution (``WeightArguments``).

    Call arguments:
        inputs: ``(B, T, C)`` sequences or images ``(B, H, W, C)`` (``(B, C, H, W)`` channels-first).

    Returns:
        The recalibrated features, of the input's shape.

    Raises:
        ValueError: ``reduction`` is not a positive integer, ``mode`` not ``"max"`` or ``"add"``, ``data_format``
            invalid; at build or call, an input that is not ``(B, T, C)`` or ``(B, H, W, C)`` with known channels.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import SCSE
        >>> tuple(SCSE(mode="add")(np.ones((2, 16, 16, 8), "float32")).shape)
        (2, 16, 16, 8)
        >>> layer = SCSE()
        >>> tuple(layer(np.ones((2, 40, 8), "float32")).shape)  # a sequence
        (2, 40, 8)
        >>> tuple(layer.squeeze_kernel.shape)  # cSE's hidden width max(1, 8 // 2) = 4
        (8, 4)
    """

    def __init__(self, reduction: int = 2, mode: str = "max", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self.mode = check_choice("mode", mode, set(MODES))

    @channels_last_shapes
    def build(self, input_shape: ShapeLike) -> None:
        shape = check_feature_shape(type(self).__name__, input_shape)
        channels = cast(int, shape[-1])  # known: check_feature_shape refuses None
        self._spatial_axes = tuple(range(1, len(shape) - 1))
        hidden = max(1, channels // self.reduction)
        self.squeeze_kernel, self.squeeze_bias = self.add_kernel_and_bias("channel_squeeze", (channels, hidden))
        self.excite_kernel, self.excite_bias = self.add_kernel_and_bias("channel_excite", (hidden, channels))
        self.spatial_kernel, self.spatial_bias = self.add_kernel_and_bias("spatial", (channels, 1))

    @layer_call
    def call(self, inputs: Tensor) -> Tensor:
        x = inputs
        z = ops.mean(x, axis=self._spatial_axes, keepdims=True)  # (B, 1.., C)
        s = ops.sigmoid(ops.matmul(ops.relu(ops.matmul(z, self.squeeze_kernel) + self.squeeze_bias),
                                   self.excite_kernel) + self.excite_bias)
        q = ops.sigmoid(ops.matmul(x, self.spatial_kernel) + self.spatial_bias)  # (B, *S, 1)
        channel, spatial = x * s, x * q
        return ops.maximum(channel, spatial) if self.mode == "max" else channel + spatial

    @channels_last_shapes
    def compute_output_shape(self, input_shape: ShapeLike) -> Shape:
        return check_feature_shape(type(self).__name__, input_shape)


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): ``2 C h`` (cSE) ``+ N C`` (sSE's 1x1 projection)."""
        positions, channels = math.prod(input_shape[1:-1]), int(input_shape[-1])
        return 2 * math.prod(self.squeeze_kernel.shape) + positions * channels

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"reduction": self.reduction, "mode": self.mode})
        return config
