"""Convolutions of the fast paths, exact to ``keras.ops.conv`` and faster or more portable where they apply.

- :func:`conv`, :func:`depthwise_conv`: ``keras.ops.conv`` / ``depthwise_conv`` with a work-around for
  PyTorch's reduced-precision CPU convolutions. Keras' torch backend hands ``torch.nn.functional.conv{1,2}d``
  a kernel permuted from Keras' ``(*window, in, out)`` layout, in the channels-last memory format for 2-D.
  Where oneDNN runs the convolution (float32 on every x86 CPU, bfloat16 / float16 on CPUs with AVX-512), that
  is fine. Elsewhere, for instance mixed precision on a CPU without AVX-512 or a torch build without oneDNN,
  torch falls back to its own ``slow_conv2d``, whose backward pass refuses a kernel that is not contiguous in
  the default layout: ``RuntimeError: slow_conv2d: grad_weight must be contiguous``. There the convolution
  runs in :mod:`keras_attention.kernels.torch.convolution` with both operands contiguous in the default
  (channels-first) layout. Same values either way.
- :func:`conv_same`, :func:`banded_conv`, :func:`phase_conv`: a ``same``, stride-1 convolution as a
  convolution over rows with a banded kernel (thin kernels: CBAM's 2 -> 1 channels, BAM's ``C/r -> C/r``) or
  over the phase images (dilated kernels), which oneDNN and XLA's CPU backend run several times faster.
"""

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from keras_attention.kernels.geometry import PerAxis, conv_geometry  # noqa: F401 - conv_geometry re-exported
from keras_attention.kernels.probes import in_xla_context
from keras_attention.utils.types import Tensor

BANDED_MAX_WIDTH = 64  # widest image whose convolution may run as a banded row convolution (W/k_w times the flops)
_REDUCED = ("float16", "bfloat16")


def _torch_slow_path(x: Tensor) -> bool:
    """Whether torch may run this convolution in its own ``slow_conv2d`` (module docstring)."""
    if keras.backend.backend() != "torch":
        return False
    import torch

    if keras.backend.standardize_dtype(x.dtype) in _REDUCED:
        return True
    return not (torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled)


def conv(x: Tensor, kernel: Tensor, strides: PerAxis = 1, padding: str = "valid",
         dilation_rate: PerAxis = 1) -> Tensor:
    """``keras.ops.conv(x, kernel, strides, padding, dilation_rate=dilation_rate)`` for channels-last ``x``;
    under torch in float16 / bfloat16, or without oneDNN, computed with channels-first contiguous operands
    (module docstring)."""
    if _torch_slow_path(x):
        from keras_attention.kernels.torch.convolution import contiguous_conv

        return contiguous_conv(x, kernel, strides, padding, dilation_rate)
    return ops.conv(x, kernel, strides=strides, padding=padding, dilation_rate=dilation_rate)


def depthwise_conv(x: Tensor, kernel: Tensor, strides: PerAxis = 1, padding: str = "valid",
                   dilation_rate: PerAxis = 1) -> Tensor:
    """``keras.ops.depthwise_conv``, with :func:`conv`'s torch work-around: where it applies, a grouped
    convolution of ``kernel`` ``(*window, C, multiplier)`` as ``(*window, 1, C * multiplier)``, one group per
    input channel (the output channels in Keras' order, ``c * multiplier + m``)."""
    if _torch_slow_path(x):
        from keras_attention.kernels.torch.convolution import contiguous_conv

        window = tuple(kernel.shape[:-2])
        grouped = ops.reshape(kernel, window + (1, kernel.shape[-2] * kernel.shape[-1]))
        return contiguous_conv(x, grouped, strides, padding, dilation_rate)
    return ops.depthwise_conv(x, kernel, strides=strides, padding=padding, dilation_rate=dilation_rate)


def banded_conv(x: Tensor, kernel: Tensor, dilation: int = 1) -> Tensor | None:
    """``same``, stride-1 rank-2 convolution of ``x`` (channels last) as a rank-1 convolution over rows, or
    None when the width is unknown or wider than ``BANDED_MAX_WIDTH``.

    Each image row ``(W, C_in)`` is one vector of ``W * C_in`` channels; a banded (Toeplitz) kernel
    ``(k_h, W * C_in, W * C_out)`` built from ``kernel`` does the column taps and the zero padding along W,
    so ``conv1d(rows, banded)`` over H is the rank-2 convolution. Same values as ``keras.ops.conv`` (to
    round-off), but a thin convolution (CBAM's 2 -> 1 channels, BAM's ``C/r -> C/r``) becomes one with
    ``W``-times wider channels, which oneDNN and XLA run far faster."""
    if x.ndim != 4 or x.shape[2] is None or x.shape[2] > BANDED_MAX_WIDTH:
        return None
    k_h, k_w, c_in, c_out = (int(d) for d in kernel.shape)
    width = int(x.shape[2])
    before = (k_w - 1) * dilation // 2
    a = np.arange(width)[:, None]  # input column
    w = np.arange(width)[None, :]  # output column
    band = np.stack([a - w + before == j * dilation for j in range(k_w)])  # (k_w, W_in, W_out)
    band = ops.convert_to_tensor(band.astype(keras.backend.standardize_dtype(x.dtype)))
    kernel = ops.cast(kernel, x.dtype)
    banded = ops.einsum("ijco,jaw->iacwo", kernel, band)  # (k_h, W_in, C_in, W_out, C_out)
    banded = ops.reshape(banded, (k_h, width * c_in, width * c_out))
    shape = ops.shape(x)
    rows = ops.reshape(x, (shape[0], shape[1], width * c_in))
    out = conv(rows, banded, strides=1, padding="same", dilation_rate=dilation)
    return ops.reshape(out, (shape[0], shape[1], width, c_out))


