"""Output sizes and padding of convolutions under Keras / TensorFlow rules (pure Python, no backend)."""

import math
from typing import TypeAlias

#: A size per spatial axis (strides, a dilation rate) as ``keras.ops.conv`` takes it: one int for every axis,
#: or a tuple / list of one per axis.
PerAxis: TypeAlias = int | tuple[int, ...] | list[int]


def conv_geometry(size: int, kernel: int, stride: int, padding: str, dilation: int = 1) -> tuple[int, int, int]:
    """``(output size, pad before, pad after)`` of one axis under Keras / TensorFlow ``same`` / ``valid`` rules:
    ``valid`` keeps ``floor((n - k') / s) + 1`` positions, ``same`` keeps ``ceil(n / s)`` and pads
    ``max((out - 1) * s + k' - n, 0)`` zeros, the smaller half before, with ``k' = (k - 1) * dilation + 1``."""
    effective = (kernel - 1) * dilation + 1
    if padding == "valid":
        return (size - effective) // stride + 1, 0, 0
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + effective - size, 0)
    return out, total // 2, total - total // 2
