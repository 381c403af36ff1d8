"""ScaleSpaceAttention's fast path (``implementation="fast"``) against its reference path.

Both layers get the same weights; outputs and the gradients w.r.t. both inputs and every trainable
weight must agree to float32 rounding (``tests/tolerance.py``, measured against a float64 twin of the
reference) in eager mode, in a ``tf.function`` graph and under XLA (``jit_compile=True``), for every
smoothing form, variant and rank.
"""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf
from tolerance import assert_close, float64_twin

from keras_attention.kernels import probes
from keras_attention.kernels.probes import Probe, execution_mode
from keras_attention.kernels.tensorflow import scale_space as san_kernel
from keras_attention.layers import SAN
from keras_attention.layers import scale_space_attention as san_module

MODES = ["eager", "graph", "xla"]
SPATIAL = {1: (9,), 2: (7, 6)}  # odd sizes: the dilated phase split pads them


def _inputs(rng, rank, prev_spatial=None, c_prev=3, c_cur=4, batch=2):
    spatial = SPATIAL[rank]
    prev_spatial = prev_spatial or spatial
    previous = rng.normal(size=(batch,) + tuple(prev_spatial) + (c_prev,)).astype("float32")
    current = rng.normal(size=(batch,) + tuple(spatial) + (c_cur,)).astype("float32")
    return tf.constant(previous), tf.constant(current)


def _pair(previous, current, **kwargs):
    """(fast, reference) layers with identical weights."""
    kwargs.setdefault("bias_initializer", "random_normal")
    fast = SAN(implementation="fast", **kwargs)
    reference = SAN(implementation="reference", **kwargs)
    fast([previous, current])
    reference([previous, current])
    fast.set_weights(reference.get_weights())
    return fast, reference


def _step(layer, mode, with_mask):
    """Output(s) and gradients of a fixed random linear loss w.r.t. previous, current and the weights."""

    def step(previous, current, w_out, w_mask):
        with tf.GradientTape() as tape:
            tape.watch([previous, current])
            result = layer([previous, current])
            out, mask = result if with_mask else (result, None)
            loss = tf.reduce_sum(out * w_out)
            if mask is not None:
                loss += tf.reduce_sum(mask * w_mask)
        grads = tape.gradient(loss, [previous, current] + layer.trainable_weights)
        return [out] + ([mask] if with_mask else []) + grads

    if mode == "eager":
        return step
    return tf.function(step, jit_compile=(mode == "xla"))


def _assert_same(fast, reference, previous, current, mode, with_mask=False, rng=None):
    rng = rng or np.random.default_rng(1)
    w_out = tf.constant(rng.normal(size=current.shape).astype("float32"))
    w_mask = tf.constant(rng.normal(size=current.shape).astype("float32"))
    got = _step(fast, mode, with_mask)(previous, current, w_out, w_mask)
    expected = _step(reference, mode, with_mask)(previous, current, w_out, w_mask)
    as64 = [tf.cast(t, "float64") for t in (previous, current, w_out, w_mask)]
    config = {k: v for k, v in reference.get_config().items() if k not in ("name", "dtype", "trainable")}
    exact_layer = float64_twin(lambda **kw: SAN(**{**config, **kw}), reference, lambda layer: layer(as64[:2]))
    exact = _step(exact_layer, "eager", with_mask)(*as64)
    names = ["output"] + (["mask"] if with_mask else []) + ["d/previous", "d/current"]
    names += [f"d/{w.name}" for w in reference.trainable_weights]
    assert len(got) == len(expected) == len(exact) == len(names)
    for name, a, b, e in zip(names, got, expected, exact):
        assert a is not None and b is not None, name
        assert_close(a, b, exact=e, err_msg=f"{name} ({mode})")


def _cases():
    yield from itertools.product((1, 2), "cd", ("full", "depthwise"), (True, False))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("rank,variant,smoothing_mode,extrema", list(_cases()))
