"""PyTorch's convolution with both operands contiguous in the default (channels-first) layout, for the cases
where torch runs it in its own ``slow_conv2d`` (see :mod:`keras_attention.kernels.convolution`). Imported
only under the torch backend."""

import torch
import torch.nn.functional as tnn
from keras import ops

from keras_attention.kernels.geometry import PerAxis, conv_geometry
from keras_attention.utils.types import Tensor


def _tuple(value: PerAxis, rank: int) -> tuple[int, ...]:
    """``value`` for each of ``rank`` axes: a sequence as a tuple, an int repeated."""
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * rank


def contiguous_conv(x: Tensor, kernel: Tensor, strides: PerAxis, padding: str, dilation_rate: PerAxis) -> Tensor:
    """The convolution of channels-last ``x`` (``(B, *S, C_in)``) with a Keras kernel ``(*window, C_in / groups,
    C_out)``: ``same`` padding as Keras / TensorFlow (the smaller half before), groups from the channel counts,
    the result channels-last."""
    rank = x.ndim - 2
    strides, dilation = _tuple(strides, rank), _tuple(dilation_rate, rank)
    kernel = ops.cast(kernel, x.dtype)
    # (B, *S, C) -> (B, C, *S); (*window, C_in/groups, C_out) -> (C_out, C_in/groups, *window); contiguous
    xt = torch.movedim(x, -1, 1).contiguous()
    kt = torch.movedim(torch.movedim(kernel, -1, 0), -1, 1).contiguous()
    if padding == "same":
        pads = [conv_geometry(xt.shape[2 + i], kt.shape[2 + i], strides[i], "same", dilation[i])[1:]
                for i in range(rank)]
        flat = [p for pair in reversed(pads) for p in pair]  # torch pads the last axis first
        if any(flat):
            xt = tnn.pad(xt, flat)
    groups = xt.shape[1] // kt.shape[1]
    function = tnn.conv1d if rank == 1 else tnn.conv2d if rank == 2 else tnn.conv3d
    y = function(xt, kt, stride=strides, padding=0, dilation=dilation, groups=groups)
    return torch.movedim(y, 1, -1)
