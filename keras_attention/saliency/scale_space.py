"""Temporal scale space and difference of Gaussians (dissertation eq. 6.3-6.6, 2.13-2.16; SPEC §6).

Everything here works on a block of rows, ``rows`` of shape ``(R, T)`` with one uni-variate series per
row (``R = N * V`` once ``(N, T, V)`` is moved to ``(N, V, T)`` and flattened), so that every Gaussian
smoothing is a single :func:`scipy.ndimage.gaussian_filter1d` call along time on the whole block.

Scale space (SPEC §6): octave ``o = 0..O-1`` works on the series halved ``o`` times by averaging pairs
(eq. 2.16); within an octave ``S + 3`` smoothed copies ``L_s = G(sigma_s) * x_o`` with
``sigma_s = sigma0 * 2**(s / S)`` in the octave's own time steps (``k**S = 2``, eq. 6.6), and ``S + 2``
DoGs ``D_s = L_{s+1} - L_s`` (eq. 6.5). Every octave smooths the halved *raw* series, not the previous
octave's smoothed copy (SPEC: "on the series halved o times").

Reading of the points SPEC leaves open:

- Gaussian boundary: ``mode="reflect"`` (scipy's half-sample symmetric extension, ``d c b a | a b c d``),
  kernel truncated at 4 sigma (scipy's default). Reflection adds no step at the ends, so no spurious
  DoG response appears there; kernels longer than the series are handled by scipy's repeated reflection.
- Halving an odd length: the last sample is dropped, i.e. ``x_{o+1}[t] = (x_o[2t] + x_o[2t+1]) / 2`` for
  ``t < T_o // 2``; so ``T_o = T // 2**o``.
- Minimum length: an extremum needs a neighbour on both sides in time, so the coarsest octave needs
  ``T // 2**(O-1) >= 3``, i.e. ``T >= 3 * 2**(O-1)`` (12 for the default 3 octaves).
"""

import numpy as np
from scipy.ndimage import gaussian_filter1d

GAUSSIAN_MODE = "reflect"
GAUSSIAN_TRUNCATE = 4.0


def minimum_length(octaves):
    """Shortest series for which every one of ``octaves`` octaves has an interior time step."""
    return 3 * 2 ** (int(octaves) - 1)


def octave_sigmas(scales, sigma0):
    """``sigma_s = sigma0 * 2**(s / S)`` for ``s = 0..S+2``, in the octave's own time steps."""
    return float(sigma0) * 2.0 ** (np.arange(scales + 3) / float(scales))


def halve(rows):
    """Average consecutive pairs along the last axis; an odd trailing sample is dropped (eq. 2.16)."""
    rows = np.asarray(rows)
    half = rows.shape[-1] // 2
    return 0.5 * (rows[..., 0 : 2 * half : 2] + rows[..., 1 : 2 * half : 2])


def octave_series(rows, octaves):
    """The series of every octave: ``[x_0, x_1, ..., x_{O-1}]`` with ``x_0 = rows`` and ``x_{o+1} = halve(x_o)``."""
    out = [np.asarray(rows, dtype=np.float64)]
    for _ in range(1, octaves):
        out.append(halve(out[-1]))
    return out


def gaussian_stack(rows, sigmas):
    """``L`` of shape ``(len(sigmas), R, T)``: ``rows`` smoothed along time once per sigma (eq. 6.4)."""
    rows = np.asarray(rows, dtype=np.float64)
    return np.stack(
        [
            gaussian_filter1d(rows, sigma, axis=-1, mode=GAUSSIAN_MODE, truncate=GAUSSIAN_TRUNCATE)
            for sigma in sigmas
        ]
    )


def dog_stack(rows, scales, sigma0):
    """``D`` of shape ``(S + 2, R, T)`` with ``D_s = L_{s+1} - L_s`` for one octave (eq. 6.5)."""
    smoothed = gaussian_stack(rows, octave_sigmas(scales, sigma0))
    return smoothed[1:] - smoothed[:-1]


def scale_space(rows, octaves=3, scales=3, sigma0=1.0):
    """DoG pyramids of ``rows`` (``(R, T)``): a list of ``O`` arrays, octave ``o`` of shape ``(S+2, R, T // 2**o)``.

    No input checks here: :func:`keras_attention.saliency.extract_events` validates before calling.
    """
    return [dog_stack(x_o, scales, sigma0) for x_o in octave_series(rows, octaves)]
