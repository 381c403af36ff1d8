"""Coordinate attention (keras_attention.layers.coordinate_attention) against a numpy reference written from the
paper's eq. 4-9 with the official code's BatchNorm and h-swish."""

import numpy as np
import pytest
from backend import backends, to_numpy
from numpy_reference import batch_norm, named_weights, randomise, sigmoid
from tolerance import assert_close

from keras_attention.layers import CoordinateAttention


def h_swish(v):
    return v * np.clip(v + 3.0, 0.0, 6.0) / 6.0


def ref_coordinate_attention(x, w, training=False):
    _, height, _, _ = x.shape
    z_h = x.mean(axis=2)  # eq. 4: (B, H, C), the mean over the width
    z_w = x.mean(axis=1)  # eq. 5: (B, W, C)
    y = np.concatenate([z_h, z_w], axis=1) @ w["reduce_kernel"] + w["reduce_bias"]  # (B, H + W, mip)
    f = h_swish(batch_norm(y, w, "norm", training))  # eq. 6, one normalisation of both
    g_h = sigmoid(f[:, :height] @ w["height_kernel"] + w["height_bias"])  # eq. 7, (B, H, C)
    g_w = sigmoid(f[:, height:] @ w["width_kernel"] + w["width_bias"])  # eq. 8, (B, W, C)
    mask = g_h[:, :, None, :] * g_w[:, None, :, :]
    return x * mask, mask  # eq. 9


@backends
@pytest.mark.parametrize("training", [False, True])
def test_matches_numpy_reference(training, rng):
    x = rng.normal(size=(3, 5, 7, 12)).astype("float32")
    layer = CoordinateAttention(reduction=4, min_channels=2, return_attention=True)
    layer.build(x.shape)
    randomise(layer, rng)
    weights = named_weights(layer)
    out, mask = layer(x, training=training)
    ref_out, ref_mask = ref_coordinate_attention(x.astype("float64"), weights, training)
    assert_close(to_numpy(mask), ref_mask)
    assert_close(to_numpy(out), ref_out)


@pytest.mark.parametrize("channels, reduction, min_channels, hidden", [(64, 32, 8, 8), (512, 32, 8, 16), (12, 4, 2, 3),
                                                                       (4, 32, 8, 8)])
def test_hidden_width_is_the_official_mip(channels, reduction, min_channels, hidden):
    layer = CoordinateAttention(reduction=reduction, min_channels=min_channels)
    layer.build((None, 4, 5, channels))
    w = named_weights(layer)
    assert w["reduce_kernel"].shape == (channels, hidden)
    assert w["height_kernel"].shape == w["width_kernel"].shape == (hidden, channels)
    assert w["norm/gamma"].shape == (hidden,)
    assert layer.norm.momentum == 0.9 and layer.norm.epsilon == 1e-5  # PyTorch's nn.BatchNorm2d defaults


def test_each_direction_gates_its_own_axis():
    """Hand-set: F_1 the identity, F_h reading the mean over the width, F_w switched off (sigmoid(0) = 1/2):
    the mask varies along H only, and equals sigmoid(h_swish(BN(z_h))) / 2."""
    x = np.arange(2 * 3 * 4 * 2, dtype="float32").reshape(2, 3, 4, 2) / 10.0
    layer = CoordinateAttention(reduction=1, min_channels=2, return_attention=True)
    layer.build(x.shape)
    layer.reduce_kernel.assign(np.eye(2, dtype="float32"))
    layer.height_kernel.assign(np.eye(2, dtype="float32"))
    layer.width_kernel.assign(np.zeros((2, 2), "float32"))
    _, mask = layer(x, training=False)
    mask = to_numpy(mask)
    assert np.ptp(mask, axis=2).max() == 0.0  # constant along the width
    expected = sigmoid(h_swish(x.astype("float64").mean(axis=2) / np.sqrt(1 + 1e-5))) / 2.0
    assert_close(mask[:, :, 0, :], expected)


def test_needs_images():
    with pytest.raises(ValueError, match=r"CoordinateAttention expects images of rank 4"):
        CoordinateAttention()(np.zeros((2, 5, 3), "float32"))
