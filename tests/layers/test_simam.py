"""SimAM (keras_attention.layers.simam) against a numpy reference written from the paper's minimal energy (eq. 5)
and enhancement (eq. 6), with the official code's variance (the sum of squares over n = H * W - 1)."""

import numpy as np
import pytest
from backend import backends, to_numpy
from numpy_reference import sigmoid
from tolerance import assert_close

from keras_attention.layers import SimAM


def ref_simam(x, lambda_=1e-4):
    axes = tuple(range(1, x.ndim - 1))
    n = max(int(np.prod(x.shape[1:-1])) - 1, 1)
    mu = x.mean(axis=axes, keepdims=True)
    sigma2 = ((x - mu) ** 2).sum(axis=axes, keepdims=True) / n
    energy = 4.0 * (sigma2 + lambda_) / ((x - mu) ** 2 + 2.0 * sigma2 + 2.0 * lambda_)  # eq. 5, e_t*
    attention = sigmoid(1.0 / energy)
    return x * attention, attention  # eq. 6


@backends
@pytest.mark.parametrize("shape, lambda_", [((2, 6, 7, 5), 1e-4), ((3, 10, 4), 1e-4), ((2, 3, 3, 2), 0.5)])
def test_matches_numpy_reference(shape, lambda_, rng):
    x = rng.normal(size=shape).astype("float32")
    out, attention = SimAM(lambda_=lambda_, return_attention=True)(x)
    ref_out, ref_attention = ref_simam(x.astype("float64"), lambda_)
    assert_close(to_numpy(attention), ref_attention)
    assert_close(to_numpy(out), ref_out)


def test_equals_the_official_formula_and_has_no_weights(rng):
    """The code's ``y = d / (4 * (d.sum() / n + lambda)) + 0.5`` is 1 / e_t*, and the layer keeps no weights."""
    x = rng.normal(size=(2, 5, 4, 3))
    d = (x - x.mean(axis=(1, 2), keepdims=True)) ** 2
    y = d / (4 * (d.sum(axis=(1, 2), keepdims=True) / (5 * 4 - 1) + 1e-4)) + 0.5
    assert_close(x * sigmoid(y), ref_simam(x)[0])
    layer = SimAM()
    assert_close(to_numpy(layer(x.astype("float32"))), x * sigmoid(y))
    assert layer.weights == []


def test_a_single_position_gives_one_half():
    """The code divides 0 by 0 for H = W = 1; here 1 / E = 1/2 and the output is x * sigmoid(1/2)."""
    x = np.array([[[[2.0, -1.0]]]], "float32")
    out, attention = SimAM(return_attention=True)(x)
    assert_close(to_numpy(attention), np.full(x.shape, sigmoid(0.5)))
    assert_close(to_numpy(out), x * sigmoid(0.5))


@pytest.mark.parametrize("lambda_", [0, -1e-4, float("nan"), "1e-4", True])
def test_lambda_must_be_positive(lambda_):
    with pytest.raises(ValueError, match=r"`lambda_` must be a finite number > 0"):
        SimAM(lambda_=lambda_)
