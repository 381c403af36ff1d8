"""FocusAssociation (SPEC §3, FANet eq. 5-9) and AWConv2D (SPEC §5, AW eq. 5-8) against numpy references."""

import math

import keras
import numpy as np
import pytest
from backend import backends, jit_call, to_numpy
from keras import ops

from keras_attention.layers.aw_conv import AWConv2D, adaptive_pool_bins, adaptive_pool_matrix
from keras_attention.layers.focus_association import FocusAssociation, projection_strides
from layer_conventions import check_layer_conventions


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def relu(z):
    return np.maximum(z, 0.0)


# ============================================================================ FA: numpy reference
def ref_fa(x, u, s, w1, w2, w3=None, w4=None, projection=None, strides=None):
    """eq. 5-9 written out; the projection is a strided 1x1 convolution (subsample, then mix channels)."""
    spatial = tuple(range(1, x.ndim - 1))
    k = sigmoid(relu(x.mean(axis=spatial) @ w1) @ w2)  # eq. 5-7: (B, 1)
    if s is not None:
        k = sigmoid(relu(np.concatenate([s, k], -1) @ w3) @ w4)  # eq. 8
    if projection is not None:
        index = (slice(None),) + tuple(slice(None, None, t) for t in strides) + (slice(None),)
        x = x[index] @ projection.reshape(projection.shape[-2:])
    x_next = x + (u - x) * k.reshape((-1,) + (1,) * (x.ndim - 1))  # eq. 9
    s_next = k if s is None else np.concatenate([s, k], -1)
    return x_next, s_next


def fa_weights(layer):
    return {w.name: to_numpy(w) for w in layer.weights}


@backends
def test_fa_first_block_matches_eq_5_to_9(rng):
    x = rng.standard_normal((3, 5, 4, 8)).astype("float32")
    u = rng.standard_normal((3, 5, 4, 8)).astype("float32")
    layer = FocusAssociation(reduction=4)
    x_next, s_next = layer([x, u])
    w = fa_weights(layer)
    assert w["focus_w1"].shape == (8, 2) and w["focus_w2"].shape == (2, 1)
    assert set(w) == {"focus_w1", "focus_w2"}  # no association, no projection for block 1
    ref_x, ref_s = ref_fa(x, u, None, w["focus_w1"], w["focus_w2"])
    np.testing.assert_allclose(to_numpy(x_next), ref_x, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(s_next), ref_s, atol=1e-6)
    assert s_next.shape == (3, 1)
    # k lies strictly between 0 and 1, so x_next lies between x and u element-wise
    lo, hi = np.minimum(x, u) - 1e-6, np.maximum(x, u) + 1e-6
    assert np.all((to_numpy(x_next) >= lo) & (to_numpy(x_next) <= hi))


@backends
def test_fa_later_block_with_association(rng):
    x = rng.standard_normal((2, 4, 4, 6)).astype("float32")
    u = rng.standard_normal((2, 4, 4, 6)).astype("float32")
    s = rng.uniform(size=(2, 3)).astype("float32")  # k_1 .. k_3, so this is block i = 4
    layer = FocusAssociation(reduction=2, expansion=4)
    x_next, s_next = layer([x, u, s])
    w = fa_weights(layer)
    assert w["association_w3"].shape == (4, 16) and w["association_w4"].shape == (16, 1)
    assert w["focus_w1"].shape == (6, 3)
    ref_x, ref_s = ref_fa(x, u, s, w["focus_w1"], w["focus_w2"], w["association_w3"], w["association_w4"])
    np.testing.assert_allclose(to_numpy(x_next), ref_x, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(s_next), ref_s, atol=1e-6)
    np.testing.assert_array_equal(to_numpy(s_next)[:, :3], s)  # s_next = [s, k]
    assert layer.compute_output_shape([x.shape, u.shape, s.shape]) == ((2, 4, 4, 6), (2, 4))


@pytest.mark.parametrize(
    "x_shape, u_shape, strides",
    [
        ((2, 7, 7, 4), (2, 4, 4, 6), (2, 2)),  # ceil(7 / 2) = 4
        ((2, 8, 6, 4), (2, 4, 6, 4), (2, 1)),  # per-axis strides, same channels
        ((2, 10, 3), (2, 4, 5), (3,)),  # sequences: ceil(10 / 3) = 4, and 2 would give 5
        ((2, 5, 5, 3), (2, 5, 5, 7), (1, 1)),  # channels only
    ],
)
def test_fa_projection_when_shapes_differ(rng, x_shape, u_shape, strides):
    x = rng.standard_normal(x_shape).astype("float32")
    u = rng.standard_normal(u_shape).astype("float32")
    s = rng.uniform(size=(2, 1)).astype("float32")
    layer = FocusAssociation(reduction=2)
    x_next, s_next = layer([x, u, s])
    assert layer._strides == strides
    w = fa_weights(layer)
    assert w["projection_kernel"].shape == (1,) * len(strides) + (x_shape[-1], u_shape[-1])
    assert w["focus_w1"].shape[0] == x_shape[-1]  # the focus step reads x before the projection
    ref_x, ref_s = ref_fa(
        x, u, s, w["focus_w1"], w["focus_w2"], w["association_w3"], w["association_w4"],
        w["projection_kernel"], strides,
    )
    np.testing.assert_allclose(to_numpy(x_next), ref_x, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(s_next), ref_s, atol=1e-6)
    assert x_next.shape == u_shape


