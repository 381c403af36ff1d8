"""PositionalEncoding: Vaswani et al.'s sinusoidal channels against a numpy reference, the learned table, the
Keras conventions and the argument checks."""

import math

import keras
import numpy as np
import pytest
from backend import backends, tensorflow_only, to_numpy
from layer_conventions import check_layer_conventions
from tolerance import assert_close

from keras_attention.layers import PositionalEncoding
from keras_attention.layers.positional_encoding import sinusoidal_table


def _vaswani(length, channels, base=10000.0):
    """PE(t, 2i) = sin(t / base^(2i/channels)), PE(t, 2i+1) = cos(t / base^(2i/channels)), entry by entry."""
    table = np.zeros((length, channels))
    for t in range(length):
        for i in range(channels // 2):
            angle = t / base ** (2 * i / channels)
            table[t, 2 * i] = math.sin(angle)
            table[t, 2 * i + 1] = math.cos(angle)
    return table


@backends
def test_sinusoidal_channels_follow_the_formula(rng):
    x = rng.normal(size=(3, 17, 2)).astype("float32")
    out = to_numpy(PositionalEncoding("sinusoidal", channels=6)(x))
    assert out.shape == (3, 17, 8)
    np.testing.assert_array_equal(out[..., :2], x)  # the series is kept as it was
    for b in range(3):
        assert_close(out[b, :, 2:], _vaswani(17, 6))
    # a few values by hand: t = 0 gives (0, 1) pairs; t = 1, first pair: (sin 1, cos 1)
    assert_close(out[0, 0, 2:], [0, 1, 0, 1, 0, 1])
    assert_close(out[0, 1, 2:4], [math.sin(1.0), math.cos(1.0)])
    assert_close(sinusoidal_table(17, 6), _vaswani(17, 6))


def test_max_wavelength_sets_the_frequencies(rng):
    x = np.zeros((1, 40, 1), "float32")
    out = to_numpy(PositionalEncoding(channels=4, max_wavelength=100.0)(x))[0, :, 1:]
    assert_close(out, _vaswani(40, 4, base=100.0))


def test_sinusoidal_takes_any_length_and_has_no_weights():
    layer = PositionalEncoding()
    inputs = keras.Input((None, 3))
    model = keras.Model(inputs, layer(inputs))
    assert layer.weights == [] and model.output.shape == (None, None, 11)
    for steps in (5, 31):
        out = to_numpy(model(np.ones((2, steps, 3), "float32")))
        assert_close(out[0, :, 3:], _vaswani(steps, 8))


@backends
def test_learned_table_is_trainable_and_concatenated(rng):
    layer = PositionalEncoding("learned", channels=3, kernel_initializer="random_normal")
    x = rng.normal(size=(2, 9, 4)).astype("float32")
    out = to_numpy(layer(x))
    assert [w.shape for w in layer.trainable_weights] == [(9, 3)]
    table = to_numpy(layer.table)
    np.testing.assert_array_equal(out[..., :4], x)
    np.testing.assert_array_equal(out[0, :, 4:], table)
    np.testing.assert_array_equal(out[1, :, 4:], table)
    # the table learns: one step of plain SGD moves it
    inputs = keras.Input((9, 4))
    model = keras.Model(inputs, keras.layers.Dense(1)(keras.layers.Flatten()(layer(inputs))))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(x, np.ones((2, 1), "float32"), epochs=1, verbose=0)
    assert np.max(np.abs(to_numpy(layer.table) - table)) > 0


def test_learned_table_of_max_length_serves_shorter_series(rng):
    layer = PositionalEncoding("learned", channels=2, max_length=12)
    inputs = keras.Input((None, 1))
    model = keras.Model(inputs, layer(inputs))
    assert layer.table.shape == (12, 2)
    out = to_numpy(model(np.zeros((1, 7, 1), "float32")))
    np.testing.assert_array_equal(out[0, :, 1:], to_numpy(layer.table)[:7])


@backends
def test_learned_series_longer_than_max_length_is_refused_when_called(rng):
    """Built for unknown lengths, the table's ``max_length`` is checked against each call's length: a ValueError
    naming both (it was a backend error about BroadcastTo, "Dimensions must be equal, but are 10 and 20")."""
    layer = PositionalEncoding("learned", channels=2, max_length=10, name="pe")
    inputs = keras.Input((None, 3))
    model = keras.Model(inputs, layer(inputs))
    with pytest.raises(ValueError, match=r"PositionalEncoding 'pe' \(mode='learned'\) has a table of max_length=10 "
                                         r"steps; a series of T=20 steps is longer"):
        model(np.zeros((2, 20, 3), "float32"))


@tensorflow_only
def test_learned_length_checked_in_a_graph_of_unknown_length():
    import tensorflow as tf

    layer = PositionalEncoding("learned", channels=2, max_length=10)
    layer.build((None, None, 3))
    step = tf.function(layer, input_signature=[tf.TensorSpec((None, None, 3))])
    assert tuple(step(tf.zeros((2, 10, 3))).shape) == (2, 10, 5)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"max_length=10 steps; a series of T=T steps"):
        step(tf.zeros((2, 11, 3)))


def test_compute_output_shape_and_config():
    layer = PositionalEncoding("learned", channels=5, max_length=30, kernel_regularizer="l2")
    assert layer.compute_output_shape((None, 30, 2)) == (None, 30, 7)
    assert PositionalEncoding().compute_output_shape((4, None, 3)) == (4, None, 11)
    config = layer.get_config()
    assert (config["mode"], config["channels"], config["max_length"], config["max_wavelength"]) == \
        ("learned", 5, 30, 10000.0)
    clone = PositionalEncoding.from_config(config)
    assert clone.get_config() == config


@backends
@pytest.mark.filterwarnings("ignore:The model does not have any trainable weights")  # sinusoidal: none to train
@pytest.mark.parametrize("mode", ["sinusoidal", "learned"])
def test_layer_conventions(mode, rng, tmp_path):
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    check_layer_conventions(lambda: PositionalEncoding(mode, channels=4), x, tmp_path)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"mode": "rotary"}, r"`mode`.*'rotary'"),
        ({"channels": 0}, r"`channels`.*>= 1; got 0"),
        ({"channels": 2.0}, r"`channels`.*got 2.0"),
        ({"channels": 5}, r"`channels` must be even.*got 5"),
        ({"max_wavelength": 1.0}, r"`max_wavelength`.*> 1; got 1.0"),
        ({"max_wavelength": float("inf")}, r"`max_wavelength`.*got inf"),
        ({"mode": "learned", "max_length": 0}, r"`max_length`.*>= 1; got 0"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PositionalEncoding(**kwargs)


def test_learned_mode_odd_channels_are_allowed():
    assert PositionalEncoding("learned", channels=3).channels == 3


@pytest.mark.parametrize(
    "make,shape,match",
    [
        (lambda: PositionalEncoding(), (None, 5), r"\(B, T, C\).*\(None, 5\)"),
        (lambda: PositionalEncoding(), (None, 5, None), r"known channel count.*\(None, 5, None\)"),
        (lambda: PositionalEncoding("learned"), (None, None, 3), r"needs a known series length.*max_length=None"),
        (lambda: PositionalEncoding("learned", max_length=4), (None, 6, 3), r"longer than max_length=4"),
    ],
)
def test_bad_input_shapes_raise(make, shape, match):
    with pytest.raises(ValueError, match=match):
        make().build(shape)
