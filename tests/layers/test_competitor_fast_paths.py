"""CBAM, BAM, SqueezeExcitation and SPANet: ``implementation="fast"`` against ``implementation="reference"``.

The fast paths (custom gradients, a whole-map max-pool, banded convolutions; see each module's
docstring) must compute the same function: same outputs, same gradients with respect to the input and
every trainable weight, same BatchNorm statistics updates, in eager mode, as a ``tf.function`` graph and
under XLA (``jit_compile=True``), for sequences (rank 1) and images (rank 2), in training and inference.
"Same" is float32 rounding (``tests/tolerance.py``), measured against a float64 twin of the reference where
the values are sums that cancel (a bias before a training-mode BatchNorm has gradient 0, computed as
rounding noise).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops
from numpy_reference import randomise
from tolerance import assert_close, float64_twin

from keras_attention.kernels.convolution import banded_conv, conv_same, phase_conv
from keras_attention.kernels.probes import in_xla_context
from keras_attention.layers.bam import BAM
from keras_attention.layers.cbam import CBAM
from keras_attention.layers.salient_positions_attention import SalientPositionsAttention
from keras_attention.layers.squeeze_excitation import SqueezeExcitation

SHAPES = {1: (3, 13, 8), 2: (3, 8, 12, 8)}  # H, W multiples of BAM's dilation 4: its phase convolutions
MAKERS = {
    "cbam": lambda **kw: CBAM(reduction=2, **kw),
    "bam": lambda **kw: BAM(reduction=2, **kw),
    "se": lambda **kw: SqueezeExcitation(reduction=2, **kw),
    # C = 8 <= 2 * inter: g folded into the per-sample C x C kernel; inter 2: the fused [theta, g] product
    "spanet": lambda **kw: SalientPositionsAttention(k=5, **kw),
    "spanet-inter2": lambda **kw: SalientPositionsAttention(k=5, inter_channels=2, **kw),
}
GATES = ["cbam", "bam", "se"]  # the modules with ``return_attention``
MODES = ["eager", "graph", "xla"]


def twin_layers(kind, shape, rng, **kwargs):
    """A fast and a reference layer built for ``shape`` with identical weights."""
    fast = MAKERS[kind](implementation="fast", **kwargs)
    reference = MAKERS[kind](implementation="reference", **kwargs)
    fast.build(shape)
    reference.build(shape)
    randomise(reference, rng)
    for a, b in zip(reference.weights, fast.weights):
        assert a.path.split("/", 1)[1] == b.path.split("/", 1)[1]
        b.assign(a)
    return fast, reference


def exact_twin(kind, reference, shape, **kwargs):
    """A float64 reference layer with ``reference``'s weights: computes the exact values."""
    return float64_twin(lambda **kw: MAKERS[kind](implementation="reference", **kwargs, **kw), reference,
                        lambda layer: layer.build(shape))


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def forward_and_gradients(layer, x, upstream, training, mode):
    """Outputs and the gradients of ``sum(output_i * upstream_i)`` w.r.t. the input and every trainable
    weight, computed in ``mode``."""

    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = _as_list(layer(x, training=training))
            loss = tf.add_n([tf.reduce_sum(o * u) for o, u in zip(outputs, upstream)])
        return outputs, tape.gradient(loss, [x] + layer.trainable_weights)

    if mode != "eager":
        step = tf.function(step, jit_compile=(mode == "xla"))
    outputs, grads = step(tf.constant(x))
    return [np.asarray(o) for o in outputs], [np.asarray(g) for g in grads]


