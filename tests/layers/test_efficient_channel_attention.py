"""ECA (keras_attention.layers.efficient_channel_attention) against a numpy reference written from the paper's
eq. 2, 10 and 12, and the adaptive kernel size against the authors' formula (the paper's Fig. 3 code)."""

import math

import numpy as np
import pytest
from backend import backends, to_numpy
from numpy_reference import named_weights, sigmoid
from tolerance import assert_close

from keras_attention.layers import ECA, EfficientChannelAttention
from keras_attention.layers.efficient_channel_attention import adaptive_kernel_size


def ref_eca(x, kernel):
    """eq. 2, 10: ``w_c = sigmoid(sum_j kernel[j] * y[c + j - (k-1)/2])`` with zeros outside ``0..C-1``."""
    y = x.mean(axis=tuple(range(1, x.ndim - 1)))  # (B, C)
    k = kernel.shape[0]
    half = (k - 1) // 2
    channels = y.shape[-1]
    z = np.zeros_like(y)
    for c in range(channels):
        for j in range(k):
            source = c + j - half
            if 0 <= source < channels:
                z[:, c] += kernel[j] * y[:, source]
    w = sigmoid(z).reshape((x.shape[0],) + (1,) * (x.ndim - 2) + (channels,))
    return x * w, w


def fig3_kernel_size(channels, gamma=2, b=1):
    """The paper's Fig. 3 listing, as written there."""
    t = int(abs((math.log(channels, 2) + b) / gamma))
    return t if t % 2 else t + 1


@pytest.mark.parametrize("channels, expected", [(64, 3), (256, 5), (512, 5), (128, 5), (2048, 7), (16, 3), (1, 1)])
def test_adaptive_kernel_size_table(channels, expected):
    assert adaptive_kernel_size(channels) == expected == fig3_kernel_size(channels)
    layer = ECA()
    layer.build((None, 4, 4, channels))
    assert tuple(layer.kernel.shape) == (expected, 1, 1)


@pytest.mark.parametrize("gamma, beta", [(1.0, 0.0), (3.0, 2.0), (2.5, 1.0)])
def test_adaptive_kernel_size_follows_gamma_and_beta(gamma, beta):
    for channels in (3, 24, 96, 320, 1000):
        assert ECA(gamma=gamma, beta=beta).kernel_size_for(channels) == fig3_kernel_size(channels, gamma, beta)
    assert ECA(kernel_size=7).kernel_size_for(64) == 7


@backends
@pytest.mark.parametrize("shape, kernel_size", [((2, 5, 6, 9), 3), ((3, 11, 7), 5), ((2, 4, 4, 4), 7)])
def test_matches_numpy_reference(shape, kernel_size, rng):
    x = rng.normal(size=shape).astype("float32")
    layer = EfficientChannelAttention(kernel_size=kernel_size, return_attention=True)
    layer.build(x.shape)
    layer.kernel.assign(rng.normal(size=layer.kernel.shape).astype("float32"))
    out, w = layer(x)
    ref_out, ref_w = ref_eca(x.astype("float64"), named_weights(layer)["kernel"][:, 0, 0])
    assert_close(to_numpy(w), ref_w)
    assert_close(to_numpy(out), ref_out)


def test_hand_set_kernel_mixes_neighbouring_channels():
    """Kernel [1, 0, 0]: channel c reads channel c - 1 (the first reads the zero padding)."""
    x = np.zeros((1, 2, 2, 3), "float32")
    x[..., 0], x[..., 1], x[..., 2] = 1.0, 2.0, -3.0
    layer = ECA(kernel_size=3, return_attention=True)
    layer.build(x.shape)
    layer.kernel.assign(np.array([1.0, 0.0, 0.0], "float32").reshape(3, 1, 1))
    _, w = layer(x)
    assert_close(to_numpy(w).ravel(), sigmoid(np.array([0.0, 1.0, 2.0])))


@pytest.mark.parametrize("kwargs, match", [
    ({"kernel_size": 4}, r"`kernel_size` must be odd .*; got 4"),
    ({"kernel_size": 0}, r"`kernel_size` must be an integer >= 1; got 0"),
    ({"gamma": 0}, r"`gamma` must be a finite number > 0; got 0"),
    ({"beta": "1"}, r"`beta` must be a finite number; got '1'"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ECA(**kwargs)