def phase_conv(x: Tensor, kernel: Tensor, dilation: int) -> Tensor | None:
    """``same`` rank-2 convolution with dilation ``d`` as an undilated one on the ``d * d`` phase images
    (``x[:, i::d, j::d]``, stacked along the batch), or None unless H and W are static multiples of ``d``
    and the window is odd (then the padding falls on whole phase rows/columns and the result is exact).
    Each phase image is convolved by :func:`conv_same` (banded), so BAM's thin 3x3, dilation-4
    convolutions become small dense matmul-like convolutions instead of oneDNN's or XLA's slow paths."""
    k_h, k_w = int(kernel.shape[0]), int(kernel.shape[1])
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None or height % dilation or width % dilation or not (k_h % 2 and k_w % 2):
        return None
    c_in, c_out = int(kernel.shape[2]), int(kernel.shape[3])
    h, w = height // dilation, width // dilation
    phases = ops.reshape(x, (-1, h, dilation, w, dilation, c_in))
    phases = ops.reshape(ops.transpose(phases, (0, 2, 4, 1, 3, 5)), (-1, h, w, c_in))
    out = conv_same(phases, kernel)
    out = ops.reshape(out, (-1, dilation, dilation, h, w, c_out))
    return ops.reshape(ops.transpose(out, (0, 3, 1, 4, 2, 5)), (-1, height, width, c_out))


def conv_same(x: Tensor, kernel: Tensor, dilation: int = 1) -> Tensor:
    """``keras.ops.conv(x, kernel, padding="same", dilation_rate=dilation)`` (stride 1), computed for
    images by :func:`banded_conv` (no dilation) or :func:`phase_conv` (dilation) where they apply, and
    under XLA by a dilated :func:`banded_conv` where the phases do not; same values to round-off."""
    if x.ndim == 4:
        if dilation == 1:
            out = banded_conv(x, kernel)
        else:
            out = phase_conv(x, kernel, dilation)
            if out is None and in_xla_context():  # oneDNN's own dilated convolution is faster outside XLA
                out = banded_conv(x, kernel, dilation)
        if out is not None:
            return out
    rank = x.ndim - 2
    return conv(x, kernel, strides=1, padding="same", dilation_rate=(dilation,) * rank)


def explicit_padding_conv(x: Tensor, kernel: Tensor, pads: Sequence[int], strides: int | Sequence[int] = 1,
                          dilation_rate: int | Sequence[int] = 1, depthwise: bool = False) -> Tensor:
    """A ``valid`` :func:`conv` (or :func:`depthwise_conv`) of channels-last ``x`` after padding spatial axis ``i``
    with ``pads[i]`` zeros at both ends, PyTorch's and Caffe's ``padding=p``; a negative ``pads[i]`` crops that
    many positions from both ends instead.

    Keras' ``"same"`` puts the smaller half of an odd total padding before the data, so a stride-2 convolution
    samples its windows from position 0 where PyTorch's symmetric padding starts them at ``-p``: layers that follow
    a PyTorch or Caffe original (SK, GE) pad this way to compute the official code's values. TensorFlow refuses a
    stride above 1 together with a dilation above 1; there the stride-1 convolution is subsampled (the same
    values, ``prod(strides)`` times the work)."""
    rank = x.ndim - 2
    if any(p < 0 for p in pads):
        x = x[(slice(None),) + tuple(slice(-p, p) if p < 0 else slice(None) for p in pads) + (slice(None),)]
    if any(p > 0 for p in pads):
        x = ops.pad(x, [(0, 0)] + [(max(p, 0), max(p, 0)) for p in pads] + [(0, 0)])
    operation = depthwise_conv if depthwise else conv
    dilation = (dilation_rate,) * rank if isinstance(dilation_rate, int) else tuple(dilation_rate)
    stride = (strides,) * rank if isinstance(strides, int) else tuple(strides)
    if keras.backend.backend() == "tensorflow" and max(stride) > 1 and max(dilation) > 1:
        # TensorFlow refuses strides > 1 with dilation > 1: the stride-1 convolution, subsampled (same values)
        full = operation(x, kernel, strides=1, padding="valid", dilation_rate=dilation)
        return full[(slice(None),) + tuple(slice(None, None, s) for s in stride) + (slice(None),)]
    return operation(x, kernel, strides=stride, padding="valid", dilation_rate=dilation)
