"""Infinite Feature Selection (InfFS) scores of output neurons (dissertation Alg. 1, eq. 2.21-2.23;
docs/methods/isparse.md#isparse-output-scores).

``inffs(predictions)`` treats every column of a ``(samples, neurons)`` prediction matrix as a node of a
graph with affinities (eq. 2.21)

    A_ij = alpha * max(std_i, std_j) + (1 - alpha) * (1 - |spearman_ij|),

lets paths grow to infinite length with ``r = 0.9 / spectral_radius(A)`` and ``S = inv(I - r A) - I``
(eq. 2.22) and scores each neuron by its row sum ``s = S @ ones`` (eq. 2.23). iSparse uses these scores as
``N_L``, the significance of the network's output neurons (eq. 4.10).

Reading of Alg. 1 where the dissertation is silent (docs/methods/isparse.md#isparse-output-scores):

- ``std`` is the population standard deviation (``ddof=0``) of each column over the samples.
- Spearman's coefficient is Pearson's correlation of the column ranks; tied values share their average
  rank (``scipy.stats.rankdata(method="average")``). Everything is vectorised over the columns.
- A column with zero variance (a constant neuron, e.g. a dead output) has no defined rank correlation.
  It carries no information beyond the other columns, so it is treated as fully redundant:
  ``|spearman_ij| = 1`` for every pair that involves it, hence ``C_ij = 0`` (its own ``std`` is 0 as
  well). A constant column therefore only takes the ``alpha * std_j`` share of its partners.
- When ``A`` is all zeros (every column constant) the spectral radius is 0 and ``r`` is undefined; the
  limit of ``inv(I - r A) - I`` for ``A -> 0`` is the zero matrix, so every score is 0 (downstream,
  iSparse then orders the edges by ``|W|`` only).
- ``s`` is computed as ``solve(I - r A, ones) - ones``, algebraically identical to ``S @ ones`` and
  numerically better than forming the inverse. ``A`` is symmetric, so its spectral radius is the
  largest absolute eigenvalue from ``numpy.linalg.eigvalsh``. All arithmetic is float64.
"""

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata


def _check_predictions(predictions: ArrayLike) -> NDArray[np.float64]:
    p = np.asarray(predictions, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(
            f"Argument `predictions` must be a 2-D array (samples, neurons); got shape {p.shape}."
        )
    if p.shape[0] < 2 or p.shape[1] < 1:
        raise ValueError(
            "Argument `predictions` needs at least 2 samples and 1 neuron to compute standard deviations "
            f"and rank correlations; got shape {p.shape}."
        )
    if not np.all(np.isfinite(p)):
        raise ValueError("Argument `predictions` must be finite; it contains NaN or infinite values.")
    return p


def spearman_abs(predictions: ArrayLike) -> NDArray[np.float64]:
    """``|spearman_ij|`` for every pair of columns, with 1 for pairs involving a constant column."""
    p = _check_predictions(predictions)
    ranks = rankdata(p, axis=0, method="average")
    centred = ranks - ranks.mean(axis=0, keepdims=True)
    norms = np.sqrt(np.sum(centred**2, axis=0))
    constant = norms == 0.0
    safe = np.where(constant, 1.0, norms)
    corr = (centred.T @ centred) / np.outer(safe, safe)
    corr = np.clip(np.abs(corr), 0.0, 1.0)
    corr[constant, :] = 1.0
    corr[:, constant] = 1.0
    return corr


def inffs_graph(predictions: ArrayLike, alpha: float = 0.5) -> NDArray[np.float64]:
    """The InfFS affinity matrix ``A`` of the columns of ``predictions`` (dissertation eq. 2.21).

    ``A_ij = alpha * max(std_i, std_j) + (1 - alpha) * (1 - |spearman_ij|)``, with the readings of the
    module docstring (population ``std``, average ranks for ties, a constant column fully redundant;
    docs/methods/isparse.md#isparse-output-scores).

    Args:
        predictions: array ``(samples, neurons)`` with at least 2 samples, 1 neuron and finite values.
        alpha: loading coefficient in [0, 1] between the dispersion term (``std``) and the decorrelation
            term (``1 - |spearman|``).

    Returns:
        The symmetric float64 matrix ``A`` of shape ``(neurons, neurons)``.

    Raises:
        ValueError: ``predictions`` is not 2-D, has fewer than 2 samples or no neuron, or holds NaN / inf;
            ``alpha`` is not a number in [0, 1].

    Example:
        >>> import numpy as np
        >>> from keras_attention.sparsity import inffs_graph
        >>> predictions = np.random.default_rng(0).random((8, 3))  # 8 samples of 3 output neurons
        >>> a = inffs_graph(predictions)
        >>> a.shape, bool(np.allclose(a, a.T))
        ((3, 3), True)
        >>> np.round(a, 3).tolist()
        [[0.163, 0.52, 0.405], [0.52, 0.141, 0.583], [0.405, 0.583, 0.167]]
    """
    alpha = check_alpha(alpha)
    p = _check_predictions(predictions)
    std = p.std(axis=0)
    sigma = np.maximum(std[:, None], std[None, :])
    return alpha * sigma + (1.0 - alpha) * (1.0 - spearman_abs(p))


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float in [0, 1]; raise a ValueError naming it otherwise."""
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.floating)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"Argument `alpha` must be a number in [0, 1]; got {alpha!r}.")
    return float(alpha)


def inffs(predictions: ArrayLike, alpha: float = 0.5) -> NDArray[np.float64]:
    """InfFS energy score of each column of ``predictions`` (dissertation Alg. 1, eq. 2.21-2.23).

    The affinities ``A`` of :func:`inffs_graph` (eq. 2.21), paths of every length summed with
    ``r = 0.9 / spectral_radius(A)`` as ``S = inv(I - r A) - I`` (eq. 2.22), and each neuron scored by its
    row sum (eq. 2.23). iSparse uses these scores as ``N_L``, the significance of the output neurons
    (eq. 4.10; docs/methods/isparse.md#isparse-output-scores).

    Args:
        predictions: array ``(samples, neurons)``, e.g. a model's outputs on a batch; at least 2 samples.
        alpha: loading coefficient in [0, 1] between the dispersion and the decorrelation term.

    Returns:
        float64 array ``(neurons,)`` of scores ``s = (inv(I - r A) - I) @ ones`` (all 0 when every column
        is constant).

    Raises:
        ValueError: ``predictions`` is not 2-D, has fewer than 2 samples or no neuron, or holds NaN / inf;
            ``alpha`` is not a number in [0, 1].

    Example:
        >>> import numpy as np
        >>> from keras_attention.sparsity import inffs
        >>> predictions = np.random.default_rng(0).random((8, 3))  # 8 samples of 3 output neurons
        >>> np.round(inffs(predictions), 3).tolist()
        [8.519, 9.46, 8.973]
        >>> inffs(np.zeros((4, 2))).tolist()  # constant (dead) outputs carry no information
        [0.0, 0.0]
    """
    a = inffs_graph(predictions, alpha)
    radius = float(np.max(np.abs(np.linalg.eigvalsh(a))))
    n = a.shape[0]
    if radius == 0.0:
        return np.zeros(n)
    r = 0.9 / radius
    ones = np.ones(n)
    return np.linalg.solve(np.eye(n) - r * a, ones) - ones
