"""SalientPositionsAttention (SPANet eq. 3-7, SPEC §4) and NonLocalBlock (Wang et al., SPEC §2) against
numpy references written from the equations, with the layers' own weights."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from backend import backends, jit_call, tensorflow_only, to_numpy
from numpy_reference import softmax
from tolerance import assert_close

from keras_attention.layers.non_local import NonLocalBlock
from keras_attention.layers.salient_positions_attention import (
    SalientPositionsAttention,
    salient_positions,
)

EPS = 1e-5


# ----------------------------------------------------------------------------- numpy references
def ref_batchnorm(w, gamma, beta, mean, var, training):
    """Inference: moving statistics. Training: biased batch statistics over every axis but channels."""
    if training:
        axes = tuple(range(w.ndim - 1))
        mean, var = w.mean(axis=axes), w.var(axis=axes)
    return (w - mean) / np.sqrt(var + EPS) * gamma + beta


def ref_spanet(x, p, k, normalize, training=False, dtype=np.float64):
    """eq. 3-7 + SPEC §4, one sample at a time; top-k by a stable sort (lower index first on ties). In
    ``dtype``: float64 gives the exact values, float32 the same equations' float32 rounding."""
    x = x.astype(dtype)
    p = {name: value.astype(dtype) for name, value in p.items()}
    batch, channels = x.shape[0], x.shape[-1]
    inter = p["theta_kernel"].shape[1]
    out = np.zeros(x.shape[:-1] + (channels,), dtype)
    for b in range(batch):
        xb = x[b].reshape(-1, channels)  # (N, C)
        q = xb @ p["theta_kernel"] + p["theta_bias"]  # eq. 3
        v = xb @ p["g_kernel"] + p["g_bias"]  # eq. 4
        score = (q**2).sum(axis=1)  # Algorithm 1, steps 1-2
        top = np.argsort(-score, kind="stable")[:k]  # step 3
        key = q[top]  # eq. 5, (k, inter)
        gram = key.T @ key  # (inter, inter)
        a = softmax(gram / inter if normalize else gram, axis=-1)  # eq. 6
        y = v @ a.T  # eq. 7 (SPEC: y = g A^T)
        out[b] = (y @ p["w_kernel"] + p["w_bias"]).reshape(x.shape[1:-1] + (channels,))
    bn = ref_batchnorm(out, p["gamma"], p["beta"], p["moving_mean"], p["moving_variance"], training)
    return bn + x


