"""XM2A and MSMSA against numpy references of SPEC §7 / dissertation eq. 7.1-7.11 and Table 7.1."""


import keras
import numpy as np
import pytest
from backend import backends, jit_call, to_numpy
from numpy_reference import softmax
from tolerance import assert_close

from keras_attention.layers.multi_scale_self_attention import MultiScaleSelfAttention
from keras_attention.layers.xm2a import XM2A, same_average_pool_1d

VARIANTS = ["xm2a", "msmsa", "exp", "pool", "exp_pool"]


# ----------------------------------------------------------------------------- numpy reference
def scale_of_head(variant, h):
    """Table 7.1, 'Length of h-th feature' (h is 1-based)."""
    return {"xm2a": h, "msmsa": 2 * h - 1, "exp": 2 ** (h - 1), "pool": h, "exp_pool": 2 ** (h - 1)}[variant]


def params_of_head(variant, h):
    """Table 7.1, '# of Parameters' (kernel length of head h)."""
    return {"xm2a": h, "msmsa": 2 * h - 1, "exp": 2 ** (h - 1), "pool": 1, "exp_pool": 1}[variant]


def window(length):
    """Keras 'same': (L-1)//2 steps before t, the rest after (even L reach one step further ahead)."""
    before = (length - 1) // 2
    return before, length - 1 - before


def ref_conv_same(x, w, b):
    """out[t] = b + sum_j x[t + j - before] @ w[j], zero outside the series."""
    steps = x.shape[1]
    before, _ = window(w.shape[0])
    out = np.tile(b.astype(np.float64), (x.shape[0], steps, 1))
    for t in range(steps):
        for j in range(w.shape[0]):
            src = t + j - before
            if 0 <= src < steps:
                out[:, t] += x[:, src] @ w[j]
    return out


def ref_pool_same(x, size):
    """Average over the steps of [t - before, t + after] that lie inside the series."""
    steps = x.shape[1]
    before, after = window(size)
    out = np.zeros(x.shape, dtype=np.float64)
    for t in range(steps):
        lo, hi = max(0, t - before), min(steps, t + after + 1)
        out[:, t] = x[:, lo:hi].mean(axis=1)
    return out


def ref_xm2a(x, layer, training=False):
    x = x.astype(np.float64)
    H = layer.num_heads
    S = []
    for h in range(1, H + 1):  # eq. 7.4
        w = to_numpy(layer.head_kernels[h - 1], dtype=np.float64)
        b = to_numpy(layer.head_biases[h - 1], dtype=np.float64)
        source = ref_pool_same(x, scale_of_head(layer.variant, h)) if layer.variant in ("pool", "exp_pool") else x
        S.append(ref_conv_same(source, w, b))
    reduce = np.mean if layer.descriptor == "mean" else np.max
    q = [reduce(s, axis=1) for s in S]  # eq. 7.5: (B, C)
    k = [reduce(s, axis=2) for s in S]  # eq. 7.6: (B, T)
    Y = []
    for h1 in range(H):
        partners = range(H) if layer.talk == "scale" else [h1]
        total = np.zeros_like(S[h1])
        for h2 in partners:
            M = softmax(k[h2][:, :, None] * q[h1][:, None, :], axis=1)  # eq. 7.7/7.8, softmax over time
            total += M * S[h1]  # eq. 7.9 and the sum of 7.10
        Y.append(total)
    eps = layer.epsilon
    if layer.norm == "layer":
        gamma, beta = to_numpy(layer.gamma), to_numpy(layer.beta)
        for h in range(H):
            y = Y[h]
            mu, var = y.mean(-1, keepdims=True), y.var(-1, keepdims=True)
            Y[h] = (y - mu) / np.sqrt(var + eps) * gamma[h] + beta[h]
        cat = np.concatenate(Y, axis=-1)
    else:
        cat = np.concatenate(Y, axis=-1)
        bn = layer.batch_norm
        gamma, beta = to_numpy(bn.gamma), to_numpy(bn.beta)
        if training:
            mu, var = cat.mean(axis=(0, 1)), cat.var(axis=(0, 1))
        else:
            mu, var = to_numpy(bn.moving_mean), to_numpy(bn.moving_variance)
        cat = (cat - mu) / np.sqrt(var + eps) * gamma + beta
    return cat @ to_numpy(layer.output_kernel) + to_numpy(layer.output_bias)  # eq. 7.11


