"""``conv``: ``keras.ops.conv`` with a work-around for PyTorch's reduced-precision CPU convolutions.

Keras' torch backend hands ``torch.nn.functional.conv{1,2}d`` a kernel permuted from Keras' ``(*window, in,
out)`` layout, in the channels-last memory format for 2-D. Where oneDNN runs the convolution (float32 on every
x86 CPU, bfloat16 / float16 on CPUs with AVX-512), that is fine. Elsewhere, for instance mixed precision on a
CPU without AVX-512 or a torch build without oneDNN, torch falls back to its own ``slow_conv2d``, whose
backward pass refuses a kernel that is not contiguous in the default layout: ``RuntimeError: slow_conv2d:
grad_weight must be contiguous``. Under torch, for float16 / bfloat16 and wherever oneDNN is off or missing,
:func:`conv` therefore calls torch itself with both operands contiguous in the default (channels-first)
layout; every other case is ``keras.ops.conv``. Same values either way.
"""

import math

import keras
from keras import ops

_REDUCED = ("float16", "bfloat16")


def _torch_slow_path(x):
    """Whether torch may run this convolution in its own ``slow_conv2d`` (module docstring)."""
    if keras.backend.backend() != "torch":
        return False
    import torch

    if keras.backend.standardize_dtype(x.dtype) in _REDUCED:
        return True
    return not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)


def _tuple(value, rank):
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * rank


def _same_pads(size, kernel, stride, dilation):
    """Keras / TensorFlow ``same`` padding of one axis: ``(before, after)``, the smaller half before."""
    effective = (kernel - 1) * dilation + 1
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def _torch_conv(x, kernel, strides, padding, dilation_rate):
    import torch
    import torch.nn.functional as tnn

    rank = x.ndim - 2
    strides, dilation = _tuple(strides, rank), _tuple(dilation_rate, rank)
    kernel = ops.cast(kernel, x.dtype)
    # (B, *S, C) -> (B, C, *S); (*window, C_in/groups, C_out) -> (C_out, C_in/groups, *window); contiguous
    xt = torch.movedim(x, -1, 1).contiguous()
    kt = torch.movedim(torch.movedim(kernel, -1, 0), -1, 1).contiguous()
    if padding == "same":
        pads = [_same_pads(xt.shape[2 + i], kt.shape[2 + i], strides[i], dilation[i]) for i in range(rank)]
        flat = [p for pair in reversed(pads) for p in pair]  # torch pads the last axis first
        if any(flat):
            xt = tnn.pad(xt, flat)
    groups = xt.shape[1] // kt.shape[1]
    function = tnn.conv1d if rank == 1 else tnn.conv2d if rank == 2 else tnn.conv3d
    y = function(xt, kt, stride=strides, padding=0, dilation=dilation, groups=groups)
    return torch.movedim(y, 1, -1)


def conv(x, kernel, strides=1, padding="valid", dilation_rate=1):
    """``keras.ops.conv(x, kernel, strides, padding, dilation_rate=dilation_rate)`` for channels-last ``x``;
    under torch in float16 / bfloat16, or without oneDNN, computed with channels-first contiguous operands (module docstring)."""
    if _torch_slow_path(x):
        return _torch_conv(x, kernel, strides, padding, dilation_rate)
    return ops.conv(x, kernel, strides=strides, padding=padding, dilation_rate=dilation_rate)


def depthwise_conv(x, kernel, strides=1, padding="valid", dilation_rate=1):
    """``keras.ops.depthwise_conv``, with :func:`conv`'s torch work-around: under torch in float16 / bfloat16,
    a grouped convolution of ``kernel`` ``(*window, C, multiplier)`` as ``(*window, 1, C * multiplier)``, one
    group per input channel (the output channels in Keras' order, ``c * multiplier + m``)."""
    if _torch_slow_path(x):
        window = tuple(kernel.shape[:-2])
        grouped = ops.reshape(kernel, window + (1, kernel.shape[-2] * kernel.shape[-1]))
        return _torch_conv(x, grouped, strides, padding, dilation_rate)
    return ops.depthwise_conv(x, kernel, strides=strides, padding=padding, dilation_rate=dilation_rate)
