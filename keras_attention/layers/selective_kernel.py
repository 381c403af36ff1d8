"""Selective kernel (SK) convolution (Li, Wang, Hu and Yang, "Selective Kernel Networks", CVPR 2019): a
convolution whose receptive field each sample chooses, used in place of a 3x3 convolution (like
:class:`~keras_attention.layers.AWConv2D`).

``SelectiveKernel(filters)(x)`` on images ``x`` of shape ``(B, H, W, C)``, with ``M = len(dilations)``
branches (the paper's SKNet: ``M = 2``, a 3x3 and a "5x5" that is a 3x3 with dilation 2):

1. split: branch ``m`` is ``U_m = ReLU(BN(conv_m(x)))``, ``conv_m`` a ``kernel_size`` x ``kernel_size``
   convolution with dilation ``dilations[m]``, ``groups`` groups, ``strides``, no bias, ``filters`` outputs;
2. fuse: the branches' sum ``U = sum_m U_m``, its global average pooling ``s = GAP(U)`` (``(B, filters)``),
   the compact feature ``z = ReLU(BN(W s))`` with ``W: filters -> d`` and the paper's width rule
   ``d = max(filters // reduction, min_units)`` (``d = max(C / r, L)``, ``r = 16``, ``L = 32``);
3. select: one logit per branch and channel, ``A_m z`` (the rows of one ``d -> M * filters``
   matrix, branch after branch), softmax across the branches: ``a_m = softmax_m(A_m z)``, so
   ``sum_m a_m = 1`` per channel; the output ``V = sum_m a_m * U_m``.

``return_attention=True`` returns ``(V, a)`` with the selection weights ``a`` of shape ``(B, M, filters)``.

Padding: ``padding="same"`` pads every branch by ``dilation * (kernel_size - 1) / 2`` zeros at both ends
(the official code's ``pad``; for ``strides=1`` this is Keras' ``"same"``, for ``strides=2`` it keeps the
PyTorch / Caffe sampling grid, see :func:`keras_attention.kernels.convolution.explicit_padding_conv`);
``padding="valid"`` (this package's addition, for LeNet-5's ``valid`` convolution) keeps the positions where
the widest branch's window lies inside the image and centres every branch on them (the narrower branches are
cropped instead of padded), so the branches still add up position by position.

Official code: implus/SKNet is Caffe only (``models/sknet50.prototxt`` at 17dd708, March 2019, read here);
the widely used PyTorch reading is timm's ``timm/layers/selective_kernel.py`` (``SelectiveKernel``, read at
0d4c04f). This layer follows the Caffe model:

- each branch sees the whole input (timm's default ``split_input=True`` gives each branch a slice of the input
  channels);
- ``d = max(C / r, L)`` with ``L = 32`` (the Caffe ``B_fc1`` has 32 outputs where ``C / 16 = 8``); timm rounds
  ``C / 16`` to a multiple of 8 with no floor of 32;
- neither fully connected layer has a bias (``bias_term: false``), as in timm;
- the BatchNormalizations have the Caffe model's momentum 0.95 (Keras ``momentum=0.95``, PyTorch 0.05) and
  epsilon 1e-5, not PyTorch's defaults (timm: momentum 0.1).

The paper and the Caffe model agree on the steps above (the Caffe ``B_fc2`` is the paper's ``A`` and ``B``
stacked; its softmax runs over the branch axis of a ``(B, 2, C)`` reshape).

Reading of what both leave open: kernels are initialised by ``kernel_initializer`` (Glorot-uniform, Keras'
default; Caffe uses MSRA for the branches and N(0, 0.01) for the fully connected layers); ``groups`` defaults to 1
(the ResNeXt backbone of SKNet uses 32). The layer is rank-2 only, like the convolutions it replaces.
"""

import math
from collections.abc import Sequence
from typing import Any, cast

import keras
from keras import ops

from keras_attention.kernels.convolution import explicit_padding_conv
from keras_attention.kernels.geometry import conv_geometry
from keras_attention.utils.checks import check_choice, check_image_shape, check_positive_int, shape_str
from keras_attention.utils.layer_arguments import AttentionOutput, DataFormat, KernelArguments, batch_normalization
from keras_attention.utils.layer_inputs import channels_last_shapes, layer_call
from keras_attention.utils.types import Shape, ShapeLike, Tensor

SK_BN_MOMENTUM = 0.95  # the Caffe model's CuDNNBatchNorm momentum (Keras convention)


def _dilations(value: Sequence[int]) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list)) or len(value) < 2 or any(
        isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in value
    ):
        raise ValueError(f"Argument `dilations` must be a sequence of two or more integers >= 1, one per branch (the "
                         f"layer selects among them); got {value!r}.")
    return tuple(value)


