"""Coordinate attention (Hou, Zhou and Feng, "Coordinate Attention for Efficient Mobile Network Design", CVPR
2021), a competitor module for images.

``CoordinateAttention()(x)`` on ``x`` of shape ``(B, H, W, C)``:

1. coordinate information embedding: ``z^h[h] = mean_w x[h, w]`` (shape ``(B, H, C)``) and
   ``z^w[w] = mean_h x[h, w]`` (``(B, W, C)``), the two directional poolings (one 1-D global average pooling
   per direction);
2. coordinate attention generation: ``f = delta(F_1([z^h, z^w]))``: both concatenated along the
   position axis (``H + W`` positions), one shared 1x1 convolution ``F_1: C -> mip`` with
   ``mip = max(min_channels, C // reduction)``, then the non-linearity ``delta``; ``f`` is split back into
   ``f^h`` (``H`` positions) and ``f^w`` (``W``);
3. the two direction-wise gates ``g^h = sigmoid(F_h(f^h))``, ``g^w = sigmoid(F_w(f^w))``, two 1x1
   convolutions ``mip -> C``;
4. the output ``y[h, w, c] = x[h, w, c] * g^h[h, c] * g^w[w, c]``.

``return_attention=True`` returns ``(y, g)`` with ``g = g^h * g^w`` of the input's shape, the mask ``x`` is
multiplied by.

Where the paper and the official code differ (houqb/CoordAttention, ``coordatt.py`` at 7619bea, June 2021):

- ``delta`` is a "non-linear activation function" in the paper; the code applies BatchNorm and then h-swish,
  ``v * relu6(v + 3) / 6`` (the README: it "works better than ReLU6"). This layer does the same; the
  BatchNorm has PyTorch's defaults (``utils.layer_arguments.batch_normalization``), and its statistics are
  those of the concatenated ``H + W`` positions (one normalisation of ``[z^h, z^w]``, as in the code);
- the three 1x1 convolutions carry biases (PyTorch's default in the code; the paper does not say);
- the reduction ``r = 32`` and the floor ``mip >= 8`` are the code's (``mip = max(8, inp // reduction)``);
  the paper gives ``C / r``.

Reading of what the paper and the code leave open: the output has the input's channels (the code's ``oup``
is its ``inp`` wherever the block is used); kernels are initialised by ``kernel_initializer`` (Glorot-uniform,
Keras' default) and biases by ``bias_initializer`` (zeros). The module needs rank-2 images: its two
directions are the two image axes.
"""

from collections.abc import Sequence
from typing import Any, cast

import keras
from keras import ops

from keras_attention.utils.checks import check_image_shape, check_positive_int
from keras_attention.utils.layer_arguments import AttentionOutput, DataFormat, WeightArguments, batch_normalization
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor


def hard_swish(v: Tensor) -> Tensor:
    """``v * relu6(v + 3) / 6``: the h-swish of the official code (``h_swish`` of ``coordatt.py``).

    Args:
        v: a tensor.

    Returns:
        The h-swish of ``v``, elementwise, of its shape.

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> from keras_attention.layers.coordinate_attention import hard_swish
        >>> [round(float(t), 4) for t in ops.convert_to_numpy(hard_swish(np.array([-1.0, 0.0, 1.0, 4.0], "float32")))]
        [-0.3333, 0.0, 0.6667, 4.0]
    """
    return v * (ops.relu6(v + 3.0) / 6.0)


