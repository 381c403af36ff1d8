"""RACKNet kernel allocation and the comparison strategies (dissertation §3.4.6.1, §3.5.2;
docs/methods/racknet.md#racknet-kernels, docs/methods/racknet.md#racknet-strategies).

``allocate(plan, budget, strategy)`` turns weights ``beta_ij`` (one per convolution layer) into kernel
counts ``k_ij`` that sum to exactly ``budget``, every layer getting at least one kernel:

1. quotas ``q_ij = budget * beta_ij / sum beta``;
2. layers whose quota is below 1 get exactly 1 kernel, and the quotas of the others are recomputed
   on what is left of the budget (repeated until every free quota is >= 1);
3. largest remainder (Hamilton) rounding of the free quotas: floors first, then one more kernel to
   the layers with the largest fractional parts; ties go to the earlier layer (rack-major order).

Strategies and their weights (rack ``i``, layer ``j`` in ascending component mean, ``r`` racks,
``c_i`` layers in rack ``i``, ``n_ij`` descriptor clusters):

* ``racknet`` (Obs. 1-4): ``beta_ij = 1 - (c_i / sum c) * (n_ij / sum_l n_il)``. With a single layer
  in the whole plan that beta is 0; the layer then simply gets the whole budget.
* ``random`` (Obs. 1-2): ``beta`` drawn from a flat Dirichlet (uniform on the simplex) with
  ``numpy.random.default_rng(seed)``; "distributes the budget at random so that the betas sum to 1".
* ``uniform_rack`` (Obs. 1-2): ``beta_ij = 1 / (c_i * r)``.
* ``uniform_layer`` (Obs. 1-2): ``beta_ij = 1 / sum c``.
* ``c_proportional`` (Obs. 1-3): ``beta_ij = (c_i / sum c) * (n_ij / sum_l n_il)``, the formula of
  §3.5.2 (kernels directly, not inversely, proportional to the cluster counts).
* ``inverse_order`` (Obs. 1, 2, 4): RACKNet's kernel counts, with the layers of every rack in
  descending component mean. §3.5.2's sentence ("places convolution layers with higher feature
  complexities later") describes RACKNet's own order (Obs. 3); Table 3.6 says the strategy drops
  Obs. 3, so it is read as the reversed order. The counts are those of ``racknet`` per component,
  reversed inside each rack (not re-rounded), so the two differ only in order.
"""

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, SupportsInt

import numpy as np
from numpy.typing import ArrayLike, NDArray

from keras_attention.utils.checks import check_choice, check_positive_int

if TYPE_CHECKING:  # plan.py imports this module
    from keras_attention.racknet.plan import RackPlan

DEFAULT_BUDGET = 400  # kernels allocated when no budget is given (the dissertation's Table 3.6 budget)

STRATEGIES = ("racknet", "random", "uniform_rack", "uniform_layer", "c_proportional", "inverse_order")
# What `allocate` reads from a plan: a RackPlan (keras_attention.racknet.plan, which imports this module for
# RackPlan.allocated, so this one checks the attributes instead of importing the class).
PLAN_ATTRIBUTES = ("layers_per_rack", "n_layers", "betas", "components")


def format_row(layers_per_rack: Sequence[int], allocation: Iterable[Iterable[SupportsInt]] | None = None) -> str:
    """A plan as dissertation Table 3.2 writes it: ``"2-1 (4,3-3)"``, or ``"2-1"`` without an allocation.

    Args:
        layers_per_rack: ``c_i``, the number of layers of each rack.
        allocation: kernels per layer, one list per rack (None: the layers alone).

    Returns:
        The layers per rack joined by ``-`` (the ``-`` stands for the down-sampling between racks), then,
        in parentheses, the kernels of each layer, comma-separated inside a rack.

    Example:
        >>> from keras_attention.racknet import format_row
        >>> format_row([2, 1])
        '2-1'
        >>> format_row([2, 1], [[18, 25], [21]])
        '2-1 (18,25-21)'
    """
    head = "-".join(str(int(c)) for c in layers_per_rack)
    if allocation is None:
        return head
    return head + " (" + "-".join(",".join(str(int(k)) for k in rack) for rack in allocation) + ")"