def ref_maxpool2(e):
    """Max pooling by 2 along every spatial axis, valid padding, e of shape (S..., D)."""
    spatial = e.shape[:-1]
    trimmed = e[tuple(slice(0, (s // 2) * 2) for s in spatial)]
    if len(spatial) == 1:
        return trimmed.reshape(spatial[0] // 2, 2, -1).max(axis=1)
    h, w = spatial[0] // 2, spatial[1] // 2
    return trimmed.reshape(h, 2, w, 2, -1).max(axis=(1, 3))


def ref_nonlocal(x, p, sub_sample, training=False, dtype=np.float64):
    """Embedded Gaussian non-local block: z = BN(W_z softmax(theta phi^T) g) + x, in ``dtype`` (float64: the
    exact values; float32: the same equations' float32 rounding)."""
    x = x.astype(dtype)
    p = {name: value.astype(dtype) for name, value in p.items()}
    batch, _channels = x.shape[0], x.shape[-1]
    inter = p["theta_kernel"].shape[1]
    out = np.zeros(x.shape, dtype)
    for b in range(batch):
        theta = (x[b] @ p["theta_kernel"] + p["theta_bias"]).reshape(-1, inter)
        phi = x[b] @ p["phi_kernel"] + p["phi_bias"]
        g = x[b] @ p["g_kernel"] + p["g_bias"]
        if sub_sample:
            phi, g = ref_maxpool2(phi), ref_maxpool2(g)
        phi, g = phi.reshape(-1, inter), g.reshape(-1, inter)
        f = softmax(theta @ phi.T, axis=-1)  # normalised over the key positions
        y = f @ g
        out[b] = (y @ p["w_kernel"] + p["w_bias"]).reshape(x.shape[1:])
    bn = ref_batchnorm(out, p["gamma"], p["beta"], p["moving_mean"], p["moving_variance"], training)
    return bn + x


def randomise(layer, rng, names):
    """Give every kernel/bias and the BatchNorm parameters/statistics random values; return them."""
    params = {}
    for name in names:
        var = getattr(layer, name)
        params[name] = rng.normal(0.0, 0.5, var.shape).astype("float32")
        var.assign(params[name])
    norm = layer.norm
    params["gamma"] = rng.uniform(0.5, 1.5, norm.gamma.shape).astype("float32")
    params["beta"] = rng.normal(0.0, 0.3, norm.beta.shape).astype("float32")
    params["moving_mean"] = rng.normal(0.0, 0.3, norm.moving_mean.shape).astype("float32")
    params["moving_variance"] = rng.uniform(0.5, 2.0, norm.moving_variance.shape).astype("float32")
    for key in ("gamma", "beta", "moving_mean", "moving_variance"):
        getattr(norm, key).assign(params[key])
    return params


SPA_WEIGHTS = ["theta_kernel", "theta_bias", "g_kernel", "g_bias", "w_kernel", "w_bias"]
NL_WEIGHTS = ["theta_kernel", "theta_bias", "phi_kernel", "phi_bias"] + SPA_WEIGHTS[2:]


def build_spanet(shape, rng, **kwargs):
    layer = SalientPositionsAttention(**kwargs)
    layer.build(shape)
    return layer, randomise(layer, rng, SPA_WEIGHTS)


def build_nonlocal(shape, rng, **kwargs):
    layer = NonLocalBlock(**kwargs)
    layer.build(shape)
    return layer, randomise(layer, rng, NL_WEIGHTS)


# ----------------------------------------------------------------------------- SPANet numerics
@pytest.mark.parametrize("shape", [(2, 5, 6, 8), (3, 20, 6)])
@pytest.mark.parametrize("normalize", [pytest.param(True, marks=backends), False])
@pytest.mark.parametrize("training", [False, True])
def test_spanet_matches_numpy_reference(rng, shape, normalize, training):
    x = rng.normal(size=shape).astype("float32")
    layer, p = build_spanet((None,) + shape[1:], rng, k=4, normalize=normalize)
    got = to_numpy(layer(x, training=training))
    # a training-mode BatchNorm divides by the batch's standard deviation: the float32 rounding of the same
    # equations (measured) sets the tolerance
    assert_close(got, ref_spanet(x, p, 4, normalize, training, np.float32), exact=ref_spanet(x, p, 4, normalize,
                                                                                             training))
    # The result depends on k: with k = N it is a different number (the test can fail on k).
    n = int(np.prod(shape[1:-1]))
    assert not np.allclose(got, ref_spanet(x, p, n, normalize, training), atol=1e-3)


def test_spanet_inter_channels_and_default(rng):
    layer = SalientPositionsAttention(inter_channels=3)
    layer.build((None, 4, 4, 8))
    assert tuple(layer.theta_kernel.shape) == (8, 3) and tuple(layer.w_kernel.shape) == (3, 8)
    layer = SalientPositionsAttention()
    layer.build((None, 4, 4, 1))
    assert tuple(layer.g_kernel.shape) == (1, 1)  # max(1, C // 2)
    x = rng.normal(size=(2, 4, 4, 5)).astype("float32")
    layer, p = build_spanet((None, 4, 4, 5), rng, k=3, inter_channels=7)
    assert_close(to_numpy(layer(x)), ref_spanet(x, p, 3, True))


@pytest.mark.parametrize("spatial,reduction,expected_k", [((6, 6), 16, 2), ((3, 4), 16, 1), ((40,), 8, 5)])
def test_spanet_adaptive_k(rng, spatial, reduction, expected_k):
    shape = (2,) + spatial + (6,)
    x = rng.normal(size=shape).astype("float32")
    layer, p = build_spanet((None,) + shape[1:], rng, k=99, adaptive=True, reduction=reduction)
    assert layer._k == expected_k == max(1, int(np.prod(spatial)) // reduction)
    got = to_numpy(layer(x))
    assert_close(got, ref_spanet(x, p, expected_k, True))


def tie_input():
    """Positions whose theta rows are sign flips of each other: exactly equal scores, different K^T K.

    theta = x (identity kernel, zero bias), C = inter = 2. Scores row-major over (2, 3):
    [5, 5, 1, 5, 2, 5] for rows (1,2), (-1,2), (1,0), (2,-1), (1,1), (-2,-1).
    """
    x = np.array(
        [[[1, 2], [-1, 2], [1, 0]], [[2, -1], [1, 1], [-2, -1]]],
        dtype="float32",
    )[None]
    return np.concatenate([x, x[:, ::-1]], axis=0)  # second sample: rows reversed along H


def tie_layer(k, rng):
    layer = SalientPositionsAttention(k=k, inter_channels=2, normalize=False)
    layer.build((None, 2, 3, 2))
    p = randomise(layer, rng, SPA_WEIGHTS)
    for name, value in (("theta_kernel", np.eye(2)), ("theta_bias", np.zeros(2))):
        p[name] = value.astype("float32")
        getattr(layer, name).assign(p[name])
    return layer, p


@backends
@pytest.mark.parametrize("k", [1, 2, 3])
def test_spanet_ties_keep_the_lower_index(rng, k):
    x = tie_input()
    indices, scores = salient_positions(x.reshape(2, 6, 2), k)
    np.testing.assert_array_equal(to_numpy(scores), [[5, 5, 1, 5, 2, 5], [5, 2, 5, 5, 5, 1]])
    expected = {1: [[0], [0]], 2: [[0, 1], [0, 2]], 3: [[0, 1, 3], [0, 2, 3]]}[k]
    np.testing.assert_array_equal(to_numpy(indices), expected)

    layer, p = tie_layer(k, rng)
    eager = to_numpy(layer(x))
    xla = jit_call(lambda t: layer(t), x)
    reference = ref_spanet(x, p, k, normalize=False)
    assert_close(eager, reference)
    if xla is not None:  # torch: no XLA
        assert_close(xla, reference)

    # Taking the HIGHER index among ties would give another output: the tie rule is observable.
    def higher_first(xs):
        out = []
        for xb in xs:
            q = xb.reshape(-1, 2).astype(np.float64)
            score = (q**2).sum(1)
            order = sorted(range(6), key=lambda n: (-score[n], -n))[:k]
            a = softmax(q[order].T @ q[order])
            y = (q @ p["g_kernel"] + p["g_bias"]) @ a.T
            out.append((y @ p["w_kernel"] + p["w_bias"]).reshape(2, 3, 2))
        out = np.stack(out)
        return ref_batchnorm(out, p["gamma"], p["beta"], p["moving_mean"], p["moving_variance"], False) + xs

    assert not np.allclose(eager, higher_first(x), atol=1e-3)


@tensorflow_only
def test_spanet_gradients_reach_theta_through_the_selected_positions(rng):
    x = rng.normal(size=(2, 4, 4, 6)).astype("float32")
    layer, _ = build_spanet((None, 4, 4, 6), rng, k=3)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=True) ** 2)
    grads = dict(zip([w.path.split("/")[-1] for w in layer.trainable_weights],
                     tape.gradient(loss, layer.trainable_weights)))
    for name in ("theta_kernel", "g_kernel", "w_kernel"):
        assert grads[name] is not None and np.all(np.isfinite(grads[name]))
        assert np.abs(to_numpy(grads[name])).max() > 0


# ----------------------------------------------------------------------------- NonLocal numerics
@pytest.mark.parametrize("shape", [(2, 4, 6, 6), (2, 5, 5, 4), (3, 9, 4)])
@pytest.mark.parametrize("sub_sample", [False, pytest.param(True, marks=backends)])
@pytest.mark.parametrize("training", [False, True])
def test_nonlocal_matches_numpy_reference(rng, shape, sub_sample, training):
    x = rng.normal(size=shape).astype("float32")
    layer, p = build_nonlocal((None,) + shape[1:], rng, sub_sample=sub_sample)
    got = to_numpy(layer(x, training=training))
    # a training-mode BatchNorm divides by the batch's standard deviation: the float32 rounding of the same
    # equations (measured) sets the tolerance
    assert_close(got, ref_nonlocal(x, p, sub_sample, training, np.float32),
                 exact=ref_nonlocal(x, p, sub_sample, training))


def test_nonlocal_inter_channels(rng):
    x = rng.normal(size=(2, 3, 4, 6)).astype("float32")
    layer, p = build_nonlocal((None, 3, 4, 6), rng, inter_channels=5)
    assert tuple(layer.phi_kernel.shape) == (6, 5)
    assert_close(to_numpy(layer(x)), ref_nonlocal(x, p, False))


def test_nonlocal_starts_as_identity_with_zero_bn_gamma(rng):
    x = rng.normal(size=(2, 4, 4, 6)).astype("float32")
    layer = NonLocalBlock()
    out = to_numpy(layer(x, training=False))
    np.testing.assert_array_equal(to_numpy(layer.norm.gamma), np.zeros(6))
    np.testing.assert_array_equal(out, x)
    # SPANet keeps the default BatchNorm initialisation (gamma 1), so it is not the identity.
    spa = SalientPositionsAttention(k=2)
    assert not np.allclose(to_numpy(spa(x, training=False)), x)
    np.testing.assert_array_equal(to_numpy(spa.norm.gamma), np.ones(6))


# ----------------------------------------------------------------------------- XLA
@tensorflow_only
@pytest.mark.parametrize(
    "make",
    [
        lambda rng, s: build_spanet(s, rng, k=5)[0],
        lambda rng, s: build_spanet(s, rng, adaptive=True, reduction=4, normalize=False)[0],
        lambda rng, s: build_nonlocal(s, rng)[0],
        lambda rng, s: build_nonlocal(s, rng, sub_sample=True)[0],
    ],
    ids=["spanet", "spanet-adaptive", "nonlocal", "nonlocal-subsample"],
)
@pytest.mark.parametrize("training", [False, True])
def test_xla_equals_eager(rng, make, training):
    x = rng.normal(size=(2, 6, 4, 8)).astype("float32")
    layer = make(rng, (None, 6, 4, 8))
    eager = to_numpy(layer(x, training=training))
    xla = jit_call(lambda t: layer(t, training=training), x)
    assert_close(xla, eager)


@tensorflow_only
def test_unknown_spatial_sizes_work_with_fixed_k(rng):
    x = rng.normal(size=(2, 5, 3, 4)).astype("float32")
    for layer in (SalientPositionsAttention(k=4), NonLocalBlock(sub_sample=True)):
        model = keras.Sequential([keras.Input((None, None, 4)), layer])
        assert model(x).shape == x.shape
    # tf.TensorShape is accepted by build as well as tuples
    for layer in (SalientPositionsAttention(k=2), NonLocalBlock()):
        layer.build(tf.TensorShape([None, 4, 4, 3]))
        assert layer.built


# ----------------------------------------------------------------------------- errors
def test_spanet_k_larger_than_positions_names_both():
    with pytest.raises(ValueError, match=r"`k`=13 .*H\*W=12 .*\(None, 3, 4, 2\)"):
        SalientPositionsAttention(k=13)(keras.Input((3, 4, 2)))
    with pytest.raises(ValueError, match=r"`k`=8 .*T=5 .*\(None, 5, 2\)"):
        SalientPositionsAttention(k=8).compute_output_shape((None, 5, 2))
    SalientPositionsAttention(k=12)(keras.Input((3, 4, 2)))  # k == H*W is allowed


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"k": 0}, r"`k` must be an integer >= 1; got 0"),
        ({"k": 2.5}, r"`k` must be an integer >= 1; got 2.5"),
        ({"k": True}, r"`k` must be an integer >= 1; got True"),
        ({"inter_channels": 0}, r"`inter_channels` must be an integer >= 1; got 0"),
        ({"adaptive": "yes"}, r"`adaptive` must be True or False; got 'yes'"),
        ({"reduction": 0}, r"`reduction` must be an integer >= 1; got 0"),
        ({"normalize": 1}, r"`normalize` must be True or False; got 1"),
    ],
)
def test_spanet_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SalientPositionsAttention(**kwargs)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"inter_channels": -1}, r"`inter_channels` must be an integer >= 1; got -1"),
        ({"sub_sample": None}, r"`sub_sample` must be True or False; got None"),
    ],
)
def test_nonlocal_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NonLocalBlock(**kwargs)