@keras.saving.register_keras_serializable(package="keras_attention")
class CoordinateAttention(AttentionOutput, DataFormat, WeightArguments, keras.layers.Layer):
    """Coordinate attention for ``(B, H, W, C)`` images (module docstring): ``x`` times a height gate ``g^h`` and a
    width gate ``g^w``, both computed from the two directional poolings of ``x`` by one shared bottleneck.

    Args:
        reduction: reduction ratio ``r``; the hidden width is ``mip = max(min_channels, C // r)``.
        min_channels: the floor of the hidden width (8 in the official code).
        return_attention: also return the mask ``g^h * g^w`` (default of every call; ``AttentionOutput``).
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``), None for
            ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs back at its exit, the same values as channels-last.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: of the three 1x1
            convolutions ``F_1``, ``F_h``, ``F_w`` (``WeightArguments``).

    Call arguments:
        inputs: images ``(B, H, W, C)`` (``(B, C, H, W)`` channels-first).
        training: the BatchNorm's mode (batch statistics when True).
        return_attention: None (the constructor's setting), True or False.

    Returns:
        ``y`` of the input's shape, or ``(y, g^h * g^w)`` (both of the input's shape).

    Raises:
        ValueError: ``reduction`` or ``min_channels`` is not a positive integer, ``return_attention`` or
            ``data_format`` invalid; at build or call, an input that is not a ``(B, H, W, C)`` image with known
            channels.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import CoordinateAttention
        >>> layer = CoordinateAttention()
        >>> y, g = layer(np.ones((2, 14, 14, 64), "float32"), return_attention=True)
        >>> tuple(y.shape), tuple(g.shape)
        ((2, 14, 14, 64), (2, 14, 14, 64))
        >>> tuple(layer.reduce_kernel.shape)  # mip = max(8, 64 // 32) = 8
        (64, 8)
    """

    def __init__(self, reduction: int = 32, min_channels: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self.min_channels = check_positive_int("min_channels", min_channels)
        self.norm = batch_normalization("norm", dtype=self.dtype_policy)

    @channels_last_shapes
    def build(self, input_shape: ShapeLike) -> None:
        shape = check_image_shape(type(self).__name__, input_shape)
        channels = cast(int, shape[-1])  # known: check_image_shape refuses None
        hidden = max(self.min_channels, channels // self.reduction)
        self.reduce_kernel, self.reduce_bias = self.add_kernel_and_bias("reduce", (channels, hidden))
        self.norm.build((None, None, 1, hidden))
        self.height_kernel, self.height_bias = self.add_kernel_and_bias("height", (hidden, channels))
        self.width_kernel, self.width_bias = self.add_kernel_and_bias("width", (hidden, channels))

    @layer_call
    def call(self, inputs: Tensor, training: bool | None = None,
             return_attention: bool | None = None) -> Tensor | tuple[Tensor, Tensor]:
        x = inputs
        height = ops.shape(x)[1]
        z_h = ops.mean(x, axis=2, keepdims=True)  # z^h, (B, H, 1, C)
        z_w = ops.transpose(ops.mean(x, axis=1, keepdims=True), (0, 2, 1, 3))  # z^w, (B, W, 1, C)
        y = ops.concatenate([z_h, z_w], axis=1)  # (B, H + W, 1, C)
        # the 1x1 convolutions as tensordot (2-D products): TensorFlow 2.16's oneDNN BatchMatMulV2 crashed the
        # process on the broadcast 4-D x 2-D product of a transposed input (segmentation fault, found on the floors)
        f = hard_swish(self.norm(ops.tensordot(y, self.reduce_kernel, axes=1) + self.reduce_bias,
                                 training=training))  # f
        f_h, f_w = f[:, :height], ops.transpose(f[:, height:], (0, 2, 1, 3))  # (B, H, 1, mip), (B, 1, W, mip)
        g_h = ops.sigmoid(ops.tensordot(f_h, self.height_kernel, axes=1) + self.height_bias)  # g^h, (B, H, 1, C)
        g_w = ops.sigmoid(ops.tensordot(f_w, self.width_kernel, axes=1) + self.width_bias)  # g^w, (B, 1, W, C)
        output = x * g_w * g_h  # y, in the code's order
        if self.returns_attention(return_attention):
            return output, g_h * g_w
        return output

    @channels_last_shapes
    def output_and_attention_shapes(self, input_shape: ShapeLike) -> tuple[Shape, Shape]:
        shape = check_image_shape(type(self).__name__, input_shape)
        return shape, shape


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): ``(H + W) C h`` (the shared 1x1 reduction of both pooled directions)
        ``+ H h C + W h C`` (the two 1x1 expansions)."""
        height, width, channels = (int(d) for d in input_shape[1:])
        hidden = int(self.reduce_kernel.shape[-1])
        return (height + width) * channels * hidden + (height + width) * hidden * channels

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"reduction": self.reduction, "min_channels": self.min_channels})
        return config
