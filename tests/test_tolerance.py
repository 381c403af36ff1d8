"""The one tolerance rule of the suite (tests/tolerance.py): it accepts float32 rounding, also where sums
cancel, and it rejects a result that is wrong by 1e-3 of its scale, so that no comparison goes soft."""

import keras
import numpy as np
import pytest
from backend import gradients
from tolerance import ULPS, assert_close, eps, float64_twin, tolerance

from keras_attention.layers import CBAM


def _cbam_gradients(dtype, x, layer=None):
    """Outputs and weight gradients of a CBAM in ``dtype`` (a float64 twin of ``layer`` when given)."""
    inputs = keras.Input(x.shape[1:], dtype=dtype)
    if layer is None:
        layer = CBAM(reduction=2, implementation="reference", dtype=dtype)
    model = keras.Model(inputs, layer(inputs))
    weights = np.random.default_rng(5).normal(size=(x.shape[0],) + tuple(model.output.shape[1:]))
    out, grads = gradients(model, x.astype(dtype), loss_fn=lambda o: keras.ops.sum(o[0] * weights.astype(dtype)))
    return layer, out[0], grads


@pytest.fixture(scope="module")
def real_gradients():
    """A real layer's float32 outputs and gradients and the float64 values of the same computation."""
    x = np.random.default_rng(0).normal(size=(4, 6, 7, 8))
    layer32, out32, grads32 = _cbam_gradients("float32", x)
    twin = float64_twin(lambda **kw: CBAM(reduction=2, implementation="reference", **kw), layer32,
                        lambda layer: layer.build(x.shape))
    _, out64, grads64 = _cbam_gradients("float64", x, twin)
    return [out32] + grads32, [out64] + grads64


def test_accepts_the_float32_rounding_of_a_real_layer(real_gradients):
    got, exact = real_gradients
    for a, e in zip(got, exact):
        assert_close(a, e)  # float32 against the exact values, every tensor
        assert_close(a, a.astype("float32"), exact=e)


def test_accepts_the_rounding_differences_seen_across_machines():
    """The cases of issue "Step 14": a kernel gradient of size ~8 off by 1.7e-5 between two CPUs, and a bias
    gradient that is mathematically 0 (a bias before a training-mode BatchNorm) computed as rounding noise
    of ~1e-5 by one path and ~3e-5 by another."""
    rng = np.random.default_rng(1)
    kernel_gradient = rng.uniform(-8, 8, size=(4, 16)).astype("float32")
    kernel_gradient[0, 0] = 8.0
    other_cpu = kernel_gradient.copy()
    other_cpu[1, 3] += 1.7e-5
    assert_close(other_cpu, kernel_gradient)
    # a sum of terms of size ~1 that cancel exactly, added in two orders in float32: noise of the terms' size
    terms = rng.normal(size=(512, 6)).astype("float32") * 40.0
    terms = np.concatenate([terms, -terms[::-1]])
    order_a = np.add.reduce(terms, axis=0, dtype="float32")
    order_b = np.zeros(6, "float32")
    for row in rng.permutation(terms):
        order_b = (order_b + row).astype("float32")
    exact = terms.astype("float64").sum(axis=0)  # 0
    assert np.abs(order_b - exact).max() > np.abs(exact).max()  # the result is noise, not the value
    assert_close(order_b, order_a, exact=exact)
    assert_close(order_a, order_b, exact=exact)


@pytest.mark.parametrize("where", ["one entry", "every entry"])
def test_rejects_a_gradient_wrong_by_1e_3_relative(real_gradients, where):
    got, exact = real_gradients
    for i, (a, e) in enumerate(zip(got, exact)):
        if not np.abs(e).max() > 0:
            continue
        wrong = a.copy()
        scale = np.abs(e).max()
        if where == "one entry":
            index = np.unravel_index(np.argmax(np.abs(e)), e.shape)
            wrong[index] += 1e-3 * scale
        else:
            wrong = wrong + 1e-3 * scale * np.sign(e).astype("float32")
        with pytest.raises(AssertionError, match="differ by more than the float32 rounding allows"):
            assert_close(wrong, e)
        with pytest.raises(AssertionError, match="differ by more than the float32 rounding allows"):
            assert_close(wrong, a, exact=e)


def test_the_tolerance_is_a_few_epsilons_of_the_scale():
    assert eps("float32") == 2.0**-23 and eps("bfloat16") == 2.0**-7
    assert tolerance(np.array([-4.0, 2.0])) == pytest.approx(ULPS * 2.0**-23 * 4.0)
    assert tolerance(np.zeros(3), magnitude=10.0) == pytest.approx(ULPS * 2.0**-23 * 10.0)
    assert ULPS * eps("float32") < 1e-3 / 50  # far below a real mistake of 1e-3


def test_shapes_and_special_values():
    assert_close(np.full(4, 1.0 + 1e-7, "float32"), 1.0)  # a scalar reference broadcasts
    with pytest.raises(AssertionError, match="does not match the shape"):
        assert_close(np.zeros((2, 3), "float32"), np.zeros((3, 2)))
    with pytest.raises(AssertionError, match="NaN / inf at different positions"):
        assert_close(np.array([np.nan, 1.0], "float32"), np.array([0.0, 1.0]))
    assert_close(np.array([np.inf, 1.0], "float32"), np.array([np.inf, 1.0]))
    with pytest.raises(AssertionError, match="infinities of different sign"):
        assert_close(np.array([np.inf], "float32"), np.array([-np.inf]))
