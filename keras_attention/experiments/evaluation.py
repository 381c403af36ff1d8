"""Top-k accuracy of a model on a labelled ``tf.data`` set, without compiling the model (``keras-attention
sparsify`` and the iSparse experiment score sparsified copies): Keras' own
``SparseTopKCategoricalAccuracy`` (the metric ``compile_classifier`` uses) on the model's predictions."""

import keras
import numpy as np


def dataset_labels(dataset):
    """All labels of a (non-shuffled) ``(images, labels)`` dataset, in order."""
    return np.concatenate([np.asarray(y) for _, y in dataset.as_numpy_iterator()])


def topk_accuracy(model, dataset, labels=None, ks=(1, 5)):
    """``{"top1": .., "top5": ..}`` (fractions) of ``model`` on ``dataset``: ``keras.metrics.
    SparseTopKCategoricalAccuracy(k)`` of its predicted probabilities against the labels (a label is a top-k hit
    when fewer than k classes score strictly higher). ``labels``: the dataset's, when already read."""
    labels = dataset_labels(dataset) if labels is None else np.asarray(labels)
    probs = model.predict(dataset, verbose=0)
    if probs.shape[0] != labels.shape[0]:
        raise ValueError(f"Model gave {probs.shape[0]} predictions for {labels.shape[0]} labels.")
    scores = {}
    for k in ks:
        metric = keras.metrics.SparseTopKCategoricalAccuracy(k=k)
        metric.update_state(labels, probs)
        scores[f"top{k}"] = float(keras.ops.convert_to_numpy(metric.result()))
    return scores
