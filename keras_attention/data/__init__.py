"""keras_attention.data: data pipelines (numpy readers and ``tf.data`` datasets).

- :mod:`~keras_attention.data.images` -- image classification data through tensorflow-datasets or
  offline sources (MNIST-format IDX directories, scikit-learn's digits) with one signature:
  :data:`DATASETS`, :func:`dataset_info`, :func:`load_arrays`, :func:`image_dataset`;
- :mod:`~keras_attention.data.timeseries` -- UEA/UCR series bundled in aeon (z-normalised, split) and
  offline forecasting series with a windowing helper;
- :mod:`~keras_attention.data.idx` -- the IDX (MNIST format) reader :func:`read_idx` and writer.
"""

from keras_attention.utils.lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(["read_idx", "write_idx"], ".idx"),
    **dict.fromkeys(["CLASSIFICATION_DATASETS", "FORECASTING_DATASETS", "ForecastingData", "TimeSeriesData",
                     "forecasting_windows", "load_forecasting", "load_forecasting_series", "load_timeseries"],
                    ".timeseries"),
    **dict.fromkeys(["DATASETS", "ENV_VAR", "DatasetNotFoundError", "DatasetSpec", "dataset_info",
                     "default_image_dataset", "image_dataset", "load_arrays"], ".images"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
