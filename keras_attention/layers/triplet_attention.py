"""Triplet attention (Misra, Nalamada, Arasanipalai and Hou, "Rotate to Attend: Convolutional Triplet Attention
Module", WACV 2021), a competitor module for images.

``TripletAttention()(x)`` on images ``x`` of shape ``(B, H, W, C)``: three branches, each capturing the
interaction of two of the three axes (C, H, W) of the image, averaged:

- each branch rotates ``x`` so that its two axes are the plane, reduces the third axis by Z-pool,
  ``Z(v) = [max(v), mean(v)]`` over that axis (2 maps), convolves the two maps with one ``k x k``
  convolution to 1 map (``k = 7``, ``same`` padding, no bias), applies BatchNorm and a sigmoid, and multiplies
  the rotated ``x`` by that gate (rotating back after):

  * branch (C, W): Z-pool over H, gate ``g_cw`` of shape ``(C, W)``;
  * branch (H, C): Z-pool over W, gate ``g_hc`` of shape ``(H, C)``;
  * branch (H, W): Z-pool over C, gate ``g_hw`` of shape ``(H, W)`` (CBAM's spatial gate);

- ``y = (x * g_hw + x * g_cw + x * g_hc) / 3``.

``return_attention=True`` returns ``(y, g)`` with ``g = (g_hw + g_cw + g_hc) / 3`` broadcast to the input's
shape, the mask with ``y = x * g``.

Official code (landskape-ai/triplet-attention, ``triplet_attention.py`` and ``MODELS/triplet_attention.py``
at 2cf02fb, Feb 2025): the paper and the code agree; the code fixes what the paper's text leaves open, and this
layer follows it:

- Z-pool stacks ``[max, mean]`` in that order (the order of the convolution's two input channels);
- the branches' planes are the code's permutations: ``x.permute(0, 2, 1, 3)`` (``(B, H, C, W)``, Z-pool over H,
  the kernel's axes (C, W)) and ``x.permute(0, 3, 2, 1)`` (``(B, W, H, C)``, Z-pool over W, the kernel's axes
  (H, C)), so the weights of a 7x7 kernel here are the code's, tap for tap;
- BatchNorm as the code's ``BasicConv``: epsilon 1e-5 and PyTorch momentum 0.01, i.e. Keras ``momentum=0.99``
  (not PyTorch's default 0.1);
- the average is the code's ``(1 / 3) * (x_out + x_out11 + x_out21)``.

Reading of what both leave open: kernels by ``kernel_initializer`` (Glorot-uniform, Keras' default).

Implementations (``implementation="fast"``, the default, or ``"reference"``; the same function, equal up to
float32 rounding, tested): ``"reference"`` writes the three gated copies out as the paper and the code do (three
full-size products and two full-size sums); ``"fast"`` adds the three small gates first and multiplies once,
``y = x * (g_hw + g_cw + g_hc) / 3`` (one full-size product; ``benchmarks/layer_overhead.py`` times both).
"""

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from keras_attention.kernels import IMPLEMENTATIONS
from keras_attention.kernels.convolution import conv
from keras_attention.utils.checks import check_choice, check_image_shape, check_positive_int
from keras_attention.utils.layer_arguments import AttentionOutput, DataFormat, KernelArguments, batch_normalization
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor

BRANCHES = ("cw", "hc", "hw")  # the code's AttentionGate names: the plane each gate covers
TRIPLET_BN_MOMENTUM = 0.99  # the code's BasicConv: PyTorch momentum 0.01


def z_pool(v: Tensor, axis: int) -> Tensor:
    """Z-pool: ``[max, mean]`` of ``v`` over ``axis``, stacked as the last axis (2 channels).

    Args:
        v: a tensor.
        axis: the axis reduced.

    Returns:
        ``v``'s shape without ``axis`` and with a last axis of 2: the maximum, then the mean.

    Example:
        >>> import numpy as np
        >>> from keras import ops
        >>> from keras_attention.layers.triplet_attention import z_pool
        >>> ops.convert_to_numpy(z_pool(np.array([[1.0, 2.0, 6.0]], "float32"), 1)).tolist()
        [[6.0, 3.0]]
    """
    return ops.stack([ops.max(v, axis=axis), ops.mean(v, axis=axis)], axis=-1)