def assert_same(fast, reference, exact, x, upstream, training, mode):
    """Fast and reference layers (float32, in ``mode``) compute the same outputs, gradients and BatchNorm
    statistics, to float32 rounding measured against ``exact`` (the float64 twin, eager)."""
    weights = [w.path for w in reference.non_trainable_weights]
    out_f, grad_f = forward_and_gradients(fast, x, upstream, training, mode)
    out_r, grad_r = forward_and_gradients(reference, x, upstream, training, mode)
    out_e, grad_e = forward_and_gradients(exact, x.astype("float64"), [u.astype("float64") for u in upstream],
                                          training, "eager")
    for i, (a, b, e) in enumerate(zip(out_f, out_r, out_e)):
        assert_close(a, b, exact=e, err_msg=f"output {i}")
    names = ["input"] + [w.path for w in reference.trainable_weights]
    assert len(grad_f) == len(grad_r) == len(grad_e) == len(names)
    for name, a, b, e in zip(names, grad_f, grad_r, grad_e):
        assert_close(a, b, exact=e, err_msg=f"gradient w.r.t. {name}")
    # BatchNorm statistics (updated in training) stay identical too
    for name, a, b, e in zip(weights, fast.non_trainable_weights, reference.non_trainable_weights,
                             exact.non_trainable_weights):
        assert_close(np.asarray(a), np.asarray(b), exact=np.asarray(e), err_msg=name)
    return grad_f, grad_r


# ============================================================================ fast == reference
# SPANet in training mode: the BatchNorm after W divides by the batch's standard deviation, which amplifies
# float32 rounding in both paths (the reference itself is off the float64 value by up to 4.6e-5 on kernel
# gradients of size ~1.5, and bias gradients that are exactly 0 come out ~2e-5): the measured rounding of the
# reference (tests/tolerance.py) is what covers it.
CASES = [
    pytest.param(kind, rank, training, id=f"{kind}-{rank}-{'training' if training else 'inference'}")
    for kind in MAKERS
    for rank in (1, 2)
    for training in (False, True)
]


def _modes(kind):
    """SE's fast path is its reference form under XLA (``squeeze_excitation.py``): no XLA case for it."""
    return ["eager", "graph"] if kind == "se" else MODES


@pytest.mark.parametrize(
    "kind, rank, training, mode",
    [pytest.param(*case.values, mode, id=f"{case.id}-{mode}") for case in CASES for mode in _modes(case.values[0])],
)
def test_fast_equals_reference(kind, rank, training, mode, rng):
    shape = SHAPES[rank]
    fast, reference = twin_layers(kind, shape, rng)
    exact = exact_twin(kind, reference, shape)
    x = rng.normal(size=shape).astype("float32")
    upstream = [rng.normal(size=shape).astype("float32")]
    assert_same(fast, reference, exact, x, upstream, training, mode)


@pytest.mark.parametrize("kind, mode", [(kind, mode) for kind in GATES for mode in _modes(kind)])
def test_fast_equals_reference_with_attention_output(kind, mode, rng):
    """``return_attention=True``: both outputs equal, and a loss on both (the attention's gradient
    included) gives the same gradients."""
    shape = SHAPES[2]
    fast, reference = twin_layers(kind, shape, rng, return_attention=True)
    exact = exact_twin(kind, reference, shape, return_attention=True)
    x = rng.normal(size=shape).astype("float32")
    _, attention = reference(x, training=False)
    upstream = [rng.normal(size=shape).astype("float32"), rng.normal(size=attention.shape).astype("float32")]
    assert_same(fast, reference, exact, x, upstream, True, mode)


