"""keras_attention.saliency: scale space, events and saliency series (SPEC §6, dissertation eq. 6.3-6.11)."""

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from keras_attention.saliency import (
    AMPLITUDES,
    EVENT_DTYPE,
    detect_extrema,
    extract_events,
    minimum_length,
    saliency_series,
    scale_space,
)
from keras_attention.saliency import events as events_module
from keras_attention.saliency import series as series_module
from keras_attention.saliency.scale_space import halve


# ----------------------------------------------------------------------------------------- references
def smooth_reference(row, sigma):
    """Eq. 6.3-6.4 written out: normalised Gaussian kernel (radius int(4 sigma + 0.5)), symmetric padding."""
    radius = int(4.0 * sigma + 0.5)
    d = np.arange(-radius, radius + 1)
    kernel = np.exp(-(d**2) / (2.0 * sigma**2))
    kernel /= kernel.sum()
    padded = np.pad(row, radius, mode="symmetric")
    return np.array([np.dot(padded[i : i + 2 * radius + 1], kernel) for i in range(row.size)])


def saliency_reference(x, events, amplitude, cut):
    """Eq. 6.8-6.11 with one explicit loop over events."""
    n_samples, length, n_variates = x.shape
    out = np.zeros((n_samples, length, n_variates))
    t = np.arange(length)
    for e in events:
        a = {
            "mean": e["amplitude"],
            "center": x[e["sample"], e["t"], e["variate"]],
            "unit": 1.0,
            "dog": e["dog"],
        }[amplitude]
        term = a * np.exp(-((t - e["t"]) ** 2) / (2.0 * e["sigma"] ** 2))
        if cut:
            term = np.where(np.abs(t - e["t"]) <= 3.0 * e["sigma"], term, 0.0)
        out[e["sample"], :, e["variate"]] += term
    return out


def dog_peak_sigma(width, scales):
    """Continuous scale of the strongest DoG response at the centre of a Gaussian bump of std ``width``.

    A bump ``exp(-t^2 / (2 w^2))`` smoothed by G(sigma) is ``w / sqrt(w^2 + sigma^2) * exp(...)``, so
    ``D(0, sigma) = w / sqrt(w^2 + k^2 sigma^2) - w / sqrt(w^2 + sigma^2)`` with ``k = 2**(1/S)``.
    """
    k = 2.0 ** (1.0 / scales)

    def negative_response(sigma):
        return -abs(1.0 / np.sqrt(width**2 + (k * sigma) ** 2) - 1.0 / np.sqrt(width**2 + sigma**2))

    return minimize_scalar(negative_response, bounds=(0.01, 100.0), method="bounded").x


def bump(length, centre, width, sign=1.0):
    t = np.arange(length)
    return sign * np.exp(-((t - centre) ** 2) / (2.0 * width**2))


@pytest.fixture(scope="module")
def basic_motions():
    """Real multi-variate series (BasicMotions, aeon's bundled copy), z-normalised per variate."""
    aeon_datasets = pytest.importorskip("aeon.datasets")
    x, _ = aeon_datasets.load_classification("BasicMotions", split="train")
    x = np.transpose(x, (0, 2, 1))[:12]
    return (x - x.mean(axis=(0, 1))) / x.std(axis=(0, 1))


# ----------------------------------------------------------------------------------------- scale space
def test_halve_averages_pairs_and_drops_odd_tail():
    row = np.array([[1.0, 3.0, 5.0, 9.0, 100.0]])
    np.testing.assert_allclose(halve(row), [[2.0, 7.0]])
    assert minimum_length(1) == 3 and minimum_length(3) == 12 and minimum_length(4) == 24


def test_scale_space_matches_equations():
    rng = np.random.default_rng(1)
    rows = rng.standard_normal((2, 37)).cumsum(axis=1)
    octaves, scales, sigma0 = 3, 2, 0.8
    pyramid = scale_space(rows, octaves, scales, sigma0)
    assert [d.shape for d in pyramid] == [(4, 2, 37), (4, 2, 18), (4, 2, 9)]
    series = rows
    for o in range(octaves):
        if o:
            half = series.shape[1] // 2
            series = (series[:, 0 : 2 * half : 2] + series[:, 1 : 2 * half : 2]) / 2.0
        for r in range(2):
            smoothed = [smooth_reference(series[r], sigma0 * 2.0 ** (s / scales)) for s in range(scales + 3)]
            for s in range(scales + 2):
                np.testing.assert_allclose(pyramid[o][s, r], smoothed[s + 1] - smoothed[s], atol=1e-10)


