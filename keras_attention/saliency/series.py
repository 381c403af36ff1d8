"""Saliency series from events (dissertation §6.4.3, eq. 6.8-6.11; docs/methods/sdma.md#sdma-saliency-series).

For every variate ``v`` of every series, ``A_v(t) = sum_i a_i * exp(-(t - t_i)**2 / (2 sigma_i**2))`` over
the events of that variate: eq. 6.8 normalised by its maximum (eq. 6.9) is the peak-1 Gaussian, scaled by
the event amplitude (eq. 6.10) and summed (eq. 6.11). ``cut=True`` sets each event's term to zero where
``|t - t_i| > 3 sigma_i`` (the "with cut" mask of Fig. 6.8b).

Amplitude modes (docs/methods/sdma.md#sdma-saliency-series): ``"mean"`` the event's ``amplitude`` field (mean of
the raw series within ``3 sigma``), ``"center"`` the raw value ``x[sample, t_i, variate]``, ``"unit"`` 1, ``"dog"``
the event's ``dog`` field (the DoG value at detection, negative for a bump).

Vectorised over events: events with the same ``sigma`` share one sampled kernel, evaluated on a window
around every centre (``3 sigma`` with the cut, ``15 sigma`` without: beyond it the peak-1 Gaussian is
below 2e-49 and rounds to zero in the float32 result) and scattered into the ``(N * V, T)`` output with
``numpy.add.at``; chunks bound the memory.
Reading: ``t`` runs over the integer time steps ``0..T-1`` of ``x``; the cut keeps ``|t - t_i| <= 3 sigma_i``
(boundary included); a variate without events gets an all-zero saliency series.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

from keras_attention.utils.checks import check_bool, check_choice
from keras_attention.saliency._validation import check_series
from keras_attention.saliency.events import extract_events

AMPLITUDES = ("mean", "center", "unit", "dog")
EVENT_KWARGS = ("octaves", "scales", "sigma0", "contrast", "threshold")
_FIELDS_NEEDED = {"mean": ("amplitude",), "center": (), "unit": (), "dog": ("dog",)}
_CHUNK_VALUES = 2**21


def check_events(events: npt.ArrayLike, x_shape: tuple[int, ...], amplitude: str) -> np.ndarray:
    """Validate a user-supplied event array against ``x``'s shape; return it as a structured array."""
    events = np.asarray(events)
    needed = ("sample", "variate", "t", "sigma") + _FIELDS_NEEDED[amplitude]
    names = events.dtype.names or ()
    missing = [f for f in needed if f not in names]
    if events.ndim != 1 or missing:
        raise ValueError(
            f"Argument `events` must be a 1-D structured array with fields {list(needed)} for "
            f"amplitude={amplitude!r} (as returned by extract_events); got shape {events.shape} with "
            f"fields {list(names)}" + (f", missing {missing}." if missing else ".")
        )
    n_samples, length, n_variates = x_shape
    for field, upper in (("sample", n_samples), ("variate", n_variates), ("t", length)):
        values = events[field]
        bad = (values < 0) | (values >= upper) | (values != np.round(values))
        if np.any(bad):
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"Argument `events` has {int(np.count_nonzero(bad))} event(s) whose `{field}` is not an "
                f"integer in [0, {upper - 1}] for x of shape (N={n_samples}, T={length}, V={n_variates}); "
                f"the first is event {first} with {field}={values[first]!r}."
            )
    sigma = events["sigma"].astype(np.float64)
    bad = ~(np.isfinite(sigma) & (sigma > 0))
    if np.any(bad):
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"Argument `events` has {int(np.count_nonzero(bad))} event(s) whose `sigma` is not a finite "
            f"number > 0; the first is event {first} with sigma={sigma[first]!r}."
        )
    for field in _FIELDS_NEEDED[amplitude]:
        if not np.all(np.isfinite(events[field])):
            raise ValueError(f"Argument `events` has non-finite values in field `{field}`.")
    return events


def event_amplitudes(x: np.ndarray, events: np.ndarray, amplitude: str) -> np.ndarray:
    """The ``a_i`` of every event for one amplitude mode (``x`` of shape ``(N, T, V)``)."""
    if amplitude == "mean":
        return events["amplitude"].astype(np.float64)
    if amplitude == "dog":
        return events["dog"].astype(np.float64)
    if amplitude == "unit":
        return np.ones(events.shape[0])
    sample, t, variate = (events[f].astype(np.int64) for f in ("sample", "t", "variate"))
    return x[sample, t, variate]


