"""How close two computations of the same quantity must be: one rule, from the rounding of the dtype.

Every "fast path == reference path" and "layer == numpy reference" comparison of the suite goes through
:func:`assert_close`. Its tolerance is never a bare number; it is ``ulps`` machine epsilons of the compared
dtype (float32: ``2**-23``) times the *scale* of what is compared:

- ``scale`` is the magnitude of the terms each value is made of. By default it is the largest absolute value
  of the expected tensor (one scale per tensor: a weight's gradient is a sum over the batch and the positions,
  and an entry that comes out small is as uncertain as the tensor's largest); ``magnitude=`` gives it
  directly where the caller knows it (for example the sum of the absolute terms of a matrix product);
- where the values are sums of terms that cancel (the gradient of a bias followed by a training-mode
  BatchNormalization is exactly 0 mathematically, and in float32 is rounding noise of the size of the terms),
  the tensor itself does not show the size of the terms. Then the caller passes ``exact=``: the same quantity
  computed in float64 (a float64 twin of the reference path, or the numpy reference). The float32 reference's
  own distance from the exact value *measures* the float32 rounding of that quantity, and ``actual`` may be
  off the exact value by ``SLACK`` times that much, or by the ``ulps`` rule, whichever is larger. A different
  order of the same sums rounds by the same order of magnitude, but one draw of the reference's rounding is a
  noisy measure of it: on a bias gradient that is exactly 0, the fast path's rounding was seen at 4.5 times
  the reference's (7.5e-6 against 1.7e-6), hence ``SLACK = 16``.

Why ``ULPS = 128`` (1.5e-5 relative to the scale): the layers' outputs and gradients come out of a few chained
reductions of 10-1000 terms each; their float32 results differ between two orders of summation by up to
``sqrt(n) * eps`` per reduction, and a training-mode BatchNormalization divides by the batch's standard deviation,
which multiplies the rounding of what it normalises. The largest differences seen on the machines and kernel
paths this suite runs on (x86 with and without AVX-512, oneDNN on and off, torch with and without oneDNN) were
18 eps of the tensor's scale (an XM2A kernel gradient of size 8 off by 1.7e-5 between two CPUs) and 68 eps (a
NonLocal block's training-mode output of size 6.2 off by 5e-5 under torch without oneDNN). A real mistake is far
larger: a gradient wrong by 1e-3 of its scale is 8,400 eps off, and ``tests/test_tolerance.py`` checks that
such a gradient is rejected.
"""

import numpy as np

ULPS = 128
SLACK = 16.0
_EPS = {
    "float64": float(np.finfo(np.float64).eps),
    "float32": float(np.finfo(np.float32).eps),
    "float16": float(np.finfo(np.float16).eps),
    "bfloat16": 2.0**-7,
}


def eps(dtype="float32"):
    """Machine epsilon of ``dtype`` (a name or a numpy dtype; bfloat16 included)."""
    return _EPS[str(np.dtype(dtype)) if str(dtype) != "bfloat16" else "bfloat16"]


def _array(x):
    """A float64 numpy array of ``x`` (a numpy array, number, or backend tensor)."""
    if not isinstance(x, (np.ndarray, np.generic, int, float, list, tuple)):
        import keras

        x = keras.ops.convert_to_numpy(x)
    return np.asarray(x, dtype=np.float64)


def _dtype_of(x, default="float32"):
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return default
    name = str(dtype).split(".")[-1].replace("'>", "")
    return name if name in _EPS else default


def _broadcast(values, shape, what):
    """``values`` as ``shape`` (a scalar or a broadcastable reference, e.g. ``1.0`` for a row sum); the
    checked value itself is never broadcast."""
    try:
        return np.broadcast_to(values, shape)
    except ValueError:
        raise AssertionError(f"{what} of shape {values.shape} does not match the shape {shape}") from None


def tolerance(expected, *, magnitude=None, dtype="float32", ulps=ULPS):
    """The absolute tolerance of a ``dtype`` computation of ``expected``: ``ulps * eps(dtype) * scale``, with
    ``scale = magnitude`` (a number, or an array broadcastable to ``expected``) or, by default, the largest
    absolute value of ``expected``. Returns a float or an array."""
    if magnitude is None:
        values = _array(expected)
        scale = float(np.max(np.abs(values[np.isfinite(values)]), initial=0.0))
    else:
        scale = np.abs(_array(magnitude))
    return ulps * eps(dtype) * scale