# ----------------------------------------------------------------------------------------- extrema
def test_detect_extrema_strict_relaxed_and_contrast():
    dog = np.zeros((3, 1, 5))  # S = 1: only scale 1 is searched, time steps 1..3
    dog[:, 0, :] = [[0.1, 0.2, 0.1, 0.0, 0.0], [0.0, 0.5, 0.0, -0.2, -0.1], [0.1, 0.0, 0.1, -0.1, 0.0]]
    scale, row, t, value, polarity = detect_extrema(dog, contrast=0.0, threshold=1.0)
    # (s=1, t=1) = 0.5 > every neighbour; (s=1, t=3) = -0.2 < every neighbour.
    assert scale.tolist() == [1, 1] and row.tolist() == [0, 0] and t.tolist() == [1, 3]
    np.testing.assert_allclose(value, [0.5, -0.2])
    assert polarity.tolist() == [1, -1]
    # contrast removes the minimum (|D| = 0.2 < 0.3).
    assert detect_extrema(dog, contrast=0.3, threshold=1.0)[2].tolist() == [1]

    dog[2, 0, 1] = 0.55  # neighbour above the centre: no longer a strict maximum ...
    assert detect_extrema(dog, contrast=0.0, threshold=1.0)[2].tolist() == [3]
    # ... but 0.5 > 0.9 * 0.55 = 0.495, so threshold 0.9 keeps it (eq. 2.17); 0.95 does not (0.5225).
    assert detect_extrema(dog, contrast=0.0, threshold=0.9)[2].tolist() == [1, 3]
    assert detect_extrema(dog, contrast=0.0, threshold=0.95)[2].tolist() == [3]


def test_detect_extrema_ignores_flat_dog_and_short_octaves():
    assert detect_extrema(np.zeros((5, 2, 9)), contrast=0.0)[1].size == 0
    assert detect_extrema(np.ones((5, 2, 2)), contrast=0.0)[1].size == 0


# ----------------------------------------------------------------------------------------- events
@pytest.mark.parametrize("width", [1.2, 2.0, 3.0, 3.5, 5.0])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_events_recover_gaussian_bumps(width, sign):
    """Position within one coarse step (2**octave: t is mapped back as t_o * 2**o and the octave's grid
    is 2**o apart); sigma within one scale step 2**(1/S) of the continuous DoG peak scale (the grid is
    2**(1/S) apart, so the nearest grid scale is within half a step; integer sampling and pair averaging
    widen the bump a little, hence one step)."""
    scales = 3
    length = 400
    centres = [(0, 0, 101), (0, 1, 203), (1, 0, 150), (1, 1, 290)]
    x = np.zeros((2, length, 2))
    for n, v, c in centres:
        x[n, :, v] = bump(length, c, width, sign)
    events = extract_events(x, octaves=3, scales=scales, sigma0=1.0)
    assert events.dtype == EVENT_DTYPE and isinstance(events, np.recarray)
    expected_sigma = dog_peak_sigma(width, scales)
    for n, v, c in centres:
        mine = events[(events.sample == n) & (events.variate == v)]
        strongest = mine[np.argmax(np.abs(mine.dog))]
        assert abs(strongest.t - c) < 2**strongest.octave
        assert abs(np.log2(strongest.sigma / expected_sigma)) <= 1.0 / scales
        # a bump is a DoG minimum (smoothing lowers its peak), a dip a maximum
        assert strongest.polarity == (-1 if sign > 0 else 1) and np.sign(strongest.dog) == -sign
        np.testing.assert_allclose(
            strongest.sigma, 2.0 ** (strongest.octave + strongest.scale / scales), rtol=1e-12
        )


