"""keras_attention.data: data pipelines (numpy readers and ``tf.data`` datasets).

- :mod:`~keras_attention.data.images` -- image classification data through tensorflow-datasets or
  offline sources (MNIST-format IDX directories, scikit-learn's digits) with one signature:
  :data:`DATASETS`, :func:`dataset_info`, :func:`load_arrays`, :func:`image_dataset`;
- :mod:`~keras_attention.data.timeseries` -- UEA/UCR series bundled in aeon (z-normalised, split) and
  offline forecasting series with a windowing helper;
- :mod:`~keras_attention.data.idx` -- the IDX (MNIST format) reader :func:`read_idx` and writer.
"""

from keras_attention.data.idx import read_idx, write_idx
from keras_attention.data.timeseries import (
    CLASSIFICATION_DATASETS,
    FORECASTING_DATASETS,
    ForecastingData,
    TimeSeriesData,
    forecasting_windows,
    load_forecasting,
    load_forecasting_series,
    load_timeseries,
)
from keras_attention.data.images import (
    DATASETS,
    ENV_VAR,
    DatasetNotFoundError,
    DatasetSpec,
    dataset_info,
    image_dataset,
    load_arrays,
)

__all__ = [
    "CLASSIFICATION_DATASETS",
    "FORECASTING_DATASETS",
    "ForecastingData",
    "TimeSeriesData",
    "forecasting_windows",
    "load_forecasting",
    "load_forecasting_series",
    "load_timeseries",
    "DATASETS",
    "ENV_VAR",
    "DatasetNotFoundError",
    "DatasetSpec",
    "dataset_info",
    "image_dataset",
    "load_arrays",
    "read_idx",
    "write_idx",
]
