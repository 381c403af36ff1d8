"""AWConv2D's fast paths (SPEC §5, issue "Step 10 · Speed") against its per-sample reference path.

``implementation="reference"`` is the definition ``O[b] = conv(x[b], AK[b])``, one ordinary convolution per
sample; ``"fast"`` (the default) picks a form per backend, execution mode and shape, and the named forms
(``"grouped"``, ``"im2col"``, ``"tapwise"``, ``"shifted"``) can be forced. With the same weights, each must
give the reference's output, the gradients w.r.t. the input and every trainable weight, and the
BatchNormalization moving statistics to 1e-5, eagerly, in a ``tf.function`` and under XLA.
"""

import gc
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf
from test_aw_conv import randomise_bn

from keras_attention.layers import aw_conv
from keras_attention.layers.aw_conv import IMPLEMENTATIONS, AWConv2D
from keras_attention.utils.execution import in_xla_context

MODES = ("eager", "graph", "xla")
TOL = {"atol": 1e-5, "rtol": 1e-5}


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


def _compare(rng, x_shape, implementation, mode, training=True, **kwargs):
    reference, other = _pair(rng, x_shape, implementation, **kwargs)
    x = tf.constant(rng.standard_normal(x_shape).astype("float32"))
    out_shape = reference.compute_output_shape(x_shape)
    w = tf.constant(rng.standard_normal(out_shape).astype("float32"))
    expected = [np.asarray(t) for t in _step(reference, "eager", training)(x, w)]
    got = [np.asarray(t) for t in _step(other, mode, training)(x, w)]
    names = ["output", "d/dx"] + [f"d/d{v.path}" for v in reference.trainable_weights]
    assert len(got) == len(expected) == len(names)
    for name, a, b in zip(names, got, expected):
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, err_msg=f"{implementation} {mode}: {name}", **TOL)
    # the BatchNormalization updates (training) or reads (inference) the same moving statistics
    for bn_ref, bn_other in ((reference.bn1, other.bn1), (reference.bn2, other.bn2)):
        for v_ref, v_other in ((bn_ref.moving_mean, bn_other.moving_mean),
                               (bn_ref.moving_variance, bn_other.moving_variance)):
            np.testing.assert_allclose(np.asarray(v_other), np.asarray(v_ref), **TOL)
    return other, x


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
    expected_kernel_form = "grouped" if aw_conv._tf_grouped_gradients("float32") else "im2col"
    assert big.fast_form(x_big) == expected_kernel_form
    assert small.fast_form(x_small) == "tapwise"
    forms = {}

    @tf.function(jit_compile=True)
    def xla(x):
        forms["xla"] = big.fast_form(x)
        return x

    xla(x_big)
    assert forms["xla"] == "im2col"
    # without differentiable grouped convolutions (no oneDNN, float16 on the CPU), im2col instead
    monkeypatch.setattr(aw_conv, "_tf_grouped_gradients", lambda dtype: False)
    assert big.fast_form(x_big) == "im2col"


def test_fast_path_in_eager_mode_retraces_per_batch_size_and_frees_layers(rng):
    layer = AWConv2D(4, 3, implementation="fast")
    for batch in (2, 3, 2):
        x = rng.standard_normal((batch, 6, 6, 3)).astype("float32")
        assert layer(x, training=False).shape == (batch, 6, 6, 4)
    assert layer in aw_conv._EAGER_FUNCTIONS
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
