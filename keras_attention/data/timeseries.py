"""Time-series data: UEA/UCR classification sets and forecasting series bundled with aeon (offline).

Classification, :func:`load_timeseries` -> :class:`TimeSeriesData`:

- the datasets aeon ships inside its wheel (:data:`CLASSIFICATION_DATASETS`); nothing is downloaded;
- channels-last float32 ``(N, T, V)``; integer labels ``0..K-1`` indexing ``class_names`` (the labels of
  train and test together, sorted numerically when they are all numbers, else as strings);
- a deterministic stratified train/validation split of aeon's train split
  (``sklearn.model_selection.train_test_split`` with ``stratify=y`` and ``random_state=seed``; the
  validation size is ``ceil(validation_fraction * N_train)``; indices are kept in file order); aeon's
  test split is the test set;
- z-normalisation per variate (``normalise="train"``, the default): mean and standard deviation of each
  variate over every time step of every series of the *training part* (validation excluded, so nothing
  leaks), applied to all three sets. Per-sample statistics would erase amplitude differences between
  classes (standing vs running in BasicMotions), which is why they are not the default;
  ``normalise="series"`` z-normalises every series and variate on its own, ``"none"`` leaves the values.
  A zero standard deviation is replaced by 1.
- unequal lengths (JapaneseVowels 7-29 steps, PickupGestureWiimoteZ 29-361): with
  ``equal_length="bundled"`` (default) aeon's ``<name>_eq`` copy is loaded (made equal-length by the
  archive maintainers, not by this package: 25 steps for JapaneseVowels, 361 for PickupGestureWiimoteZ);
  with ``equal_length="pad"`` the original series are normalised and then padded at the end, by repeating
  each series' last value, to the longest length over train and test (a flat tail has no DoG response of
  its own, unlike a jump to zero; an event can still sit where the real series ends). ``lengths_*``
  hold the original lengths either way (the common length for ``_eq`` copies and equal-length sets);
  statistics never include padding.

Forecasting, :func:`load_forecasting` -> :class:`ForecastingData`: one real series aeon bundles
(:data:`FORECASTING_DATASETS`; ``"uschange"``, 187 quarters of 5 US economic percentage changes, is the
multi-variate one), split chronologically into train / validation / test (70 / 10 / 20 % of the time
steps, as in the SDMA experiments, dissertation §6.5.1), z-normalised with the train part's statistics,
and cut into windows by :func:`forecasting_windows`. A window belongs to the part that holds all its
target steps; its inputs may reach back into the earlier part (the past is known when forecasting).
Windows whose targets straddle a boundary are dropped.

aeon is imported lazily; without it a clear ImportError says to install ``keras-attention[timeseries]``.
"""

import dataclasses
import math
import numbers
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from keras_attention.utils.checks import check_choice, check_positive_int, shape_str
from keras_attention.utils.extras import import_optional

# name -> aeon's equal-length copy (None when the set is equal-length already).
CLASSIFICATION_DATASETS = {
    "ACSF1": None,
    "ArrowHead": None,
    "BasicMotions": None,
    "GunPoint": None,
    "ItalyPowerDemand": None,
    "JapaneseVowels": "JapaneseVowels_eq",
    "OSULeaf": None,
    "PickupGestureWiimoteZ": "PickupGestureWiimoteZ_eq",
}
# name -> aeon loader function name.
FORECASTING_DATASETS = {
    "airline": "load_airline",
    "solar": "load_solar",
    "uschange": "load_uschange",
}
NORMALISATIONS = ("train", "series", "none")
EQUAL_LENGTH = ("bundled", "pad")


def _aeon_datasets() -> ModuleType:
    """``aeon.datasets``, or an ImportError saying how to get it."""
    return import_optional("aeon.datasets", "Loading the UEA/UCR series")