class Allocation(list[list[int]]):
    """Kernel counts per rack (a list of lists, feed-forward order) with how they were obtained.

    ``k_ij`` of Obs. 4 for every layer (docs/methods/racknet.md#racknet-kernels); prints like a row of
    dissertation Table 3.2. ``components[i][j]``: index, in the plan's ascending-mean order, of the
    component that layer ``j`` of rack ``i`` stands for (reversed by ``inverse_order``).

    Args:
        counts: kernels per layer, one list per rack (stored as ints).
        strategy: the strategy that gave them (None: unknown).
        budget: their total (None: their sum).
        seed: the seed of the ``random`` strategy.
        components: see above (None: the identity, ``[[0, 1, ...], ...]``).

    Example:
        >>> from keras_attention.racknet import Allocation
        >>> allocation = Allocation([[3, 2], [5]])
        >>> allocation, allocation.layers_per_rack, allocation.budget
        (Allocation([[3, 2], [5]], strategy=None, budget=10), [2, 1], 10)
        >>> print(allocation)
        2-1 (3,2-5)
    """

    def __init__(
        self,
        counts: Iterable[Iterable[SupportsInt]],
        strategy: str | None = None,
        budget: int | None = None,
        seed: int | None = None,
        components: list[list[int]] | None = None,
    ) -> None:
        super().__init__([list(int(k) for k in rack) for rack in counts])
        self.strategy = strategy
        self.budget = int(sum(sum(rack) for rack in self)) if budget is None else int(budget)
        self.seed = seed
        self.components = components if components is not None else [list(range(len(r))) for r in self]

    @property
    def layers_per_rack(self) -> list[int]:
        """``c_i``: the number of layers of each rack."""
        return [len(rack) for rack in self]

    def __str__(self) -> str:
        return format_row(self.layers_per_rack, self)

    def __repr__(self) -> str:
        return f"Allocation({list(self)!r}, strategy={self.strategy!r}, budget={self.budget})"


