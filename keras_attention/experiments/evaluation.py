"""Top-k accuracy of a model on a labelled ``tf.data`` set, from its predicted probabilities (no compiled
model needed): used by ``keras-attention sparsify`` and the iSparse experiment."""

import numpy as np


def dataset_labels(dataset):
    """All labels of a (non-shuffled) ``(images, labels)`` dataset, in order."""
    return np.concatenate([np.asarray(y) for _, y in dataset.as_numpy_iterator()])


def topk_accuracy(model, dataset, labels=None, ks=(1, 5)):
    """``{"top1": .., "top5": ..}`` (fractions) of ``model`` on ``dataset`` from its predicted probabilities.

    Needs no compiled model; a label counts as a top-k hit when fewer than k classes score strictly higher.
    """
    labels = dataset_labels(dataset) if labels is None else np.asarray(labels)
    probs = np.asarray(model.predict(dataset, verbose=0), dtype=np.float64)
    if probs.shape[0] != labels.shape[0]:
        raise ValueError(f"Model gave {probs.shape[0]} predictions for {labels.shape[0]} labels.")
    true = probs[np.arange(len(labels)), labels]
    higher = np.sum(probs > true[:, None], axis=1)
    return {f"top{k}": float(np.mean(higher < k)) for k in ks}
