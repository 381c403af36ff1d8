"""The global context (GC) block of GCNet (Cao, Xu, Lin, Wei and Hu, "GCNet: Non-local Networks Meet
Squeeze-Excitation Networks and Beyond", ICCV Workshops 2019, arXiv:1904.11492), a competitor module.

``GlobalContext()(x)`` on ``x`` of shape ``(B, T, C)`` (sequences) or ``(B, H, W, C)`` (images), with ``j``
running over the ``N`` positions (the paper's equation of the GC block)::

    z_i = x_i + W_v2 ReLU(LN(W_v1 sum_j alpha_j x_j)),    alpha_j = exp(W_k x_j) / sum_m exp(W_k x_m)

1. context modelling (attention pooling): ``W_k`` is a 1x1 convolution ``C -> 1``; ``alpha`` is its softmax
   over the positions and ``c = sum_j alpha_j x_j`` the global context, ``(B, C)``; ``pooling="average"`` is
   the paper's ablation with ``alpha_j = 1 / N`` (global average pooling);
2. transform (the bottleneck): ``t = W_v2 ReLU(LN(W_v1 c))`` with ``W_v1: C -> max(1, C // reduction)``
   and ``W_v2`` back to ``C``, LN the layer normalisation of the bottleneck's features;
3. fusion: ``fusion="add"``: ``z = x + t`` (the GC block's equation), broadcast over the positions;
   ``fusion="mul"`` (the paper's ablation, SE's scaling): ``z = x * sigmoid(t)``; ``fusion=("add", "mul")``: both,
   each with its own transform, ``z = x * sigmoid(t_mul) + t_add``.

``return_attention=True`` returns ``(z, alpha)`` with ``alpha`` of shape ``(B, T, 1)`` / ``(B, H, W, 1)``.

Where the paper and the official code differ, and what the code fixes (xvjiarui/GCNet,
``mmdet/ops/gcb/context_block.py``, ``ContextBlock`` at 029db54, Feb 2021):

- the last 1x1 convolution of each fusion transform starts at zero, kernel and bias (``last_zero_init``), so
  a new block with ``fusion="add"`` is the identity, ``z = x``, and with ``fusion="mul"`` scales by a uniform
  ``sigmoid(0) = 1/2``. This layer does the same, whatever ``kernel_initializer`` says (the regularizers
  apply); the other kernels follow ``kernel_initializer`` (the code's Kaiming initialisation of ``W_k`` does
  not change what the block computes);
- with both fusions the code multiplies first and adds second, whatever their order in ``fusion_types``;
- every 1x1 convolution has a bias (PyTorch's default; the equations write none);
- LN is ``nn.LayerNorm([planes, 1, 1])``: over the bottleneck's channels, with a learned scale and offset per
  channel and PyTorch's epsilon 1e-5 (Keras' default is 1e-3);
- the bottleneck width is ``int(C * ratio)``; ``reduction`` is ``1 / ratio`` here (16 for the paper's
  ``r = 16``), with a floor of one unit so that narrow inputs (``C < reduction``) work (the code would build a
  zero-width layer).

Reading of what the paper leaves open: the softmax over the positions is computed in float32 (mixed
precision); the pooling, the transform and the fusion are defined over any number of spatial axes, so
sequences work as images do.
"""

import math
from collections.abc import Sequence
from typing import Any, cast

import keras
from keras import ops

from keras_attention.utils.checks import check_choice, check_feature_shape, check_positive_int
from keras_attention.utils.layer_arguments import AttentionOutput, DataFormat, WeightArguments
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor

FUSIONS = ("add", "mul")
POOLINGS = ("attention", "average")
LAYER_NORM_EPSILON = 1e-5  # PyTorch's nn.LayerNorm default, the official code's


def _fusions(value: str | Sequence[str]) -> tuple[str, ...]:
    """``fusion`` as the tuple of the transforms it asks for, in the order the code applies them (mul, add)."""
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, (tuple, list)) or not names or not all(isinstance(n, str) for n in names) or (
        set(names) - set(FUSIONS) or len(set(names)) != len(names)
    ):
        raise ValueError(f"Argument `fusion` must be 'add', 'mul' or ('add', 'mul'); got {value!r}.")
    return tuple(f for f in ("mul", "add") if f in names)


