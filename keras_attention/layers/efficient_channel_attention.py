"""ECA: efficient channel attention (Wang et al., "ECA-Net: Efficient Channel Attention for Deep Convolutional
Neural Networks", CVPR 2020), a competitor module.

``ECA()(x)`` on ``x`` of shape ``(B, T, C)`` (sequences) or ``(B, H, W, C)`` (images):

1. aggregation (SE's squeeze, channel-wise global average pooling): ``y = GAP(x)``, the mean over every spatial
   axis, shape ``(B, C)``;
2. local cross-channel interaction: ``w = sigmoid(C1D_k(y))``, one 1-D convolution of ``y`` along the
   channel axis with a single ``k``-tap kernel shared by every channel (no bias), zero padding
   ``(k - 1) / 2`` at both ends of the channel axis, so every channel ``c`` mixes ``y[c - (k-1)/2 ..
   c + (k-1)/2]``;
3. recalibration: ``out = x * w``, ``w`` broadcast over the spatial axes.

The kernel size is adaptive, the paper's mapping ``k = psi(C) = |log2(C) / gamma + b / gamma|_odd`` (``|t|_odd``:
the odd number nearest to ``t``) with ``gamma = 2``, ``b = 1`` (arguments ``gamma`` and ``beta``), unless
``kernel_size`` sets it.

``return_attention=True`` returns ``(out, w)`` with ``w`` of shape ``(B, 1, C)`` or ``(B, 1, 1, C)``.

Where the paper and the official code differ (BangguWu/ECANet, ``models/eca_module.py`` at b332f6b, May 2021,
and the PyTorch listing printed in the paper):

- the mapping ``psi`` asks for the odd number nearest to ``t = (log2(C) + b) / gamma``, which is ambiguous where
  ``t`` is an even integer (``C = 128``: ``t = 4`` is as near 3 as 5; the repository's issue #12 asks exactly
  this); the authors' listing takes ``int(abs(t))`` and adds 1 when it is even, so such a ``t`` goes up
  (``128 -> 5``), and elsewhere agrees with ``psi``. This layer follows the code, :func:`adaptive_kernel_size`
  (``C = 64 -> 3``, ``128 -> 5``, ``256 -> 5``, ``512 -> 5``, ``2048 -> 7``);
- the repository's ``eca_layer`` takes ``k_size`` and does not compute it (its ``channel`` argument is unused,
  issue #5): the released ResNets were built with kernel sizes chosen by hand per stage (``eca_resnet50_k3557``,
  the code's default ``[3, 3, 3, 3]``). ``kernel_size=...`` reproduces such a model; ``None`` (the default)
  is the paper's adaptive rule;
- the padding ``(k - 1) // 2`` of the code needs an odd ``k`` (an even one gives ``C - 1`` outputs, which the code
  cannot broadcast), so ``kernel_size`` must be odd here.

Reading of what the paper leaves open: the kernel is initialised by ``kernel_initializer`` (Glorot-uniform,
Keras' default; the code keeps PyTorch's default ``Conv1d`` initialisation); the aggregation and the gate are
defined over any number of spatial axes, so sequences ``(B, T, C)`` work as images do.
"""

import math
from collections.abc import Sequence
from typing import Any, cast

import keras
from keras import ops

from keras_attention.kernels.convolution import conv
from keras_attention.utils.checks import check_feature_shape, check_positive_int, check_real
from keras_attention.utils.layer_arguments import AttentionOutput, DataFormat, KernelArguments
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor


def adaptive_kernel_size(channels: int, gamma: float = 2.0, beta: float = 1.0) -> int:
    """ECA's adaptive kernel size for ``channels`` (the paper's mapping ``psi`` as the authors' code computes it):
    ``t = int(|(log2(C) + beta) / gamma|)``, then ``t`` if odd else ``t + 1``.

    Args:
        channels: the channel count ``C`` (positive).
        gamma: ``gamma`` of the mapping (2 in the paper).
        beta: ``b`` of the mapping (1 in the paper).

    Returns:
        The odd kernel size ``k``.

    Raises:
        ValueError: ``channels`` is not positive (``math.log2``'s domain error).

    Example:
        >>> from keras_attention.layers.efficient_channel_attention import adaptive_kernel_size
        >>> [adaptive_kernel_size(c) for c in (64, 128, 256, 2048)]
        [3, 5, 5, 7]
    """
    t = int(abs((math.log2(channels) + beta) / gamma))
    return t if t % 2 else t + 1