@keras.saving.register_keras_serializable(package="keras_attention")
class TripletAttention(AttentionOutput, DataFormat, KernelArguments, keras.layers.Layer):
    """Triplet attention for ``(B, H, W, C)`` images (module docstring): the mean of ``x`` gated by three
    convolutional gates, one per pair of the axes (C, W), (H, C), (H, W), each computed from a Z-pool over the third.

    Args:
        kernel_size: size of the three branches' square convolutions (7 in the paper and the code).
        implementation: ``"fast"`` (default: the gates summed, then one product with ``x``) or ``"reference"``
            (the three gated copies of the paper, summed); the same function up to float32 rounding.
        return_attention: also return the mask ``(g_hw + g_cw + g_hc) / 3`` (default of every call;
            ``AttentionOutput``).
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``), None for
            ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs back at its exit, the same values as channels-last.
        kernel_initializer, kernel_regularizer: of the three ``(k, k, 2, 1)`` kernels (``KernelArguments``).

    Call arguments:
        inputs: images ``(B, H, W, C)`` (``(B, C, H, W)`` channels-first).
        training: the BatchNorms' mode.
        return_attention: None (the constructor's setting), True or False.

    Returns:
        ``y`` of the input's shape, or ``(y, g)`` with ``g`` of the input's shape.

    Raises:
        ValueError: ``kernel_size`` is not a positive integer, ``implementation`` is not ``"fast"`` or
            ``"reference"``, ``return_attention`` or ``data_format`` invalid; at
            build or call, an input that is not a ``(B, H, W, C)`` image with known channels.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import TripletAttention
        >>> layer = TripletAttention()
        >>> y, g = layer(np.ones((2, 10, 12, 16), "float32"), return_attention=True)
        >>> tuple(y.shape), tuple(g.shape)
        ((2, 10, 12, 16), (2, 10, 12, 16))
        >>> [tuple(k.shape) for k in layer.branch_kernels]  # one 7x7 kernel of the 2 Z-pool maps per branch
        [(7, 7, 2, 1), (7, 7, 2, 1), (7, 7, 2, 1)]
    """

    def __init__(self, kernel_size: int = 7, implementation: str = "fast", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.implementation = check_choice("implementation", implementation, IMPLEMENTATIONS)
        self.norms = [batch_normalization(f"{b}_norm", dtype=self.dtype_policy, momentum=TRIPLET_BN_MOMENTUM)
                      for b in BRANCHES]

    @channels_last_shapes
    def build(self, input_shape: ShapeLike) -> None:
        _, height, width, channels = check_image_shape(type(self).__name__, input_shape)
        window = (self.kernel_size, self.kernel_size)
        self.branch_kernels = [self.add_kernel(f"{b}_kernel", window + (2, 1)) for b in BRANCHES]
        for bn, plane in zip(self.norms, ((channels, width), (height, channels), (height, width))):
            bn.build((None,) + plane + (1,))

    def _gate(self, pooled: Tensor, index: int, training: bool | None) -> Tensor:
        """``sigmoid(BN(conv(pooled)))`` of one branch: ``(B, P1, P2, 1)``."""
        z = conv(pooled, self.branch_kernels[index], strides=1, padding="same")
        return ops.sigmoid(self.norms[index](z, training=training))

    @layer_call
    def call(self, inputs: Tensor, training: bool | None = None,
             return_attention: bool | None = None) -> Tensor | tuple[Tensor, Tensor]:
        x = inputs  # (B, H, W, C)
        # branch (C, W): the code's (B, H, C, W), Z-pool over H -> gate (B, C, W, 1) -> (B, 1, W, C)
        g_cw = self._gate(ops.transpose(z_pool(x, 1), (0, 2, 1, 3)), 0, training)
        g_cw = ops.expand_dims(ops.transpose(g_cw[..., 0], (0, 2, 1)), 1)
        # branch (H, C): the code's (B, W, H, C), Z-pool over W -> gate (B, H, C, 1) -> (B, H, 1, C)
        g_hc = ops.expand_dims(self._gate(z_pool(x, 2), 1, training)[..., 0], 2)
        # branch (H, W): Z-pool over C -> gate (B, H, W, 1)
        g_hw = self._gate(z_pool(x, 3), 2, training)
        if self.implementation == "fast":  # the gates' sum is broadcast once, one full-size product
            mask = (g_hw + g_cw + g_hc) * (1.0 / 3.0)
            output = x * mask
        else:  # the paper's and the code's three gated copies
            output = 1.0 / 3.0 * (x * g_hw + x * g_cw + x * g_hc)
            mask = (g_hw + g_cw + g_hc) / 3.0
        if self.returns_attention(return_attention):
            return output, ops.broadcast_to(mask, ops.shape(x))
        return output

    @channels_last_shapes
    def output_and_attention_shapes(self, input_shape: ShapeLike) -> tuple[Shape, Shape]:
        shape = check_image_shape(type(self).__name__, input_shape)
        return shape, shape


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): ``2 k^2`` per position of each branch's plane: ``(C W + H C + H W) 2
        k^2``."""
        height, width, channels = (int(d) for d in input_shape[1:])
        return (channels * width + height * channels + height * width) * 2 * self.kernel_size**2

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"kernel_size": self.kernel_size, "implementation": self.implementation})
        return config