@dataclasses.dataclass
class TimeSeriesData:
    """A classification set: ``x_*`` float32 ``(N, T, V)``, ``y_*`` int64 ``(N,)``, ``lengths_*`` int64 ``(N,)``.

    What :func:`load_timeseries` returns (see the module docstring for the split, the normalisation and the
    padding).

    Args:
        name: the data set's name.
        x_train: training series, float32 ``(N, T, V)``.
        y_train: training labels, int64 ``(N,)`` in ``0..K-1``.
        x_val: validation series (held out of aeon's train split).
        y_val: validation labels.
        x_test: test series (aeon's test split).
        y_test: test labels.
        class_names: the original labels, ``class_names[y]`` for label ``y``.
        lengths_train: the original length of every training series (before any padding).
        lengths_val: the same for the validation series.
        lengths_test: the same for the test series.
        mean: ``(V,)`` means used with ``normalise="train"``, else None.
        std: ``(V,)`` standard deviations used with ``normalise="train"``, else None.

    Example:
        >>> from keras_attention.data import load_timeseries
        >>> data = load_timeseries("ItalyPowerDemand")  # small: 67 training and 1029 test series of 24 steps
        >>> data.n_classes, data.n_variates, data.length, data.class_names
        (2, 1, 24, ('1', '2'))
        >>> data.x_train.shape, data.x_val.shape, data.mean.shape
        ((53, 24, 1), (14, 24, 1), (1,))
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    lengths_train: np.ndarray
    lengths_val: np.ndarray
    lengths_test: np.ndarray
    mean: np.ndarray | None = None  # (V,) statistics used with normalise="train", else None
    std: np.ndarray | None = None

    @property
    def n_classes(self) -> int:
        """The number of classes, ``len(class_names)``."""
        return len(self.class_names)

    @property
    def n_variates(self) -> int:
        """The number of variates ``V``."""
        return int(self.x_train.shape[2])

    @property
    def length(self) -> int:
        """The (common, padded) number of time steps ``T``."""
        return int(self.x_train.shape[1])


@dataclasses.dataclass
class ForecastingData:
    """Forecasting windows: ``x_*`` float32 ``(N, lookback, V)``, ``y_*`` float32 ``(N, horizon, len(targets))``.

    What :func:`load_forecasting` returns (see the module docstring for the chronological split).

    Args:
        name: the series' name.
        x_train: training windows' inputs, float32 ``(N, lookback, V)``.
        y_train: their targets, float32 ``(N, horizon, len(targets))``.
        x_val: validation windows' inputs.
        y_val: their targets.
        x_test: test windows' inputs.
        y_test: their targets.
        columns: the names of the ``V`` variates.
        targets: the names of the forecast variates.
        mean: ``(V,)`` means of the train part, used to z-normalise.
        std: ``(V,)`` standard deviations of the train part.

    Example:
        >>> from keras_attention.data import load_forecasting
        >>> data = load_forecasting("uschange", lookback=8, horizon=2, targets="Consumption")
        >>> data.x_train.shape, data.y_train.shape, data.targets
        ((122, 8, 5), (122, 2, 1), ('Consumption',))
        >>> data.columns
        ('Consumption', 'Income', 'Production', 'Savings', 'Unemployment')
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    columns: tuple[str, ...]
    targets: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray


def _check_fraction(argument: str, value: float) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and 0 <= value < 1
    if not ok:
        raise ValueError(f"Argument `{argument}` must be a number in [0, 1); got {value!r}.")
    return float(value)


def _check_name(name: str, registry: dict[str, Any], kind: str) -> str:
    if not isinstance(name, str):
        raise ValueError(f"Argument `name` must be a string, one of {sorted(registry)}; got {name!r}.")
    by_lower = {key.lower(): key for key in registry}
    if name.lower() not in by_lower:
        raise ValueError(
            f"Argument `name` must be one of the {kind} datasets bundled with aeon {sorted(registry)} "
            f"(case-insensitive); got {name!r}."
        )
    return by_lower[name.lower()]


def _class_order(labels: Iterable[Any]) -> tuple[str, ...]:
    """Distinct labels as strings, sorted numerically when they are all numbers, else as strings."""
    distinct = sorted({str(label) for label in labels})
    try:
        return tuple(sorted(distinct, key=float))
    except ValueError:
        return tuple(distinct)


def _channels_last(collection: Any) -> list[np.ndarray]:
    """aeon's ``(N, V, T)`` array or list of ``(V, T_i)`` arrays -> list of ``(T_i, V)`` float64 arrays."""
    return [np.asarray(item, dtype=np.float64).T for item in collection]


def _stack_padded(series: Sequence[np.ndarray], length: int) -> np.ndarray:
    """Stack ``(T_i, V)`` arrays into ``(N, length, V)``, repeating each series' last step at the end."""
    lengths = np.array([s.shape[0] for s in series])
    if np.all(lengths == length):
        return np.stack(series)
    return np.stack([np.pad(s, ((0, length - s.shape[0]), (0, 0)), mode="edge") for s in series])


def _load_split(datasets: ModuleType, file_name: str, split: str) -> tuple[list[np.ndarray], np.ndarray]:
    x, y = datasets.load_classification(file_name, split=split)
    return _channels_last(x), np.asarray(y)


