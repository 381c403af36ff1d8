"""Top-k accuracy of a model on a labelled ``tf.data`` set, without compiling the model (``keras-attention
sparsify`` and the iSparse experiment score sparsified copies): Keras' own
``SparseTopKCategoricalAccuracy`` (the metric ``compile_classifier`` uses) on the model's predictions."""

from collections.abc import Iterable
from typing import Any

import keras
import numpy as np


def dataset_labels(dataset: Any) -> np.ndarray:
    """All labels of a (non-shuffled) ``(images, labels)`` dataset, in order.

    Args:
        dataset: a ``tf.data.Dataset`` of ``(images, labels)`` batches.

    Returns:
        The labels, one array.
    """
    return np.concatenate([np.asarray(y) for _, y in dataset.as_numpy_iterator()])


def topk_accuracy(model: Any, dataset: Any, labels: Any = None, ks: Iterable[int] = (1, 5)) -> dict[str, float]:
    """``{"top1": .., "top5": ..}`` (fractions) of ``model`` on ``dataset``: ``keras.metrics.
    SparseTopKCategoricalAccuracy(k)`` of its predicted probabilities against the labels (a label is a top-k hit
    when fewer than k classes score strictly higher).

    Args:
        model: a ``keras.Model`` that outputs class probabilities (it need not be compiled).
        dataset: the ``(images, labels)`` batches, not shuffled.
        labels: the dataset's labels, when already read (:func:`dataset_labels`); None reads them.
        ks: the k of every top-k accuracy.

    Returns:
        ``{"top<k>": fraction}`` for every k.

    Raises:
        ValueError: the model gave another number of predictions than there are labels.
    """
    labels = dataset_labels(dataset) if labels is None else np.asarray(labels)
    probs = model.predict(dataset, verbose=0)
    if probs.shape[0] != labels.shape[0]:
        raise ValueError(f"Model gave {probs.shape[0]} predictions for {labels.shape[0]} labels.")
    scores: dict[str, float] = {}
    for k in ks:
        metric = keras.metrics.SparseTopKCategoricalAccuracy(k=k)
        metric.update_state(labels, probs)
        scores[f"top{k}"] = float(keras.ops.convert_to_numpy(metric.result()))
    return scores