@keras.saving.register_keras_serializable(package="keras_attention")
class SelectiveKernel(AttentionOutput, DataFormat, KernelArguments, keras.layers.Layer):
    """Selective kernel convolution of ``(B, H, W, C)`` images to ``filters`` channels (module docstring):
    ``V = sum_m a_m * U_m``, the branches ``U_m`` (one dilation each) mixed per channel by softmax weights ``a``
    computed from their pooled sum.

    Args:
        filters: output channels of every branch and of the layer.
        kernel_size: odd size of every branch's square kernel (3 in SKNet).
        dilations: the branches' dilations, one branch each, two or more (``(1, 2)``: SKNet's 3x3 and "5x5").
        strides: stride of every branch (1 or more, both axes).
        padding: ``"same"`` or ``"valid"`` (module docstring).
        groups: groups of every branch's convolution; divides ``C`` and ``filters``.
        reduction: ``r`` of the width rule ``d = max(filters // r, L)``.
        min_units: ``L`` of the width rule, the floor of the fuse layer's width ``d``.
        return_attention: also return the selection weights ``a`` (default of every call; ``AttentionOutput``).
        data_format: ``"channels_last"`` (``(B, H, W, C)``) or ``"channels_first"`` (``(B, C, H, W)``), None for
            ``keras.config.image_data_format()`` (``DataFormat``): channels-first images are transposed to
            channels-last at the layer's entry and its outputs back at its exit, the same values as channels-last.
        kernel_initializer, kernel_regularizer: of the branch kernels and the two fully connected layers
            (``KernelArguments``; no biases).

    Call arguments:
        inputs: images ``(B, H, W, C)`` (``(B, C, H, W)`` channels-first).
        training: the BatchNorms' mode (batch statistics when True).
        return_attention: None (the constructor's setting), True or False.

    Returns:
        ``V`` of shape ``(B, H', W', filters)`` (``H' = ceil(H / strides)`` for ``"same"``), or ``(V, a)`` with
        ``a`` of shape ``(B, M, filters)``.

    Raises:
        ValueError: ``filters``, ``kernel_size``, ``strides``, ``groups``, ``reduction`` or ``min_units`` is not a
            positive integer, ``kernel_size`` is even, ``dilations`` is not two or more integers ``>= 1``,
            ``padding`` is not ``"same"`` or ``"valid"``, ``groups`` does not divide ``filters``,
            ``return_attention`` or ``data_format`` invalid; at build or call, an input that is not a
            ``(B, H, W, C)`` image with known channels, whose channels ``groups`` does not divide, or (``"valid"``)
            smaller than the widest branch's window.

    Example:
        >>> import numpy as np
        >>> from keras_attention.layers import SelectiveKernel
        >>> sk = SelectiveKernel(16, strides=2)
        >>> v, a = sk(np.ones((2, 12, 12, 8), "float32"), return_attention=True)
        >>> tuple(v.shape), tuple(a.shape)
        ((2, 6, 6, 16), (2, 2, 16))
        >>> tuple(sk.fuse_kernel.shape)  # d = max(16 // 16, 32) = 32
        (16, 32)
        >>> bool(np.allclose(np.sum(a, axis=1), 1.0))  # a softmax across the branches
        True
    """

    def __init__(self, filters: int, kernel_size: int = 3, dilations: Sequence[int] = (1, 2), strides: int = 1,
                 padding: str = "same", groups: int = 1, reduction: int = 16, min_units: int = 32,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filters = check_positive_int("filters", filters)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"Argument `kernel_size` must be odd (each branch is centred on its position); got "
                             f"{kernel_size!r}.")
        self.dilations = _dilations(dilations)
        self.strides = check_positive_int("strides", strides)
        self.padding = check_choice("padding", padding, {"same", "valid"})
        self.groups = check_positive_int("groups", groups)
        if self.filters % self.groups:
            raise ValueError(f"Argument `groups`={groups} must divide `filters`={filters}.")
        self.reduction = check_positive_int("reduction", reduction)
        self.min_units = check_positive_int("min_units", min_units)
        norm = batch_normalization
        self.branch_norms = [norm(f"branch_{m}_norm", dtype=self.dtype_policy, momentum=SK_BN_MOMENTUM)
                             for m in range(len(self.dilations))]
        self.fuse_norm = norm("fuse_norm", dtype=self.dtype_policy, momentum=SK_BN_MOMENTUM)

    def _extents(self) -> list[int]:
        """The branches' effective kernel sizes ``dilation * (kernel_size - 1) + 1``."""
        return [d * (self.kernel_size - 1) + 1 for d in self.dilations]

    def _pads(self) -> list[int]:
        """Zeros padded at each end of both axes per branch (negative: positions cropped; module docstring)."""
        widest = max(self._extents())
        offset = 0 if self.padding == "same" else (widest - 1) // 2
        return [(extent - 1) // 2 - offset for extent in self._extents()]

    def _output_size(self, n: int | None) -> int | None:
        """The output size along an axis of ``n`` input positions (None when unknown)."""
        if n is None:
            return None
        widest = max(self._extents())
        return conv_geometry(n, widest, self.strides, self.padding)[0]

    def _check_shape(self, input_shape: ShapeLike) -> tuple[Shape, list[int | None]]:
        """The checked shape and the output's ``[H', W']`` (None where unknown); a ValueError where the input does
        not fit (class docstring, Raises)."""
        shape = check_image_shape(type(self).__name__, input_shape)
        if cast(int, shape[-1]) % self.groups:  # channels known: check_image_shape refuses None
            raise ValueError(f"{type(self).__name__}: argument `groups`={self.groups} must divide the input channels; "
                             f"got inputs of shape {shape_str(shape)}.")
        sizes = [self._output_size(n) for n in shape[1:3]]
        if any(s is not None and s < 1 for s in sizes):
            raise ValueError(f"{type(self).__name__}(padding='valid') needs H and W >= {max(self._extents())} (the "
                             f"widest branch's window); got inputs of shape {shape_str(shape)}.")
        return shape, sizes

    @channels_last_shapes
    def build(self, input_shape: ShapeLike) -> None:
        shape, sizes = self._check_shape(input_shape)
        channels = cast(int, shape[-1])  # known: check_image_shape refuses None
        units = max(self.filters // self.reduction, self.min_units)  # d = max(C / r, L)
        window = (self.kernel_size, self.kernel_size)
        self.branch_kernels: list[Any] = []  # keras.Variable
        for m, bn in enumerate(self.branch_norms):
            self.branch_kernels.append(self.add_kernel(f"branch_{m}_kernel",
                                                       window + (channels // self.groups, self.filters)))
            bn.build((None, sizes[0], sizes[1], self.filters))
        self.fuse_kernel = self.add_kernel("fuse_kernel", (self.filters, units))
        self.fuse_norm.build((None, units))
        self.select_kernel = self.add_kernel("select_kernel", (units, len(self.dilations) * self.filters))

    @layer_call
    def call(self, inputs: Tensor, training: bool | None = None,
             return_attention: bool | None = None) -> Tensor | tuple[Tensor, Tensor]:
        branches = []
        # each branch pads its own full-size copy of the input (Keras' "same" would not, for strides=1)
        for kernel, bn, dilation, pad in zip(self.branch_kernels, self.branch_norms, self.dilations, self._pads()):
            u = explicit_padding_conv(inputs, kernel, (pad, pad), strides=self.strides, dilation_rate=dilation)
            branches.append(ops.relu(bn(u, training=training)))  # split
        fused = branches[0]
        for u in branches[1:]:
            fused = fused + u  # U = sum_m U_m
        s = ops.mean(fused, axis=(1, 2))  # s = GAP(U), (B, filters)
        z = ops.relu(self.fuse_norm(ops.matmul(s, self.fuse_kernel), training=training))  # z = ReLU(BN(W s))
        logits = ops.reshape(ops.matmul(z, self.select_kernel), (-1, len(branches), self.filters))
        weights = ops.softmax(logits, axis=1)  # a_m = softmax_m(A_m z), (B, M, filters)
        output: Tensor = 0.0
        for m, u in enumerate(branches):
            output = output + u * ops.reshape(weights[:, m], (-1, 1, 1, self.filters))  # V = sum_m a_m U_m
        return (output, weights) if self.returns_attention(return_attention) else output

    @channels_last_shapes
    def output_and_attention_shapes(self, input_shape: ShapeLike) -> tuple[Shape, Shape]:
        shape, sizes = self._check_shape(input_shape)
        return (shape[0], sizes[0], sizes[1], self.filters), (shape[0], len(self.dilations), self.filters)


    def multiply_adds(self, input_shape: Sequence[int]) -> int:
        """Multiply-accumulates of one call per sample on ``input_shape`` (channels-last; the cost tables of
        :mod:`keras_attention.experiments.costs`): per branch ``N' k^r (C_in / groups) filters``, then ``filters u``
        (fuse) ``+ u M filters`` (select)."""
        out = self.compute_output_shape(tuple(input_shape))
        positions = math.prod(out[1:-1])
        branches = sum(positions * math.prod(kernel.shape) for kernel in self.branch_kernels)
        return branches + math.prod(self.fuse_kernel.shape) + math.prod(self.select_kernel.shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "dilations": list(self.dilations),
                "strides": self.strides,
                "padding": self.padding,
                "groups": self.groups,
                "reduction": self.reduction,
                "min_units": self.min_units,
            }
        )
        return config