@pytest.mark.parametrize("cls", [SalientPositionsAttention, NonLocalBlock])
def test_bad_inputs(cls):
    name = cls.__name__
    rank = rf"{name} expects an input of rank 3 .*got shape "
    with pytest.raises(ValueError, match=rank + r"\(None, 2, 2, 2, 4\)"):
        cls().build((None, 2, 2, 2, 4))
    with pytest.raises(ValueError, match=rank + r"\(None, 4\)"):
        cls().compute_output_shape((None, 4))
    with pytest.raises(ValueError, match=rf"{name} needs a known channel count; got .*\(None, 4, 4, None\)"):
        cls().build((None, 4, 4, None))
    with pytest.raises(ValueError, match=rf"{name} expects a single tensor"):
        cls().build([(None, 4, 4, 2), (None, 4, 4, 2)])


def test_spanet_adaptive_needs_known_sizes():
    with pytest.raises(ValueError, match=r"adaptive=True\) needs known spatial .*\(None, None, None, 4\)"):
        SalientPositionsAttention(adaptive=True).build((None, None, None, 4))


def test_nonlocal_sub_sample_needs_two_positions_per_axis():
    with pytest.raises(ValueError, match=r"sub_sample=True\) .*sizes >= 2; got .*\(None, 1, 6, 4\)"):
        NonLocalBlock(sub_sample=True).build((None, 1, 6, 4))