def assert_close(actual, expected, *, exact=None, magnitude=None, dtype=None, ulps=ULPS, err_msg=""):
    """Assert that ``actual`` equals ``expected`` up to the rounding of ``dtype`` (module docstring).

    Args:
        actual: what is checked (numpy array or backend tensor).
        expected: the reference computation of the same quantity, in the same dtype (e.g. the reference path
            in float32), or the exact value (e.g. a numpy reference in float64) when ``exact`` is None.
        exact: optional float64 computation of the same quantity. Then ``actual`` is compared with ``exact``,
            and the tolerance is at least ``SLACK`` times the measured distance of ``expected`` from ``exact``.
        magnitude: the scale of the terms each value is made of (default: the largest ``|expected|``).
        dtype: the dtype whose rounding is allowed (default: ``actual``'s, float32 for float64 data).
        ulps: how many machine epsilons of the scale (default :data:`ULPS`).
        err_msg: said first in the failure message.

    Raises:
        AssertionError: ``expected`` / ``exact`` do not broadcast to ``actual``'s shape, NaN / inf positions differ, or an entry is off by more than the
            tolerance; the message names the worst entry, both values, the tolerance and its scale.
    """
    got = _array(actual)
    want = _array(expected)
    if dtype is None:
        dtype = _dtype_of(actual)
        if dtype == "float64":
            dtype = "float32"  # float64 data of a float32 computation: the float32 rule
    prefix = f"{err_msg}: " if err_msg else ""
    want = _broadcast(want, got.shape, f"{prefix}expected")
    target = want
    measured = 0.0
    if exact is not None:
        target = _broadcast(_array(exact), got.shape, f"{prefix}exact")
        finite = np.isfinite(want) & np.isfinite(target)
        measured = float(np.max(np.abs(want - target)[finite], initial=0.0))
    limit = tolerance(target, magnitude=magnitude, dtype=dtype, ulps=ulps)
    limit = np.maximum(limit, SLACK * measured)
    same_special = (np.isnan(got) == np.isnan(target)) & (np.isinf(got) == np.isinf(target))
    assert same_special.all(), f"{prefix}NaN / inf at different positions ({int((~same_special).sum())} entries)"
    finite = np.isfinite(got) & np.isfinite(target)
    inf_equal = np.where(np.isinf(got), got == target, True)
    assert inf_equal.all(), f"{prefix}infinities of different sign"
    error = np.where(finite, np.abs(got - target), 0.0)
    excess = error - np.broadcast_to(limit, error.shape)
    if excess.size and excess.max() > 0:
        worst = np.unravel_index(int(np.argmax(excess)), excess.shape)
        bound = float(np.broadcast_to(limit, error.shape)[worst])
        bad = int((excess > 0).sum())
        raise AssertionError(
            f"{prefix}{bad} of {error.size} entries differ by more than the {dtype} rounding allows; worst at "
            f"{tuple(int(i) for i in worst)}: {got[worst]!r} vs {target[worst]!r} (off by {error[worst]:.3g}, "
            f"tolerance {bound:.3g} = max({ulps} eps x scale, {SLACK:g} x measured reference rounding "
            f"{measured:.3g}))"
        )


def float64_twin(make, source, build):
    """A float64 copy of the layer ``source`` (to compute the ``exact`` values of :func:`assert_close`):
    ``make(dtype="float64")``, built by ``build(twin)`` (e.g. ``lambda layer: layer.build(shape)``, or a call
    on float64 inputs), then given every weight of ``source`` (BatchNormalization statistics included), in
    order, cast to float64."""
    import keras

    twin = make(dtype="float64")
    build(twin)
    assert len(twin.weights) == len(source.weights), (len(twin.weights), len(source.weights))
    for theirs, mine in zip(source.weights, twin.weights):
        assert theirs.path.split("/", 1)[-1] == mine.path.split("/", 1)[-1], (theirs.path, mine.path)
        mine.assign(keras.ops.cast(theirs, "float64"))
    return twin
