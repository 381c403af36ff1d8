"""Models saved by keras-attention 0.2.0 (before the restructuring that moved the fast paths to
``keras_attention.kernels``) load with ``safe_mode=True`` and compute the same outputs and gradients, with the
same weight names. The files are in ``tests/fixtures/saved_0.2.0`` (written by
``tests/fixtures/make_saved_models.py`` from commit 3348421): one functional model per layer family and form,
XM2A / MSMSA configurations that still say ``fused=``, and two builders."""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from backend import tensorflow_only
from tolerance import assert_close

import keras_attention  # noqa: F401 - registers the package's classes for loading

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "saved_0.2.0"
NAMES = sorted(p.name[: -len(".keras")] for p in FIXTURES.glob("*.keras"))

pytestmark = tensorflow_only


def test_the_fixtures_are_there():
    assert len(NAMES) == 20, NAMES


@pytest.mark.parametrize("name", NAMES)
def test_model_saved_by_0_2_0_loads_and_computes_the_same(name):
    model = keras.saving.load_model(FIXTURES / f"{name}.keras", safe_mode=True)
    inputs = list(np.load(FIXTURES / f"{name}.inputs.npz").values())
    expected = np.load(FIXTURES / f"{name}.expected.npz")
    assert [w.path for w in model.weights] == list(expected["weight_paths"])
    feed = inputs if len(inputs) > 1 else inputs[0]
    outputs_count = len([k for k in expected if k.startswith("output_")])
    weights = [expected[f"weight_{i}"] for i in range(outputs_count)]
    with tf.GradientTape() as tape:
        outputs = model(feed, training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        loss = tf.add_n([tf.reduce_sum(o * w) for o, w in zip(outputs, weights)])
    grads = tape.gradient(loss, model.trainable_weights)
    assert len(outputs) == outputs_count
    for i, out in enumerate(outputs):
        assert_close(np.asarray(out), expected[f"output_{i}"], err_msg=f"{name}: output {i}")
    assert len(grads) == len([k for k in expected if k.startswith("grad_")])
    paths = [w.path for w in model.trainable_weights]
    for i, (g, path) in enumerate(zip(grads, paths)):
        want = expected[f"grad_{i}"]
        # a bias gradient sums the same terms as its kernel's (dL/dz over the positions): where they cancel
        # (a key or phi bias under a softmax: 0 in exact arithmetic) the rounding is of the terms' size, so
        # the scale is the kernel gradient's (the rounding of two CPUs differed by 5e-7 on a value of 7e-7)
        kernel = path[: -len("bias")] + "kernel" if path.endswith("bias") else None
        scale = np.abs(want).max()
        if kernel in paths:
            scale = max(scale, np.abs(expected[f"grad_{paths.index(kernel)}"]).max())
        assert_close(np.asarray(g), want, magnitude=scale, err_msg=f"{name}: gradient w.r.t. {path}")
