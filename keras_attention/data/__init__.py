"""keras_attention.data: data pipelines (numpy readers and ``tf.data`` datasets).

- :mod:`~keras_attention.data.images` -- image classification data through tensorflow-datasets or
  offline sources (MNIST-format IDX directories, scikit-learn's digits) with one signature:
  :data:`DATASETS`, :func:`dataset_info`, :func:`load_arrays`, :func:`image_dataset`;
- :mod:`~keras_attention.data.idx` -- the IDX (MNIST format) reader :func:`read_idx` and writer.
"""

from keras_attention.data.idx import read_idx, write_idx
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
