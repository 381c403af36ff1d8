"""XM2A's fast path and MSMSA's fused form against their per-head references (``implementation="reference"``) in
every execution mode.

The fast path picks its talk form by execution mode (eager, ``tf.function`` graph, XLA), so each mode is
checked: outputs and gradients (w.r.t. the input and every trainable weight) equal to float32 rounding
(``tests/tolerance.py``, measured against a float64 twin of the reference), same weights.
"""

import weakref

import numpy as np
import pytest
import tensorflow as tf
from tolerance import assert_close, float64_twin

from keras_attention.layers.multi_scale_self_attention import MSMSA
from keras_attention.layers.xm2a import VARIANTS, XM2A, execution_mode

MODES = ["eager", "graph", "xla"]


def _run(mode, fn, *args):
    if mode == "eager":
        return fn(*args)
    return tf.function(fn, jit_compile=(mode == "xla"))(*args)


_EXACT = weakref.WeakKeyDictionary()  # reference layer -> its float64 twin


def _pair(x, layer_class=XM2A, **kwargs):
    fast = layer_class(implementation="fast" if layer_class is XM2A else "fused", **kwargs)
    reference = layer_class(implementation="reference", **kwargs)
    fast.build(x.shape)
    reference.build(x.shape)
    reference.set_weights(fast.get_weights())
    _EXACT[reference] = float64_twin(lambda **kw: layer_class(implementation="reference", **kwargs, **kw), reference,
                                     lambda layer: layer.build(x.shape))
    return fast, reference


def _output_and_gradients(layer, x, weights, mode):
    def step(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = layer(inputs, training=True)
            loss = tf.reduce_sum(y * weights)
        return [y] + tape.gradient(loss, [inputs] + layer.trainable_weights)

    return [np.asarray(t) for t in _run(mode, step, x)]


def _assert_same(fast, reference, x, mode):
    rng = np.random.default_rng(1)
    units = fast.output_dim or x.shape[-1]
    weights = rng.normal(size=(x.shape[0], x.shape[1], units))
    got = _output_and_gradients(fast, x, tf.constant(weights.astype("float32")), mode)
    want = _output_and_gradients(reference, x, tf.constant(weights.astype("float32")), mode)
    exact = _output_and_gradients(_EXACT[reference], tf.cast(x, "float64"), tf.constant(weights), "eager")
    names = ["output", "d input"] + [f"d {w.path}" for w in fast.trainable_weights]
    assert len(got) == len(want) == len(exact) == len(names)
    for name, a, b, e in zip(names, got, want, exact):
        assert_close(a, b, exact=e, err_msg=f"{mode}: {name}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("talk", ["scale", "self"])
@pytest.mark.parametrize("variant", VARIANTS)
def test_fast_path_equals_reference(variant, talk, mode):
    x = tf.constant(np.random.default_rng(0).normal(size=(2, 9, 3)).astype("float32"))
    fast, reference = _pair(x, num_heads=4, key_dim=5, variant=variant, talk=talk, output_dim=6)
    _assert_same(fast, reference, x, mode)


# Eager and XLA run the same talk form (only a tf.function graph picks the other): the grid above checks
# XLA for every variant and talk; the other settings and MSMSA are checked in the two forms.
@pytest.mark.parametrize("mode", ["eager", "graph"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {"variant": "exp", "num_heads": 6, "descriptor": "max"},
        {"variant": "exp_pool", "num_heads": 5, "norm": "batch"},
        {"variant": "xm2a", "num_heads": 3, "descriptor": "max", "norm": "batch", "talk": "self"},
    ],
    ids=["exp-6-max", "exp_pool-5-batch", "xm2a-3-max-batch-self"],
)
def test_fast_path_equals_reference_other_settings(kwargs, mode):
    x = tf.constant(np.random.default_rng(2).normal(size=(3, 25, 4)).astype("float32"))
    fast, reference = _pair(x, key_dim=4, **kwargs)
    _assert_same(fast, reference, x, mode)


@pytest.mark.parametrize("mode", ["eager", "graph"])
@pytest.mark.parametrize("num_heads, output_dim", [(3, 5), (1, None)])
def test_msmsa_fused_equals_per_head(num_heads, output_dim, mode):
    """MSMSA's heads stacked into one zero-padded convolution equal its per-head convolutions."""
    x = tf.constant(np.random.default_rng(3).normal(size=(2, 11, 4)).astype("float32"))
    fast, reference = _pair(x, MSMSA, num_heads=num_heads, key_dim=4, output_dim=output_dim)
    _assert_same(fast, reference, x, mode)


def test_execution_mode_tells_eager_graph_and_xla_apart():
    seen = []

    def probe():
        seen.append(execution_mode())
        return tf.constant(0.0)

    for mode in MODES:
        _run(mode, probe)
    assert seen == MODES
