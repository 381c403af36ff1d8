"""ARCHITECTURE.md's "places a new method touches", counted end to end: a toy method (a per-channel gate) is
written in the places the document lists (the layer with its cost count, the registry row, the conventions row),
and everything the document says follows without another edit is checked (a builder slot, ``--attention``,
``create_attention``, the cost count of a model). The places the document names and the places this test writes
are one list: a place added to one and not the other fails here."""

import re
from pathlib import Path

import keras
import numpy as np
import pytest
from layer_conventions import check_layer_conventions

import keras_attention
from keras_attention.cli import main
from keras_attention.experiments.costs import count_macs
from keras_attention.layers.registry import ATTENTION_KINDS, SLOT, unregister_attention
from keras_attention.models import attention_layers, lenet5, register_attention
from keras_attention.utils.layer_inputs import layer_call

ROOT = Path(__file__).resolve().parents[1]
TOY = "toy-gate"

# The places ARCHITECTURE.md lists (its bold names, in order), and what this test does for each.
PLACES = {
    "The layer": "ChannelGate below: arguments, build, call (@layer_call), compute_output_shape, get_config, multiply_adds",
    "Its export": "keras_attention/layers/__init__.py (the toy is registered for serialisation instead)",
    "The registry row": "register_attention(TOY, ChannelGate) (a row of layers/registry.py for the package)",
    "The tests": "check_layer_conventions (a CASES row of tests/layers/test_conventions.py) and a numpy "
                 "reference test (here: the gate's value)",
    "The method page": "docs/methods/<method>.md (not written for a toy; tests/docs checks the package's layers)",
}
# What follows from those places without another edit, each checked below.
FOLLOWS = ("a builder slot", "--attention", "create_attention", "the cost count")


@keras.saving.register_keras_serializable(package="test_adding_a_method")
class ChannelGate(keras.layers.Layer):
    """``x * sigmoid(w)``: one learned logit per channel, starting at ``init``."""

    def __init__(self, init=0.0, **kwargs):
        super().__init__(**kwargs)
        self.init = float(init)

    def build(self, input_shape):
        self.logits = self.add_weight(name="logits", shape=(input_shape[-1],),
                                      initializer=keras.initializers.Constant(self.init))

    @layer_call  # integer inputs cast, odd dtypes refused, an empty batch answered (the conventions check it)
    def call(self, inputs):
        return inputs * keras.ops.cast(keras.ops.sigmoid(self.logits), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def multiply_adds(self, input_shape):
        """Multiply-accumulates per sample: one multiply per element."""
        return int(np.prod(input_shape[1:]))

    def get_config(self):
        return {**super().get_config(), "init": self.init}


def _documented_places():
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split("## The places to touch to add a method", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\d+\. \*\*(.+?)\*\*", section, flags=re.MULTILINE), section


def test_architecture_md_lists_the_places_this_test_writes():
    places, section = _documented_places()
    assert places == list(PLACES), f"ARCHITECTURE.md lists {places}; tests/test_adding_a_method.py writes {list(PLACES)}"
    for follows in FOLLOWS:
        assert follows in section, f"ARCHITECTURE.md does not say that {follows!r} follows without an edit"


@pytest.fixture
def toy():
    kind = register_attention(TOY, ChannelGate, deployments=(SLOT,))
    try:
        yield kind
    finally:
        if TOY in ATTENTION_KINDS:
            unregister_attention(TOY)


def test_a_toy_method_end_to_end(toy, tmp_path, rng):
    # the layer and its tests: the conventions harness, and its value against numpy
    x = rng.normal(size=(2, 6, 6, 3)).astype("float32")
    check_layer_conventions(lambda: ChannelGate(init=0.5), x, tmp_path)
    np.testing.assert_allclose(np.asarray(ChannelGate(init=0.5)(x)), x / (1 + np.exp(-0.5)), rtol=1e-6)

    # a builder slot, and the cost count of the model it builds
    model = lenet5((28, 28, 1), 4, TOY)
    gates = attention_layers(model)
    assert [type(gate) for gate in gates] == [ChannelGate, ChannelGate]  # after LeNet-5's two convolutions
    assert [gate.name.rsplit("_", 1)[1] for gate in gates] == ["conv1", "conv2"]
    counts = count_macs(model)
    assert counts["uncounted"] == []
    assert [counts["layers"][gate.name] for gate in gates] == [28 * 28 * 6, 10 * 10 * 16]

    # create_attention builds it by name
    made = keras_attention.create_attention(TOY, name="gate")
    assert isinstance(made, ChannelGate) and made.name == "gate"

    # --attention trains it
    out = tmp_path / "run"
    assert main(["train", "--model", "lenet5", "--attention", TOY, "--dataset", "digits", "--epochs", "1",
                 "--limit", "64", "--batch-size", "32", "--width", "0.5", "--out", str(out)]) == 0
    trained = keras.saving.load_model(out / "model.keras", safe_mode=True)
    assert all(np.any(np.asarray(gate.logits) != 0) for gate in attention_layers(trained))
