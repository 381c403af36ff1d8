"""RACKNet data analysis: racks, layers, order and cluster counts from SIFT features (Obs. 1-4;
docs/methods/racknet.md).

``analyze(images)`` runs the four pre-training phases of dissertation Table 3.8 and returns a
:class:`~keras_attention.racknet.plan.RackPlan`:

1. ``features``: SIFT keypoints and descriptors (:mod:`keras_attention.racknet.features`);
2. ``entropy``: scope entropy of every keypoint (§3.4.4.1);
3. ``mixture`` (Obs. 1-3): racks = octaves holding at least ``min_fraction`` of all keypoints
   (ascending octave = ascending feature size, so rack 1 sees the smallest features); per rack, a 1-D
   Gaussian mixture of the keypoint entropies: ``GaussianMixture`` with 1..``max_components``
   components and the lowest BIC (``mixture="bic"``), or one ``BayesianGaussianMixture`` with
   ``max_components`` components of which those with weight > 0.01 are kept (``"dirichlet"``, weights
   renormalised over the kept ones). Keypoints go to their most probable (kept) component; components
   are sorted by ascending mean (Obs. 3);
4. ``clustering`` (Obs. 4): ``n_ij`` = number of DBSCAN clusters (``metric="cosine"``, noise
   excluded, at least 1) of the SIFT descriptors of the keypoints of component ``j``.

Readings where the dissertation is silent (docs/methods/racknet.md#racknet-racks to
docs/methods/racknet.md#racknet-kernels):

* the mixture is fitted on the raw entropies (not on a 0.01-bin histogram, §3.5.3), with sklearn's
  defaults otherwise and ``random_state=seed``; the number of candidate components never exceeds the
  number of distinct entropies of the octave;
* DBSCAN defaults ``eps=0.1`` (cosine distance) and ``min_samples=5``, chosen on Fashion-MNIST where
  they split the descriptors of the first octave into ~10 clusters with about half of them noise;
* DBSCAN is quadratic in memory, so a component with more than ``max_cluster_samples`` keypoints
  (default 2000) is clustered on a uniform random subsample of that size, drawn with
  ``numpy.random.default_rng((seed, rack, layer))``; cluster counts depend on that size. All-zero
  descriptors (no cosine distance) are left out;
* mixtures and DBSCAN run with BLAS/OpenMP limited to one thread (``threadpoolctl``): on 1-D data and
  2000x128 descriptors, thread start-up and oversubscription cost far more than they save;
* too few keypoints (fewer than ``min_keypoints`` in all) is a ValueError that says what was found and
  what to try; with ``fallback=True`` a minimal plan is returned instead: one rack (the most populated
  octave, or 0 when nothing was found) with one layer, ``fallback=True`` recorded in the plan;
* ``budget`` (every layer needs at least one kernel, so ``budget`` must cover the plan's number of
  layers, as in :func:`~keras_attention.racknet.allocation.allocate`) is checked as soon as each bound
  is known, never after the clustering: before the SIFT pass, ``budget`` must be an integer >= 1 (no
  argument forces more than one layer: every plan has at least one rack of at least one layer); after
  the SIFT pass, once the racks are known, ``budget`` >= number of racks (each rack holds at least one
  layer), before the entropy pass and the mixtures; after the mixtures, ``budget`` >= number of layers
  (the components of every rack), before the clustering (the same for the one-layer fallback plan).
  A ValueError names ``budget``, the layers found and what to change.
"""

import time
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from threadpoolctl import threadpool_limits

from keras_attention.utils.checks import check_bool, check_choice, check_positive_int
from keras_attention.racknet.features import detect_keypoints, keypoint_entropies, require_cv2, to_gray_uint8
from keras_attention.racknet.allocation import format_row
from keras_attention.racknet.plan import Component, RackPlan

MIXTURES = ("bic", "dirichlet")
DIRICHLET_MIN_WEIGHT = 0.01


