"""Fuzzing every public layer's arguments and inputs (``hypothesis``).

For each public layer a row of :data:`ROWS` draws constructor arguments (valid ones, and now and then an invalid
one: a negative or zero size, a float, a string, a bool, an unknown choice) and inputs (rank, sizes from 1 up to
smaller than the layer's kernel, channel counts, batch sizes including 0, dtypes including int32 and float16).
Each case must either

- return outputs of the shapes the layer declares (``compute_output_shape``) with finite values on finite
  inputs, or
- raise a ``ValueError`` / ``TypeError`` from the package itself (the innermost frame of the traceback is in
  ``keras_attention``): never an error from inside TensorFlow, Keras or numpy, and never NaN.

The examples are derandomised (the same cases on every run) and bounded, so the file adds well under a minute.
"""

import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from backend import BACKEND, to_numpy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import keras_attention.layers as layers

PACKAGE = str(Path(layers.__file__).resolve().parent.parent)
EXAMPLES = 25
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck), print_blob=True)


# ------------------------------------------------------------------------------------------ strategies
BAD_SIZES = (0, -1, 2.5, "3", True)  # what a size argument must refuse
BAD_CHOICES = ("nope", None, 1)
BAD_FLAGS = ("yes", 2)


def size(low=1, high=8):
    """A valid size and the invalid values it must refuse."""
    return st.integers(low, high), BAD_SIZES


def optional_size(low=1, high=8):
    return st.one_of(st.none(), st.integers(low, high)), BAD_SIZES


def choice(*values):
    return st.sampled_from(values), BAD_CHOICES


def flag():
    return st.booleans(), BAD_FLAGS


def fixed(value):
    return st.just(value), ()


def number(low, high, bad=(0, -1.0, "1", True, float("nan"))):
    """A valid float in ``[low, high]`` and the invalid values it must refuse."""
    return st.floats(low, high), bad


def data_format():
    """The image layout of a 2-D layer (rank-3 inputs ignore it)."""
    return choice("channels_last", "channels_first")


@st.composite
def arguments(draw, spec):
    """Constructor arguments: all valid (three cases in four), or all valid but one, drawn from its invalid
    values (the case a user's typo makes)."""
    kwargs = {name: draw(valid) for name, (valid, _invalid) in spec.items()}
    wrongable = [name for name, (_valid, invalid) in spec.items() if invalid]
    if wrongable and draw(st.integers(0, 3)) == 0:
        name = draw(st.sampled_from(wrongable))
        kwargs[name] = draw(st.sampled_from(list(spec[name][1])))
    return kwargs


DTYPES = st.sampled_from(["float32", "float32", "float32", "float16", "int32", "float64"])


@st.composite
def features(draw, ranks=(1, 2), channels=None):
    """``(shape, dtype)`` of one input: batch 0-3, 1-9 positions per axis, 1-9 channels."""
    rank = draw(st.sampled_from(ranks))
    batch = draw(st.integers(0, 3))
    spatial = tuple(draw(st.integers(1, 9)) for _ in range(rank))
    c = channels if channels is not None else draw(st.integers(1, 9))
    return (batch,) + spatial + (c,), draw(DTYPES)


@st.composite
def san_inputs(draw):
    shape, dtype = draw(features())
    batch, *spatial, channels = shape
    factor = draw(st.sampled_from([1, 1, 2]))
    previous = (batch,) + tuple(s * factor for s in spatial) + (draw(st.integers(1, 5)),)
    return [previous, shape], dtype


@st.composite
def pair_inputs(draw, ranks=(1, 2), same_channels=False):
    shape, dtype = draw(features(ranks))
    other = shape if same_channels else shape[:-1] + (draw(st.integers(1, 9)),)
    return [shape, other], dtype


@st.composite
def fa_inputs(draw):
    (x, u), dtype = draw(pair_inputs())
    if draw(st.booleans()):  # a later block: the earlier attentions s
        return [x, u, (x[0], draw(st.integers(1, 4)))], dtype
    return [x, u], dtype


@st.composite
def series_pair(draw):
    batch, steps = draw(st.integers(0, 3)), draw(st.integers(1, 9))
    return [(batch, steps, draw(st.integers(1, 5))), (batch, steps, draw(st.integers(1, 5)))], draw(DTYPES)


