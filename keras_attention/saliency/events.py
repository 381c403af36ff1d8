"""Localised temporal events (dissertation §6.4.2, eq. 6.3-6.7 and 2.17; docs/methods/sdma.md).

:func:`extract_events` turns a batch of multi-variate series ``(N, T, V)`` into a record array of events
``(sample, variate, t, sigma, amplitude, octave, scale, dog, polarity)``:

- scale space and DoGs per octave: :mod:`keras_attention.saliency.scale_space`;
- extrema (eq. 6.7): ``(t, s)`` with ``1 <= s <= S`` and ``1 <= t <= T_o - 2`` is a maximum when
  ``D_s[t] > threshold * max(8 neighbours)`` and a minimum when ``D_s[t] < threshold * min(8 neighbours)``,
  the 8 neighbours being ``t-1, t, t+1`` in scales ``s-1`` and ``s+1`` and ``t-1, t+1`` in scale ``s``;
  then it is kept when ``|D_s[t]| >= contrast``;
- event (§6.4.2.3): ``t`` in original time steps ``t_o * 2**o``, ``sigma = sigma0 * 2**(o + s/S)``,
  ``amplitude`` = mean of the raw series over the integer steps ``i`` with ``|i - t| <= 3 sigma``,
  clipped to ``[0, T-1]`` (a prefix sum, so it is vectorised over all events).

Everything is vectorised: the ``N * V`` uni-variate series are rows of one block (processed in chunks of
rows to bound memory), each smoothing is one ``gaussian_filter1d`` call on the block, and the extrema are
found by comparing the DoG block with its 8 shifted views, never by a loop over samples or variates.

Readings of the points the dissertation leaves open (docs/methods/sdma.md#sdma-extrema and
docs/methods/sdma.md#sdma-events):

- ``threshold`` (eq. 2.17: "greater than Theta% of the maximum of its 8 neighbours"): taken literally,
  ``D > threshold * max(neighbours)`` for maxima and, mirrored, ``D < threshold * min(neighbours)`` for
  minima. With ``threshold = 1`` this is the strict "larger (smaller) than all 8" of eq. 6.7. With
  ``threshold < 1`` it relaxes maxima whose neighbours' maximum is positive and minima whose neighbours'
  minimum is negative (the usual case: a Gaussian bump gives a negative DoG minimum, a dip a positive
  maximum); the literal rule is kept for the other signs. Strict ``>`` means a flat stretch of DoG
  (e.g. a constant series) gives no event; a point can never be both a maximum and a minimum.
- Time borders: a step needs both time neighbours, so the first and last step of every octave are never
  events (as in SIFT).
- ``t`` is mapped back with ``t_o * 2**o`` exactly as the documentation says (not the pair centre
  ``t_o * 2**o + (2**o - 1) / 2``); the difference is below one coarse step.
- ``sigma`` is the scale of the lower Gaussian of the pair, ``L_s`` in ``D_s = L_{s+1} - L_s``.
- ``dog`` is ``D_s[t_o]`` itself (used by ``amplitude="dog"``); ``polarity`` is +1 for maxima, -1 for minima.
- Events are returned sorted by ``(sample, variate, t, octave, scale)``.
"""

import numpy as np
import numpy.typing as npt

from keras_attention.saliency._validation import check_event_parameters, check_series
from keras_attention.saliency.scale_space import scale_space

EVENT_DTYPE = np.dtype(
    [
        ("sample", np.int64),
        ("variate", np.int64),
        ("t", np.int64),
        ("sigma", np.float64),
        ("amplitude", np.float64),
        ("octave", np.int64),
        ("scale", np.int64),
        ("dog", np.float64),
        ("polarity", np.int8),
    ]
)

# About 2**21 float64 values per array in flight (16 MiB): bounds memory for long / many series.
_CHUNK_VALUES = 2**21


def empty_events() -> np.recarray:
    """An event record array with no rows."""
    return np.zeros(0, dtype=EVENT_DTYPE).view(np.recarray)


