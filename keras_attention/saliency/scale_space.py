"""Temporal scale space and difference of Gaussians (dissertation eq. 6.3-6.6, 2.13-2.16; docs/methods/sdma.md).

Everything here works on a block of rows, ``rows`` of shape ``(R, T)`` with one uni-variate series per
row (``R = N * V`` once ``(N, T, V)`` is moved to ``(N, V, T)`` and flattened), so that every Gaussian
smoothing is a single :func:`scipy.ndimage.gaussian_filter1d` call along time on the whole block.

Scale space (docs/methods/sdma.md#sdma-scale-space): octave ``o = 0..O-1`` works on the series halved ``o``
times by averaging pairs (eq. 2.16); within an octave ``S + 3`` smoothed copies ``L_s = G(sigma_s) * x_o`` with
``sigma_s = sigma0 * 2**(s / S)`` in the octave's own time steps (``k**S = 2``, eq. 6.6), and ``S + 2`` DoGs
``D_s = L_{s+1} - L_s`` (eq. 6.5). Every octave smooths the halved *raw* series, not the previous octave's
smoothed copy ("on the series halved o times").

Readings of the points the dissertation leaves open (docs/methods/sdma.md#sdma-scale-space):

- Gaussian boundary: ``mode="reflect"`` (scipy's half-sample symmetric extension, ``d c b a | a b c d``),
  kernel truncated at 4 sigma (scipy's default). Reflection adds no step at the ends, so no spurious
  DoG response appears there; kernels longer than the series are handled by scipy's repeated reflection.
- Halving an odd length: the last sample is dropped, i.e. ``x_{o+1}[t] = (x_o[2t] + x_o[2t+1]) / 2`` for
  ``t < T_o // 2``; so ``T_o = T // 2**o``.
- Minimum length: an extremum needs a neighbour on both sides in time, so the coarsest octave needs
  ``T // 2**(O-1) >= 3``, i.e. ``T >= 3 * 2**(O-1)`` (12 for the default 3 octaves).
"""

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
from scipy.ndimage import gaussian_filter1d

GAUSSIAN_MODE = "reflect"
GAUSSIAN_TRUNCATE = 4.0


def minimum_length(octaves: int) -> int:
    """Shortest series for which every one of ``octaves`` octaves has an interior time step.

    Octave ``o`` works on the series halved ``o`` times (``T // 2**o`` steps, eq. 2.16), and an extremum of
    eq. 6.7 needs a neighbour on each side in time, so the coarsest octave needs 3 steps:
    ``T >= 3 * 2**(octaves - 1)`` (docs/methods/sdma.md#sdma-scale-space).

    Args:
        octaves: number of octaves ``O`` (>= 1).

    Returns:
        ``3 * 2**(octaves - 1)``, the fewest time steps :func:`~keras_attention.saliency.extract_events` accepts.

    Example:
        >>> from keras_attention.saliency import minimum_length
        >>> minimum_length(3), minimum_length(1)
        (12, 3)
    """
    return 3 * 2 ** (int(octaves) - 1)


def octave_sigmas(scales: int, sigma0: float) -> np.ndarray:
    """``sigma_s = sigma0 * 2**(s / S)`` for ``s = 0..S+2``, in the octave's own time steps."""
    return float(sigma0) * 2.0 ** (np.arange(scales + 3) / float(scales))


def halve(rows: npt.ArrayLike) -> np.ndarray:
    """Average consecutive pairs along the last axis; an odd trailing sample is dropped (eq. 2.16)."""
    rows = np.asarray(rows)
    half = rows.shape[-1] // 2
    return 0.5 * (rows[..., 0 : 2 * half : 2] + rows[..., 1 : 2 * half : 2])


def octave_series(rows: npt.ArrayLike, octaves: int) -> list[np.ndarray]:
    """The series of every octave: ``[x_0, x_1, ..., x_{O-1}]`` with ``x_0 = rows`` and ``x_{o+1} = halve(x_o)``."""
    out = [np.asarray(rows, dtype=np.float64)]
    for _ in range(1, octaves):
        out.append(halve(out[-1]))
    return out


def gaussian_stack(rows: npt.ArrayLike, sigmas: Iterable[float]) -> np.ndarray:
    """``L`` of shape ``(len(sigmas), R, T)``: ``rows`` smoothed along time once per sigma (eq. 6.4)."""
    rows = np.asarray(rows, dtype=np.float64)
    return np.stack(
        [
            gaussian_filter1d(rows, sigma, axis=-1, mode=GAUSSIAN_MODE, truncate=GAUSSIAN_TRUNCATE)
            for sigma in sigmas
        ]
    )


def dog_stack(rows: npt.ArrayLike, scales: int, sigma0: float) -> np.ndarray:
    """``D`` of shape ``(S + 2, R, T)`` with ``D_s = L_{s+1} - L_s`` for one octave (eq. 6.5)."""
    smoothed = gaussian_stack(rows, octave_sigmas(scales, sigma0))
    return smoothed[1:] - smoothed[:-1]


def scale_space(rows: npt.ArrayLike, octaves: int = 3, scales: int = 3, sigma0: float = 1.0) -> list[np.ndarray]:
    """DoG pyramids of ``rows`` (``(R, T)``): a list of ``O`` arrays, octave ``o`` of shape ``(S+2, R, T // 2**o)``.

    Octave ``o`` smooths the series halved ``o`` times (eq. 2.16) with ``S + 3`` Gaussians
    ``sigma_s = sigma0 * 2**(s / S)`` (eq. 6.3, 6.4, 6.6) and subtracts neighbouring scales,
    ``D_s = L_{s+1} - L_s`` (eq. 6.5); see docs/methods/sdma.md#sdma-scale-space.
    No input checks here: :func:`keras_attention.saliency.extract_events` validates before calling.

    Args:
        rows: ``(R, T)`` array, one uni-variate series per row.
        octaves: number of octaves ``O``.
        scales: scales per octave ``S``.
        sigma0: base Gaussian standard deviation, in the octave's own time steps.

    Returns:
        A list of ``octaves`` float64 arrays; octave ``o`` has shape ``(S + 2, R, T // 2**o)``.

    Example:
        >>> import numpy as np
        >>> from keras_attention.saliency import scale_space
        >>> rows = np.sin(np.linspace(0.0, 6.0, 48)).reshape(2, 24)
        >>> [dog.shape for dog in scale_space(rows, octaves=2, scales=3)]
        [(5, 2, 24), (5, 2, 12)]
    """
    return [dog_stack(x_o, scales, sigma0) for x_o in octave_series(rows, octaves)]
