"""keras_attention.data.timeseries: aeon-bundled UEA/UCR loaders and forecasting windows (real data)."""

import sys

import numpy as np
import pytest
from tolerance import assert_close

aeon_datasets = pytest.importorskip("aeon.datasets")

from keras_attention.data import timeseries  # noqa: E402
from keras_attention.data.timeseries import (  # noqa: E402
    forecasting_windows,
    load_forecasting,
    load_timeseries,
    stratified_split,
)


def raw_channels_last(name, split):
    x, y = aeon_datasets.load_classification(name, split=split)
    return [np.asarray(s, dtype=np.float64).T for s in x], np.asarray(y).astype(str)


@pytest.fixture(scope="module")
def vowels():
    return load_timeseries("JapaneseVowels")


def test_japanese_vowels_shapes_dtypes_labels(vowels):
    d = vowels
    assert d.name == "JapaneseVowels" and d.class_names == tuple(str(i) for i in range(1, 10))
    assert d.x_train.shape == (216, 25, 12) and d.x_val.shape == (54, 25, 12) and d.x_test.shape == (370, 25, 12)
    for x in (d.x_train, d.x_val, d.x_test):
        assert x.dtype == np.float32 and np.all(np.isfinite(x))
    for y in (d.y_train, d.y_val, d.y_test):
        assert y.dtype == np.int64 and y.min() == 0 and y.max() == 8
    # stratified: aeon's train split has 30 series per speaker -> 24 train / 6 validation each
    assert np.bincount(d.y_train).tolist() == [24] * 9 and np.bincount(d.y_val).tolist() == [6] * 9
    assert d.n_classes == 9 and d.n_variates == 12 and d.length == 25
    assert np.all(d.lengths_train == 25)


def test_train_statistics_normalisation_and_rows_match_aeon(vowels):
    d = vowels
    raw, labels = raw_channels_last("JapaneseVowels_eq", "train")
    raw = np.stack(raw)
    train_idx, val_idx = stratified_split(labels, 0.2, 0)
    mean = raw[train_idx].mean(axis=(0, 1))
    std = raw[train_idx].std(axis=(0, 1))
    np.testing.assert_allclose(d.mean, mean, rtol=1e-6)
    np.testing.assert_allclose(d.std, std, rtol=1e-6)
    assert_close(d.x_train, (raw[train_idx] - mean) / std)
    assert_close(d.x_val, (raw[val_idx] - mean) / std)
    assert_close(d.x_train.mean(axis=(0, 1)), 0.0, magnitude=np.abs(d.x_train).mean())
    np.testing.assert_allclose(d.x_train.std(axis=(0, 1)), 1.0, atol=1e-4)
    raw_test, test_labels = raw_channels_last("JapaneseVowels_eq", "test")
    assert_close(d.x_test, (np.stack(raw_test) - mean) / std)
    assert [d.class_names[i] for i in d.y_test] == test_labels.tolist()
    assert [d.class_names[i] for i in d.y_val] == labels[val_idx].tolist()


def test_split_is_deterministic_and_seed_dependent(vowels):
    again = load_timeseries("japanesevowels", seed=0)
    for field in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(again, field), getattr(vowels, field))
    other = load_timeseries("JapaneseVowels", seed=1)
    assert not np.array_equal(other.x_val, vowels.x_val)
    assert np.bincount(other.y_val).tolist() == [6] * 9
    # the two parts partition aeon's train split
    train_idx, val_idx = stratified_split(np.repeat(np.arange(9), 30), 0.2, 0)
    assert np.intersect1d(train_idx, val_idx).size == 0 and np.union1d(train_idx, val_idx).size == 270


