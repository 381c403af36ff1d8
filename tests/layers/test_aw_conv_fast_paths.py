"""AWConv2D's fast paths (AW paper F3, eq. 5) against its per-sample reference path.

``implementation="reference"`` is the definition ``O[b] = conv(x[b], AK[b])``, one ordinary convolution per
sample; ``"fast"`` (the default) picks a form per backend, execution mode and shape, and the named forms
(``"grouped"``, ``"im2col"``, ``"tapwise"``, ``"shifted"``) can be forced. With the same weights, each must
give the reference's output, the gradients w.r.t. the input and every trainable weight, and the
BatchNormalization moving statistics, eagerly, in a ``tf.function`` and under XLA, to float32 rounding
(``tests/tolerance.py``: measured against a float64 twin of the reference). ``"grouped"`` is checked only
where TensorFlow can differentiate it here (``AWConv2D.grouped_probe``); elsewhere those cases are skipped
with the probe's reason, and ``test_grouped_probe_*`` check what the layer does on either answer.
"""

import gc
import os
import subprocess
import sys
import textwrap
import weakref
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_aw_conv import randomise_bn
from tolerance import assert_close, float64_twin

from keras_attention.kernels import probes
from keras_attention.kernels.probes import Probe
from keras_attention.kernels.tensorflow import aw_conv as tf_aw_conv
from keras_attention.layers.aw_conv import AWConv2D

IMPLEMENTATIONS = AWConv2D.IMPLEMENTATIONS
from keras_attention.kernels.probes import in_xla_context

MODES = ("eager", "graph", "xla")


def _pair(rng, x_shape, implementation, **kwargs):
    """A reference layer and an ``implementation`` layer with the same weights."""
    reference = AWConv2D(implementation="reference", **kwargs)
    reference.build(x_shape)
    randomise_bn(reference, rng)  # non-trivial BatchNormalization parameters and statistics, and a bias,
    if reference.use_bias:  # so that every path is exercised
        reference.bias.assign(rng.normal(size=reference.bias.shape).astype("float32"))
    other = AWConv2D(implementation=implementation, **kwargs)
    other.build(x_shape)
    other.set_weights(reference.get_weights())
    return reference, other


def _step(layer, mode, training):
    """``x, w -> [output, d loss / d x, d loss / d each trainable weight]`` with ``loss = sum(output * w)``."""

    def step(x, w):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(y * w)
        return [y] + tape.gradient(loss, [x] + layer.trainable_weights)

    if mode == "eager":
        return step
    return tf.function(step, jit_compile=(mode == "xla"))


def _skip_without_grouped_gradients(layer, mode, implementation):
    """A forced ``"grouped"`` outside XLA needs TensorFlow's grouped-convolution gradients on this machine."""
    if implementation == "grouped" and mode != "xla":
        probe = layer.grouped_probe("float32")
        if not probe.works:
            pytest.skip(f"no grouped-convolution gradients here: {probe.reason}")


def _compare(rng, x_shape, implementation, mode, training=True, **kwargs):
    reference, other = _pair(rng, x_shape, implementation, **kwargs)
    _skip_without_grouped_gradients(other, mode, implementation)
    exact = float64_twin(lambda **kw: AWConv2D(implementation="reference", **kwargs, **kw), reference,
                         lambda layer: layer.build(x_shape))
    x = rng.standard_normal(x_shape)
    out_shape = reference.compute_output_shape(x_shape)
    w = rng.standard_normal(out_shape)
    x32, w32 = tf.constant(x.astype("float32")), tf.constant(w.astype("float32"))
    exact_values = [np.asarray(t) for t in _step(exact, "eager", training)(tf.constant(x), tf.constant(w))]
    expected = [np.asarray(t) for t in _step(reference, "eager", training)(x32, w32)]
    got = [np.asarray(t) for t in _step(other, mode, training)(x32, w32)]
    names = ["output", "d/dx"] + [f"d/d{v.path}" for v in reference.trainable_weights]
    assert len(got) == len(expected) == len(exact_values) == len(names)
    for name, a, b, e in zip(names, got, expected, exact_values):
        assert a.shape == b.shape, name
        assert_close(a, b, exact=e, err_msg=f"{implementation} {mode}: {name}")
    # the BatchNormalization updates (training) or reads (inference) the same moving statistics
    for layers in zip((reference.bn1, reference.bn2), (other.bn1, other.bn2), (exact.bn1, exact.bn2)):
        for stat in ("moving_mean", "moving_variance"):
            v_ref, v_other, v_exact = (np.asarray(getattr(bn, stat)) for bn in layers)
            assert_close(v_other, v_ref, exact=v_exact, err_msg=f"{implementation} {mode}: {stat}")
    return other, x32


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kernel_size, use_bias", [(3, False), (1, True), (5, True)],
                         ids=["k3-nobias", "k1-bias", "k5-bias"])  # bias on/off is independent of the kernel
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("strides", [1, 2], ids=lambda s: f"s{s}")
def test_fast_equals_reference(rng, strides, padding, kernel_size, use_bias, mode):
    """Images larger than the channel counts: the fast path takes a per-sample-kernel form."""
    x_shape = (3, 9, 8, 5)
    layer, x = _compare(
        rng, x_shape, "fast", mode, filters=4, kernel_size=kernel_size, strides=strides, padding=padding,
        use_bias=use_bias, reduction=2,
    )
    assert layer.fast_form(x) in ("grouped", "im2col")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("strides, padding", [(1, "same"), (2, "same"), (2, "valid")])
