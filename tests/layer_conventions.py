"""One check of the Keras conventions (DEVELOPERS.md quality bar), run once per row of
tests/layers/test_conventions.py.

``check_layer_conventions(make_layer, inputs, tmp_path)`` builds the layer returned by ``make_layer()``
into a functional model on ``inputs`` (an array or a list of arrays) and asserts:
- ``get_config`` round trip (``from_config(get_config())`` has the same config);
- ``.keras`` save and ``load_model(safe_mode=True)`` give bit-identical outputs;
- ``jit_compile=True`` predictions equal the eager call, and one XLA training step runs (TensorFlow and
  JAX; under torch, which has no XLA, one eager ``fit`` step);
- float16 and bfloat16 mixed precision give finite outputs and finite gradients (bfloat16 only under JAX
  and torch);
- with a single input, the layer also works inside ``keras.Sequential``.

It runs under every Keras backend (tests/backend.py).
"""

import warnings

import keras
import numpy as np
from backend import BACKEND, JIT_BACKENDS, gradients, jit_call, tensorflow_bfloat16, to_numpy
from backend import as_list as _as_list
from tolerance import assert_close


def _functional(make_layer, inputs):
    arrays = _as_list(inputs)
    tensors = [keras.Input(a.shape[1:], dtype="float32") for a in arrays]
    layer = make_layer()
    feed = tensors if isinstance(inputs, (list, tuple)) else tensors[0]
    return keras.Model(feed, layer(feed)), layer


def _outputs(model, inputs, **kw):
    return [to_numpy(o) for o in _as_list(model(inputs, **kw))]


def check_layer_conventions(make_layer, inputs, tmp_path, *, training_target=True):
    arrays = _as_list(inputs)
    feed = arrays if isinstance(inputs, (list, tuple)) else arrays[0]

    # config round trip
    layer = make_layer()
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config

    # functional model, save / load with safe_mode
    model, layer = _functional(make_layer, inputs)
    expected = _outputs(model, feed, training=False)
    path = tmp_path / f"{type(layer).__name__}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    for a, b in zip(expected, _outputs(loaded, feed, training=False)):
        np.testing.assert_array_equal(a, b)

    # XLA equals eager; a jit-compiled train step runs and stays finite
    jitted = jit_call(lambda x: model(x, training=False), feed)
    if jitted is not None:
        for a, b in zip(expected, _as_list(jitted)):
            assert_close(b, a, err_msg="XLA vs eager")
    if training_target:
        first = keras.Model(model.inputs, _as_list(model.outputs)[0])
        first.compile(optimizer="sgd", loss="mse", jit_compile=BACKEND in JIT_BACKENDS)
        target = np.zeros_like(expected[0])
        history = first.fit(feed, target, batch_size=len(arrays[0]), epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])

    # mixed precision: forward and gradients finite
    # (one policy under JAX and torch: their eager gradients are slow to trace, and the matrix stays short)
    for policy in ("mixed_float16", "mixed_bfloat16") if BACKEND == "tensorflow" else ("mixed_bfloat16",):
        if policy == "mixed_bfloat16" and not tensorflow_bfloat16()[0]:
            warnings.warn(f"mixed_bfloat16 not checked: {tensorflow_bfloat16()[1]}", stacklevel=2)
            continue
        keras.mixed_precision.set_dtype_policy(policy)
        try:
            mp_model, mp_layer = _functional(make_layer, inputs)
            assert mp_layer.compute_dtype == policy.split("_")[1]
            out, grads = gradients(mp_model, feed)
            for o in out:
                assert np.all(np.isfinite(o.astype("float32"))), policy
            for g in grads:
                if g is not None:
                    assert np.all(np.isfinite(g.astype("float32"))), policy
        finally:
            keras.mixed_precision.set_dtype_policy("float32")

    # Sequential (single-input layers only)
    if not isinstance(inputs, (list, tuple)):
        seq = keras.Sequential([keras.Input(arrays[0].shape[1:]), make_layer()])
        assert np.all(np.isfinite(to_numpy(_as_list(seq(arrays[0]))[0])))

    check_integer_inputs(model, arrays, feed)
    check_empty_batch(model, arrays)
    return model


def check_integer_inputs(model, arrays, feed):
    """Integer inputs are computed as floats: the model's outputs on int32 inputs are those on the same values
    as float32, in the compute dtype (no silent truncation to integers)."""
    rounded = [np.round(a * 3) for a in arrays]
    as_int = [r.astype("int32") for r in rounded]
    as_float = [r.astype("float32") for r in rounded]
    single = not isinstance(feed, (list, tuple))
    layer = model.layers[-1]
    got = _as_list(layer(as_int[0] if single else as_int, training=False))
    want = _as_list(layer(as_float[0] if single else as_float, training=False))
    for g, w in zip(got, want):
        assert keras.backend.standardize_dtype(g.dtype) == layer.compute_dtype, g.dtype
        assert_close(to_numpy(g), to_numpy(w), err_msg="int32 inputs vs the same values as float32")


def check_empty_batch(model, arrays):
    """A batch of zero samples gives outputs of batch size 0 with the declared shapes: called eagerly (batch
    size known), and in a compiled function whose batch size is unknown when traced (TensorFlow and JAX)."""
    layer = model.layers[-1]
    single = len(arrays) == 1 and not isinstance(model.input, (list, tuple))
    empty = [a[:0] for a in arrays]
    expected = [tuple(o.shape[1:]) for o in _as_list(model.outputs)]

    def run(*xs):
        return _as_list(layer(xs[0] if single else list(xs), training=False))

    results = {"eager": run(*empty)}
    if BACKEND == "tensorflow":
        import tensorflow as tf

        specs = [tf.TensorSpec((None,) + a.shape[1:], a.dtype) for a in arrays]
        results["graph, batch size unknown"] = tf.function(run, input_signature=specs, autograph=False)(*empty)
    for how, outputs in results.items():
        shapes = [tuple(to_numpy(o).shape) for o in outputs]
        assert shapes == [(0,) + e for e in expected], f"empty batch ({how}): {shapes} vs (0, ...) + {expected}"