def test_padding_of_unequal_lengths():
    d = load_timeseries("JapaneseVowels", equal_length="pad", normalise="none")
    raw_train, _ = raw_channels_last("JapaneseVowels", "train")
    raw_test, _ = raw_channels_last("JapaneseVowels", "test")
    assert d.x_train.shape[1:] == (29, 12) and d.x_test.shape == (370, 29, 12)
    assert d.lengths_test.tolist() == [s.shape[0] for s in raw_test]
    assert d.lengths_train.min() >= 7 and d.lengths_test.max() == 29
    for i, length in enumerate(d.lengths_test):
        np.testing.assert_allclose(d.x_test[i, :length], raw_test[i], rtol=1e-6)
        tail = np.repeat(d.x_test[i, length - 1 : length], 29 - length, axis=0)
        np.testing.assert_array_equal(d.x_test[i, length:], tail)
    train_lengths = sorted(s.shape[0] for s in raw_train)
    assert sorted(d.lengths_train.tolist() + d.lengths_val.tolist()) == train_lengths
    # statistics with padding excluded
    normed = load_timeseries("JapaneseVowels", equal_length="pad")
    real = np.concatenate([normed.x_train[i, :n] for i, n in enumerate(normed.lengths_train)])
    assert_close(real.mean(axis=0), 0.0, magnitude=np.abs(real).mean())
    np.testing.assert_allclose(real.std(axis=0), 1.0, atol=1e-4)


def test_basic_motions():
    d = load_timeseries("BasicMotions", validation_fraction=0.25, seed=3)
    assert d.class_names == ("badminton", "running", "standing", "walking")
    assert d.x_train.shape == (30, 100, 6) and d.x_val.shape == (10, 100, 6) and d.x_test.shape == (40, 100, 6)
    assert d.x_train.dtype == np.float32 and d.y_train.dtype == np.int64
    assert_close(d.x_train.mean(axis=(0, 1)), 0.0, magnitude=np.abs(d.x_train).mean())
    np.testing.assert_allclose(d.x_train.std(axis=(0, 1)), 1.0, atol=1e-4)
    val_counts = np.bincount(d.y_val, minlength=4)  # 10 per class in aeon's train split, 10 held out
    assert set(val_counts.tolist()) <= {2, 3} and val_counts.sum() == 10
    np.testing.assert_array_equal(np.bincount(d.y_train, minlength=4), 10 - val_counts)
    _, test_labels = raw_channels_last("BasicMotions", "test")
    assert [d.class_names[i] for i in d.y_test] == test_labels.tolist()

    series = load_timeseries("BasicMotions", normalise="series")
    assert_close(series.x_test.mean(axis=1), 0.0, magnitude=np.abs(series.x_test).mean())
    std = series.x_test.std(axis=1)
    assert np.all((np.abs(std - 1.0) < 1e-4) | (std == 0.0)) and series.mean is None

    raw = load_timeseries("BasicMotions", normalise="none", validation_fraction=0)
    raw_train, _ = raw_channels_last("BasicMotions", "train")
    np.testing.assert_allclose(raw.x_train, np.stack(raw_train), rtol=1e-6)
    assert raw.x_val.shape == (0, 100, 6) and raw.y_val.shape == (0,)


def test_numeric_class_order():
    d = load_timeseries("PickupGestureWiimoteZ")
    assert d.class_names == tuple(str(i) for i in range(1, 11))
    _, labels = raw_channels_last("PickupGestureWiimoteZ_eq", "test")
    assert [d.class_names[i] for i in d.y_test] == labels.tolist()
    assert d.x_train.shape == (40, 361, 1) and np.bincount(d.y_val).tolist() == [1] * 10


def test_loader_errors():
    with pytest.raises(ValueError, match=r"`name` must be one of the classification datasets.*'ACSF1'.*got 'Wafer'"):
        load_timeseries("Wafer")
    with pytest.raises(ValueError, match=r"`validation_fraction` must be a number in \[0, 1\); got 1.0"):
        load_timeseries("BasicMotions", validation_fraction=1.0)
    with pytest.raises(ValueError, match=r"`normalise` must be one of \['none', 'series', 'train'\]"):
        load_timeseries("BasicMotions", normalise="global")
    with pytest.raises(ValueError, match=r"`equal_length` must be one of"):
        load_timeseries("BasicMotions", equal_length="truncate")
    message = r"Cannot split 50 training series of 10 classes.*5 validation\) to have >= 10"
    with pytest.raises(ValueError, match=message):
        load_timeseries("PickupGestureWiimoteZ", validation_fraction=0.1)


