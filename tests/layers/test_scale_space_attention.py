"""ScaleSpaceAttention (SAN) against a loop-by-loop numpy reference of SPEC §1 / SAN eq. 4-12."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from backend import backends, tensorflow_only, to_numpy
from tolerance import assert_close

from keras_attention.layers import SAN, ScaleSpaceAttention
from keras_attention.layers.scale_space_attention import soft_extrema_weights, spatial_alignment


# ----------------------------------------------------------------------------- numpy reference
def ref_align(previous, spatial):
    """SPEC §1.1 written out: identity, average pooling by integer factors, or centre crop."""
    prev_sp = previous.shape[1:-1]
    if tuple(prev_sp) == tuple(spatial):
        return previous
    if all(p % s == 0 for p, s in zip(prev_sp, spatial)):
        f = [p // s for p, s in zip(prev_sp, spatial)]
        out = np.zeros((previous.shape[0],) + tuple(spatial) + (previous.shape[-1],))
        for pos in itertools.product(*[range(s) for s in spatial]):
            block = previous[(slice(None),) + tuple(slice(i * fi, (i + 1) * fi) for i, fi in zip(pos, f))]
            out[(slice(None),) + pos] = block.reshape(previous.shape[0], -1, previous.shape[-1]).mean(1)
        return out
    offs = [(p - s) // 2 for p, s in zip(prev_sp, spatial)]
    return previous[(slice(None),) + tuple(slice(o, o + s) for o, s in zip(offs, spatial))]


def ref_alpha(d):
    """eq. 10: count of the 3x3 (rank 1: 3) window, zero outside the map, that d[x] is >= to, over |N|."""
    spatial = d.shape[1:-1]
    rank = len(spatial)
    alpha = np.zeros_like(d)
    for b in range(d.shape[0]):
        for pos in itertools.product(*[range(s) for s in spatial]):
            for c in range(d.shape[-1]):
                count = 0
                for off in itertools.product((-1, 0, 1), repeat=rank):
                    n = tuple(p + o for p, o in zip(pos, off))
                    inside = all(0 <= q < s for q, s in zip(n, spatial))
                    neighbour = d[(b,) + n + (c,)] if inside else 0.0
                    count += d[(b,) + pos + (c,)] >= neighbour
                alpha[(b,) + pos + (c,)] = count / 3**rank
    return alpha


def ref_conv_same(e, kernel, bias, dilation, depthwise):
    """Rank-generic 'same' convolution with dilation, written as the sum it is (odd kernels)."""
    spatial = e.shape[1:-1]
    k = kernel.shape[0]
    half = (k - 1) // 2
    out_c = e.shape[-1] if depthwise else kernel.shape[-1]
    out = np.zeros(e.shape[:-1] + (out_c,))
    for pos in itertools.product(*[range(s) for s in spatial]):
        acc = np.array(bias, dtype=np.float64)[None, :].repeat(e.shape[0], 0)
        for taps in itertools.product(range(k), repeat=len(spatial)):
            src = tuple(p + (t - half) * dilation for p, t in zip(pos, taps))
            if not all(0 <= q < s for q, s in zip(src, spatial)):
                continue
            x = e[(slice(None),) + src + (slice(None),)]
            w = kernel[taps]
            acc = acc + (x * w[:, 0] if depthwise else x @ w)
        out[(slice(None),) + pos] = acc
    return out


def ref_san(previous, current, layer):
    p = ref_align(previous, current.shape[1:-1])
    p = p.mean(-1, keepdims=True) if layer.channel_alignment else p
    d = current - p
    d = np.abs(d) if layer.absolute else d
    e = ref_alpha(d) * d if layer.extrema else d
    if layer.smoothing:
        z = ref_conv_same(
            e,
            to_numpy(layer.kernel),
            to_numpy(layer.bias),
            layer.dilation_rate,
            layer.smoothing_mode == "depthwise",
        )
    else:
        z = e
    mask = 1.0 / (1.0 + np.exp(-z))
    return current * mask, mask


SPATIAL = {1: (7,), 2: (5, 6)}


def _pair(rng, rank, c_prev=3, c_cur=3, prev_spatial=None):
    spatial = SPATIAL[rank]
    prev_spatial = prev_spatial or spatial
    previous = rng.normal(size=(2,) + tuple(prev_spatial) + (c_prev,)).astype("float32")
    current = rng.normal(size=(2,) + tuple(spatial) + (c_cur,)).astype("float32")
    return previous, current


def _cases():
    for rank, flags in itertools.product((1, 2), itertools.product((True, False), repeat=4)):
        smoothing = flags[3]
        for variant, mode in (
            [("c", "full"), ("d", "full"), ("c", "depthwise"), ("d", "depthwise")] if smoothing else [("c", "full")]
        ):
            yield rank, flags, variant, mode


def _marked_cases():
    """Every case; those with every switch on (each variant and mode, both ranks) also run under every
    backend (tests/test_backends.py)."""
    for case in _cases():
        yield pytest.param(*case, marks=backends) if all(case[1]) else case


@pytest.mark.parametrize("rank,flags,variant,mode", list(_marked_cases()))
def test_matches_numpy_reference_for_every_valid_switch_combination(rng, rank, flags, variant, mode):
    absolute, cca, extrema, smoothing = flags
    previous, current = _pair(rng, rank)
    layer = ScaleSpaceAttention(
        variant=variant,
        absolute=absolute,
        channel_alignment=cca,
        extrema=extrema,
        smoothing=smoothing,
        smoothing_mode=mode,
        return_attention=True,
        bias_initializer="random_normal",
    )
    out, mask = layer([previous, current])
    ref_out, ref_mask = ref_san(previous.astype(np.float64), current.astype(np.float64), layer)
    assert_close(to_numpy(mask), ref_mask)
    assert_close(to_numpy(out), ref_out)
    assert layer.dilation_rate == (1 if variant == "c" else 2)


@backends
@pytest.mark.parametrize("rank", [1, 2])
def test_channel_alignment_with_different_channel_counts(rng, rank):
    previous, current = _pair(rng, rank, c_prev=2, c_cur=5)
    layer = SAN(variant="d", return_attention=True)
    out, mask = layer([previous, current])
    ref_out, ref_mask = ref_san(previous.astype(np.float64), current.astype(np.float64), layer)
    assert_close(to_numpy(out), ref_out)
    assert_close(to_numpy(mask), ref_mask)
    assert layer.kernel.shape == (3,) * rank + (5, 5)


@backends
@pytest.mark.parametrize(
    "prev_spatial,spatial,kind",
    [((10, 12), (5, 6), "pool"), ((9, 10), (5, 6), "crop"), ((14,), (7,), "pool"), ((11,), (7,), "crop")],
)
def test_spatial_alignment_pool_and_crop(rng, prev_spatial, spatial, kind):
    assert spatial_alignment(prev_spatial, spatial)[0] == kind
    previous = rng.normal(size=(2,) + prev_spatial + (4,)).astype("float32")
    current = rng.normal(size=(2,) + spatial + (3,)).astype("float32")
    layer = SAN(return_attention=True)
    out, mask = layer([previous, current])
    ref_out, ref_mask = ref_san(previous.astype(np.float64), current.astype(np.float64), layer)
    assert_close(to_numpy(mask), ref_mask)
    assert_close(to_numpy(out), ref_out)


def test_alignment_rule_order_and_values():
    assert spatial_alignment((8, 8), (8, 8)) == ("identity", None)
    assert spatial_alignment((8, 8), (4, 4)) == ("pool", (2, 2))  # also even difference: pooling wins
    assert spatial_alignment((8, 6), (4, 6)) == ("pool", (2, 1))
    assert spatial_alignment((14, 14), (10, 10)) == ("crop", (2, 2))
    assert spatial_alignment((None, 3), (None, 3)) == ("identity", None)


@backends
def test_soft_extrema_hand_computed_values():
    # d on a 3x3 map, one channel; zeros outside. Counted by hand from eq. 10:
    # centre 5 >= {1,2,3,4,5} -> 5/9; corner 1 >= five zeros and itself -> 6/9;
    # corner 9 >= its 4 in-map neighbours and 5 zeros -> 9/9; edge 2 >= three zeros, 1, 2 -> 5/9.
    d = np.arange(1, 10, dtype="float32").reshape(1, 3, 3, 1)
    alpha = to_numpy(soft_extrema_weights(d, 2))[0, :, :, 0]
    assert alpha[1, 1] == pytest.approx(5 / 9)
    assert alpha[0, 0] == pytest.approx(6 / 9)
    assert alpha[2, 2] == pytest.approx(9 / 9)
    assert alpha[0, 1] == pytest.approx(5 / 9)
    # rank 1: [3, 1, 2] -> 3 >= {0,3,1}: 3/3; 1 >= {1}: 1/3; 2 >= {1,2,0}: 3/3
    seq = np.array([3.0, 1.0, 2.0], "float32").reshape(1, 3, 1)
    assert_close(to_numpy(soft_extrema_weights(seq, 1))[0, :, 0], [1.0, 1 / 3, 1.0])
    # negative values (no-Abs): padding zeros are no longer always below
    neg = np.array([-1.0, -3.0, 2.0], "float32").reshape(1, 3, 1)
    assert_close(to_numpy(soft_extrema_weights(neg, 1))[0, :, 0], [2 / 3, 1 / 3, 1.0])


@tensorflow_only
@pytest.mark.parametrize("rank", [1, 2])
def test_alpha_carries_no_gradient_but_the_difference_does(rng, rank):
    previous, current = _pair(rng, rank, c_prev=2, c_cur=3)
    layer = SAN(smoothing=False)
    prev_t, cur_t = tf.constant(previous), tf.constant(current)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([prev_t, cur_t])
        out = layer([prev_t, cur_t])
        loss = tf.reduce_sum(out)
        alpha = soft_extrema_weights(tf.abs(cur_t), rank)
        alpha_sum = tf.reduce_sum(alpha)
    g_prev, g_cur = tape.gradient(loss, [prev_t, cur_t])
    g_alpha = tape.gradient(alpha_sum, cur_t)
    assert g_alpha is None or not np.any(to_numpy(g_alpha))

    # d(loss)/d(current) with alpha held constant: sig(e) + x * sig'(e) * alpha * sign(x - p)
    p = previous.mean(-1, keepdims=True).astype(np.float64)
    d = np.abs(current - p)
    a = ref_alpha(d)
    s = 1 / (1 + np.exp(-a * d))
    ds = s * (1 - s) * a * np.sign(current - p)
    assert_close(to_numpy(g_cur), s + current * ds)
    # and d(loss)/d(previous[c']) = -(1/C') sum_c x_c * sig'(e_c) * alpha_c * sign(x_c - p)
    expected_prev = np.repeat(-(current * ds).sum(-1, keepdims=True) / previous.shape[-1], previous.shape[-1], -1)
    assert_close(to_numpy(g_prev), expected_prev)
    assert np.abs(to_numpy(g_prev)).sum() > 0


# ----------------------------------------------------------------------------- errors
def test_mismatched_spatial_shapes_name_both_shapes():
    with pytest.raises(ValueError, match=r"previous=\(7, 5\).*current=\(5, 4\)"):
        SAN()([np.zeros((1, 7, 5, 2), "float32"), np.zeros((1, 5, 4, 2), "float32")])
    with pytest.raises(ValueError, match=r"previous=\(4,\).*current=\(6,\)"):
        SAN()([np.zeros((1, 4, 2), "float32"), np.zeros((1, 6, 2), "float32")])


def test_no_channel_alignment_with_different_channels_is_incompatible():
    with pytest.raises(ValueError, match=r"incompatible configuration.*\(1, 5, 5, 2\).*\(1, 5, 5, 3\)"):
        SAN(channel_alignment=False)([np.zeros((1, 5, 5, 2), "float32"), np.zeros((1, 5, 5, 3), "float32")])


def test_wrong_rank_is_rejected_with_shapes():
    with pytest.raises(ValueError, match=r"rank.*\(1, 2, 3, 4, 5\)"):
        SAN()([np.zeros((1, 2, 3, 4, 5), "float32"), np.zeros((1, 2, 3, 4, 5), "float32")])
    with pytest.raises(ValueError, match=r"same rank.*\(1, 5, 2\).*\(1, 5, 5, 2\)"):
        SAN()([np.zeros((1, 5, 2), "float32"), np.zeros((1, 5, 5, 2), "float32")])
    with pytest.raises(ValueError, match=r"rank"):
        SAN()([np.zeros((3, 4), "float32"), np.zeros((3, 4), "float32")])


def test_wrong_number_of_inputs():
    with pytest.raises(ValueError, match=r"\[previous, current\].*single tensor of shape \(1, 5, 5, 2\)"):
        SAN()(np.zeros((1, 5, 5, 2), "float32"))
    three = [np.zeros((1, 5, 5, 2), "float32")] * 3
    with pytest.raises(ValueError, match=r"got 3 tensors"):
        SAN()(three)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"variant": "x"}, "variant"),
        ({"smoothing_mode": "separable"}, "smoothing_mode"),
        ({"kernel_size": 0}, "kernel_size"),
        ({"dilation_rate": 0}, "dilation_rate"),
        ({"extrema": "yes"}, "extrema"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SAN(**kwargs)


def test_functional_shape_inference_and_unknown_length():
    seq = keras.Input((None, 4))
    lstm = keras.layers.LSTM(6, return_sequences=True)(seq)
    out, mask = SAN(variant="d", return_attention=True)([seq, lstm])
    assert tuple(out.shape) == (None, None, 6) and tuple(mask.shape) == (None, None, 6)
    model = keras.Model(seq, out)
    assert model(np.ones((2, 9, 4), "float32")).shape == (2, 9, 6)


# ----------------------------------------------------------------------------- Keras conventions
# (the conventions themselves: tests/layers/test_conventions.py, rows san-*)
def test_sequential_use_with_network_input_as_previous(rng):
    # In a Sequential stack SAN needs two tensors; the documented way is a functional model.
    # This checks the config is complete enough for clone_model, which Sequential-style tooling uses.
    inp = keras.Input((8, 8, 1))
    conv = keras.layers.Conv2D(4, 3, padding="same")(inp)
    model = keras.Model(inp, SAN(variant="d")([inp, conv]))
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    x = rng.normal(size=(2, 8, 8, 1)).astype("float32")
    np.testing.assert_array_equal(to_numpy(model(x)), to_numpy(clone(x)))


# ----------------------------------------------------------------------------- unknown spatial sizes
# Two call-time spatial sizes per case and rank, chosen so that SPEC §1.1 picks the named rule:
# crop: a `valid` 5-wide convolution (12 -> 8, 13 -> 9: not multiples, even differences);
# pool: previous is the tensor before AveragePooling(2), current a `same` convolution after it.
UNKNOWN_SIZES = {
    "crop": {2: [(12, 13), (9, 16)], 1: [(11,), (14,)]},
    "pool": {2: [(8, 10), (12, 6)], 1: [(10,), (16,)]},
    "identity": {2: [(7, 9), (5, 6)], 1: [(9,), (6,)]},
}


def _conv_san_model(rank, case, spatial):
    """Returns (model, rule SPEC §1.1 picks for these static sizes, or None when they are unknown)."""
    conv = keras.layers.Conv2D if rank == 2 else keras.layers.Conv1D
    pool = keras.layers.AveragePooling2D if rank == 2 else keras.layers.AveragePooling1D
    inp = keras.Input(tuple(spatial) + (1,))
    if case == "crop":
        previous, current = inp, conv(4, 5)(inp)
    elif case == "pool":
        previous = conv(3, 3, padding="same")(inp)
        current = conv(4, 3, padding="same")(pool(2)(previous))
    else:
        previous, current = inp, conv(4, 3, padding="same")(inp)
    sizes = (tuple(previous.shape[1:-1]), tuple(current.shape[1:-1]))
    kind = None if None in sizes[0] + sizes[1] else spatial_alignment(*sizes)[0]
    model = keras.Model(inp, SAN(variant="d", bias_initializer="random_normal")([previous, current]))
    return model, kind


def _symbolic_size_function(model, rank, jit_compile=False):
    """`model` traced once with every size unknown (the alignment sees symbolic sizes)."""
    spec = tf.TensorSpec((None,) * (rank + 2), "float32")
    return tf.function(lambda x: model(x), input_signature=[spec], jit_compile=jit_compile, autograph=False)


@tensorflow_only
@pytest.mark.parametrize("case", ["crop", "pool", "identity"])
@pytest.mark.parametrize("rank", [1, 2])
def test_unknown_spatial_sizes_align_at_call_time_like_static_shapes(rng, rank, case):
    model, kind = _conv_san_model(rank, case, (None,) * rank)
    assert kind is None
    graph = _symbolic_size_function(model, rank)
    for spatial in UNKNOWN_SIZES[case][rank]:
        static, kind = _conv_san_model(rank, case, spatial)
        assert kind == case
        static.set_weights(model.get_weights())
        x = rng.normal(size=(2,) + spatial + (1,)).astype("float32")
        expected = to_numpy(static(x))
        assert_close(to_numpy(model(x)), expected)  # eager: sizes known at call
        assert_close(to_numpy(graph(x)), expected)  # graph: sizes symbolic


@tensorflow_only
@pytest.mark.parametrize("case", ["crop", "pool"])
@pytest.mark.parametrize("rank", [1, 2])
def test_unknown_spatial_sizes_under_jit_compile(rng, rank, case):
    model, _ = _conv_san_model(rank, case, (None,) * rank)
    xla = _symbolic_size_function(model, rank, jit_compile=True)
    model.compile(loss="mse", jit_compile=True)
    for spatial in UNKNOWN_SIZES[case][rank]:
        static, _ = _conv_san_model(rank, case, spatial)
        static.set_weights(model.get_weights())
        x = rng.normal(size=(2,) + spatial + (1,)).astype("float32")
        expected = to_numpy(static(x))
        assert_close(to_numpy(xla(x)), expected)
        assert_close(model.predict(x, verbose=0), expected)


@tensorflow_only
@pytest.mark.parametrize("rank", [1, 2])
def test_impossible_unknown_spatial_sizes_name_both_shapes(rank):
    # A `valid` 2-wide convolution: 7 -> 6 and 9 -> 8 are neither multiples nor even differences.
    conv = keras.layers.Conv2D if rank == 2 else keras.layers.Conv1D
    inp = keras.Input((None,) * rank + (1,))
    model = keras.Model(inp, SAN()([inp, conv(4, 2)(inp)]))
    x = np.zeros((1,) + (7, 9)[:rank] + (1,), "float32")
    prev, cur = ((r"\(7, 9\)", r"\(6, 8\)"), (r"\(7,\)", r"\(6,\)"))[2 - rank]
    with pytest.raises(ValueError, match=rf"Cannot align spatial shapes previous={prev} and current={cur}"):
        model(x)
    sizes = (r"\[7 9\] \[6 8\]", r"\[7\] \[6\]")[2 - rank]
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"(?s)Cannot align spatial shapes.*{sizes}"):
        _symbolic_size_function(model, rank)(x)


def test_known_sizes_that_rule_out_every_alignment_are_refused_when_built():
    with pytest.raises(ValueError, match=r"previous=\(None, 7\) and current=\(None, 4\): expected equal sizes"):
        SAN()([keras.Input((None, 7, 1)), keras.Input((None, 4, 2))])
    # still possible for some heights (crop 7 -> 5), so it is left to the call
    out = SAN()([keras.Input((None, 7, 1)), keras.Input((None, 5, 2))])
    assert tuple(out.shape) == (None, None, 5, 2)