ROWS = {  # layer name: (constructor arguments: {name: (valid values, invalid values)}, inputs)
    "ScaleSpaceAttention": (
        {"variant": choice("c", "d"), "kernel_size": size(1, 5), "smoothing_mode": choice("full", "depthwise"),
         "absolute": flag(), "extrema": flag(), "implementation": choice("fast", "reference"), "data_format": data_format()},
        san_inputs(),
    ),
    "CBAM": (
        {"reduction": size(1, 16), "spatial_kernel_size": size(1, 11), "implementation": choice("fast", "reference"),
         "data_format": data_format()},
        features(),
    ),
    "BAM": (
        {"reduction": size(1, 16), "dilation_rate": size(1, 5), "implementation": choice("fast", "reference"),
         "data_format": data_format()},
        features(),
    ),
    "SqueezeExcitation": (
        {"reduction": size(1, 16), "implementation": choice("fast", "reference"), "data_format": data_format()},
        features(),
    ),
    "FocusAssociation": ({"reduction": size(1, 8), "expansion": size(1, 8), "data_format": data_format()},
                         fa_inputs()),
    "SalientPositionsAttention": (
        {"k": size(1, 12), "adaptive": flag(), "reduction": size(1, 16), "inter_channels": optional_size(1, 6),
         "normalize": flag(), "implementation": choice("fast", "reference"), "data_format": data_format()},
        features(),
    ),
    "NonLocalBlock": ({"inter_channels": optional_size(1, 6), "sub_sample": flag(), "data_format": data_format()},
                      features()),
    "SDMA": ({"units": size(1, 6), "return_branches": flag()}, series_pair()),
    "SDCA": ({"units": size(1, 6)}, series_pair()),
    "XM2A": (
        {"num_heads": size(1, 4), "key_dim": size(1, 6), "variant": choice("xm2a", "msmsa", "exp", "pool", "exp_pool"),
         "talk": choice("scale", "self"), "descriptor": choice("mean", "max"), "norm": choice("layer", "batch"),
         "output_dim": optional_size(1, 6), "implementation": choice("fast", "reference")},
        features(ranks=(1,)),
    ),
    "MultiScaleSelfAttention": (
        {"num_heads": size(1, 4), "key_dim": size(1, 6), "output_dim": optional_size(1, 6),
         "implementation": choice("fast", "reference", "fused")},
        features(ranks=(1,)),
    ),
    "AWConv2D": (
        {"filters": size(1, 6), "kernel_size": size(1, 5), "strides": size(1, 3), "padding": choice("same", "valid"),
         "reduction": size(1, 16), "use_bias": flag(),
         "implementation": choice("fast", "im2col", "tapwise", "reference"), "data_format": data_format()},
        features(ranks=(2,)),
    ),
    "EfficientChannelAttention": (
        {"kernel_size": (st.one_of(st.none(), st.sampled_from([1, 3, 5, 7])), BAD_SIZES + (4,)),
         "gamma": number(0.5, 4.0), "beta": (st.floats(-2.0, 2.0), ("1", True, float("inf"))),
         "data_format": data_format()},
        features(),
    ),
    "CoordinateAttention": (
        {"reduction": size(1, 32), "min_channels": size(1, 8), "data_format": data_format()},
        features(ranks=(2,)),
    ),
    "GlobalContext": (
        {"reduction": size(1, 16), "fusion": (st.sampled_from(["add", "mul", ("add", "mul")]), ("sum", (), 1)),
         "pooling": choice("attention", "average"), "data_format": data_format()},
        features(),
    ),
    "SelectiveKernel": (
        {"filters": size(1, 6), "kernel_size": (st.sampled_from([1, 3]), BAD_SIZES + (2,)),
         "dilations": (st.sampled_from([(1, 2), (2, 2), (2, 1, 3)]), ((), (1,), (0, 1), "12")),
         "strides": size(1, 3), "padding": choice("same", "valid"), "groups": size(1, 3), "reduction": size(1, 16),
         "min_units": size(1, 32), "data_format": data_format()},
        features(ranks=(2,)),
    ),
    "GatherExcite": (
        {"extent": (st.sampled_from([0, 2, 4, 8]), (3, -1, 2.0, "2", True)),
         "variant": choice("theta-", "theta", "theta+"), "reduction": size(1, 16), "data_format": data_format()},
        features(),
    ),
    "SimAM": ({"lambda_": number(1e-6, 1.0), "data_format": data_format()}, features()),
    "TripletAttention": ({"kernel_size": size(1, 9), "data_format": data_format()}, features(ranks=(2,))),
    "SCSE": ({"reduction": size(1, 8), "mode": choice("max", "add"), "data_format": data_format()}, features()),
    "PositionalEncoding": (
        {"mode": choice("sinusoidal", "learned"), "channels": size(1, 8), "max_length": optional_size(1, 12)},
        features(ranks=(1,)),
    ),
}


