"""The elementwise functions the layers' numpy references share (float64 in, float64 out)."""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def relu(z):
    return np.maximum(z, 0.0)


def softmax(z, axis=-1):
    """Softmax along ``axis``, shifted by the maximum so that large logits do not overflow."""
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)