@pytest.mark.parametrize("mode", MODES)
def test_cbam_ties(mode, rng):
    """Exact ties. A position where every channel is 0 ties all channels in the channel max: the fast
    path splits its gradient like the reference in every mode. A constant channel ties every position
    in the spatial max: under XLA the fast path splits the gradient evenly like the reference; in eager
    and graph mode the whole-map max-pool gives it to one of the tied positions - another valid
    subgradient with the same total, identical everywhere else."""
    shape = SHAPES[2]
    fast, reference = twin_layers("cbam", shape, rng)
    x = rng.normal(size=shape).astype("float32")
    x[0, 4, 5, :] = 0.0  # channel-max tie (x' = 0 in every channel)
    x[1, :, :, 3] = 0.7  # spatial-max tie in one channel of one sample
    upstream = [rng.normal(size=shape).astype("float32")]
    exact = exact_twin("cbam", reference, shape)
    out_f, grad_f = forward_and_gradients(fast, x, upstream, True, mode)
    out_r, grad_r = forward_and_gradients(reference, x, upstream, True, mode)
    out_e, grad_e = forward_and_gradients(exact, x.astype("float64"), [upstream[0].astype("float64")], True, "eager")
    assert_close(out_f[0], out_r[0], exact=out_e[0])
    for a, b, e in zip(grad_f[1:], grad_r[1:], grad_e[1:]):  # every weight
        assert_close(a, b, exact=e)
    dx_f, dx_r, dx_e = grad_f[0], grad_r[0], grad_e[0]
    if mode == "xla":
        assert_close(dx_f, dx_r, exact=dx_e)
    else:
        tied = np.zeros(shape, bool)
        tied[1, :, :, 3] = True
        assert_close(dx_f[~tied], dx_r[~tied], exact=dx_e[~tied])
        assert_close(dx_f[tied].sum(), dx_r[tied].sum(), exact=dx_e[tied].sum(), magnitude=np.abs(dx_e[tied]).sum())


@pytest.mark.parametrize("kind", list(MAKERS))
def test_unknown_spatial_size_uses_generic_path(kind, rng):
    """A model built on ``(None, None, C)`` inputs (no whole-map max-pool, no banded kernel) still equals
    the reference."""
    shape = SHAPES[2]
    fast, reference = twin_layers(kind, shape, rng)
    x = rng.normal(size=shape).astype("float32")
    for training in (False, True):
        outs = []
        for layer in (fast, reference):
            inputs = keras.Input((None, None, shape[-1]))
            model = keras.Model(inputs, layer(inputs, training=training))
            outs.append(np.asarray(model(x)))
        assert_close(outs[0], outs[1])


@pytest.mark.parametrize("mode", MODES)
def test_bam_with_sizes_that_are_not_multiples_of_the_dilation(mode, rng):
    """9 x 10 maps: no phase split; BAM's dilated convolutions are oneDNN's (eager, graph) or banded
    with dilation (XLA)."""
    shape = (2, 9, 10, 8)
    fast, reference = twin_layers("bam", shape, rng)
    exact = exact_twin("bam", reference, shape)
    x = rng.normal(size=shape).astype("float32")
    assert_same(fast, reference, exact, x, [rng.normal(size=shape).astype("float32")], True, mode)