# ------------------------------------------------------------------------------------------ the check
def _innermost_file(error):
    tb = error.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last or ""


def _from_package(error):
    return str(Path(_innermost_file(error)).resolve()).startswith(PACKAGE)


def _array(shape, dtype, rng):
    values = rng.normal(size=shape)
    if "int" in dtype:
        values = np.round(values * 3)
    return values.astype(dtype)


def _declared_shapes(layer, shapes):
    declared = layer.compute_output_shape(shapes)
    if isinstance(declared, (list, tuple)) and declared and isinstance(declared[0], (list, tuple)):
        return [tuple(d) for d in declared]
    return [tuple(declared)]


def run_case(name, kwargs, inputs):
    """Construct ``name(**kwargs)`` and call it on arrays of ``inputs`` ((shapes, dtype)); assert the outcome."""
    shapes, dtype = inputs
    rng = np.random.default_rng(0)
    single = not isinstance(shapes, list)
    arrays = [_array(s, dtype, rng) for s in ([shapes] if single else shapes)]
    what = f"{name}({kwargs}) on {shapes} {dtype}"
    try:
        layer = getattr(layers, name)(**kwargs)
        outputs = layer(arrays[0] if single else arrays)
        declared = _declared_shapes(layer, [(None,) + tuple(a.shape[1:]) for a in arrays] if not single
                                    else (None,) + tuple(arrays[0].shape[1:]))
    except (ValueError, TypeError) as error:
        assert _from_package(error), (
            f"{what}: {type(error).__name__} raised outside the package ({_innermost_file(error)}): {error}"
        )
        return "refused"
    except Exception as error:  # noqa: BLE001 - the point: anything else is a defect
        raise AssertionError(f"{what}: {type(error).__name__} instead of a ValueError / TypeError: {error}") from error
    outputs = [to_numpy(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]
    batch = arrays[0].shape[0]
    assert len(outputs) == len(declared), what
    for out, shape in zip(outputs, declared):
        assert out.shape == (batch,) + shape[1:], f"{what}: output {out.shape}, declared {shape}"
        assert np.all(np.isfinite(out.astype("float64"))), f"{what}: non-finite outputs"
    return "computed"


def test_every_public_layer_has_a_row():
    public = {name for name in layers.__all__ if isinstance(getattr(layers, name), type)
              and issubclass(getattr(layers, name), keras.layers.Layer)}
    classes = {getattr(layers, name) for name in public}
    covered = {getattr(layers, name) for name in ROWS}
    missing = sorted(cls.__name__ for cls in classes - covered)
    assert not missing, f"no fuzz row for {missing}"


@pytest.mark.parametrize("name", list(ROWS))
def test_fuzz_layer(name):
    spec, inputs = ROWS[name]
    outcomes = []

    @SETTINGS
    @given(kwargs=arguments(spec), inputs=inputs)
    def check(kwargs, inputs):
        outcomes.append(run_case(name, kwargs, inputs))

    keras.config.disable_traceback_filtering()
    try:
        check()
    finally:
        keras.config.enable_traceback_filtering()
    print(name, outcomes.count("computed"), outcomes.count("refused"))
    # the fuzzing reached both outcomes (it is not only refusing, nor never trying an invalid case)
    assert "computed" in outcomes, f"{name}: every case was refused: {outcomes}"
    if BACKEND == "tensorflow" and "refused" not in outcomes:
        pytest.fail(f"{name}: no invalid case was drawn in {len(outcomes)} examples")


if __name__ == "__main__":  # pragma: no cover - run one row by hand: python tests/layers/test_fuzz.py CBAM
    sys.exit(pytest.main([__file__, "-k", sys.argv[1] if len(sys.argv) > 1 else ""]))