def _check_fraction(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 < float(value) <= 1.0:
        raise ValueError(f"Argument `{name}` must be a number in (0, 1]; got {value!r}.")
    return float(value)


def _check_positive_float(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"Argument `{name}` must be a positive number; got {value!r}.")
    return float(value)


def _check_budget_covers(budget: int | None, n_layers: int, found: str, detected: str, advice: str) -> None:
    """Raise the ValueError of ``allocate`` (``budget`` < layers) early; ``found``: the layers known so far."""
    if budget is not None and budget < n_layers:
        raise ValueError(
            f"Argument `budget`={budget} is smaller than the number of convolution layers in the plan "
            f"({found}); every layer needs at least one kernel. Detected {detected}: {advice}."
        )


def fit_mixture(
    values: ArrayLike, max_components: int = 6, mixture: str = "bic", seed: int = 0
) -> tuple[list[tuple[float, float, float]], NDArray[np.intp]]:
    """Fit a 1-D Gaussian mixture to ``values``; return ``(components, labels)``.

    The layers of a rack (Obs. 2) and their order (Obs. 3): ``GaussianMixture`` with 1..``max_components``
    components and the lowest BIC (``"bic"``), or one ``BayesianGaussianMixture`` whose components of
    weight > 0.01 are kept (``"dirichlet"``); never more components than distinct values
    (docs/methods/racknet.md#racknet-layers, docs/methods/racknet.md#racknet-order).

    Args:
        values: the keypoint entropies of one octave (any shape, flattened); at least one.
        max_components: the most components tried.
        mixture: ``"bic"`` or ``"dirichlet"``.
        seed: ``random_state`` of the mixture.

    Returns:
        ``(components, labels)``: ``components`` a list of ``(mean, std, weight)`` in ascending mean;
        ``labels[k]`` the index into that list of the most probable component of ``values[k]``.

    Raises:
        ValueError: ``values`` is empty, ``max_components`` is not a positive integer, or unknown ``mixture``.

    Example:
        >>> import numpy as np
        >>> from keras_attention.racknet import fit_mixture
        >>> rng = np.random.default_rng(0)
        >>> values = np.concatenate([rng.normal(2.0, 0.1, 200), rng.normal(3.5, 0.2, 100)])  # two modes
        >>> components, labels = fit_mixture(values, seed=0)
        >>> [(round(mean, 1), round(weight, 2)) for mean, std, weight in components]
        [(2.0, 0.67), (3.5, 0.33)]
        >>> np.bincount(labels).tolist()
        [200, 100]
    """
    from sklearn.mixture import BayesianGaussianMixture, GaussianMixture  # noqa: PLC0415

    check_positive_int("max_components", max_components)
    check_choice("mixture", mixture, MIXTURES)
    x = np.asarray(values, dtype=np.float64).reshape(-1, 1)
    if x.shape[0] == 0:
        raise ValueError("Argument `values` must hold at least one value to fit a mixture; got none.")
    n_distinct = np.unique(x).size
    if n_distinct == 1:
        return [(float(x[0, 0]), 0.0, 1.0)], np.zeros(x.shape[0], dtype=np.int64)
    if mixture == "bic":
        best: Any = None  # the GaussianMixture with the lowest BIC
        best_bic = np.inf
        with threadpool_limits(limits=1):
            for k in range(1, min(max_components, n_distinct) + 1):
                model = GaussianMixture(n_components=k, random_state=seed).fit(x)
                bic = model.bic(x)
                if bic < best_bic:
                    best, best_bic = model, bic
        keep = np.arange(best.n_components)
        weights = best.weights_
        proba = best.predict_proba(x)
    else:
        with threadpool_limits(limits=1):
            best = BayesianGaussianMixture(
                n_components=min(max_components, x.shape[0]), random_state=seed, max_iter=500
            ).fit(x)
        keep = np.flatnonzero(best.weights_ > DIRICHLET_MIN_WEIGHT)
        if keep.size == 0:
            keep = np.array([int(np.argmax(best.weights_))])
        weights = best.weights_[keep] / best.weights_[keep].sum()
        proba = best.predict_proba(x)[:, keep]
    means = best.means_[keep, 0]
    stds = np.sqrt(best.covariances_.reshape(best.n_components, -1)[keep, 0])
    order = np.argsort(means, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    labels = rank[np.argmax(proba, axis=1)]
    components = [(float(means[i]), float(stds[i]), float(weights[i])) for i in order]
    return components, labels


def count_clusters(
    descriptors: ArrayLike,
    eps: float = 0.1,
    min_samples: int = 5,
    max_samples: int = 2000,
    rng: np.random.Generator | None = None,
) -> int:
    """``n_ij`` (Obs. 4): DBSCAN clusters (cosine, noise excluded, at least 1) of ``descriptors``.

    All-zero descriptors are left out; more than ``max_samples`` are subsampled uniformly with ``rng``
    (module docstring; docs/methods/racknet.md#racknet-kernels).

    Args:
        descriptors: ``(K, 128)`` SIFT descriptors of one component's keypoints.
        eps: DBSCAN's ``eps`` (cosine distance).
        min_samples: DBSCAN's ``min_samples``; fewer descriptors than this give 1 cluster.
        max_samples: the most descriptors clustered.
        rng: the generator of the subsample (None: ``numpy.random.default_rng(0)``).

    Returns:
        The number of clusters, at least 1.

    Example:
        >>> import numpy as np
        >>> from keras_attention.racknet import count_clusters
        >>> rng = np.random.default_rng(0)
        >>> directions = np.zeros((3, 128))
        >>> directions[0, :40], directions[1, 40:80], directions[2, 80:] = 200, 200, 200
        >>> descriptors = np.concatenate([d + rng.integers(0, 20, size=(20, 128)) for d in directions])
        >>> count_clusters(descriptors)  # three groups of 20 similar descriptors
        3
        >>> count_clusters(descriptors[:4])  # fewer than min_samples
        1
    """
    from sklearn.cluster import DBSCAN  # noqa: PLC0415

    d = np.asarray(descriptors, dtype=np.float32)
    d = d[np.any(d != 0, axis=1)] if d.ndim == 2 else d.reshape(0, 1)
    if d.shape[0] > max_samples:
        rng = np.random.default_rng(0) if rng is None else rng
        d = d[np.sort(rng.choice(d.shape[0], size=max_samples, replace=False))]
    if d.shape[0] < min_samples:
        return 1
    with threadpool_limits(limits=1):
        labels = DBSCAN(eps=eps, min_samples=min_samples, metric="cosine").fit_predict(d)
    return max(1, int(np.unique(labels[labels >= 0]).size))


def analyze(
    images: ArrayLike,
    min_fraction: float = 0.05,
    max_components: int = 6,
    mixture: str = "bic",
    dbscan_eps: float = 0.1,
    dbscan_min_samples: int = 5,
    max_cluster_samples: int = 2000,
    upscale: int = 1,
    sift_params: dict[str, Any] | None = None,
    seed: int = 0,
    n_jobs: int | None = None,
    progress: bool = False,
    min_keypoints: int = 10,
    fallback: bool = False,
    budget: int | None = None,
) -> RackPlan:
    """Analyse ``images`` and return a :class:`RackPlan` (module docstring; Obs. 1-4, docs/methods/racknet.md).

    The four phases before training (dissertation Table 3.8): SIFT keypoints, their scope entropies,
    racks = octaves with at least ``min_fraction`` of the keypoints (Obs. 1) and per rack a Gaussian
    mixture of the entropies, one layer per component in ascending mean (Obs. 2-3), and DBSCAN cluster
    counts ``n_ij`` of each component's descriptors (Obs. 4).

    Args:
        images: uint8 (0..255) or float in ``[0, 1]``, shaped ``(N, H, W)`` or ``(N, H, W, 1|3)``.
        min_fraction: the least fraction of all keypoints an octave needs to be a rack, in (0, 1].
        max_components: the most mixture components (layers) per rack.
        mixture: ``"bic"`` or ``"dirichlet"`` (see :func:`fit_mixture`).
        dbscan_eps: DBSCAN's ``eps`` (cosine distance), positive.
        dbscan_min_samples: DBSCAN's ``min_samples``.
        max_cluster_samples: the most descriptors clustered per component (subsampled beyond).
        upscale: integer enlargement before SIFT (use 3-4 for 8x8 images).
        sift_params: keyword arguments of ``cv2.SIFT_create``.
        seed: seed of the mixtures and the DBSCAN subsamples (an integer >= 0).
        n_jobs: SIFT threads (None: the CPU count, at most 8).
        progress: show a progress bar over the images.
        min_keypoints: the fewest keypoints a plan is estimated from.
        fallback: with fewer than ``min_keypoints``, return the minimal one-rack, one-layer plan instead of
            raising.
        budget: when given, the returned plan also carries the ``racknet`` allocation of that many kernels.

    Returns:
        The :class:`RackPlan`, with the settings and the seconds of each phase (allocated when ``budget`` is
        given).

    Raises:
        ImportError: OpenCV is missing (``pip install keras-attention[vision]``).
        ValueError: an argument out of range, invalid ``images``, too few keypoints (without ``fallback``),
            a ``min_fraction`` that leaves no rack, or a ``budget`` below the number of layers (checked as
            soon as that bound is known); the message says what was found and what to change.

    Example:
        >>> from sklearn.datasets import load_digits
        >>> from keras_attention.racknet import analyze
        >>> images = load_digits().images[:50] / 16.0  # fifty 8x8 digits in [0, 1]
        >>> plan = analyze(images, upscale=4, seed=0, n_jobs=1, budget=64)  # SIFT on 32x32 enlargements
        >>> plan.n_images, plan.n_racks == len(plan.octaves), plan.n_layers >= plan.n_racks
        (50, True, True)
        >>> sorted(plan.timings)  # seconds of each phase
        ['clustering', 'entropy', 'features', 'mixture']
        >>> plan.budget, sum(map(sum, plan.allocation))  # the racknet allocation of 64 kernels
        (64, 64)
    """
    require_cv2()
    min_fraction = _check_fraction("min_fraction", min_fraction)
    check_positive_int("max_components", max_components)
    check_choice("mixture", mixture, MIXTURES)
    dbscan_eps = _check_positive_float("dbscan_eps", dbscan_eps)
    check_positive_int("dbscan_min_samples", dbscan_min_samples)
    check_positive_int("max_cluster_samples", max_cluster_samples)
    check_positive_int("upscale", upscale)
    check_positive_int("seed", seed, minimum=0)
    check_positive_int("min_keypoints", min_keypoints)
    check_bool("progress", progress)
    check_bool("fallback", fallback)
    if budget is not None:
        check_positive_int("budget", budget)
    if sift_params is not None and not isinstance(sift_params, dict):
        raise ValueError(f"Argument `sift_params` must be a dict of cv2.SIFT_create arguments; got {sift_params!r}.")
    gray = to_gray_uint8(images)
    settings: dict[str, Any] = {
        "min_fraction": min_fraction,
        "max_components": max_components,
        "mixture": mixture,
        "dbscan_eps": dbscan_eps,
        "dbscan_min_samples": dbscan_min_samples,
        "max_cluster_samples": max_cluster_samples,
        "upscale": upscale,
        "sift_params": dict(sift_params or {}),
        "seed": seed,
        "image_shape": list(gray.shape[1:]),
    }
    timings: dict[str, float] = {}

    start = time.perf_counter()
    keypoints = detect_keypoints(gray, upscale=upscale, sift_params=sift_params, n_jobs=n_jobs, progress=progress)
    timings["features"] = time.perf_counter() - start
    octave_ids, octave_sizes = np.unique(keypoints.octave, return_counts=True)
    octave_counts = {int(o): int(n) for o, n in zip(octave_ids, octave_sizes)}
    common: dict[str, Any] = {
        "octave_counts": octave_counts,
        "n_images": int(gray.shape[0]),
        "n_keypoints": len(keypoints),
        "settings": settings,
    }

    if len(keypoints) < min_keypoints:
        if not fallback:
            raise ValueError(
                f"SIFT found {len(keypoints)} keypoint(s) in {gray.shape[0]} image(s) of size "
                f"{gray.shape[1]}x{gray.shape[2]} (per octave: {octave_counts}); RACKNet needs at least "
                f"`min_keypoints`={min_keypoints} to estimate racks and layers. Pass more images, enlarge "
                f"small images (`upscale`=2..4, now {upscale}), lower `min_keypoints`, or pass `fallback=True` "
                "for a minimal one-rack, one-layer plan."
            )
        octave = int(octave_ids[np.argmax(octave_sizes)]) if octave_ids.size else 0
        _check_budget_covers(
            budget, 1, f"1, racks 1: the one-layer fallback plan, octave {octave}",
            "before the entropy pass and clustering", "raise `budget` to at least 1",
        )
        mean = 0.0
        if len(keypoints):
            mean = float(np.mean(keypoint_entropies(gray, keypoints)))
        plan = RackPlan(
            octaves=[octave],
            components=[[Component(mean, 0.0, 1.0, len(keypoints), 1)]],
            timings={**timings, "entropy": 0.0, "mixture": 0.0, "clustering": 0.0},
            fallback=True,
            **common,
        )
        return plan.allocated(budget) if budget is not None else plan

    # racks depend on the octave counts alone: check them (and the budget's bound) before any further work
    fractions = octave_sizes / octave_sizes.sum()
    racks = [int(o) for o, f in zip(octave_ids, fractions) if f >= min_fraction]
    if not racks:
        shares = {int(o): round(float(f), 4) for o, f in zip(octave_ids, fractions)}
        raise ValueError(
            f"Argument `min_fraction`={min_fraction} leaves no rack: the octaves hold these fractions of the "
            f"{len(keypoints)} keypoints: {shares}. Lower `min_fraction`."
        )
    _check_budget_covers(
        budget,
        len(racks),
        f"at least {len(racks)}: {len(racks)} racks (octaves {racks}) of at least one layer each, up to "
        f"`max_components`={max_components} each",
        "after the SIFT pass, before the entropy pass, the mixtures and clustering",
        f"raise `budget` to at least {len(racks)} (the mixtures may give up to "
        f"{len(racks) * max_components} layers), or raise `min_fraction` (now {min_fraction}) to get fewer racks",
    )

    start = time.perf_counter()
    entropy = keypoint_entropies(gray, keypoints)
    timings["entropy"] = time.perf_counter() - start

    start = time.perf_counter()
    fits: list[tuple[NDArray[np.intp], list[tuple[float, float, float]], NDArray[np.intp]]] = []
    for octave in racks:
        rows = np.flatnonzero(keypoints.octave == octave)
        components, labels = fit_mixture(entropy[rows], max_components, mixture, seed)
        fits.append((rows, components, labels))
    timings["mixture"] = time.perf_counter() - start
    layers_per_rack = [len(components) for _, components, _ in fits]
    n_layers = sum(layers_per_rack)
    _check_budget_covers(
        budget,
        n_layers,
        f"{n_layers}, racks {format_row(layers_per_rack)}: {layers_per_rack} layers per rack for octaves {racks}",
        "after the mixtures, before clustering",
        f"raise `budget` to at least {n_layers}, or get fewer layers by raising `min_fraction` (now "
        f"{min_fraction}) or lowering `max_components` (now {max_components})",
    )

    start = time.perf_counter()
    plan_components: list[list[Component]] = []
    for rack_index, (rows, components, labels) in enumerate(fits):
        rack: list[Component] = []
        for layer_index, (mean, std, weight) in enumerate(components):
            members = rows[labels == layer_index]
            rng = np.random.default_rng((seed, rack_index, layer_index))
            n_clusters = count_clusters(
                keypoints.descriptors[members], dbscan_eps, dbscan_min_samples, max_cluster_samples, rng
            )
            rack.append(Component(mean, std, weight, int(members.size), n_clusters))
        plan_components.append(rack)
    timings["clustering"] = time.perf_counter() - start

    plan = RackPlan(octaves=racks, components=plan_components, timings=timings, **common)
    return plan.allocated(budget) if budget is not None else plan