def gaussian_sum(
    rows: np.ndarray,
    centres: np.ndarray,
    sigmas: np.ndarray,
    weights: np.ndarray,
    n_rows: int,
    length: int,
    cut: bool = False,
) -> np.ndarray:
    """``out[r, t] = sum over events i with rows[i] == r of weights[i] * exp(-(t - centres[i])**2 / (2 sigmas[i]**2))``.

    ``centres`` are integer time steps. ``cut=True`` zeroes each term where ``|t - centres[i]| > 3 sigmas[i]``.
    Each event is evaluated on the integer offsets ``|d| <= W`` around its centre, ``W = 3 sigma`` with the
    cut and ``W = 15 sigma`` without (there ``exp(-d**2 / (2 sigma**2)) < 2e-49``, which rounds to zero in
    the float32 result for any ``|a_i| < 1e4``), and scattered into place with ``numpy.add.at``; events
    sharing a ``sigma`` share one kernel. Returns float64 ``(n_rows, length)``.
    """
    out = np.zeros(n_rows * length)
    if rows.size == 0:
        return out.reshape(n_rows, length)
    reach = 3.0 if cut else 15.0
    unique_sigmas, group = np.unique(sigmas, return_inverse=True)
    for index, sigma in enumerate(unique_sigmas):
        members = np.flatnonzero(group == index)
        width = int(min(np.floor(reach * sigma), length - 1))
        offsets = np.arange(-width, width + 1)
        kernel = np.exp(-(offsets.astype(np.float64) ** 2) / (2.0 * sigma**2))
        chunk = max(1, _CHUNK_VALUES // offsets.size)
        for start in range(0, members.size, chunk):
            chosen = members[start : start + chunk]
            steps = centres[chosen, None].astype(np.int64) + offsets[None, :]
            inside = (steps >= 0) & (steps < length)
            flat = rows[chosen, None] * length + steps
            np.add.at(out, flat[inside], (weights[chosen, None] * kernel[None, :])[inside])
    return out.reshape(n_rows, length)


def saliency_series(
    x: npt.ArrayLike,
    events: npt.ArrayLike | None = None,
    amplitude: str = "mean",
    cut: bool = False,
    **event_kwargs: Any,
) -> np.ndarray:
    """Aggregate saliency series ``A`` of ``x`` (dissertation §6.4.3, eq. 6.8-6.11).

    ``A_v(t) = sum_i a_i * exp(-(t - t_i)**2 / (2 sigma_i**2))`` over the events of variate ``v``: each
    event's Gaussian (eq. 6.8) normalised to a peak of 1 (eq. 6.9), scaled by its amplitude ``a_i``
    (eq. 6.10) and summed (eq. 6.11), at the integer time steps ``0..T-1``
    (docs/methods/sdma.md#sdma-saliency-series). A variate without events gets all zeros.

    Args:
        x: array ``(N, T, V)``.
        events: event array from :func:`extract_events` on this ``x``; when ``None`` it is computed with
            ``event_kwargs`` (``octaves``, ``scales``, ``sigma0``, ``contrast``, ``threshold``).
        amplitude: ``"mean"`` (the event's ``amplitude`` field) | ``"center"`` (``x`` at the event's
            centre) | ``"unit"`` (1) | ``"dog"`` (the event's DoG value).
        cut: zero each event's Gaussian outside ``t_i +- 3 sigma_i`` ("with cut", Fig. 6.8b).
        **event_kwargs: arguments of :func:`extract_events`, only when ``events`` is None.

    Returns:
        float32 array ``(N, T, V)``.

    Raises:
        ValueError: an unknown ``amplitude`` or keyword argument, ``cut`` not a bool, event arguments given
            together with ``events``, ``x`` not a numeric finite ``(N, T, V)`` array, or ``events`` lacking
            the fields the amplitude needs or pointing outside ``x``; the message names the argument.

    Example:
        >>> import numpy as np
        >>> from keras_attention.saliency import saliency_series
        >>> x = np.zeros((1, 9, 1))
        >>> events = np.zeros(1, dtype=[("sample", "i8"), ("variate", "i8"), ("t", "i8"), ("sigma", "f8")])
        >>> events["t"], events["sigma"] = 4, 1.0  # one event at t = 4 with sigma 1
        >>> np.round(saliency_series(x, events, amplitude="unit")[0, :, 0].astype(float), 4).tolist()
        [0.0003, 0.0111, 0.1353, 0.6065, 1.0, 0.6065, 0.1353, 0.0111, 0.0003]
        >>> np.round(saliency_series(x, events, amplitude="unit", cut=True)[0, :, 0].astype(float), 4).tolist()
        [0.0, 0.0111, 0.1353, 0.6065, 1.0, 0.6065, 0.1353, 0.0111, 0.0]
        >>> rng = np.random.default_rng(0)
        >>> saliency_series(rng.standard_normal((2, 32, 3))).shape  # events extracted on the way
        (2, 32, 3)
    """
    check_choice("amplitude", amplitude, AMPLITUDES)
    check_bool("cut", cut)
    unknown = sorted(set(event_kwargs) - set(EVENT_KWARGS))
    if unknown:
        raise ValueError(
            f"saliency_series got unknown keyword argument(s) {unknown}; the event arguments are "
            f"{list(EVENT_KWARGS)}."
        )
    if events is not None and event_kwargs:
        raise ValueError(
            f"Event arguments {sorted(event_kwargs)} are used only when `events` is None; got both "
            "`events` and event arguments."
        )
    if events is None:
        events = extract_events(x, **event_kwargs)
        x = np.asarray(x, dtype=np.float64)
    else:
        x = check_series(x)
        events = check_events(events, x.shape, amplitude)
    n_samples, length, n_variates = x.shape
    weights = event_amplitudes(x, events, amplitude)
    rows = events["sample"].astype(np.int64) * n_variates + events["variate"].astype(np.int64)
    out = gaussian_sum(
        rows,
        events["t"].astype(np.float64),
        events["sigma"].astype(np.float64),
        weights,
        n_samples * n_variates,
        length,
        cut=cut,
    )
    return np.ascontiguousarray(out.reshape(n_samples, n_variates, length).transpose(0, 2, 1), dtype=np.float32)