def test_fast_equals_reference(rng, rank, variant, smoothing_mode, extrema, mode):
    previous, current = _inputs(rng, rank)
    fast, reference = _pair(previous, current, variant=variant, smoothing_mode=smoothing_mode, extrema=extrema)
    _assert_same(fast, reference, previous, current, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "kwargs",
    [
        {"absolute": False},
        {"absolute": False, "extrema": False, "smoothing_mode": "depthwise"},
        {"channel_alignment": False},
        {"channel_alignment": False, "variant": "d", "smoothing_mode": "depthwise"},
        {"smoothing": False},
        {"smoothing": False, "extrema": False, "absolute": False},
        {"kernel_size": 5, "variant": "d"},
        {"kernel_size": 5, "variant": "d", "smoothing_mode": "depthwise"},
        {"kernel_size": 2, "variant": "d"},  # even kernel: TensorFlow's asymmetric `same` padding
        {"kernel_size": 2, "variant": "d", "smoothing_mode": "depthwise"},
        {"dilation_rate": 3, "smoothing_mode": "depthwise"},
    ],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()),
)
@pytest.mark.parametrize("rank", [1, 2])
def test_fast_equals_reference_for_other_switches(rng, rank, kwargs, mode):
    c_prev = 4 if kwargs.get("channel_alignment") is False else 3
    previous, current = _inputs(rng, rank, c_prev=c_prev)
    fast, reference = _pair(previous, current, **kwargs)
    _assert_same(fast, reference, previous, current, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("smoothing_mode", ["full", "depthwise"])
@pytest.mark.parametrize(
    "rank,prev_spatial,kind",
    [(2, (11, 10), "crop"), (1, (13,), "crop"), (2, (14, 12), "pool"), (1, (18,), "pool")],
)
def test_fast_equals_reference_after_valid_crop_and_pool_alignment(
    rng, rank, prev_spatial, kind, smoothing_mode, mode
):
    assert san_module.spatial_alignment(prev_spatial, SPATIAL[rank])[0] == kind
    previous, current = _inputs(rng, rank, prev_spatial=prev_spatial)
    fast, reference = _pair(previous, current, variant="d", smoothing_mode=smoothing_mode)
    _assert_same(fast, reference, previous, current, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("smoothing_mode", ["full", "depthwise"])
def test_fast_equals_reference_with_attention_output(rng, smoothing_mode, mode):
    previous, current = _inputs(rng, 2)
    fast, reference = _pair(previous, current, variant="d", smoothing_mode=smoothing_mode, return_attention=True)
    _assert_same(fast, reference, previous, current, mode, with_mask=True)


@pytest.mark.parametrize("smoothing_mode", ["full", "depthwise"])
@pytest.mark.parametrize("used", ["output", "mask"])
def test_gradient_when_only_one_of_output_and_mask_is_used(rng, smoothing_mode, used):
    previous, current = _inputs(rng, 2)
    layers = _pair(previous, current, smoothing_mode=smoothing_mode, return_attention=True)
    grads = []
    for layer in layers:
        for mode in MODES:

            def step(previous, current, layer=layer):
                with tf.GradientTape() as tape:
                    tape.watch(current)
                    out, mask = layer([previous, current])
                    loss = tf.reduce_sum(tf.square(out if used == "output" else mask))
                return tape.gradient(loss, [current] + layer.trainable_weights)

            fn = step if mode == "eager" else tf.function(step, jit_compile=(mode == "xla"))
            grads.append([np.asarray(g) for g in fn(previous, current)])
    for got in grads[1:]:
        for a, b in zip(got, grads[0]):
            assert_close(a, b)


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("smoothing_mode", ["full", "depthwise"])
@pytest.mark.parametrize("rank", [1, 2])
def test_fast_equals_reference_with_unknown_spatial_sizes(rng, rank, smoothing_mode, jit_compile):
    # Sizes unknown while tracing: no phase split, the dilated forms run as they are.
    previous, current = _inputs(rng, rank, prev_spatial=(13, 12)[:rank] if rank == 2 else (13,))
    kwargs = {"variant": "d", "smoothing_mode": smoothing_mode, "bias_initializer": "random_normal"}
    fast, reference = SAN(implementation="fast", **kwargs), SAN(implementation="reference", **kwargs)
    for layer in (fast, reference):  # built with unknown sizes: alignment and smoothing decided per call
        layer([keras.Input((None,) * rank + (t.shape[-1],)) for t in (previous, current)])
    fast.set_weights(reference.get_weights())
    spec = tf.TensorSpec((None,) * (rank + 2), "float32")
    results = []
    for layer in (fast, reference):

        @tf.function(input_signature=[spec, spec], jit_compile=jit_compile)
        def step(previous, current, layer=layer):
            with tf.GradientTape() as tape:
                tape.watch([previous, current])
                out = layer([previous, current])
                loss = tf.reduce_sum(out * tf.cos(current))
            return [out] + tape.gradient(loss, [previous, current] + layer.trainable_weights)

        results.append([np.asarray(t) for t in step(previous, current)])
    for a, b in zip(*results):
        assert_close(a, b)


@pytest.mark.parametrize("mode", ["eager", "graph"])
@pytest.mark.parametrize("kernel_size", [3, 2])  # odd: phase blocks; even: autodiff of tf.nn.convolution
@pytest.mark.parametrize("rank", [1, 2])
def test_fast_equals_reference_for_dilated_full_smoothing_without_onednn(
    rng, monkeypatch, rank, kernel_size, mode
):
    # Without oneDNN, TensorFlow's CPU convolution gradients refuse dilations > 1: where the probe says so,
    # the fast path must not use them.
    monkeypatch.setattr(probes, "dilated_gradients_probe", lambda dtype="float32": Probe(False, "no dilations"))
    monkeypatch.setattr(san_kernel, "dilated_gradients_probe", probes.dilated_gradients_probe)
    previous, current = _inputs(rng, rank)
    fast, reference = _pair(previous, current, variant="d", kernel_size=kernel_size)
    _assert_same(fast, reference, previous, current, mode)


def test_training_step_in_a_compiled_model_matches_reference(rng):
    models = []
    for implementation in ("fast", "reference"):
        keras.utils.set_random_seed(3)
        inp = keras.Input((8, 8, 2))
        conv = keras.layers.Conv2D(4, 3, padding="same")(inp)
        out = SAN(variant="d", smoothing_mode="depthwise", implementation=implementation)([inp, conv])
        model = keras.Model(inp, keras.layers.GlobalAveragePooling2D()(out))
        model.compile(optimizer="sgd", loss="mse", jit_compile=True)
        models.append(model)
    initial = models[1].get_weights()
    models[0].set_weights(initial)
    x = rng.normal(size=(4, 8, 8, 2)).astype("float32")
    y = rng.normal(size=(4, 4)).astype("float32")
    for model in models:
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    assert all(np.abs(a - b).max() > 1e-5 for a, b in zip(models[1].get_weights(), initial))  # it trained
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        assert_close(a, b)


def test_eager_calls_on_new_sizes_compile_once_each_without_retracing_warnings(rng, monkeypatch, caplog):
    """Inference on images of varying size: each size is compiled once (a second call reuses it), TensorFlow
    prints no "triggered tf.function retracing" warning, and the cache of compiled functions stays bounded."""
    monkeypatch.setattr(san_kernel, "_COMPILED", type(san_kernel._COMPILED)())
    monkeypatch.setattr(san_kernel, "COMPILED_CACHE_SIZE", 6)
    layer = SAN(variant="d")
    with caplog.at_level("WARNING"):
        for size in range(5, 13):
            inputs = [rng.normal(size=(1, size, size, c)).astype("float32") for c in (2, 4)]
            layer(inputs)
            traced = {k: f.experimental_get_tracing_count() for k, f in san_kernel._COMPILED.items()}
            layer(inputs)  # the same size again: no new trace
            assert {k: f.experimental_get_tracing_count() for k, f in san_kernel._COMPILED.items()} == traced
    assert len(san_kernel._COMPILED) <= 6
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]


# ----------------------------------------------------------------------------- dispatch and config
def test_fast_path_is_the_default_and_is_used(rng, monkeypatch):
    calls = []
    original = san_kernel._fast_san

    def spy(plan, *args):
        calls.append((plan.xla, plan.smoothing))
        return original(plan, *args)

    monkeypatch.setattr(san_kernel, "_fast_san", spy)
    previous, current = _inputs(rng, 2)
    layer = SAN(smoothing_mode="depthwise")
    assert layer.implementation == "fast"
    layer([previous, current])
    tf.function(lambda p, c: layer([p, c]), jit_compile=True)(previous, current)
    assert calls == [(False, "depthwise"), (True, "shifted")]
    SAN(implementation="reference")([previous, current])
    assert len(calls) == 2


def test_execution_mode_detection():
    assert execution_mode() == "eager"
    seen = []

    def probe():
        seen.append(execution_mode())
        return tf.constant(0.0)

    tf.function(probe)()
    tf.function(probe, jit_compile=True)()
    tf.function(lambda: tf.function(probe)(), jit_compile=True)()  # nested inside an XLA function
    assert seen == ["graph", "xla", "xla"]


def test_implementation_config_round_trip():
    layer = SAN(variant="d", smoothing_mode="depthwise", implementation="reference")
    config = layer.get_config()
    assert config["implementation"] == "reference"
    clone = SAN.from_config(config)
    assert clone.implementation == "reference" and clone.get_config() == config
    assert SAN().get_config()["implementation"] == "fast"
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert restored.implementation == "reference"


def test_bad_implementation_is_rejected():
    with pytest.raises(ValueError, match=r"implementation.*'fast', 'reference'.*'fused'"):
        SAN(implementation="fused")


def test_saved_model_keeps_the_implementation(rng, tmp_path):
    previous, current = _inputs(rng, 2)
    inp_p, inp_c = keras.Input(previous.shape[1:]), keras.Input(current.shape[1:])
    model = keras.Model([inp_p, inp_c], SAN(implementation="reference")([inp_p, inp_c]))
    path = tmp_path / "san.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.layers[-1].implementation == "reference"
    np.testing.assert_array_equal(np.asarray(loaded([previous, current])), np.asarray(model([previous, current])))