def test_fast_equals_reference_many_channels(rng, strides, padding, mode):
    """A small image with many channels (a ResNet's last stage): the fast path takes the tap-wise form."""
    x_shape = (4, 4, 4, 16)
    layer, x = _compare(
        rng, x_shape, "fast", mode, filters=16, kernel_size=3, strides=strides, padding=padding, use_bias=True,
    )
    assert layer.fast_form(x) == "tapwise"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("implementation", [i for i in IMPLEMENTATIONS if i not in ("fast", "reference")])
@pytest.mark.parametrize(
    "kernel_size, strides, padding",
    [(3, 1, "same"), ((2, 3), (1, 2), "same"), ((3, 2), (2, 1), "valid"), (1, 2, "valid")],
    ids=["k3s1same", "k2x3s1x2same", "k3x2s2x1valid", "k1s2valid"],
)
def test_every_named_form_equals_reference(rng, kernel_size, strides, padding, implementation, mode):
    _compare(
        rng, (3, 7, 9, 5), implementation, mode, filters=4, kernel_size=kernel_size, strides=strides,
        padding=padding, use_bias=True, reduction=2,
    )


@pytest.mark.parametrize("mode", MODES)
def test_fast_equals_reference_in_inference(rng, mode):
    _compare(rng, (3, 8, 8, 5), "fast", mode, training=False, filters=4, kernel_size=3, use_bias=True)


def test_xla_context_detection():
    seen = {}

    def probe(name):
        def f(x):
            seen[name] = in_xla_context()
            return x

        return f

    probe("eager")(tf.constant(1.0))
    tf.function(probe("graph"))(tf.constant(1.0))
    tf.function(probe("xla"), jit_compile=True)(tf.constant(1.0))
    inner = tf.function(probe("inside xla"))
    tf.function(lambda x: inner(x), jit_compile=True)(tf.constant(1.0))
    assert seen == {"eager": False, "graph": False, "xla": True, "inside xla": True}


def test_fast_form_choice(rng, monkeypatch):
    big = AWConv2D(4, 3)
    big.build((2, 16, 16, 8))
    small = AWConv2D(64, 3)
    small.build((2, 4, 4, 64))
    x_big, x_small = tf.zeros((2, 16, 16, 8)), tf.zeros((2, 4, 4, 64))
    expected_kernel_form = "grouped" if big.grouped_probe("float32").works else "im2col"
    assert big.fast_form(x_big) == expected_kernel_form
    assert small.fast_form(x_small) == "tapwise"
    forms = {}

    @tf.function(jit_compile=True)
    def xla(x):
        forms["xla"] = big.fast_form(x)
        return x

    xla(x_big)
    assert forms["xla"] == "im2col"


def test_fast_form_takes_one_convolution_per_sample_for_large_convolutions_outside_xla():
    """From PER_SAMPLE_CONV_MACS multiply-adds per sample on, a TensorFlow graph convolves each sample with its
    own kernel (oneDNN's kernels); XLA keeps im2col (its while loop over samples measured x35-50)."""
    from keras_attention.kernels.aw_conv import PER_SAMPLE_CONV_MACS

    layer = AWConv2D(64, 3, padding="same")
    layer.build((2, 32, 32, 64))
    x = tf.zeros((2, 32, 32, 64))
    assert 32 * 32 * 9 * 64 * 64 >= PER_SAMPLE_CONV_MACS > 16 * 16 * 9 * 8 * 4
    assert layer.fast_form(x) == "reference"
    forms = {}

    @tf.function(jit_compile=True)
    def xla(x):
        forms["xla"] = layer.fast_form(x)
        return x

    xla(x)
    assert forms["xla"] == "im2col"


@pytest.fixture
def fresh_probes(monkeypatch):
    """An empty probe cache for the test (and the real one back afterwards)."""
    monkeypatch.setattr(probes, "_PROBES", {})


@pytest.mark.parametrize("works", [True, False], ids=["probe-yes", "probe-no"])
def test_grouped_probe_answer_decides_the_fast_form(works, monkeypatch, fresh_probes, rng):
    """Both answers of the probe: ``fast`` takes ``grouped`` only on yes, else ``im2col``; each structure is
    probed once (cached), and the probe is asked with the layer's group structure."""
    asked = []

    def fake(dtype, channels, filters, kernel_size, strides, padding):
        asked.append((dtype, channels, filters, kernel_size, strides, padding))
        return Probe(works, "" if works else "Gradients for grouped convolutions are not supported on CPU")

    monkeypatch.setattr(probes, "_try_grouped_gradients", fake)
    layer = AWConv2D(4, (3, 2), strides=(1, 2))
    layer.build((2, 16, 16, 8))
    x = tf.zeros((2, 16, 16, 8))
    assert layer.fast_form(x) == ("grouped" if works else "im2col")
    assert layer.fast_form(x) == ("grouped" if works else "im2col")
    assert asked == [("float32", 8, 4, (3, 2), (1, 2), "same")]
    if not works:  # on "no" the layer still trains: fast takes a form with gradients
        x = tf.constant(rng.standard_normal((2, 16, 16, 8)).astype("float32"))
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x, training=True))
        assert all(g is not None for g in tape.gradient(loss, layer.trainable_weights))