@keras.saving.register_keras_serializable(package="keras_attention")
class GlobalContext(AttentionOutput, DataFormat, WeightArguments, keras.layers.Layer):
    """The global context block of GCNet for ``(B, T, C)`` or ``(B, H, W, C)`` features (module docstring):
    ``z = x + W_v2 ReLU(LN(W_v1 c))`` with ``c`` the softmax-weighted attention pooling of ``x`` over its positions.

    Args:
        reduction: bottleneck ratio ``r``: the transform is ``C -> max(1, C // r) -> C`` (16 in the paper).
        fusion: ``"add"`` (default, the GC block), ``"mul"``, or ``("add", "mul")`` for both.
        pooling: ``"attention"`` (default, the softmax of ``W_k x``) or ``"average"``.
        return_attention: also return the pooling weights ``alpha`` (default of every call; ``AttentionOutput``).
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``) images, None
            for ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs (attention maps included) back at its exit, the same
            values as channels-last; sequences are always ``(B, T, C)``.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer: of ``W_k`` and of the first
            convolution of each transform; the last one of each starts at zero (module docstring).

    Call arguments:
        inputs: ``(B, T, C)`` sequences or images ``(B, H, W, C)`` (``(B, C, H, W)`` channels-first).
        return_attention: None (the constructor's setting), True or False.

    Returns:
        ``z`` of the input's shape, or ``(z, alpha)`` with ``alpha`` of the input's shape with one channel.

    Raises:
        ValueError: ``reduction`` is not a positive integer, ``fusion`` not ``"add"``, ``"mul"`` or both,
            ``pooling`` not one of ``POOLINGS``, ``return_attention`` or ``data_format`` invalid; at build or call,
            an input that is not ``(B, T, C)`` or ``(B, H, W, C)`` with known channels.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import GlobalContext
        >>> x = np.random.rand(2, 14, 14, 32).astype("float32")
        >>> z, alpha = GlobalContext(reduction=16)(x, return_attention=True)
        >>> tuple(z.shape), tuple(alpha.shape)
        ((2, 14, 14, 32), (2, 14, 14, 1))
        >>> bool(np.allclose(z, x))  # a new "add" block is the identity (the last convolution starts at zero)
        True
        >>> round(float(np.sum(alpha[0])), 4)  # the pooling weights of one sample sum to 1
        1.0
    """

    def __init__(self, reduction: int = 16, fusion: str | Sequence[str] = "add", pooling: str = "attention",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reduction = check_positive_int("reduction", reduction)
        self._fusions = _fusions(fusion)
        self.fusion: str | list[str] = self._fusions[0] if len(self._fusions) == 1 else ["add", "mul"]
        self.pooling = check_choice("pooling", pooling, set(POOLINGS))
        self.norms = {f: keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, dtype=self.dtype_policy,
                                                         name=f"{f}_norm") for f in self._fusions}

    @channels_last_shapes
    def build(self, input_shape: ShapeLike) -> None:
        shape = check_feature_shape(type(self).__name__, input_shape)
        channels = cast(int, shape[-1])  # known: check_feature_shape refuses None
        self._spatial_rank = len(shape) - 2
        hidden = max(1, channels // self.reduction)
        if self.pooling == "attention":
            self.mask_kernel, self.mask_bias = self.add_kernel_and_bias("mask", (channels, 1))
        self.transforms: dict[str, tuple[Any, ...]] = {}  # fusion -> (kernel_1, bias_1, kernel_2, bias_2)
        for f in self._fusions:
            first = self.add_kernel_and_bias(f"{f}_1", (channels, hidden))
            self.norms[f].build((None, hidden))
            last = self.add_kernel_and_bias(f"{f}_2", (hidden, channels), initializer="zeros")  # last_zero_init
            self.transforms[f] = first + last

    def _pool(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Context modelling: ``(c, alpha)``, the context ``(B, C)`` and the weights ``(B, *S, 1)``."""
        batch, channels = ops.shape(x)[0], x.shape[-1]
        flat = ops.reshape(x, (batch, -1, channels))  # (B, N, C)
        if self.pooling == "average":
            context = ops.mean(flat, axis=1)
            alpha = ops.ones_like(x[..., :1]) / ops.cast(ops.shape(flat)[1], x.dtype)
            return context, alpha
        logits = ops.matmul(flat, self.mask_kernel) + self.mask_bias  # (B, N, 1)
        weights = ops.cast(ops.softmax(ops.cast(logits, "float32"), axis=1), x.dtype)
        # sum_j alpha_j x_j, (B, C); the product is a full-size (B, N, C) pass that a batched matmul would skip
        context = ops.sum(flat * weights, axis=1)
        return context, ops.reshape(weights, ops.shape(x)[:-1] + (1,))

    def _transform(self, context: Tensor, fusion: str) -> Tensor:
        """The transform ``W_v2 ReLU(LN(W_v1 c))`` of ``fusion``'s branch, ``(B, 1.., C)``."""
        kernel_1, bias_1, kernel_2, bias_2 = self.transforms[fusion]
        hidden = ops.relu(self.norms[fusion](ops.matmul(context, kernel_1) + bias_1))
        term = ops.matmul(hidden, kernel_2) + bias_2  # (B, C)
        return ops.reshape(term, (-1,) + (1,) * self._spatial_rank + (context.shape[-1],))

    @layer_call
    def call(self, inputs: Tensor, return_attention: bool | None = None) -> Tensor | tuple[Tensor, Tensor]:
        context, alpha = self._pool(inputs)
        output = inputs
        if "mul" in self._fusions:
            output = output * ops.sigmoid(self._transform(context, "mul"))
        if "add" in self._fusions:
            output = output + self._transform(context, "add")
        return (output, alpha) if self.returns_attention(return_attention) else output

    @channels_last_shapes
    def output_and_attention_shapes(self, input_shape: ShapeLike) -> tuple[Shape, Shape]:
        shape = check_feature_shape(type(self).__name__, input_shape)
        return shape, shape[:-1] + (1,)


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): ``2 N C`` (the attention-pooling mask and the weighted sum; ``N C``
        for average pooling) ``+ 2 C h`` per fusion (the transform)."""
        positions, channels = math.prod(input_shape[1:-1]), int(input_shape[-1])
        pooling = 2 * positions * channels if self.pooling == "attention" else positions * channels
        return pooling + sum(math.prod(first.shape) + math.prod(last.shape)
                             for first, _, last, _ in self.transforms.values())

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({"reduction": self.reduction, "fusion": self.fusion, "pooling": self.pooling})
        return config