def neighbour_extrema(dog: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For ``dog`` of shape ``(S + 2, R, T)``: the 8-neighbour max and min of every interior point.

    Returns ``(centre, nmax, nmin)``, each of shape ``(S, R, T - 2)``, for scales ``1..S`` and time steps
    ``1..T-2``.
    """
    n_scales, _, length = dog.shape
    inner_s, inner_t = n_scales - 2, length - 2
    centre = dog[1 : 1 + inner_s, :, 1 : 1 + inner_t]
    views = [
        dog[ds : ds + inner_s, :, dt : dt + inner_t]
        for ds in range(3)
        for dt in range(3)
        if not (ds == 1 and dt == 1)
    ]
    return centre, np.maximum.reduce(views), np.minimum.reduce(views)


def detect_extrema(
    dog: np.ndarray, contrast: float = 0.005, threshold: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Extrema of one octave's DoG block ``(S + 2, R, T_o)`` (eq. 6.7 with the contrast test).

    A point ``(s, t)`` with ``1 <= s <= S`` and ``1 <= t <= T_o - 2`` is a maximum when
    ``D_s[t] > threshold * max`` of its 8 neighbours in time and scale (eq. 6.7; eq. 2.17 for
    ``threshold < 1``), a minimum when ``D_s[t] < threshold * min`` of them, and it is kept when
    ``|D_s[t]| >= contrast`` (docs/methods/sdma.md#sdma-extrema). No input checks here:
    :func:`~keras_attention.saliency.extract_events` validates before calling.

    Args:
        dog: one octave's DoG block ``(S + 2, R, T_o)``, as :func:`~keras_attention.saliency.scale_space` returns.
        contrast: minimum ``|DoG|`` of an extremum.
        threshold: in ``(0, 1]``; 1 is the strict 8-neighbour extremum.

    Returns:
        ``(scale, row, t_o, value, polarity)`` arrays, one entry per extremum, with ``scale`` in ``1..S``,
        ``row`` the row of the block, ``t_o`` in the octave's time steps, ``value`` the DoG value and
        ``polarity`` (int8) +1 for a maximum, -1 for a minimum. Empty when ``T_o < 3``.

    Example:
        >>> import numpy as np
        >>> from keras_attention.saliency import detect_extrema
        >>> dog = np.zeros((3, 1, 5))  # S = 1: one interior scale
        >>> dog[1, 0, 2] = 1.0  # a peak in the middle
        >>> scale, row, t_o, value, polarity = detect_extrema(dog)
        >>> scale.tolist(), row.tolist(), t_o.tolist(), value.tolist(), polarity.tolist()
        ([1], [0], [2], [1.0], [1])
    """
    if dog.shape[-1] < 3:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros(0), np.zeros(0, dtype=np.int8)
    centre, nmax, nmin = neighbour_extrema(dog)
    is_max = centre > threshold * nmax
    is_min = centre < threshold * nmin
    keep = (is_max | is_min) & (np.abs(centre) >= contrast)
    s_idx, row, t_idx = np.nonzero(keep)
    polarity = np.where(is_max[keep], 1, -1).astype(np.int8)
    return s_idx + 1, row, t_idx + 1, centre[keep], polarity


def window_means(rows: np.ndarray, row: np.ndarray, t: np.ndarray, half_width: np.ndarray) -> np.ndarray:
    """Mean of ``rows[row, i]`` over integers ``i`` with ``|i - t| <= half_width``, clipped to the series."""
    length = rows.shape[1]
    prefix = np.zeros((rows.shape[0], length + 1))
    np.cumsum(rows, axis=1, out=prefix[:, 1:])
    lo = np.clip(np.ceil(t - half_width), 0, length - 1).astype(np.int64)
    hi = np.clip(np.floor(t + half_width), 0, length - 1).astype(np.int64)
    return (prefix[row, hi + 1] - prefix[row, lo]) / (hi - lo + 1)


def extract_events(
    x: npt.ArrayLike,
    octaves: int = 3,
    scales: int = 3,
    sigma0: float = 1.0,
    contrast: float = 0.005,
    threshold: float = 1.0,
) -> np.recarray:
    """Scale-space events of every variate of every series in ``x`` (dissertation §6.4.2, eq. 6.3-6.7).

    Every variate is smoothed by Gaussians (eq. 6.3, 6.4) over ``octaves`` octaves of ``scales`` scales
    (eq. 6.6), neighbouring scales are subtracted (DoG, eq. 6.5), and the 8-neighbour extrema of the DoG
    (eq. 6.7) that pass the contrast test are the events (docs/methods/sdma.md#sdma-scale-space,
    docs/methods/sdma.md#sdma-extrema, docs/methods/sdma.md#sdma-events).

    Args:
        x: array ``(N, T, V)`` (channels-last, as fed to the networks); z-normalised series are assumed
            by the default ``contrast``. ``T`` must be at least ``3 * 2**(octaves - 1)``.
        octaves: number of octaves ``O``; octave ``o`` works on the series halved ``o`` times.
        scales: scales per octave ``S`` (``k = 2**(1/S)``); ``S + 3`` Gaussians and ``S + 2`` DoGs per octave.
        sigma0: base Gaussian standard deviation, in time steps.
        contrast: minimum ``|DoG|`` of an event.
        threshold: in ``(0, 1]``; 1 is the strict 8-neighbour extremum, smaller values relax it (eq. 2.17).

    Returns:
        ``numpy.recarray`` of dtype :data:`EVENT_DTYPE`, fields ``sample``, ``variate``, ``t`` (original
        time steps), ``sigma`` (original time steps), ``amplitude`` (mean of the raw series within
        ``3 sigma``, docs/methods/sdma.md#sdma-events), ``octave``, ``scale`` (``1..S``), ``dog`` (DoG value),
        ``polarity`` (+1 maximum, -1 minimum); sorted by ``(sample, variate, t, octave, scale)``.

    Raises:
        ValueError: ``octaves`` / ``scales`` not integers >= 1, ``sigma0`` not a finite number > 0,
            ``contrast`` not a finite number >= 0, ``threshold`` outside ``(0, 1]``, or ``x`` not a numeric
            ``(N, T, V)`` array, too short for ``octaves`` or holding NaN / infinite values; the message
            names the argument.

    Example:
        >>> import numpy as np
        >>> from keras_attention.saliency import extract_events
        >>> t = np.arange(64)
        >>> x = np.exp(-0.5 * ((t - 32) / 3.0) ** 2).reshape(1, 64, 1)  # one Gaussian bump
        >>> events = extract_events(x, octaves=2, scales=3)
        >>> events.dtype.names[:5]
        ('sample', 'variate', 't', 'sigma', 'amplitude')
        >>> strongest = events[np.argmax(np.abs(events.dog))]
        >>> int(strongest.t), int(strongest.polarity)  # a negative DoG minimum at the bump's centre
        (32, -1)
    """
    octaves, scales, sigma0, contrast, threshold = check_event_parameters(
        octaves, scales, sigma0, contrast, threshold
    )
    x = check_series(x, octaves=octaves)
    n_samples, length, n_variates = x.shape
    if n_samples == 0 or n_variates == 0:
        return empty_events()
    rows = np.ascontiguousarray(np.transpose(x, (0, 2, 1)).reshape(n_samples * n_variates, length))

    chunk = max(1, _CHUNK_VALUES // (length * (scales + 3)))
    parts: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for start in range(0, rows.shape[0], chunk):
        block = rows[start : start + chunk]
        for level, dog in enumerate(scale_space(block, octaves, scales, sigma0)):  # level: the octave's index
            scale, row, t_o, value, polarity = detect_extrema(dog, contrast, threshold)
            if row.size:
                parts.append((level, scale, row + start, t_o, value, polarity))
    if not parts:
        return empty_events()

    octave = np.concatenate([np.full(p[1].shape, p[0], dtype=np.int64) for p in parts])
    scale, row, t_o, value, polarity = (np.concatenate([p[i] for p in parts]) for i in range(1, 6))
    events = np.zeros(row.shape[0], dtype=EVENT_DTYPE)
    events["sample"], events["variate"] = np.divmod(row, n_variates)
    events["t"] = t_o * 2**octave
    events["sigma"] = sigma0 * 2.0 ** (octave + scale / scales)
    events["amplitude"] = window_means(rows, row, events["t"], 3.0 * events["sigma"])
    events["octave"], events["scale"], events["dog"], events["polarity"] = octave, scale, value, polarity
    order = np.lexsort((events["scale"], events["octave"], events["t"], events["variate"], events["sample"]))
    return events[order].view(np.recarray)
