"""FocusAssociation (SPEC §3, FANet eq. 5-9) against a numpy reference."""

import numpy as np
import pytest
from backend import backends, to_numpy
from numpy_reference import relu, sigmoid
from tolerance import assert_close

from keras_attention.layers.focus_association import FocusAssociation, projection_strides


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
    assert_close(to_numpy(x_next), ref_x)
    assert_close(to_numpy(s_next), ref_s)
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
    assert_close(to_numpy(x_next), ref_x)
    assert_close(to_numpy(s_next), ref_s)
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
    assert_close(to_numpy(x_next), ref_x)
    assert_close(to_numpy(s_next), ref_s)
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