def test_forced_grouped_without_gradients_runs_forward_and_names_the_forms_that_work(monkeypatch, fresh_probes, rng):
    """Where the probe says no, a forced ``"grouped"`` still predicts (forward only) and asking for its
    gradient raises a ValueError naming the layer, the reason and the forms that work."""
    monkeypatch.setattr(probes, "_try_grouped_gradients",
                        lambda *key: Probe(False, "Gradients for grouped convolutions are not supported on CPU"))
    x_shape = (3, 7, 9, 5)
    reference, grouped = _pair(rng, x_shape, "grouped", filters=4, kernel_size=3, use_bias=True)
    x = tf.constant(rng.standard_normal(x_shape).astype("float32"))
    assert_close(np.asarray(grouped(x, training=False)), np.asarray(reference(x, training=False)))
    for mode in ("eager", "graph"):
        with pytest.raises(ValueError) as error:
            _step(grouped, mode, True)(x, tf.ones(reference.compute_output_shape(x_shape)))
        message = str(error.value)
        assert "implementation='grouped' has no gradient on this machine" in message, message
        assert "not supported on CPU" in message and "'im2col'" in message and "'fast'" in message, message


REAL_NO_SCRIPT = """
import numpy as np, tensorflow as tf
from keras_attention.layers.aw_conv import AWConv2D
if tf.config.list_logical_devices("GPU"):
    print("GPU"); raise SystemExit
layer = AWConv2D(4, 3, implementation="grouped")
x = tf.constant(np.random.default_rng(0).standard_normal((3, 7, 9, 5)).astype("float32"))
layer.build(x.shape)
probe = layer.grouped_probe("float32")
print("probe", probe.works, probe.reason)
fast = AWConv2D(4, 3)
fast.build(x.shape)
print("fast", fast.fast_form(x))
with tf.GradientTape() as tape:
    loss = tf.reduce_sum(layer(x, training=True))
try:
    tape.gradient(loss, layer.trainable_weights)
    print("gradient ok")
except ValueError as error:
    print("error", str(error))
"""


def test_grouped_probe_says_no_with_tensorflows_own_cpu_kernels():
    """The probe's "no" for real: with oneDNN off (``TF_ENABLE_ONEDNN_OPTS=0``) TensorFlow's own CPU kernels
    have no grouped-convolution gradients. The probe finds that, ``fast`` picks ``im2col``, and a forced
    ``grouped`` gives the package's error instead of TensorFlow's."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(REAL_NO_SCRIPT)], capture_output=True, text=True,
                          env=env, cwd=root, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("probe False") and "grouped convolutions are not supported" in lines[0], lines
    assert lines[1] == "fast im2col", lines
    assert lines[2].startswith("error ") and "'im2col'" in lines[2], lines


def test_fast_path_in_eager_mode_retraces_per_batch_size_and_frees_layers(rng):
    layer = AWConv2D(4, 3, implementation="fast")
    for batch in (2, 3, 2):
        x = rng.standard_normal((batch, 6, 6, 3)).astype("float32")
        assert layer(x, training=False).shape == (batch, 6, 6, 4)
    assert layer in tf_aw_conv._EAGER_FUNCTIONS
    # the cached function holds its layer weakly: the layer and its cache entry go with the last reference
    reference = weakref.ref(layer)
    del layer
    gc.collect()
    assert reference() is None


def test_implementation_config_round_trip():
    assert AWConv2D(4, 3).get_config()["implementation"] == "fast"
    for implementation in IMPLEMENTATIONS:
        layer = AWConv2D(4, 3, implementation=implementation)
        config = layer.get_config()
        assert config["implementation"] == implementation
        clone = AWConv2D.from_config(config)
        assert clone.implementation == implementation
        assert clone.get_config() == config
    with pytest.raises(ValueError, match=r"`implementation` must be one of \[.*'reference'.*\]; got 'slow'"):
        AWConv2D(4, 3, implementation="slow")


def test_saved_model_keeps_implementation(rng, tmp_path):
    x = rng.standard_normal((2, 6, 6, 3)).astype("float32")
    inputs = keras.Input((6, 6, 3))
    model = keras.Model(inputs, AWConv2D(4, 3, implementation="reference", use_bias=True)(inputs))
    path = tmp_path / "aw.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.layers[-1].implementation == "reference"
    np.testing.assert_array_equal(np.asarray(loaded(x, training=False)), np.asarray(model(x, training=False)))