@keras.saving.register_keras_serializable(package="keras_attention")
class EfficientChannelAttention(AttentionOutput, DataFormat, KernelArguments, keras.layers.Layer):
    """Efficient channel attention (ECA) for ``(B, T, C)`` or ``(B, H, W, C)`` features (module docstring):
    ``x * sigmoid(C1D_k(GAP(x)))``, a ``k``-tap 1-D convolution across the channels of the pooled descriptor.

    Args:
        kernel_size: odd number of taps ``k`` of the channel convolution, or None (default) for the paper's
            adaptive size ``psi(C)`` (:func:`adaptive_kernel_size` of the channel count, with ``gamma`` and ``beta``).
        gamma, beta: the constants ``gamma`` and ``b`` of ``psi`` (2 and 1 in the paper); ``gamma > 0``.
        return_attention: also return the channel weights ``w`` (default of every call; ``AttentionOutput``).
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``) images, None
            for ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs (attention maps included) back at its exit, the same
            values as channels-last; sequences are always ``(B, T, C)``.
        kernel_initializer, kernel_regularizer: of the ``(k, 1, 1)`` kernel (``KernelArguments``).

    Call arguments:
        inputs: ``(B, T, C)`` sequences or images ``(B, H, W, C)`` (``(B, C, H, W)`` channels-first).
        return_attention: None (the constructor's setting), True or False.

    Returns:
        ``x * w`` of the input's shape, or ``(x * w, w)`` with ``w`` of shape ``(B, 1, C)``, ``(B, 1, 1, C)``
        (``(B, C, 1, 1)`` channels-first).

    Raises:
        ValueError: ``kernel_size`` is not a positive odd integer or None, ``gamma`` is not a finite number
            ``> 0``, ``beta`` not a finite number, ``return_attention`` or ``data_format`` invalid; at build or
            call, an input that is not ``(B, T, C)`` or ``(B, H, W, C)`` with known channels.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import ECA, EfficientChannelAttention
        >>> layer = EfficientChannelAttention()
        >>> tuple(layer(np.ones((2, 8, 8, 64), "float32")).shape)
        (2, 8, 8, 64)
        >>> tuple(layer.kernel.shape)  # k = psi(64) = 3
        (3, 1, 1)
        >>> y, w = ECA(return_attention=True)(np.ones((2, 50, 256), "float32"))  # a sequence, k = 5
        >>> tuple(y.shape), tuple(w.shape)
        ((2, 50, 256), (2, 1, 256))
    """

    def __init__(self, kernel_size: int | None = None, gamma: float = 2.0, beta: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if kernel_size is not None:
            check_positive_int("kernel_size", kernel_size)
            if kernel_size % 2 == 0:
                raise ValueError(f"Argument `kernel_size` must be odd (the channel axis is padded by "
                                 f"(k - 1) // 2 at each end) or None; got {kernel_size!r}.")
        self.kernel_size = kernel_size
        self.gamma = check_real("gamma", gamma, minimum=0, exclusive=True)
        self.beta = check_real("beta", beta)

    def kernel_size_for(self, channels: int) -> int:
        """The kernel size used for ``channels`` input channels: ``kernel_size``, or the adaptive one.

        Args:
            channels: the input's channel count ``C``.

        Returns:
            ``kernel_size`` when it was given, else :func:`adaptive_kernel_size` of ``channels``.
        """
        if self.kernel_size is not None:
            return self.kernel_size
        return adaptive_kernel_size(channels, self.gamma, self.beta)

    @channels_last_shapes
    def build(self, input_shape: ShapeLike) -> None:
        shape = check_feature_shape(type(self).__name__, input_shape)
        self._spatial_axes = tuple(range(1, len(shape) - 1))
        self.kernel = self.add_kernel("kernel", (self.kernel_size_for(cast(int, shape[-1])), 1, 1))

    @layer_call
    def call(self, inputs: Tensor, return_attention: bool | None = None) -> Tensor | tuple[Tensor, Tensor]:
        y = ops.mean(inputs, axis=self._spatial_axes)  # GAP, (B, C)
        z = conv(ops.expand_dims(y, -1), self.kernel, strides=1, padding="same")  # C1D_k, the channels as steps
        weights = ops.sigmoid(ops.reshape(z, (-1,) + (1,) * len(self._spatial_axes) + (inputs.shape[-1],)))
        output = inputs * weights
        return (output, weights) if self.returns_attention(return_attention) else output

    @channels_last_shapes
    def output_and_attention_shapes(self, input_shape: ShapeLike) -> tuple[Shape, Shape]:
        return self.channel_attention_shapes(input_shape)


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): ``C k``: the 1-D convolution across the channels of the pooled
        descriptor."""
        return int(input_shape[-1]) * int(self.kernel.shape[0])

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"kernel_size": self.kernel_size, "gamma": self.gamma, "beta": self.beta})
        return config


ECA = EfficientChannelAttention
