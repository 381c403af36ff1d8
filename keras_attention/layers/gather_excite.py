"""Gather-excite (Hu, Shen, Albanie, Sun and Vedaldi, "Gather-Excite: Exploiting Feature Context in
Convolutional Neural Networks", NeurIPS 2018), a competitor module.

``GatherExcite(extent, variant)(x)`` on ``x`` of shape ``(B, T, C)`` (sequences) or ``(B, H, W, C)``
(images), the paper's two operators: a gather ``xi_G`` that aggregates each channel over a spatial
extent, and an excite ``xi_E(x, x^) = x * sigmoid(interp(x^))`` that rescales ``x`` by the gathered context,
resized back to ``x``'s positions (nearest neighbour). The extent ``e`` is ``extent``: 0 gathers the whole
image (global extent: ``x^`` is one value per channel, no interpolation); ``e = 2, 4, 8, ...`` gathers
neighbourhoods ``e`` times smaller than the input along each axis. The three variants:

- ``"theta-"`` (GE-θ⁻, parameter-free): ``xi_G`` is average pooling: global average pooling, or a
  ``(2e - 1)``-wide window with stride ``e`` and ``e - 1`` zeros of padding on each side, averaging only the
  positions inside the input;
- ``"theta"`` (GE-θ, a learned gather): depthwise convolutions, each followed by BatchNorm: with a global extent
  one depthwise convolution whose kernel covers the whole input (one weight per position and channel, ``valid``,
  no bias); with ``e = 2^n``, ``n`` depthwise 3x3 convolutions with stride 2 and padding 1, ReLU between them;
- ``"theta+"`` (GE-θ⁺): GE-θ's gather, then ReLU and SE's excitation MLP on the gathered features,
  ``C -> max(1, C // reduction) -> C`` (1x1 convolutions with biases, ReLU between), before the sigmoid.

``return_attention=True`` returns ``(x * g, g)`` with the gate ``g = sigmoid(interp(...))``: ``(B, 1.., C)``
for a global extent, the input's shape otherwise.

Official code: hujie-frank/GENet is Caffe and covers the global extent only (``models/RN50-GEPF.prototxt``,
``RN50-GEP.prototxt``, ``RN50-GEPP.prototxt`` at ae791f8, March 2019, read here); timm's
``timm/layers/gather_excite.py`` (``GatherExcite``, read at 0d4c04f) is a PyTorch reading with the other
extents. This layer follows the Caffe models for the global extent and timm for ``e > 0``:

- GE-θ (``RN50-GEP``): the gather is a ``DepthwiseConvolution`` whose kernel is the whole feature map, no bias,
  then ``CuDNNBatchNorm`` and the sigmoid;
- GE-θ⁺ (``RN50-GEPP``): the same gather and BatchNorm, then a **ReLU**, then ``1x1_down`` (``C / 16``, bias),
  ReLU, ``1x1_up`` (``C``, bias), sigmoid. timm's ``extra_params=True, use_mlp=True`` has no ReLU between the
  gather's BatchNorm and the MLP; this layer keeps the Caffe model's, for every extent;
- the BatchNorms have the Caffe models' momentum 0.95 (Keras ``momentum=0.95``) and epsilon 1e-5; timm uses
  PyTorch's defaults;
- for ``e > 0``: the pooling window, stride and padding (``count_include_pad=False``), the chain of
  ``log2(e)`` stride-2 depthwise 3x3 convolutions with BatchNorm after each and ReLU between, and the nearest
  neighbour interpolation (``F.interpolate``'s default: output position ``i`` of ``n`` reads position
  ``floor(i * m / n)`` of ``m``) are timm's. timm's gather convolutions have a bias before their BatchNorm;
  these have none, as the Caffe gather (a bias before a BatchNorm changes nothing the BatchNorm's offset
  cannot).

Reading of what the paper and the code leave open: kernels by ``kernel_initializer`` (Glorot-uniform, Keras'
default; Caffe uses MSRA and N(0, 0.01)), biases by ``bias_initializer`` (zeros); the extent must be 0 or a power
of two (timm asserts an even extent and builds ``int(log2(e))`` convolutions); GE-θ and GE-θ⁺ with the global
extent need the spatial sizes when the layer is built (their kernel is the whole input, as in the Caffe models).
The operators are defined over any number of spatial axes, so sequences work as images do.
"""

import math
from collections.abc import Sequence
from typing import Any, cast

import keras
from keras import ops

from keras_attention.kernels.convolution import explicit_padding_conv
from keras_attention.utils.checks import check_choice, check_feature_shape, check_positive_int, shape_str
from keras_attention.utils.layer_arguments import AttentionOutput, DataFormat, WeightArguments, batch_normalization
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor

VARIANTS = ("theta-", "theta", "theta+")
GE_BN_MOMENTUM = 0.95  # the Caffe models' CuDNNBatchNorm momentum (Keras convention)