def test_event_fields_follow_spec(basic_motions):
    x = basic_motions[:3]
    events = extract_events(x, octaves=3, scales=3, sigma0=1.5, contrast=0.01)
    assert len(events) > 20
    length = x.shape[1]
    assert np.all((events.scale >= 1) & (events.scale <= 3)) and np.all(np.abs(events.dog) >= 0.01)
    np.testing.assert_allclose(events.sigma, 1.5 * 2.0 ** (events.octave + events.scale / 3.0))
    assert np.all(events.t % 2**events.octave == 0)
    for e in events[:: max(1, len(events) // 40)]:
        lo, hi = max(0, int(np.ceil(e.t - 3 * e.sigma))), min(length - 1, int(np.floor(e.t + 3 * e.sigma)))
        np.testing.assert_allclose(e.amplitude, x[e.sample, lo : hi + 1, e.variate].mean(), rtol=1e-10)
    # DoG value: recompute D_s at the event from the pyramid of that single series.
    e = events[len(events) // 2]
    pyramid = scale_space(x[e.sample, :, e.variate][None, :], 3, 3, 1.5)
    np.testing.assert_allclose(pyramid[e.octave][e.scale, 0, e.t // 2**e.octave], e.dog)
    order = np.lexsort((events.scale, events.octave, events.t, events.variate, events.sample))
    assert np.array_equal(order, np.arange(len(events)))


def test_constant_series_has_no_events_and_zero_saliency():
    x = np.full((2, 30, 3), 4.0)
    assert len(extract_events(x)) == 0
    np.testing.assert_array_equal(saliency_series(x), np.zeros((2, 30, 3), dtype=np.float32))


def test_vectorised_equals_per_series_loop(basic_motions, monkeypatch):
    x = basic_motions
    kwargs = dict(octaves=3, scales=3, sigma0=1.0, contrast=0.005, threshold=0.9)
    whole = extract_events(x, **kwargs)
    parts = []
    for n in range(x.shape[0]):
        for v in range(x.shape[2]):
            one = np.asarray(extract_events(x[n : n + 1, :, v : v + 1], **kwargs)).copy()
            one["sample"], one["variate"] = n, v
            parts.append(one)
    looped = np.concatenate(parts)
    assert len(whole) == len(looped) > 0
    for field in EVENT_DTYPE.names:
        np.testing.assert_allclose(whole[field], looped[field], rtol=1e-12, atol=1e-14)
    # chunking over rows / events does not change anything
    monkeypatch.setattr(events_module, "_CHUNK_VALUES", 1000)
    monkeypatch.setattr(series_module, "_CHUNK_VALUES", 50)
    chunked = extract_events(x, **kwargs)
    for field in EVENT_DTYPE.names:
        np.testing.assert_allclose(chunked[field], whole[field], rtol=1e-12, atol=1e-14)
    for n in (0, 7):
        one = saliency_series(x[n : n + 1], amplitude="mean", **kwargs)
        np.testing.assert_allclose(saliency_series(x, **kwargs)[n], one[0], rtol=1e-6, atol=1e-6)


# ----------------------------------------------------------------------------------------- saliency series
def hand_events():
    events = np.zeros(4, dtype=EVENT_DTYPE)
    events["sample"] = [0, 0, 0, 1]
    events["variate"] = [0, 0, 1, 1]
    events["t"] = [5, 9, 0, 19]
    events["sigma"] = [1.5, 2.0, 3.0, 0.7]
    events["amplitude"] = [0.5, -1.0, 2.0, 1.5]
    events["dog"] = [-0.1, 0.2, -0.05, 0.3]
    return events


@pytest.mark.parametrize("cut", [False, True])
@pytest.mark.parametrize("amplitude", AMPLITUDES)
def test_saliency_series_matches_formula(amplitude, cut):
    x = np.random.default_rng(3).standard_normal((2, 20, 2))
    events = hand_events()
    got = saliency_series(x, events=events, amplitude=amplitude, cut=cut)
    assert got.shape == (2, 20, 2) and got.dtype == np.float32
    np.testing.assert_allclose(got, saliency_reference(x, events, amplitude, cut), rtol=1e-6, atol=1e-7)


def test_saliency_series_peak_one_and_cut_values():
    x = np.zeros((1, 40, 1))
    events = np.zeros(1, dtype=EVENT_DTYPE)
    events["t"], events["sigma"], events["amplitude"] = 20, 2.0, 3.0
    plain = saliency_series(x, events=events, amplitude="unit")[0, :, 0]
    cut = saliency_series(x, events=events, amplitude="unit", cut=True)[0, :, 0]
    assert plain[20] == 1.0 and plain.max() == 1.0  # peak-1 Gaussian (eq. 6.9)
    np.testing.assert_allclose(plain[26], np.exp(-4.5), rtol=1e-6)  # 3 sigma away: kept by the cut
    assert cut[26] == plain[26] and cut[14] == plain[14]
    assert np.all(cut[:14] == 0) and np.all(cut[27:] == 0) and plain[27] > 0
    np.testing.assert_allclose(saliency_series(x, events=events)[0, :, 0], 3.0 * plain, rtol=1e-6)


def test_saliency_series_default_events_equal_explicit(basic_motions):
    x = basic_motions[:4]
    events = extract_events(x, sigma0=1.5)
    for amplitude in AMPLITUDES:
        np.testing.assert_array_equal(
            saliency_series(x, amplitude=amplitude, cut=True, sigma0=1.5),
            saliency_series(x, events=events, amplitude=amplitude, cut=True),
        )
        np.testing.assert_allclose(
            saliency_series(x, events=events, amplitude=amplitude),
            saliency_reference(x, events, amplitude, False),
            rtol=1e-5,
            atol=1e-6,
        )


# ----------------------------------------------------------------------------------------- errors
def test_nan_and_inf_are_reported_with_count_and_position():
    x = np.zeros((3, 20, 2))
    x[1, 4, 1] = np.nan
    x[2, 0, 0] = np.nan
    with pytest.raises(ValueError, match=r"2 NaN value\(s\); the first is at sample 1, time step 4, variate 1"):
        extract_events(x)
    x = np.zeros((3, 20, 2))
    x[0, 7, 0] = np.inf
    with pytest.raises(ValueError, match=r"1 infinite value\(s\); the first is at sample 0, time step 7"):
        saliency_series(x)


def test_short_series_and_wrong_rank():
    with pytest.raises(ValueError, match=r"11 time steps.*3 octave\(s\) need at least 12 time steps"):
        extract_events(np.zeros((2, 11, 1)))
    assert len(extract_events(np.zeros((2, 11, 1)), octaves=2)) == 0  # 6 suffice for 2 octaves
    with pytest.raises(ValueError, match=r"\(samples, time steps, variates\) \(rank 3\); got shape \(5, 30\)"):
        extract_events(np.zeros((5, 30)))
    with pytest.raises(ValueError, match="numeric array"):
        extract_events(np.full((1, 20, 1), "a"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"octaves": 0}, "`octaves` must be an integer >= 1; got 0"),
        ({"scales": 2.5}, "`scales` must be an integer >= 1"),
        ({"sigma0": -1.0}, "`sigma0` must be a finite number > 0; got -1.0"),
        ({"contrast": -0.1}, "`contrast` must be a finite number >= 0"),
        ({"threshold": 0.0}, r"`threshold` must be a number in \(0, 1\]; got 0.0"),
        ({"threshold": 1.5}, r"`threshold` must be a number in \(0, 1\]; got 1.5"),
    ],
)
def test_bad_event_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        extract_events(np.zeros((1, 30, 1)), **kwargs)


def test_bad_saliency_arguments():
    x = np.zeros((2, 20, 2))
    with pytest.raises(ValueError, match=r"`amplitude` must be one of \['center', 'dog', 'mean', 'unit'\]; got 'max'"):
        saliency_series(x, amplitude="max")
    with pytest.raises(ValueError, match="`cut` must be True or False; got 1"):
        saliency_series(x, cut=1)
    with pytest.raises(ValueError, match=r"unknown keyword argument\(s\) \['sigma'\]"):
        saliency_series(x, sigma=2.0)
    with pytest.raises(ValueError, match="used only when `events` is None"):
        saliency_series(x, events=hand_events()[:0], octaves=2)
    events = hand_events()
    with pytest.raises(ValueError, match=r"fields \['sample', 'variate', 't', 'sigma', 'dog'\].*missing \['dog'\]"):
        saliency_series(x, events=np.asarray(events)[["sample", "variate", "t", "sigma"]], amplitude="dog")
    events["variate"][2] = 5
    with pytest.raises(ValueError, match=r"1 event\(s\) whose `variate` is not an integer in \[0, 1\].*event 2"):
        saliency_series(x, events=events)
    events = hand_events()
    events["sigma"][0] = 0.0
    with pytest.raises(ValueError, match="`sigma` is not a finite number > 0; the first is event 0"):
        saliency_series(x, events=events)


def test_thousand_series_dataset_in_seconds():
    """ItalyPowerDemand's test split (1,029 real series): events and saliency of the whole set at once."""
    import time

    aeon_datasets = pytest.importorskip("aeon.datasets")
    x, _ = aeon_datasets.load_classification("ItalyPowerDemand", split="test")
    x = np.transpose(x, (0, 2, 1))
    x = (x - x.mean()) / x.std()
    start = time.perf_counter()
    events = extract_events(x)
    saliency = saliency_series(x, events=events)
    elapsed = time.perf_counter() - start
    assert x.shape[0] == 1029 and saliency.shape == x.shape and np.all(np.isfinite(saliency))
    assert np.unique(events.sample).size > 900  # nearly every daily load curve has an event
    assert elapsed < 10.0, f"{elapsed:.1f} s for 1,029 series"