def test_projection_strides_rule():
    assert projection_strides((None, 32, 32, 16), (None, 16, 16, 32)) == (2, 2)
    assert projection_strides((None, 10, 9, 1), (None, 4, 9, 1)) == (3, 1)
    assert projection_strides((None, None, 5, 1), (None, None, 3, 1)) == (1, 2)
    with pytest.raises(ValueError, match=r"x \(None, 6, 1\) onto u \(None, 4, 1\).*ceil\(6 / t\) == 4"):
        projection_strides((None, 6, 1), (None, 4, 1))
    with pytest.raises(ValueError, match=r"x \(None, None, 1\) onto u \(None, 4, 1\).*must be known"):
        projection_strides((None, None, 1), (None, 4, 1))


def test_fa_errors(rng):
    x = np.zeros((2, 4, 4, 3), "float32")
    with pytest.raises(ValueError, match=r"inputs=a list \[x, u\].*single tensor of shape \(2, 4, 4, 3\)"):
        FocusAssociation()(x)
    with pytest.raises(ValueError, match=r"got 4 tensors"):
        FocusAssociation()([x, x, x, x])
    with pytest.raises(ValueError, match=r"same rank.*x \(2, 4, 4, 3\) and u \(2, 4, 3\)"):
        FocusAssociation()([x, np.zeros((2, 4, 3), "float32")])
    with pytest.raises(ValueError, match=r"s of shape \(B, i-1\).*got s \(2, 1, 1\)"):
        FocusAssociation()([x, x, np.zeros((2, 1, 1), "float32")])
    with pytest.raises(ValueError, match=r"x \(2, 4, 4, 3\) onto u \(2, 8, 8, 3\)"):
        FocusAssociation()([x, np.zeros((2, 8, 8, 3), "float32")])
    with pytest.raises(ValueError, match=r"`reduction` must be an integer >= 1; got 0"):
        FocusAssociation(reduction=0)
    with pytest.raises(ValueError, match=r"`expansion` must be an integer >= 1; got '4'"):
        FocusAssociation(expansion="4")


def test_fa_conventions_with_projection(rng, tmp_path):
    x = rng.standard_normal((2, 6, 6, 3)).astype("float32")
    u = rng.standard_normal((2, 3, 3, 4)).astype("float32")
    s = rng.uniform(size=(2, 2)).astype("float32")
    check_layer_conventions(lambda: FocusAssociation(reduction=2, expansion=2), [x, u, s], tmp_path)


@backends
def test_fa_conventions_first_block(rng, tmp_path):
    x = rng.standard_normal((2, 5, 4)).astype("float32")
    u = rng.standard_normal((2, 5, 4)).astype("float32")
    check_layer_conventions(lambda: FocusAssociation(), [x, u], tmp_path)


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
    np.testing.assert_allclose(adaptive_pool_matrix(5, 2), [[1 / 3] * 3 + [0, 0], [0, 0] + [1 / 3] * 3])


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
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)
    attention = to_numpy(layer.attention(x, training=False))
    np.testing.assert_allclose(attention, ref_attention(x, layer), atol=1e-6)
    jitted = jit_call(lambda t: layer(t, training=False), x)  # None under torch (no XLA)
    if jitted is not None:
        np.testing.assert_allclose(jitted, expected, atol=1e-5, rtol=1e-5)


@backends
def test_awconv_training_uses_batch_statistics(rng):
    x = rng.standard_normal((4, 6, 6, 16)).astype("float32")
    layer = AWConv2D(8, 3, reduction=4)
    layer.build(x.shape)
    randomise_bn(layer, rng)
    assert layer.pointwise1.shape == (16, 8)  # max(8, 16 // 4)
    expected = ref_awconv(x, layer, training=True)
    np.testing.assert_allclose(to_numpy(layer(x, training=True)), expected, atol=1e-5, rtol=1e-5)
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
        np.testing.assert_allclose(y[b : b + 1], plain + extra, atol=1e-5, rtol=1e-5)


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


@backends
def test_awconv_conventions(rng, tmp_path):
    x = rng.standard_normal((2, 6, 5, 3)).astype("float32")
    check_layer_conventions(lambda: AWConv2D(4, (3, 2), strides=2, use_bias=True), x, tmp_path)