def ref_msmsa(x, layer):
    x = x.astype(np.float64)
    heads = []
    for h in range(layer.num_heads):
        q, k, v = (
            ref_conv_same(x, to_numpy(layer.kernels[r][h]), to_numpy(layer.biases[r][h]))
            for r in ("query", "key", "value")
        )
        a = softmax(np.einsum("btc,bsc->bts", q, k) / np.sqrt(layer.key_dim), axis=-1)  # eq. 7.1-7.2
        heads.append(np.einsum("bts,bsc->btc", a, v))
    return np.concatenate(heads, -1) @ to_numpy(layer.output_kernel) + to_numpy(layer.output_bias)


def randomise(layer, rng, scale=0.5):
    """Random weights everywhere (biases, gamma/beta and moving statistics included); variances > 0."""
    new = []
    for w in layer.weights:
        value = rng.normal(0.0, scale, size=w.shape)
        if "variance" in w.path:
            value = rng.uniform(0.5, 2.0, size=w.shape)
        new.append(value.astype("float32"))
    layer.set_weights(new)


def series(rng, batch=2, steps=9, variates=3):
    return rng.normal(size=(batch, steps, variates)).astype("float32")


# ----------------------------------------------------------------------------- XM2A equations
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(
    "talk,descriptor", [pytest.param("scale", "mean", marks=backends), ("scale", "max"), ("self", "mean"), ("self", "max")]
)
def test_xm2a_matches_equations(rng, variant, talk, descriptor):
    x = series(rng)
    layer = XM2A(num_heads=4, key_dim=5, variant=variant, talk=talk, descriptor=descriptor, output_dim=6)
    layer.build(x.shape)
    randomise(layer, rng)
    out = to_numpy(layer(x))
    assert out.shape == (2, 9, 6)
    assert_close(out, ref_xm2a(x, layer))
    # the straightforward per-head path with the same weights agrees
    plain = XM2A(num_heads=4, key_dim=5, variant=variant, talk=talk, descriptor=descriptor, output_dim=6, implementation="reference")
    plain.build(x.shape)
    plain.set_weights(layer.get_weights())
    assert_close(to_numpy(plain(x)), out)


@pytest.mark.parametrize("variant", ["xm2a", "pool"])
def test_xm2a_batch_norm_inference_and_training(rng, variant):
    x = series(rng, batch=3)
    layer = XM2A(num_heads=3, key_dim=4, variant=variant, norm="batch")
    layer.build(x.shape)
    randomise(layer, rng)
    assert_close(to_numpy(layer(x, training=False)), ref_xm2a(x, layer))
    assert_close(to_numpy(layer(x, training=True)), ref_xm2a(x, layer, training=True))


def test_cross_talk_differs_from_self_talk(rng):
    x = series(rng)
    a = XM2A(num_heads=3, key_dim=4, talk="scale")
    b = XM2A(num_heads=3, key_dim=4, talk="self")
    a.build(x.shape)
    b.build(x.shape)
    randomise(a, rng)
    b.set_weights(a.get_weights())
    assert np.abs(to_numpy(a(x)) - to_numpy(b(x))).max() > 1e-3


@backends
@pytest.mark.parametrize("variant", ["xm2a", "exp", "pool", "exp_pool"])
def test_fused_patterns_equal_per_head_keras_conv1d(rng, variant):
    """eq. 7.4 fused: each head's slice equals Conv1D(len_h, 'same') (after the numpy 'same' pool for pools)."""
    x = series(rng, steps=10)
    layer = XM2A(num_heads=4, key_dim=3, variant=variant)
    layer.build(x.shape)
    randomise(layer, rng)
    fused = to_numpy(layer._patterns_fused(keras.ops.convert_to_tensor(x)))
    for h in range(1, 5):
        source = x
        if variant in ("pool", "exp_pool"):
            # the numpy reference: Keras' own AveragePooling1D(padding="same") differs under torch
            source = ref_pool_same(x, scale_of_head(variant, h)).astype("float32")
        conv = keras.layers.Conv1D(3, params_of_head(variant, h), padding="same")
        conv.build(source.shape)
        conv.set_weights([to_numpy(layer.head_kernels[h - 1]), to_numpy(layer.head_biases[h - 1])])
        assert_close(fused[:, :, h - 1], to_numpy(conv(source)))


