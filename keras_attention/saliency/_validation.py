"""Checks shared by the event extractor and the saliency series: every error names the argument,
the value or shape and what was expected, and is raised before any work is done."""

import math
import numbers

import numpy as np
import numpy.typing as npt

from keras_attention.utils.checks import check_positive_int, shape_str
from keras_attention.saliency.scale_space import minimum_length


def check_positive_float(argument: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"Argument `{argument}` must be a finite number > 0; got {value!r}.")
    return float(value)


def check_non_negative_float(argument: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"Argument `{argument}` must be a finite number >= 0; got {value!r}.")
    return float(value)


def check_event_parameters(
    octaves: int, scales: int, sigma0: float, contrast: float, threshold: float
) -> tuple[int, int, float, float, float]:
    """Validate the scale-space / extrema arguments of :func:`extract_events`; return them normalised."""
    check_positive_int("octaves", octaves)
    check_positive_int("scales", scales)
    sigma0 = check_positive_float("sigma0", sigma0)
    contrast = check_non_negative_float("contrast", contrast)
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, numbers.Real)
        or not math.isfinite(threshold)
        or not 0 < threshold <= 1
    ):
        raise ValueError(f"Argument `threshold` must be a number in (0, 1]; got {threshold!r}.")
    return octaves, scales, sigma0, contrast, float(threshold)


def check_series(x: npt.ArrayLike, octaves: int | None = None, argument: str = "x") -> np.ndarray:
    """``x`` as a float64 array of shape ``(N, T, V)``, or a ValueError naming what is wrong with it.

    Checks, in order: numeric dtype, rank 3, length for ``octaves`` octaves (when given), no NaN, no inf.
    """
    array = np.asarray(x)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)
    ):
        raise ValueError(f"Argument `{argument}` must be a numeric array; got dtype {array.dtype}.")
    if array.ndim != 3:
        raise ValueError(
            f"Argument `{argument}` must have shape (samples, time steps, variates) (rank 3); got shape "
            f"{shape_str(array.shape)} (rank {array.ndim})."
        )
    if octaves is not None:
        check_length(array, octaves, argument)
    array = array.astype(np.float64, copy=False)
    for label, bad in (("NaN", np.isnan(array)), ("infinite", np.isinf(array))):
        count = int(np.count_nonzero(bad))
        if count:
            n, t, v = (int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"Argument `{argument}` contains {count} {label} value(s); the first is at sample {n}, "
                f"time step {t}, variate {v} (index [{n}, {t}, {v}]). Fill or drop missing values first."
            )
    return array


def check_length(x: np.ndarray, octaves: int, argument: str = "x") -> None:
    """Raise when the series are too short for ``octaves`` octaves (see ``minimum_length``)."""
    need = minimum_length(octaves)
    if x.shape[1] < need:
        raise ValueError(
            f"Argument `{argument}` has {x.shape[1]} time steps (shape {shape_str(x.shape)}); "
            f"{octaves} octave(s) need at least {need} time steps (3 * 2**(octaves - 1): the coarsest "
            "octave, halved octaves - 1 times, needs one step with a neighbour on each side). "
            "Use fewer octaves or longer series."
        )
