"""What the layers' numpy references share: elementwise functions and convolution / normalisation written out in
numpy (float64 in, float64 out), and reading / randomising a layer's weights by name."""

import itertools

import numpy as np
from backend import to_numpy

BN_EPSILON = 1e-5  # the BatchNorm epsilon of the official codes (PyTorch's and Caffe's default)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def relu(z):
    return np.maximum(z, 0.0)


def softmax(z, axis=-1):
    """Softmax along ``axis``, shifted by the maximum so that large logits do not overflow."""
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def conv(x, kernel, *, strides=1, dilation=1, pads=None, groups=1):
    """Channels-last convolution (cross-correlation) of rank 1 or 2, ``kernel`` = window + ``(C_in / groups,
    C_out)``. ``pads``: ``(before, after)`` zeros per spatial axis; default ``same`` at stride 1 (the smaller half
    before). Every output is the sum over the window's taps of the tap's input times the kernel."""
    rank = x.ndim - 2
    window = kernel.shape[:rank]
    if pads is None:
        pads = [((w - 1) * dilation // 2, (w - 1) * dilation - (w - 1) * dilation // 2) for w in window]
    padded = np.pad(x, [(0, 0)] + list(pads) + [(0, 0)])
    sizes = [(padded.shape[1 + i] - (window[i] - 1) * dilation - 1) // strides + 1 for i in range(rank)]
    c_in, c_out = kernel.shape[-2], kernel.shape[-1]
    out = np.zeros((x.shape[0], *sizes, c_out))
    for g in range(groups):
        inputs = slice(g * c_in, (g + 1) * c_in)
        outputs = slice(g * c_out // groups, (g + 1) * c_out // groups)
        for offsets in itertools.product(*[range(w) for w in window]):
            index = tuple(slice(o * dilation, o * dilation + (n - 1) * strides + 1, strides)
                          for o, n in zip(offsets, sizes))
            out[..., outputs] += padded[(slice(None),) + index + (inputs,)] @ kernel[offsets][:, outputs]
    return out


def conv_same(x, kernel, dilation=1):
    """Channels-last ``same`` convolution (stride 1) for rank 1 or 2; ``kernel`` = window + (C_in, C_out)."""
    return conv(x, kernel, dilation=dilation)


def batch_norm(v, w, prefix, training, eps=BN_EPSILON):
    """Keras BatchNormalization on the last axis; inference uses the moving statistics, training the batch's.
    ``w``: the layer's weights by name (:func:`named_weights`), ``prefix`` the BatchNorm's name in it."""
    if training:
        axes = tuple(range(v.ndim - 1))
        mean, var = v.mean(axis=axes), v.var(axis=axes)
    else:
        mean, var = w[f"{prefix}/moving_mean"], w[f"{prefix}/moving_variance"]
    return (v - mean) / np.sqrt(var + eps) * w[f"{prefix}/gamma"] + w[f"{prefix}/beta"]


def named_weights(layer):
    """``{path relative to the layer: value}`` in float64, e.g. ``mlp_1_kernel`` or ``spatial_norm/moving_mean``."""
    return {w.path.split("/", 1)[1]: to_numpy(w, dtype="float64") for w in layer.weights}


def randomise(layer, rng):
    """Give every weight (BatchNorm statistics included) a non-trivial value; variances stay positive."""
    for w in layer.weights:
        shape = tuple(w.shape)
        if w.path.endswith("moving_variance"):
            value = rng.uniform(0.5, 2.0, shape)
        elif w.path.endswith("gamma"):
            value = rng.uniform(0.5, 1.5, shape)
        else:
            value = rng.normal(0.0, 0.5, shape)
        w.assign(value.astype("float32"))