def stratified_split(y: npt.ArrayLike, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)`` of a deterministic stratified split of labels ``y`` (both sorted).

    Raises a ValueError when a class has fewer than 2 members or either part is smaller than the class count.

    Args:
        y: the labels.
        validation_fraction: in ``[0, 1)``; the validation part has ``ceil(validation_fraction * N)`` indices.
        seed: ``random_state`` of scikit-learn's ``train_test_split``.

    Returns:
        ``(train, val)`` sorted index arrays (``val`` empty for ``validation_fraction=0``).

    Raises:
        ValueError: a class has fewer than 2 members or a part would be smaller than the class count.

    Example:
        >>> from keras_attention.data.timeseries import stratified_split
        >>> train, val = stratified_split([0, 0, 0, 0, 1, 1, 1, 1], 0.5, seed=0)
        >>> len(train), len(val), sorted(int(i) // 4 for i in val)  # two of each class
        (4, 4, [0, 0, 1, 1])
    """
    from sklearn.model_selection import train_test_split  # noqa: PLC0415  (keeps import light)

    y = np.asarray(y)
    indices = np.arange(y.shape[0])
    if validation_fraction == 0:
        return indices, indices[:0]
    n_val = math.ceil(validation_fraction * y.shape[0])
    classes, counts = np.unique(y, return_counts=True)
    if counts.min() < 2 or n_val < classes.size or y.shape[0] - n_val < classes.size:
        raise ValueError(
            f"Cannot split {y.shape[0]} training series of {classes.size} classes (smallest class: "
            f"{counts.min()} series) with validation_fraction={validation_fraction}: a stratified split "
            f"needs every class to have >= 2 series and both parts ({y.shape[0] - n_val} train, {n_val} "
            f"validation) to have >= {classes.size} series. Change validation_fraction."
        )
    train, val = train_test_split(indices, test_size=n_val, stratify=y, random_state=seed, shuffle=True)
    return np.sort(train), np.sort(val)


def _zscore(series_list: Sequence[np.ndarray], mean: np.ndarray, std: np.ndarray) -> list[np.ndarray]:
    return [(s - mean) / std for s in series_list]


def _series_zscore(series_list: Sequence[np.ndarray]) -> list[np.ndarray]:
    out = []
    for s in series_list:  # one array per series: lengths may differ
        std = s.std(axis=0)
        out.append((s - s.mean(axis=0)) / np.where(std > 0, std, 1.0))
    return out


def load_timeseries(
    name: str,
    validation_fraction: float = 0.2,
    seed: int = 0,
    normalise: str = "train",
    equal_length: str = "bundled",
) -> TimeSeriesData:
    """Load a UEA/UCR classification set bundled with aeon (see the module docstring for every choice).

    Args:
        name: one of :data:`CLASSIFICATION_DATASETS` (case-insensitive).
        validation_fraction: share of aeon's train split held out, stratified, in ``[0, 1)``.
        seed: ``random_state`` of the split; the same seed gives the same split.
        normalise: ``"train"`` | ``"series"`` | ``"none"``.
        equal_length: ``"bundled"`` (aeon's ``_eq`` copies) | ``"pad"`` (edge-pad the original series).

    Returns:
        :class:`TimeSeriesData`.

    Raises:
        ValueError: an unknown ``name`` / ``normalise`` / ``equal_length``, ``validation_fraction`` outside
            ``[0, 1)``, ``seed`` not an integer >= 0, or a split that leaves a class without a series in a part.
        ImportError: aeon is not installed (the message names the ``timeseries`` extra).

    Example:
        >>> from keras_attention.data import load_timeseries
        >>> data = load_timeseries("ItalyPowerDemand", validation_fraction=0.2, seed=0)
        >>> data.x_train.shape, data.x_val.shape, data.x_test.shape, data.x_train.dtype.name
        ((53, 24, 1), (14, 24, 1), (1029, 24, 1), 'float32')
        >>> data.y_val.tolist().count(0), data.y_val.tolist().count(1)  # stratified
        (7, 7)
    """
    name = _check_name(name, CLASSIFICATION_DATASETS, "classification")
    validation_fraction = _check_fraction("validation_fraction", validation_fraction)
    check_positive_int("seed", seed, minimum=0)
    check_choice("normalise", normalise, NORMALISATIONS)
    check_choice("equal_length", equal_length, EQUAL_LENGTH)
    datasets = _aeon_datasets()

    file_name = CLASSIFICATION_DATASETS[name] if equal_length == "bundled" else None
    file_name = file_name or name
    x_fit, y_fit = _load_split(datasets, file_name, "train")
    x_test, y_test = _load_split(datasets, file_name, "test")
    class_names = _class_order(np.concatenate([y_fit, y_test]))
    lookup = {label: index for index, label in enumerate(class_names)}
    y_fit = np.array([lookup[str(label)] for label in y_fit], dtype=np.int64)
    y_test = np.array([lookup[str(label)] for label in y_test], dtype=np.int64)

    train_idx, val_idx = stratified_split(y_fit, validation_fraction, seed)
    x_train, x_val = [x_fit[i] for i in train_idx], [x_fit[i] for i in val_idx]
    mean = std = None
    if normalise == "train":
        stacked = np.concatenate(x_train, axis=0)  # every real step of every training series
        mean, std = stacked.mean(axis=0), stacked.std(axis=0)
        std = np.where(std > 0, std, 1.0)
        x_train, x_val, x_test = (_zscore(part, mean, std) for part in (x_train, x_val, x_test))
    elif normalise == "series":
        x_train, x_val, x_test = (_series_zscore(part) for part in (x_train, x_val, x_test))

    parts = (x_train, x_val, x_test)
    length = max(s.shape[0] for part in parts for s in part)
    n_variates = x_fit[0].shape[1]
    stacked_parts = []
    for part in parts:
        array = _stack_padded(part, length) if part else np.zeros((0, length, n_variates))
        stacked_parts.append(array.astype(np.float32))
    lengths = [np.array([s.shape[0] for s in part], dtype=np.int64) for part in parts]
    return TimeSeriesData(
        name=name,
        x_train=stacked_parts[0],
        y_train=y_fit[train_idx],
        x_val=stacked_parts[1],
        y_val=y_fit[val_idx],
        x_test=stacked_parts[2],
        y_test=y_test,
        class_names=class_names,
        lengths_train=lengths[0],
        lengths_val=lengths[1],
        lengths_test=lengths[2],
        mean=None if mean is None else mean.astype(np.float32),
        std=None if std is None else std.astype(np.float32),
    )


def load_forecasting_series(name: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """A forecasting series bundled with aeon as float64 ``(T, V)`` and its column names.

    Args:
        name: one of :data:`FORECASTING_DATASETS` (case-insensitive).

    Returns:
        ``(values, columns)``: float64 ``(T, V)`` and the ``V`` variate names.

    Raises:
        ValueError: an unknown ``name``.
        ImportError: aeon is not installed.

    Example:
        >>> from keras_attention.data import load_forecasting_series
        >>> values, columns = load_forecasting_series("airline")
        >>> values.shape, columns
        ((144, 1), ('Number of airline passengers',))
    """
    name = _check_name(name, FORECASTING_DATASETS, "forecasting")
    loader = getattr(_aeon_datasets(), FORECASTING_DATASETS[name])
    frame = loader(return_array=False)
    values = np.asarray(frame, dtype=np.float64)
    if values.ndim == 1:
        return values[:, None], (str(getattr(frame, "name", name) or name),)
    # aeon's multi-variate series are (V, T) frames with the variate names as the index.
    return values.T.copy(), tuple(str(c) for c in frame.index)


def forecasting_windows(
    series: npt.ArrayLike, lookback: int, horizon: int, targets: int | Sequence[int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows of a series: inputs ``series[i : i + lookback]``, targets the next ``horizon`` steps.

    Args:
        series: ``(T,)`` or ``(T, V)`` array.
        lookback: input steps per window (>= 1).
        horizon: target steps per window (>= 1).
        targets: variate indices to forecast (default: all).

    Returns:
        ``(x, y)`` float32: ``x`` ``(T - lookback - horizon + 1, lookback, V)``,
        ``y`` ``(same, horizon, len(targets))``; window ``i`` starts at step ``i``.

    Raises:
        ValueError: ``lookback`` / ``horizon`` not integers >= 1, ``series`` not of rank 1 or 2 or shorter than
            ``lookback + horizon``, or ``targets`` not variate indices.

    Example:
        >>> import numpy as np
        >>> from keras_attention.data import forecasting_windows
        >>> x, y = forecasting_windows(np.arange(10.0), lookback=3, horizon=2)
        >>> x.shape, y.shape
        ((6, 3, 1), (6, 2, 1))
        >>> x[0, :, 0].tolist(), y[0, :, 0].tolist()
        ([0.0, 1.0, 2.0], [3.0, 4.0])
    """
    check_positive_int("lookback", lookback)
    check_positive_int("horizon", horizon)
    array = np.asarray(series, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(
            f"Argument `series` must have shape (time steps,) or (time steps, variates); got shape "
            f"{shape_str(array.shape)}."
        )
    n_steps, n_variates = array.shape
    targets = list(range(n_variates)) if targets is None else [int(t) for t in np.atleast_1d(targets)]
    if not targets or any(t < 0 or t >= n_variates for t in targets):
        raise ValueError(
            f"Argument `targets` must be variate indices in [0, {n_variates - 1}]; got {targets!r}."
        )
    count = n_steps - lookback - horizon + 1
    if count < 1:
        raise ValueError(
            f"Argument `series` has {n_steps} time steps; lookback={lookback} + horizon={horizon} need at "
            f"least {lookback + horizon}."
        )
    windows = np.lib.stride_tricks.sliding_window_view(array, lookback + horizon, axis=0)  # (count, V, L+H)
    windows = np.moveaxis(windows, 2, 1)
    x = windows[:, :lookback, :]
    y = windows[:, lookback:, :][:, :, targets]
    return x.astype(np.float32), y.astype(np.float32)


def load_forecasting(
    name: str = "uschange",
    lookback: int = 12,
    horizon: int = 1,
    targets: int | str | Sequence[int | str] | None = None,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.2,
) -> ForecastingData:
    """A bundled forecasting series as train / validation / test windows (see the module docstring).

    Args:
        name: one of :data:`FORECASTING_DATASETS`.
        lookback, horizon: window sizes (:func:`forecasting_windows`).
        targets: variate indices or column names to forecast (default: all).
        validation_fraction, test_fraction: chronological shares of the time steps.

    Returns:
        :class:`ForecastingData` (``mean`` / ``std`` per variate, from the train part).

    Raises:
        ValueError: an unknown ``name`` or target column, ``lookback`` / ``horizon`` not integers >= 1,
            fractions outside ``[0, 1)`` or summing to 1 or more, or a train part too short for one window.
        ImportError: aeon is not installed.

    Example:
        >>> from keras_attention.data import load_forecasting
        >>> data = load_forecasting("uschange", lookback=8, horizon=2)  # 187 quarters, 5 variates
        >>> data.x_train.shape, data.y_train.shape, data.x_val.shape, data.x_test.shape
        ((122, 8, 5), (122, 2, 5), (18, 8, 5), (36, 8, 5))
    """
    name = _check_name(name, FORECASTING_DATASETS, "forecasting")
    check_positive_int("lookback", lookback)
    check_positive_int("horizon", horizon)
    validation_fraction = _check_fraction("validation_fraction", validation_fraction)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    if validation_fraction + test_fraction >= 1:
        raise ValueError(
            f"validation_fraction + test_fraction must be < 1; got {validation_fraction} + {test_fraction}."
        )
    values, columns = load_forecasting_series(name)
    if targets is None:
        target_idx = list(range(len(columns)))
    else:
        target_idx = []
        for target in np.atleast_1d(np.asarray(targets, dtype=object)):
            if isinstance(target, str):
                if target not in columns:
                    raise ValueError(f"Argument `targets`: {target!r} is not a column of {name} {list(columns)}.")
                target_idx.append(columns.index(target))
            else:
                target_idx.append(int(target))
    n_steps = values.shape[0]
    train_end = int(round(n_steps * (1 - validation_fraction - test_fraction)))
    val_end = int(round(n_steps * (1 - test_fraction)))
    mean, std = values[:train_end].mean(axis=0), values[:train_end].std(axis=0)
    std = np.where(std > 0, std, 1.0)
    x, y = forecasting_windows((values - mean) / std, lookback, horizon, target_idx)
    first_target = np.arange(x.shape[0]) + lookback
    last_target = first_target + horizon  # exclusive
    parts = {
        "train": last_target <= train_end,
        "val": (first_target >= train_end) & (last_target <= val_end),
        "test": first_target >= val_end,
    }
    if not parts["train"].any():
        raise ValueError(
            f"{name} has {n_steps} steps; its train part ({train_end} steps) is too short for "
            f"lookback={lookback} + horizon={horizon}."
        )
    return ForecastingData(
        name=name,
        x_train=x[parts["train"]],
        y_train=y[parts["train"]],
        x_val=x[parts["val"]],
        y_val=y[parts["val"]],
        x_test=x[parts["test"]],
        y_test=y[parts["test"]],
        columns=columns,
        targets=tuple(columns[i] for i in target_idx),
        mean=mean.astype(np.float32),
        std=std.astype(np.float32),
    )
