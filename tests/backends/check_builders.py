"""Builder smoke tests for tests/test_backends.py: one builder of each family builds, takes one ``fit`` step
and round-trips through ``.keras`` (``safe_mode=True``) with equal outputs, under whatever backend runs it.

The file is not named ``test_*.py``: the TensorFlow run reaches the builders through tests/models/test_image_builders.py
and friends; tests/test_backends.py passes this file explicitly under JAX and torch.
"""

import keras
import numpy as np
import pytest
from backend import BACKEND, JIT_BACKENDS, backends, to_numpy

from keras_attention.models import (
    attention_encoder,
    cifar_resnet,
    lenet5,
    lstm4,
    resnet18,
    sdma_net,
)
from keras_attention.racknet import build_model

W = 0.125
BUILDERS = {
    "lenet5-san": (lambda: lenet5((28, 28, 1), 4, "san-d", "full", W), [(28, 28, 1)]),
    "lenet5-cbam": (lambda: lenet5((28, 28, 1), 4, "cbam", "full", W), [(28, 28, 1)]),
    "cifar-resnet-fa": (lambda: cifar_resnet((32, 32, 1), 4, "fa", depth=8, width=W), [(32, 32, 1)]),
    "resnet18-spanet": (lambda: resnet18((32, 32, 1), 4, "spanet", width=W, stage=1), [(32, 32, 1)]),
    "lstm4-san": (lambda: lstm4((20, 6), 4, "san-c", "full", W), [(20, 6)]),
    "sdma-type1": (lambda: sdma_net((20, 6), 4, 1, "type1", units=5), [(20, 6), (20, 6)]),
    "encoder-xm2a": (
        lambda: attention_encoder((20, 6), 4, "xm2a", num_layers=1, num_heads=2, key_dim=4),
        [(20, 6)],
    ),
    "racknet": (lambda: build_model([[4, 3], [3]], input_shape=(8, 8, 1), num_classes=4), [(8, 8, 1)]),
}


@backends
@pytest.mark.parametrize("name", list(BUILDERS))
def test_builder_fits_a_step_and_round_trips(name, rng, tmp_path):
    make, shapes = BUILDERS[name]
    model = make()
    feed = [rng.normal(size=(4,) + shape).astype("float32") for shape in shapes]
    feed = feed if len(feed) > 1 else feed[0]
    y = np.arange(4) % 4
    model.compile("sgd", "sparse_categorical_crossentropy", jit_compile=BACKEND in JIT_BACKENDS)
    history = model.fit(feed, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(to_numpy(model(feed, training=False)), to_numpy(loaded(feed, training=False)))