# ============================================================================ pieces
CONV_CASES = {
    # name: (input shape, kernel shape, dilation)
    "cbam 7x7 2->1 (banded)": ((2, 11, 9, 2), (7, 7, 2, 1), 1),
    "bam 3x3 d4 (phases)": ((2, 8, 12, 4), (3, 3, 4, 4), 4),
    "3x3 d4, 9x10 (native / banded under XLA)": ((2, 9, 10, 3), (3, 3, 3, 2), 4),
    "even 4x4 d2 (native / banded under XLA)": ((2, 8, 8, 3), (4, 4, 3, 2), 2),
    "5x3 d2 (phases)": ((2, 6, 8, 2), (5, 3, 2, 3), 2),
    "even 4x4 (banded)": ((2, 7, 6, 3), (4, 4, 3, 2), 1),
    "wider than BANDED_MAX_WIDTH (native)": ((1, 3, 70, 2), (3, 3, 2, 1), 1),
    "rank 1 (native)": ((2, 13, 2), (7, 2, 1), 1),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv_same_equals_conv(case, mode, rng):
    """``conv_same`` (banded / phase / native, whichever applies in ``mode``) equals
    ``keras.ops.conv(padding="same")``, gradients included."""
    x_shape, kernel_shape, dilation = CONV_CASES[case]
    x = tf.constant(rng.normal(size=x_shape).astype("float32"))
    fan_in = int(np.prod(kernel_shape[:-1]))
    kernel = tf.constant((rng.normal(size=kernel_shape) / np.sqrt(fan_in)).astype("float32"))
    upstream = tf.constant(rng.normal(size=x_shape[:-1] + kernel_shape[-1:]).astype("float32"))
    rank = len(x_shape) - 2

    def run(conv, mode=mode, dtype="float32"):
        def step(x, kernel, upstream):
            with tf.GradientTape() as tape:
                tape.watch([x, kernel])
                y = conv(x, kernel)
                loss = tf.reduce_sum(y * upstream)
            return [y] + tape.gradient(loss, [x, kernel])

        if mode != "eager":
            step = tf.function(step, jit_compile=(mode == "xla"))
        return [np.asarray(t) for t in step(*(tf.cast(t, dtype) for t in (x, kernel, upstream)))]

    def plain(a, k):
        return ops.conv(a, k, strides=1, padding="same", dilation_rate=(dilation,) * rank)

    fast = run(lambda a, k: conv_same(a, k, dilation))
    reference = run(plain)
    exact = run(plain, mode="eager", dtype="float64")
    for a, b, e in zip(fast, reference, exact):
        assert_close(a, b, exact=e)


def test_phase_conv_applies_only_where_exact():
    kernel = np.zeros((3, 3, 2, 1), "float32")
    assert phase_conv(np.zeros((1, 8, 12, 2), "float32"), kernel, 4) is not None
    assert phase_conv(np.zeros((1, 9, 12, 2), "float32"), kernel, 4) is None  # H not a multiple of 4
    assert phase_conv(np.zeros((1, 8, 8, 2), "float32"), np.zeros((4, 4, 2, 1), "float32"), 2) is None  # even


def test_banded_conv_declines_unknown_or_wide_maps():
    kernel = np.zeros((3, 3, 2, 1), "float32")
    assert banded_conv(np.zeros((1, 4, 65, 2), "float32"), kernel) is None  # wider than BANDED_MAX_WIDTH
    assert banded_conv(np.zeros((1, 4, 2), "float32"), kernel[0]) is None  # rank 1: the native conv


def test_in_xla_context():
    seen = []

    def probe(x):
        seen.append(in_xla_context())
        return x

    probe(tf.ones(1))
    tf.function(probe)(tf.ones(1))
    tf.function(probe, jit_compile=True)(tf.ones(1))
    assert seen == [False, False, True]


# ============================================================================ configuration
@pytest.mark.parametrize("kind", list(MAKERS))
def test_implementation_config_round_trip(kind, tmp_path, rng):
    make = MAKERS[kind]
    assert make().implementation == "fast"
    assert make().get_config()["implementation"] == "fast"
    for implementation in ("fast", "reference"):
        layer = make(implementation=implementation)
        config = layer.get_config()
        assert config["implementation"] == implementation
        clone = type(layer).from_config(config)
        assert clone.implementation == implementation
        assert clone.get_config() == config
    # a saved reference model loads as a reference model with the same outputs
    shape = SHAPES[2]
    inputs = keras.Input(shape[1:])
    model = keras.Model(inputs, make(implementation="reference")(inputs))
    x = rng.normal(size=shape).astype("float32")
    path = tmp_path / f"{kind}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert loaded.layers[-1].implementation == "reference"
    np.testing.assert_array_equal(np.asarray(model(x)), np.asarray(loaded(x)))


@pytest.mark.parametrize("cls", [CBAM, BAM, SqueezeExcitation, SalientPositionsAttention])
@pytest.mark.parametrize("value", ["xla", "Fast", None, 1])
def test_bad_implementation(cls, value):
    with pytest.raises(ValueError, match=r"Argument `implementation` must be one of \['fast', 'reference'\]; got"):
        cls(implementation=value)
