"""keras_attention.experiments.costs: every public layer counts its own multiply-accumulates (a new layer without a
count fails here), the counts follow their formulas for Keras' own layers, and the step timer times steps."""

import inspect

import keras
import numpy as np
import pytest

import keras_attention.layers as layers
from keras_attention.experiments.costs import count_macs, layer_macs, step_seconds


def _public_layers():
    return sorted({getattr(layers, name) for name in layers.__all__
                   if isinstance(getattr(layers, name), type) and issubclass(getattr(layers, name), keras.layers.Layer)},
                  key=lambda cls: cls.__name__)


@pytest.mark.parametrize("cls", _public_layers(), ids=lambda cls: cls.__name__)
def test_every_public_layer_counts_its_multiply_adds(cls):
    """A layer of the package answers ``multiply_adds(input_shape)`` itself, with its formula in the docstring."""
    method = getattr(cls, "multiply_adds", None)
    assert method is not None, f"{cls.__name__} has no multiply_adds (experiments/costs.py asks every layer)"
    assert "Multiply-accumulates" in (inspect.getdoc(method) or "")


def test_counts_of_a_small_model_add_up():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = layers.SqueezeExcitation(reduction=2, name="se")(x)
    x = keras.layers.BatchNormalization(name="bn")(x)
    outputs = keras.layers.Dense(5, name="dense")(keras.layers.Flatten()(x))
    counts = count_macs(keras.Model(inputs, outputs))
    assert counts["layers"] == {"conv": 64 * 9 * 3 * 4, "se": 2 * 4 * 2, "dense": 256 * 5}
    assert counts["total"] == sum(counts["layers"].values()) and counts["uncounted"] == []


def test_a_layer_with_weights_and_no_count_is_listed_uncounted():
    inputs = keras.Input((6, 4))
    gru = keras.layers.GRU(3, name="gru")
    model = keras.Model(inputs, gru(inputs))
    assert layer_macs(gru) is None and count_macs(model)["uncounted"] == ["gru"]


def test_the_step_timer_times_the_requested_steps(monkeypatch):
    calls = []

    class Model:
        def train_on_batch(self, x, y):
            calls.append(1)

    assert step_seconds(Model(), np.zeros(1), np.zeros(1), steps=4, warmup=2) >= 0
    assert len(calls) == 6