def largest_remainder(weights: ArrayLike, total: int, minimum: int = 1) -> NDArray[np.int64]:
    """Integer counts ``>= minimum`` summing to ``total``, proportional to ``weights`` (module docstring).

    Quotas ``total * w / sum w``; those below ``minimum`` get exactly ``minimum`` and the others share what
    is left; then largest-remainder (Hamilton) rounding, ties to the earlier entry
    (docs/methods/racknet.md#racknet-kernels). All-zero weights are shared evenly.

    Args:
        weights: non-empty 1-D array of finite weights >= 0.
        total: the sum of the counts (an integer >= 0).
        minimum: the least count of each entry (an integer >= 0).

    Returns:
        int64 array of the counts, shaped like ``weights``.

    Raises:
        ValueError: ``weights`` is empty, not 1-D, negative or not finite; ``total`` or ``minimum`` is not an
            integer >= 0; or ``total < minimum * len(weights)``.

    Example:
        >>> from keras_attention.racknet import largest_remainder
        >>> largest_remainder([0.5, 0.3, 0.2], 10).tolist()
        [5, 3, 2]
        >>> largest_remainder([0.98, 0.01, 0.01], 10).tolist()  # every entry gets at least 1
        [8, 1, 1]
        >>> largest_remainder([1, 1, 1], 10).tolist()  # the remainder goes to the earliest
        [4, 3, 3]
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 1 or weights.size == 0 or not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError(f"Argument `weights` must be a non-empty 1-D array of finite values >= 0; got {weights!r}.")
    check_positive_int("total", total, minimum=0)
    check_positive_int("minimum", minimum, minimum=0)
    n = weights.size
    if total < minimum * n:
        raise ValueError(
            f"Argument `total`={total} is smaller than the {n} layers times the minimum of {minimum} kernel(s) each."
        )
    if weights.sum() <= 0:
        weights = np.ones(n)
    counts = np.zeros(n, dtype=np.int64)
    fixed = np.zeros(n, dtype=bool)
    while True:
        free = ~fixed
        left = total - minimum * int(fixed.sum())
        free_weight = weights[free].sum()
        quotas = np.zeros(n)
        if free_weight > 0:
            quotas[free] = left * weights[free] / free_weight
        below = free & (quotas < minimum)
        if not below.any() or below.sum() == free.sum():
            break
        fixed |= below
    counts[fixed] = minimum
    if free.any():
        if free_weight <= 0:  # every free weight is 0: share what is left evenly
            quotas[free] = left / free.sum()
        floors = np.floor(quotas[free] + 1e-9).astype(np.int64)
        remainders = quotas[free] - floors
        extra = left - int(floors.sum())
        order = np.argsort(-remainders, kind="stable")
        floors[order[:extra]] += 1
        counts[free] = floors
    return counts


def strategy_weights(plan: "RackPlan", strategy: str = "racknet", seed: int = 0) -> list[list[float]]:
    """Per-layer weights ``beta`` (list of lists, plan order) of a strategy (module docstring).

    ``racknet`` and ``inverse_order``: Obs. 4's ``beta_ij = 1 - (c_i / sum c) * (n_ij / sum_l n_il)``;
    the others those of dissertation §3.5.2 (docs/methods/racknet.md#racknet-strategies).

    Args:
        plan: a :class:`~keras_attention.racknet.RackPlan`.
        strategy: one of :data:`STRATEGIES`.
        seed: seed of the ``random`` strategy's Dirichlet draw.

    Returns:
        One list of weights per rack, its layers in ascending component mean (not normalised).

    Raises:
        ValueError: unknown ``strategy``.

    Example:
        >>> from keras_attention.racknet import Component, RackPlan
        >>> # racks of 2 and 1 layers; Component(mean, std, weight, n_keypoints, n_clusters)
        >>> plan = RackPlan(octaves=[0, 1], components=[
        ...     [Component(2.1, 0.3, 0.6, 120, 4), Component(3.2, 0.2, 0.4, 80, 2)],
        ...     [Component(2.8, 0.4, 1.0, 60, 3)]])
        >>> from keras_attention.racknet import strategy_weights
        >>> [[round(b, 3) for b in rack] for rack in strategy_weights(plan)]  # Obs. 4
        [[0.556, 0.778], [0.667]]
        >>> strategy_weights(plan, "uniform_rack")
        [[0.25, 0.25], [0.5]]
    """
    check_choice("strategy", strategy, STRATEGIES)
    c = plan.layers_per_rack
    total_c, r = float(sum(c)), len(c)
    if strategy in ("racknet", "inverse_order"):
        betas = plan.betas
        if sum(sum(rack) for rack in betas) <= 0:
            betas = [[1.0] * ci for ci in c]
        return betas
    if strategy == "random":
        flat = np.random.default_rng(seed).dirichlet(np.ones(int(total_c)))
        return _split(flat, c)
    if strategy == "uniform_rack":
        return [[1.0 / (ci * r)] * ci for ci in c]
    if strategy == "uniform_layer":
        return [[1.0 / total_c] * ci for ci in c]
    # c_proportional
    out: list[list[float]] = []
    for rack in plan.components:
        n_sum = float(sum(comp.n_clusters for comp in rack))
        out.append([(len(rack) / total_c) * (comp.n_clusters / n_sum) for comp in rack])
    return out


def _split(flat: NDArray[Any], sizes: Sequence[int]) -> list[list[float]]:
    out: list[list[float]] = []
    start = 0
    for size in sizes:
        out.append([float(v) for v in flat[start:start + size]])
        start += size
    return out


def allocate(plan: "RackPlan", budget: int, strategy: str = "racknet", seed: int = 0) -> Allocation:
    """Distribute ``budget`` kernels over the plan's layers: ``k_ij`` of Obs. 4 or a comparison strategy.

    The strategy's weights (:func:`strategy_weights`) are turned into counts summing to exactly
    ``budget``, at least one kernel per layer, by :func:`largest_remainder`
    (docs/methods/racknet.md#racknet-kernels, docs/methods/racknet.md#racknet-strategies).

    Args:
        plan: a :class:`~keras_attention.racknet.RackPlan` (from :func:`~keras_attention.racknet.analyze`).
        budget: the number of kernels ``B`` to distribute, at least the plan's number of layers.
        strategy: one of :data:`STRATEGIES`: ``racknet`` (Obs. 1-4), ``random``, ``uniform_rack``,
            ``uniform_layer``, ``c_proportional`` or ``inverse_order``.
        seed: seed of the ``random`` strategy.

    Returns:
        The kernels per layer, one list per rack in feed-forward order, as an :class:`Allocation`.

    Raises:
        ValueError: ``plan`` is not a RackPlan, ``budget`` is not a positive integer or is smaller than the
            number of layers, unknown ``strategy``, or ``seed`` is not an integer.

    Example:
        >>> from keras_attention.racknet import Component, RackPlan
        >>> # racks of 2 and 1 layers; Component(mean, std, weight, n_keypoints, n_clusters)
        >>> plan = RackPlan(octaves=[0, 1], components=[
        ...     [Component(2.1, 0.3, 0.6, 120, 4), Component(3.2, 0.2, 0.4, 80, 2)],
        ...     [Component(2.8, 0.4, 1.0, 60, 3)]])
        >>> from keras_attention.racknet import allocate
        >>> allocate(plan, 64)
        Allocation([[18, 25], [21]], strategy='racknet', budget=64)
        >>> print(allocate(plan, 64, "inverse_order"))  # the same counts, each rack's layers reversed
        2-1 (25,18-21)
        >>> sum(map(sum, allocate(plan, 64, "random", seed=1)))
        64
    """
    if not all(hasattr(plan, attribute) for attribute in PLAN_ATTRIBUTES):
        raise ValueError(f"Argument `plan` must be a RackPlan (from `analyze`); got {type(plan).__name__}.")
    check_positive_int("budget", budget)
    check_choice("strategy", strategy, STRATEGIES)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"Argument `seed` must be an integer; got {seed!r}.")
    if budget < plan.n_layers:
        raise ValueError(
            f"Argument `budget`={budget} is smaller than the number of convolution layers in the plan "
            f"({plan.n_layers}, racks {plan}); every layer needs at least one kernel."
        )
    weights = strategy_weights(plan, strategy, seed)
    flat = largest_remainder([w for rack in weights for w in rack], budget)
    counts = _split(flat, plan.layers_per_rack)
    components = [list(range(ci)) for ci in plan.layers_per_rack]
    if strategy == "inverse_order":
        counts = [rack[::-1] for rack in counts]
        components = [rack[::-1] for rack in components]
    return Allocation(counts, strategy=strategy, budget=budget, seed=seed, components=components)