@backends
def test_variable_length_series(rng):
    inp = keras.Input((None, 3))
    layer = XM2A(num_heads=3, key_dim=4, variant="exp_pool", output_dim=2)
    model = keras.Model(inp, layer(inp))
    assert model.output_shape == (None, None, 2)
    randomise(layer, rng)
    for steps in (5, 12):
        x = series(rng, steps=steps)
        assert_close(to_numpy(model(x)), ref_xm2a(x, layer))
        jitted = jit_call(lambda z: model(z, training=False), x)  # None under torch (no XLA)
        if jitted is not None:
            assert_close(jitted, ref_xm2a(x, layer))


@backends
def test_same_average_pool_by_hand():
    """TensorFlow's ``same`` average pool on every backend: pool 4 pads 1 step before and 2 after and
    averages the steps inside the series only (Keras' torch ``average_pool`` gives 1.75 ... 6.75)."""
    x = np.arange(1, 8, dtype="float32").reshape(1, 7, 1)
    by_hand = {
        1: [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
        2: [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.0],  # [t, t + 1]
        3: [1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 6.5],  # [t - 1, t + 1]
        4: [2.0, 2.5, 3.5, 4.5, 5.5, 6.0, 6.5],  # [t - 1, t + 2]
        8: [3.0, 3.5, 4.0, 4.0, 4.5, 5.0, 5.5],  # [t - 3, t + 4]
    }
    for size, expected in by_hand.items():
        assert_close(to_numpy(same_average_pool_1d(x, size))[0, :, 0], expected)
        assert_close(ref_pool_same(x, size)[0, :, 0], expected)


@backends
@pytest.mark.parametrize("variant", ["pool", "exp_pool"])
def test_per_head_pool_variants_equal_the_reference(rng, variant):
    """``implementation="reference"`` pools each head with ``same_average_pool_1d``: the same numbers on every backend."""
    x = series(rng, steps=11)
    layer = XM2A(num_heads=4, key_dim=3, variant=variant, implementation="reference")
    layer.build(x.shape)
    randomise(layer, rng)
    assert_close(to_numpy(layer(x)), ref_xm2a(x, layer))


# ----------------------------------------------------------------------------- Table 7.1 parameter counts
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_parameter_count_follows_table_7_1(variant, norm):
    H, C, V, out = 8, 4, 3, 5
    layer = XM2A(num_heads=H, key_dim=C, variant=variant, norm=norm, output_dim=out)
    layer.build((None, None, V))
    # per head: kernel of Table 7.1's '# of Parameters' length over V variates, C filters, plus C biases;
    # norm: gamma and beta per head channel (batch adds moving mean/variance); W^O with bias.
    heads = sum(params_of_head(variant, h) * V * C + C for h in range(1, H + 1))
    trainable = heads + 2 * H * C + (H * C * out + out)
    non_trainable = 2 * H * C if norm == "batch" else 0
    n_trainable = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
    assert n_trainable == trainable
    assert layer.count_params() == trainable + non_trainable
    expected_lengths = {"xm2a": 36, "msmsa": 64, "exp": 255, "pool": 8, "exp_pool": 8}  # sum over h of the rule
    assert sum(params_of_head(variant, h) for h in range(1, H + 1)) == expected_lengths[variant]
    assert [w.shape[0] for w in layer.head_kernels] == [params_of_head(variant, h) for h in range(1, H + 1)]


# ----------------------------------------------------------------------------- MSMSA
@backends
def test_msmsa_matches_reference(rng):
    x = series(rng, steps=8)
    layer = MultiScaleSelfAttention(num_heads=3, key_dim=4)
    layer.build(x.shape)
    randomise(layer, rng)
    out = to_numpy(layer(x))
    assert out.shape == (2, 8, 3)
    assert_close(out, ref_msmsa(x, layer))
    assert [w.shape[0] for w in layer.kernels["query"]] == [1, 3, 5]
    H, C, V = 3, 4, 3
    assert layer.count_params() == sum(3 * ((2 * h - 1) * V * C + C) for h in range(1, H + 1)) + H * C * V + V


def test_msmsa_variable_length_and_output_dim(rng):
    inp = keras.Input((None, 3))
    layer = MultiScaleSelfAttention(num_heads=2, key_dim=4, output_dim=7)
    model = keras.Model(inp, layer(inp))
    assert model.output_shape == (None, None, 7)
    randomise(layer, rng)
    for steps in (4, 11):
        x = series(rng, steps=steps)
        assert_close(to_numpy(model(x)), ref_msmsa(x, layer))


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"num_heads": 0}, r"`num_heads`.*>= 1.*got 0"),
        ({"key_dim": -2}, r"`key_dim`.*got -2"),
        ({"variant": "hybrid"}, r"`variant`.*'exp_pool'.*got 'hybrid'"),
        ({"talk": "cross"}, r"`talk`.*got 'cross'"),
        ({"descriptor": "median"}, r"`descriptor`.*got 'median'"),
        ({"norm": "group"}, r"`norm`.*got 'group'"),
        ({"output_dim": 0}, r"`output_dim`.*got 0"),
    ],
)
def test_xm2a_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        XM2A(**kwargs)


