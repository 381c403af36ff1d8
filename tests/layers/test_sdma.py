"""SDMA / SDCA blocks (eq. 6.12) against numpy references written here from the equations (a numpy LSTM
included)."""

import numpy as np
import pytest
from backend import backends, to_numpy
from numpy_reference import sigmoid
from tolerance import assert_close

from keras_attention.layers.sdma import SDCA, SDMA


def numpy_lstm(x, kernel, recurrent_kernel, bias):
    """Keras' LSTM (gates i, f, c, o; tanh / sigmoid; zero initial state), full output sequence."""
    batch, steps, _ = x.shape
    units = recurrent_kernel.shape[0]
    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    out = []
    for t in range(steps):
        z = x[:, t] @ kernel + h @ recurrent_kernel + bias
        i, f, g, o = np.split(z, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1)


# ----------------------------------------------------------------------------- the blocks
@backends
def test_sdma_equals_eq_6_12(rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    s = rng.normal(size=(2, 5, 2)).astype("float32")
    layer = SDMA(4, return_branches=True)
    out, g_t, g_a = (to_numpy(v) for v in layer([x, s]))
    y_t, y_a = (to_numpy(v, dtype=np.float64) for v in layer.branch_features([x, s]))
    assert_close(g_t, y_t * sigmoid(y_a))  # eq. 6.12e
    assert_close(g_a, y_a * sigmoid(y_t))  # eq. 6.12f
    assert_close(out, g_t + g_a)  # eq. 6.12g
    assert out.shape == (2, 5, 4)
    # without branches: the same output
    plain = SDMA(4)
    plain([x, s])
    plain.set_weights(layer.get_weights())
    assert_close(to_numpy(plain([x, s])), out)


@backends
def test_sdma_branches_are_two_separate_lstms(rng):
    """eq. 6.12a-b: Y_T and Y_A are LSTMs with their own weights, checked against a numpy LSTM."""
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    s = rng.normal(size=(2, 6, 3)).astype("float32")
    layer = SDMA(5)
    out = to_numpy(layer([x, s]))
    assert layer.series_lstm is not layer.saliency_lstm
    assert len(layer.trainable_weights) == 6
    kt, ka = layer.series_lstm.get_weights(), layer.saliency_lstm.get_weights()
    assert not np.allclose(kt[0], ka[0])
    y_t = numpy_lstm(x.astype(np.float64), *kt)
    y_a = numpy_lstm(s.astype(np.float64), *ka)
    assert_close(out, y_t * sigmoid(y_a) + y_a * sigmoid(y_t))


@backends
def test_sdca_is_one_way(rng):
    x = rng.normal(size=(3, 4, 2)).astype("float32")
    s = rng.normal(size=(3, 4, 2)).astype("float32")
    layer = SDCA(3, return_branches=True)
    out, g_t, g_a = (to_numpy(v) for v in layer([x, s]))
    y_t, y_a = (to_numpy(v, dtype=np.float64) for v in layer.branch_features([x, s]))
    assert_close(out, y_t * sigmoid(y_a))
    assert_close(g_t, out)
    assert_close(g_a, y_a)  # the saliency branch is not attended
    assert not np.allclose(out, y_t * sigmoid(y_a) + y_a * sigmoid(y_t), atol=1e-3)


def test_compute_output_shape_and_config():
    layer = SDMA(7, return_branches=True, dropout=0.1)
    assert layer.compute_output_shape([(None, 9, 3), (None, 9, 5)]) == ((None, 9, 7),) * 3
    assert SDCA(2).compute_output_shape([(4, None, 3), (4, None, 1)]) == (4, None, 2)
    config = layer.get_config()
    assert config["units"] == 7 and config["return_branches"] and config["dropout"] == 0.1
    assert SDMA.from_config(config).get_config() == config


@pytest.mark.parametrize(
    "make, inputs, match",
    [
        (lambda: SDMA(4), [(None, 5, 3), (None, 6, 3)],
         r"same time size.*series_features \(None, 5, 3\) and saliency_features \(None, 6, 3\)"),
        (lambda: SDCA(4), [(2, 5, 3), (3, 5, 3)],
         r"same batch size.*series_features \(2, 5, 3\) and saliency_features \(3, 5, 3\)"),
        (lambda: SDMA(4), (None, 5, 3), r"expects inputs=a list of 2 tensors \[series_features, saliency_features\]"),
        (lambda: SDMA(4), [(None, 5, 3)] * 3, r"got 3 tensors"),
        (lambda: SDMA(4), [(None, 5), (None, 5, 3)], r"series_features of shape \(B, T, features\).*\(None, 5\)"),
        (lambda: SDMA(4), [(None, 5, 3), (None, 5, None)], r"saliency_features of shape \(B, T, features\)"),
    ],
)
def test_block_shape_errors(make, inputs, match):
    with pytest.raises(ValueError, match=match):
        make().build(inputs)


def test_block_shape_error_on_call(rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    s = rng.normal(size=(2, 4, 3)).astype("float32")
    with pytest.raises(ValueError, match=r"series_features \(2, 5, 3\) and saliency_features \(2, 4, 3\)"):
        SDMA(2)([x, s])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"units": 0}, r"`units` must be an integer >= 1; got 0"),
        ({"units": 2.5}, r"`units` must be an integer >= 1; got 2.5"),
        ({"units": 2, "return_branches": "yes"}, r"`return_branches` must be True or False; got 'yes'"),
        ({"units": 2, "dropout": 1.0}, r"`dropout` must be a number in \[0, 1\); got 1.0"),
        ({"units": 2, "recurrent_dropout": -0.1}, r"`recurrent_dropout` must be a number in \[0, 1\)"),
    ],
)
def test_block_argument_errors(kwargs, match):
    for cls in (SDMA, SDCA):
        with pytest.raises(ValueError, match=match):
            cls(**kwargs)