def _check_extent(extent: int) -> int:
    check_positive_int("extent", extent, minimum=0)
    if extent and (extent < 2 or extent & (extent - 1)):
        raise ValueError(f"Argument `extent` must be 0 (global) or a power of two >= 2; got {extent!r}.")
    return extent


def nearest_indices(size_in: int | Tensor, size_out: int | Tensor) -> Tensor:
    """The input position each of ``size_out`` outputs reads in a nearest-neighbour resize of ``size_in`` positions
    (PyTorch's ``nearest``): ``floor(i * size_in / size_out)``, an integer tensor; the sizes may be tensors.

    Args:
        size_in: the number of input positions ``m``.
        size_out: the number of output positions ``n``.

    Returns:
        An integer tensor of shape ``(n,)``: output position ``i`` reads input position ``floor(i * m / n)``.

    Example:
        >>> from keras import ops
        >>> from keras_attention.layers.gather_excite import nearest_indices
        >>> ops.convert_to_numpy(nearest_indices(3, 7)).tolist()
        [0, 0, 0, 1, 1, 2, 2]
    """
    return (ops.arange(size_out) * size_in) // size_out


@keras.saving.register_keras_serializable(package="keras_attention")
class GatherExcite(AttentionOutput, DataFormat, WeightArguments, keras.layers.Layer):
    """Gather-excite for ``(B, T, C)`` or ``(B, H, W, C)`` features (module docstring): ``x * sigmoid(interp(x^))``
    with ``x^`` the gather ``xi_G(x)`` of each channel over the extent (and, ``"theta+"``, an excitation MLP).

    Args:
        extent: 0 for the global extent, else ``e = 2, 4, 8, ...``.
        variant: ``"theta-"`` (parameter-free), ``"theta"`` (depthwise gather) or ``"theta+"`` (depthwise
            gather and the excitation MLP; default).
        reduction: ``"theta+"``: the MLP's hidden width is ``max(1, C // reduction)`` (16 in the Caffe model).
        return_attention: also return the gate (default of every call; ``AttentionOutput``).
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``) images, None
            for ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs (attention maps included) back at its exit, the same
            values as channels-last; sequences are always ``(B, T, C)``.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: of the depthwise gather
            kernels and the MLP (``WeightArguments``).

    Call arguments:
        inputs: ``(B, T, C)`` sequences or images ``(B, H, W, C)`` (``(B, C, H, W)`` channels-first).
        training: the BatchNorms' mode (``"theta"``, ``"theta+"``).
        return_attention: None (the constructor's setting), True or False.

    Returns:
        ``x * g`` of the input's shape, or ``(x * g, g)``: ``g`` of shape ``(B, 1.., C)`` for the global extent,
        of the input's shape otherwise.

    Raises:
        ValueError: ``extent`` is not 0 or a power of two ``>= 2``, ``variant`` not one of ``VARIANTS``,
            ``reduction`` not a positive integer, ``return_attention`` or ``data_format`` invalid; at build or call,
            an input that is not ``(B, T, C)`` or ``(B, H, W, C)`` with known channels, or (``"theta"``,
            ``"theta+"`` with the global extent) with unknown spatial sizes.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import GatherExcite
        >>> ge = GatherExcite(extent=0, variant="theta+")
        >>> y, g = ge(np.ones((2, 14, 14, 64), "float32"), return_attention=True)
        >>> tuple(y.shape), tuple(g.shape)
        ((2, 14, 14, 64), (2, 1, 1, 64))
        >>> tuple(ge.gather_kernels[0].shape)  # the depthwise gather kernel covers the whole input
        (14, 14, 64, 1)
        >>> tuple(GatherExcite(extent=4, variant="theta-")(np.ones((2, 100, 6), "float32")).shape)  # a sequence
        (2, 100, 6)
    """

    def __init__(self, extent: int = 0, variant: str = "theta+", reduction: int = 16, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.extent = _check_extent(extent)
        self.variant = check_choice("variant", variant, set(VARIANTS))
        self.reduction = check_positive_int("reduction", reduction)
        count = 0 if self.variant == "theta-" else max(1, self.extent.bit_length() - 1)  # log2(e), or 1 (global)
        self.gather_norms = [batch_normalization(f"gather_norm_{i}", dtype=self.dtype_policy, momentum=GE_BN_MOMENTUM)
                             for i in range(count)]

    def _check_shape(self, input_shape: ShapeLike) -> Shape:
        shape = check_feature_shape(type(self).__name__, input_shape)
        if self.variant != "theta-" and not self.extent and any(d is None for d in shape[1:-1]):
            raise ValueError(f"{type(self).__name__}(extent=0, variant={self.variant!r}) gathers with a depthwise "
                             f"kernel as large as the input, so it needs known spatial sizes; got input shape "
                             f"{shape_str(shape)}.")
        return shape

    @channels_last_shapes
    def build(self, input_shape: ShapeLike) -> None:
        shape = self._check_shape(input_shape)
        channels, spatial = cast(int, shape[-1]), shape[1:-1]  # channels known: check_feature_shape refuses None
        self._spatial_axes = tuple(range(1, len(shape) - 1))
        self.gather_kernels: list[Any] = []  # keras.Variable
        if self.variant != "theta-":
            # the global extent's spatial sizes are known (_check_shape)
            window = cast("tuple[int, ...]", tuple(spatial)) if not self.extent else (3,) * len(spatial)
            for i, bn in enumerate(self.gather_norms):
                self.gather_kernels.append(self.add_kernel(f"gather_{i}_kernel", window + (channels, 1)))
                bn.build((None,) * (len(shape) - 1) + (channels,))
        if self.variant == "theta+":
            hidden = max(1, channels // self.reduction)
            self.down_kernel, self.down_bias = self.add_kernel_and_bias("excite_down", (channels, hidden))
            self.up_kernel, self.up_bias = self.add_kernel_and_bias("excite_up", (hidden, channels))

    def _gather(self, x: Tensor, training: bool | None) -> Tensor:
        """``xi_G(x)``: ``(B, 1.., C)`` for the global extent, else ``(B, ~S / e, C)``."""
        rank = len(self._spatial_axes)
        if self.variant == "theta-":
            if not self.extent:
                return ops.mean(x, axis=self._spatial_axes, keepdims=True)
            window, pad = (2 * self.extent - 1,) * rank, [(0, 0)] + [(self.extent - 1,) * 2] * rank + [(0, 0)]
            # average over the positions inside the input only (count_include_pad=False): pooled sums / counts
            sums = ops.average_pool(ops.pad(x, pad), window, strides=self.extent, padding="valid")
            counts = ops.average_pool(ops.pad(ops.ones_like(x[..., :1]), pad), window, strides=self.extent,
                                      padding="valid")
            return sums / counts
        if not self.extent:
            # (*S, C): the depthwise kernel as large as the input; x * kernel is a full-size pass that a contraction
            # (einsum) would not materialise
            kernel = ops.squeeze(self.gather_kernels[0], -1)
            return self.gather_norms[0](ops.sum(x * kernel, axis=self._spatial_axes, keepdims=True),
                                        training=training)
        g = x
        for i, (kernel, bn) in enumerate(zip(self.gather_kernels, self.gather_norms)):
            if i:
                g = ops.relu(g)
            g = bn(explicit_padding_conv(g, kernel, (1,) * rank, strides=2, depthwise=True), training=training)
        return g

    def _interpolate(self, g: Tensor, x: Tensor) -> Tensor:
        """``g`` resized to ``x``'s positions by nearest neighbour (PyTorch's ``F.interpolate`` default)."""
        for axis in self._spatial_axes:
            g = ops.take(g, nearest_indices(ops.shape(g)[axis], ops.shape(x)[axis]), axis=axis)
        return g

    @layer_call
    def call(self, inputs: Tensor, training: bool | None = None,
             return_attention: bool | None = None) -> Tensor | tuple[Tensor, Tensor]:
        g = self._gather(inputs, training)
        if self.variant == "theta+":
            hidden = ops.relu(ops.matmul(ops.relu(g), self.down_kernel) + self.down_bias)
            g = ops.matmul(hidden, self.up_kernel) + self.up_bias
        if self.extent:
            g = self._interpolate(g, inputs)
        gate = ops.sigmoid(g)
        output = inputs * gate
        return (output, gate) if self.returns_attention(return_attention) else output

    @channels_last_shapes
    def output_and_attention_shapes(self, input_shape: ShapeLike) -> tuple[Shape, Shape]:
        shape = self._check_shape(input_shape)
        return (shape, shape) if self.extent else self.channel_attention_shapes(shape)


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): the depthwise gathers (``theta``, ``theta+``: ``N_i 3^r C`` per
        stride-2 step, ``N C`` for the global extent), and the excite MLP ``2 C h`` (``theta+``); ``theta-`` is
        parameter-free (0)."""
        spatial, channels = [int(d) for d in input_shape[1:-1]], int(input_shape[-1])
        macs = 0
        for kernel in self.gather_kernels:
            if not self.extent:
                macs += math.prod(spatial) * channels
            else:
                spatial = [-(-s // 2) for s in spatial]
                macs += math.prod(spatial) * math.prod(kernel.shape[:-2]) * channels
        if self.variant == "theta+":
            macs += math.prod(self.down_kernel.shape) + math.prod(self.up_kernel.shape)
        return macs

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"extent": self.extent, "variant": self.variant, "reduction": self.reduction})
        return config
