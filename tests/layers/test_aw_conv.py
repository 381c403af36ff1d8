"""AWConv2D (SPEC §5, AW eq. 5-8) against a numpy reference."""

import math

import keras
import numpy as np
import pytest
from backend import backends, jit_call, to_numpy
from keras import ops
from numpy_reference import relu, sigmoid
from tolerance import assert_close

from keras_attention.layers.aw_conv import AWConv2D, adaptive_pool_bins, adaptive_pool_matrix


# ============================================================================ AWConv2D: references
def ref_adaptive_pool(x, kh, kw):
    """PyTorch adaptive average pooling: bin i of n -> m covers floor(i n / m) <= p < ceil((i + 1) n / m)."""
    b, h, w, c = x.shape
    out = np.zeros((b, kh, kw, c))
    for i in range(kh):
        h0, h1 = math.floor(i * h / kh), math.ceil((i + 1) * h / kh)
        for j in range(kw):
            w0, w1 = math.floor(j * w / kw), math.ceil((j + 1) * w / kw)
            out[:, i, j] = x[:, h0:h1, w0:w1].mean(axis=(1, 2))
    return out


def ref_bn(z, bn, training):
    if training:
        mean, var = z.mean(axis=(0, 1, 2)), z.var(axis=(0, 1, 2))
    else:
        mean, var = to_numpy(bn.moving_mean), to_numpy(bn.moving_variance)
    return to_numpy(bn.gamma) * (z - mean) / np.sqrt(var + bn.epsilon) + to_numpy(bn.beta)


def ref_attention(x, layer, training=False):
    """F1 (eq. 7-8, r_C1 = C1): pool to (kh, kw) -> pointwise -> BN -> ReLU -> pointwise -> BN -> sigmoid."""
    kh, kw = layer.kernel_size
    a0 = ref_adaptive_pool(x.astype("float64"), kh, kw)
    a1 = relu(ref_bn(a0 @ to_numpy(layer.pointwise1), layer.bn1, training))
    return sigmoid(ref_bn(a1 @ to_numpy(layer.pointwise2), layer.bn2, training))


def ref_awconv(x, layer, training=False):
    """Per sample b: AK[b] = K * (1 + a[b]) expanded along C1 (F2), then an ordinary conv of x[b] (F3)."""
    a = ref_attention(x, layer, training)
    kernel = to_numpy(layer.kernel).astype("float64")
    outs = []
    for b in range(x.shape[0]):
        ak = kernel * (1.0 + a[b][:, :, None, :])
        outs.append(
            to_numpy(
                ops.conv(x[b : b + 1], ak.astype("float32"), strides=layer.strides, padding=layer.padding)
            )
        )
    out = np.concatenate(outs, 0)
    if layer.use_bias:
        out = out + to_numpy(layer.bias)
    return out


def randomise_bn(layer, rng):
    """Give the two BatchNormalizations of the AWConv2D ``layer`` non-trivial parameters and moving
    statistics drawn from ``rng`` (shared by tests/layers/test_aw_conv_fast_paths.py)."""
    for bn in (layer.bn1, layer.bn2):
        n = bn.gamma.shape[0]
        bn.gamma.assign(rng.uniform(0.5, 1.5, n).astype("float32"))
        bn.beta.assign(rng.normal(0, 0.5, n).astype("float32"))
        bn.moving_mean.assign(rng.normal(0, 0.3, n).astype("float32"))
        bn.moving_variance.assign(rng.uniform(0.5, 2.0, n).astype("float32"))


def test_adaptive_pool_bins_like_pytorch():
    assert adaptive_pool_bins(6, 3) == [(0, 2), (2, 4), (4, 6)]
    assert adaptive_pool_bins(7, 3) == [(0, 3), (2, 5), (4, 7)]  # overlapping bins
    assert adaptive_pool_bins(2, 3) == [(0, 1), (0, 2), (1, 2)]  # fewer inputs than outputs
    assert_close(adaptive_pool_matrix(5, 2), [[1 / 3] * 3 + [0, 0], [0, 0] + [1 / 3] * 3])