@pytest.mark.parametrize("make", [lambda: XM2A(num_heads=2, key_dim=2), lambda: MultiScaleSelfAttention(2, 2)])
def test_input_rank_errors(make):
    with pytest.raises(ValueError, match=r"expects inputs of shape \(B, T, V\).*got \(4, 5\)"):
        make()(np.zeros((4, 5), "float32"))
    with pytest.raises(ValueError, match=r"3-D tensor; got \(None, 4, 4, 2\)"):
        make().compute_output_shape((None, 4, 4, 2))
    with pytest.raises(ValueError, match=r"known number of variates V.*\(None, 5, None\)"):
        make().build((None, 5, None))


def test_msmsa_argument_errors():
    with pytest.raises(ValueError, match=r"`num_heads`.*got 0"):
        MultiScaleSelfAttention(num_heads=0)
    with pytest.raises(ValueError, match=r"`key_dim`.*got 1.5"):
        MultiScaleSelfAttention(key_dim=1.5)


def test_head_packing_covers_every_head_once():
    from keras_attention.layers.xm2a import kernel_lengths, pack_heads

    assert pack_heads(kernel_lengths("xm2a", 8)) == [list(range(8))]
    assert pack_heads(kernel_lengths("msmsa", 8)) == [list(range(8))]
    groups = pack_heads(kernel_lengths("exp", 8))  # lengths 1..128: padding everything to 128 would cost 4x
    assert groups == [[0, 1], [2, 3, 4], [5, 6, 7]]
    lengths = kernel_lengths("exp", 8)
    assert all(len(g) * max(lengths[i] for i in g) <= 2 * sum(lengths[i] for i in g) for g in groups)


@pytest.mark.parametrize(
    "cls, fused, implementation",
    [(XM2A, True, "fast"), (XM2A, False, "reference"), (MultiScaleSelfAttention, True, "fused"),
     (MultiScaleSelfAttention, False, "reference")],
)
def test_configs_of_0_1_saying_fused_load_as_implementation(cls, fused, implementation):
    """0.1.x named the choice ``fused=``; its configurations (and code) still load, mapped to ``implementation``."""
    config = cls(num_heads=2, key_dim=3).get_config()
    assert config["implementation"] == "fast" and "fused" not in config
    del config["implementation"]
    config["fused"] = fused
    with pytest.warns(DeprecationWarning, match=rf"`fused={fused}` is the 0.1.x name of implementation='{implementation}'"):
        layer = cls.from_config(config)
    assert layer.implementation == implementation
    assert layer.get_config()["implementation"] == implementation and "fused" not in layer.get_config()
    with pytest.raises(ValueError, match=r"`fused` must be True or False"):
        cls(num_heads=2, key_dim=3, fused="yes")