def test_missing_aeon_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "aeon.datasets", None)
    with pytest.raises(ImportError, match=r"needs aeon .*pip install 'keras-attention\[timeseries\]'"):
        timeseries.load_timeseries("BasicMotions")


# ----------------------------------------------------------------------------------------- forecasting
def test_forecasting_windows_values():
    series = np.arange(20, dtype=np.float64).reshape(10, 2)  # step t = [2t, 2t + 1]
    x, y = forecasting_windows(series, lookback=3, horizon=2)
    assert x.shape == (6, 3, 2) and y.shape == (6, 2, 2) and x.dtype == y.dtype == np.float32
    for i in range(6):
        np.testing.assert_array_equal(x[i], series[i : i + 3])
        np.testing.assert_array_equal(y[i], series[i + 3 : i + 5])
    _, y1 = forecasting_windows(series, 3, 1, targets=[1])
    np.testing.assert_array_equal(y1[:, 0, 0], series[3:, 1])
    x1, _ = forecasting_windows(np.arange(5.0), 2, 1)
    assert x1.shape == (3, 2, 1)


def test_forecasting_window_errors():
    with pytest.raises(ValueError, match=r"has 4 time steps; lookback=3 \+ horizon=2 need at least 5"):
        forecasting_windows(np.zeros((4, 1)), 3, 2)
    with pytest.raises(ValueError, match=r"`targets` must be variate indices in \[0, 1\]; got \[2\]"):
        forecasting_windows(np.zeros((10, 2)), 3, 1, targets=[2])
    with pytest.raises(ValueError, match="`lookback` must be an integer >= 1; got 0"):
        forecasting_windows(np.zeros((10, 2)), 0, 1)
    with pytest.raises(ValueError, match=r"\(time steps,\) or \(time steps, variates\); got shape \(2, 3, 4\)"):
        forecasting_windows(np.zeros((2, 3, 4)), 1, 1)


def test_load_forecasting_uschange_is_chronological():
    d = load_forecasting("uschange", lookback=8, horizon=2, targets=["Consumption"])
    values = np.asarray(aeon_datasets.load_uschange(), dtype=np.float64).T  # (187, 5)
    train_end, val_end = round(187 * 0.7), round(187 * 0.8)
    np.testing.assert_allclose(d.mean, values[:train_end].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(d.std, values[:train_end].std(axis=0), rtol=1e-6)
    normed = (values - d.mean.astype(np.float64)) / d.std.astype(np.float64)
    assert d.columns == ("Consumption", "Income", "Production", "Savings", "Unemployment")
    assert d.targets == ("Consumption",)
    assert d.x_train.shape == (train_end - 8 - 2 + 1, 8, 5) and d.y_train.shape[1:] == (2, 1)
    assert d.x_val.shape == (val_end - train_end - 2 + 1, 8, 5)
    assert d.x_test.shape == (187 - val_end - 2 + 1, 8, 5)
    # windows: the last training window ends its targets at train_end, the first test window starts them at val_end
    np.testing.assert_allclose(d.y_train[-1, :, 0], normed[train_end - 2 : train_end, 0], rtol=1e-5)
    np.testing.assert_allclose(d.y_val[0, :, 0], normed[train_end : train_end + 2, 0], rtol=1e-5)
    np.testing.assert_allclose(d.x_test[0], normed[val_end - 8 : val_end], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(d.y_test[-1, :, 0], normed[-2:, 0], rtol=1e-5)
    airline = load_forecasting("airline")
    assert airline.x_train.shape[1:] == (12, 1) and airline.targets == ("Number of airline passengers",)
    with pytest.raises(ValueError, match=r"'GDP' is not a column of uschange"):
        load_forecasting("uschange", targets="GDP")
    with pytest.raises(ValueError, match=r"validation_fraction \+ test_fraction must be < 1"):
        load_forecasting("airline", validation_fraction=0.5, test_fraction=0.5)