@backends
@pytest.mark.parametrize(
    "kernel_size, strides, padding, use_bias",
    [
        (3, 1, "same", False),
        ((3, 2), 2, "same", True),
        ((2, 3), 2, "valid", False),
        (3, 1, "valid", True),
        ((1, 4), (1, 2), "same", False),
    ],
)
def test_awconv_matches_per_sample_reference(rng, kernel_size, strides, padding, use_bias):
    x = rng.standard_normal((3, 7, 9, 5)).astype("float32")
    layer = AWConv2D(4, kernel_size, strides=strides, padding=padding, use_bias=use_bias)
    layer.build(x.shape)
    randomise_bn(layer, rng)
    if use_bias:
        layer.bias.assign(rng.normal(size=4).astype("float32"))
    expected = ref_awconv(x, layer)
    got = to_numpy(layer(x, training=False))
    assert got.shape == expected.shape == layer.compute_output_shape(x.shape)
    assert_close(got, expected)
    attention = to_numpy(layer.attention(x, training=False))
    assert_close(attention, ref_attention(x, layer))
    jitted = jit_call(lambda t: layer(t, training=False), x)  # None under torch (no XLA)
    if jitted is not None:
        assert_close(jitted, expected)


@backends
def test_awconv_training_uses_batch_statistics(rng):
    x = rng.standard_normal((4, 6, 6, 16)).astype("float32")
    layer = AWConv2D(8, 3, reduction=4)
    layer.build(x.shape)
    randomise_bn(layer, rng)
    assert layer.pointwise1.shape == (16, 8)  # max(8, 16 // 4)
    expected = ref_awconv(x, layer, training=True)
    assert_close(to_numpy(layer(x, training=True)), expected)
    # and it differs from the inference-mode output, so the check above is not vacuous
    assert np.abs(ref_awconv(x, layer, training=False) - expected).max() > 1e-3


def test_awconv_is_conv_with_attention_scaled_kernel(rng):
    """Cross-check: the per-sample output equals conv(x, K) + conv(x, K * a) (AW paper eq. 6)."""
    x = rng.standard_normal((2, 5, 5, 3)).astype("float32")
    layer = AWConv2D(2, 3)
    y = to_numpy(layer(x, training=False))
    a = to_numpy(layer.attention(x, training=False))
    kernel = to_numpy(layer.kernel)
    for b in range(2):
        plain = to_numpy(ops.conv(x[b : b + 1], kernel, padding="same"))
        extra = to_numpy(ops.conv(x[b : b + 1], kernel * a[b][:, :, None, :], padding="same"))
        assert_close(y[b : b + 1], plain + extra)


def test_awconv_errors():
    with pytest.raises(ValueError, match=r"rank 4 \(B, H, W, C1\); got shape \(2, 8, 3\)"):
        AWConv2D(4, 3)(np.zeros((2, 8, 3), "float32"))
    with pytest.raises(ValueError, match=r"known H, W and C1.*\(None, None, None, 3\)"):
        AWConv2D(4, 3)(keras.Input((None, None, 3)))
    with pytest.raises(ValueError, match=r"padding='valid' and kernel_size=\(3, 3\).*\(2, 2, 5, 1\)"):
        AWConv2D(4, 3, padding="valid")(np.zeros((2, 2, 5, 1), "float32"))
    with pytest.raises(ValueError, match=r"`filters` must be an integer >= 1; got 0"):
        AWConv2D(0, 3)
    with pytest.raises(ValueError, match=r"`kernel_size` must be an integer or a pair.*\(3, 3, 3\)"):
        AWConv2D(4, (3, 3, 3))
    with pytest.raises(ValueError, match=r"`strides` must be an integer >= 1; got 0"):
        AWConv2D(4, 3, strides=(1, 0))
    with pytest.raises(ValueError, match=r"`padding` must be one of \['same', 'valid'\]; got 'causal'"):
        AWConv2D(4, 3, padding="causal")
    with pytest.raises(ValueError, match=r"`use_bias` must be True or False; got 1"):
        AWConv2D(4, 3, use_bias=1)


