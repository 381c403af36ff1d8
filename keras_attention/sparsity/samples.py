"""Score samples for iSparse: gather a bounded number of inputs and run the model on them.

``collect_samples(x, max_samples)`` accepts a numpy array, a list / tuple / dict of arrays (multi-input
models) or a batched ``tf.data.Dataset`` whose elements are ``x``, ``(x,)``, ``(x, y)`` or
``(x, y, sample_weight)``; it returns numpy inputs holding at most ``max_samples`` samples and raises a
ValueError when there are fewer than 2 (InfFS needs a spread over samples).
"""

import sys
from collections.abc import Callable
from operator import itemgetter
from typing import Any, TypeAlias, TypeVar

import keras
import numpy as np
from numpy.typing import NDArray

#: Numpy score samples: one array, or a list / dict of arrays (the inputs of a multi-input model).
NumpySamples: TypeAlias = NDArray[Any] | list[NDArray[Any]] | dict[Any, NDArray[Any]]

_T = TypeVar("_T")


def _is_dataset(x: object) -> bool:
    # A tf.data.Dataset exists only once TensorFlow is imported: never import it here (other backends).
    tf = sys.modules.get("tensorflow")
    data = getattr(tf, "data", None)
    return data is not None and isinstance(x, data.Dataset)


def _to_numpy(a: Any) -> NDArray[Any]:
    """``a`` as a numpy array; a backend tensor (a torch one may require grad) through Keras."""
    if isinstance(a, (np.ndarray, np.generic, list, tuple, int, float)):
        return np.asarray(a)
    return np.asarray(keras.ops.convert_to_numpy(a))


def _map(fn: Callable[[Any], _T], x: Any) -> _T | list[_T] | dict[Any, _T]:
    """``fn`` applied to each array of ``x`` (an array, a list / tuple or a dict of arrays)."""
    if isinstance(x, dict):
        return {k: fn(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [fn(v) for v in x]
    return fn(x)


def _leaves(x: Any) -> list[Any]:
    if isinstance(x, dict):
        return list(x.values())
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]


def num_samples(x: Any) -> int:
    """Number of samples in numpy inputs (the leading axis, which every input must share)."""
    sizes = {int(np.shape(leaf)[0]) if np.ndim(leaf) > 0 else 0 for leaf in _leaves(x)}
    if len(sizes) != 1:
        raise ValueError(f"Score samples disagree on the number of samples: leading sizes {sorted(sizes)}.")
    return sizes.pop()


def _from_dataset(dataset: Any, max_samples: int | None) -> NumpySamples | None:
    chunks: list[Any] = []
    count = 0
    for element in dataset.as_numpy_iterator():
        features = element[0] if isinstance(element, tuple) else element
        chunks.append(features)
        count += num_samples(features)
        if max_samples is not None and count >= max_samples:
            break
    if not chunks:
        return None
    first = chunks[0]
    if isinstance(first, dict):
        return {k: np.concatenate([c[k] for c in chunks]) for k in first}
    if isinstance(first, (list, tuple)):
        return [np.concatenate([c[i] for c in chunks]) for i in range(len(first))]
    return np.concatenate(chunks)


def collect_samples(x: Any, max_samples: int | None = None, argument: str = "x") -> NumpySamples:
    """Numpy score samples from ``x`` (see module docstring), at most ``max_samples`` of them."""
    bad_bound = isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 2
    if max_samples is not None and bad_bound:
        raise ValueError(f"Argument `max_samples` must be None or an integer >= 2; got {max_samples!r}.")
    if x is None:
        raise ValueError(f"Argument `{argument}` (score samples) is required; got None.")
    if _is_dataset(x):
        samples = _from_dataset(x, max_samples)
        if samples is None:
            raise ValueError(f"Argument `{argument}` (score samples) is an empty dataset.")
    else:
        samples = _map(_to_numpy, x)
    n = num_samples(samples)
    if max_samples is not None and n > max_samples:
        samples = _map(lambda a: a[:max_samples], samples)
        n = max_samples
    if n < 2:
        raise ValueError(
            f"Argument `{argument}` (score samples) must hold at least 2 samples (InfFS needs their spread); "
            f"got {n}."
        )
    return samples


def predict_outputs(model: keras.Model, samples: NumpySamples, batch_size: int = 64) -> list[NDArray[np.float64]]:
    """The model's outputs on ``samples`` (inference mode) as a list of numpy arrays, one per output."""
    n = num_samples(samples)
    chunks: list[list[NDArray[np.float64]]] = []
    for start in range(0, n, batch_size):
        batch = _map(itemgetter(slice(start, start + batch_size)), samples)
        out = model(batch, training=False)
        out = out if isinstance(out, (list, tuple)) else [out]
        # convert_to_numpy: a torch output requires grad, which np.asarray refuses
        chunks.append([np.asarray(keras.ops.convert_to_numpy(o), dtype=np.float64) for o in out])
    return [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
