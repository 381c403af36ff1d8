"""RACKNet kernel allocation and the comparison strategies (dissertation §3.4.6.1, §3.5.2; SPEC §8).

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

import numpy as np

from keras_attention.utils.checks import check_choice, check_positive_int

DEFAULT_BUDGET = 400  # kernels allocated when no budget is given (the dissertation's Table 3.6 budget)

STRATEGIES = ("racknet", "random", "uniform_rack", "uniform_layer", "c_proportional", "inverse_order")
# What `allocate` reads from a plan: a RackPlan (keras_attention.racknet.plan, which imports this module for
# RackPlan.allocated, so this one checks the attributes instead of importing the class).
PLAN_ATTRIBUTES = ("layers_per_rack", "n_layers", "betas", "components")


def format_row(layers_per_rack, allocation=None):
    """Table 3.2 form: ``"2-1 (4,3-3)"``, or ``"2-1"`` without an allocation."""
    head = "-".join(str(int(c)) for c in layers_per_rack)
    if allocation is None:
        return head
    return head + " (" + "-".join(",".join(str(int(k)) for k in rack) for rack in allocation) + ")"


class Allocation(list):
    """Kernel counts per rack (a list of lists, feed-forward order) with how they were obtained.

    ``components[i][j]``: index, in the plan's ascending-mean order, of the component that layer ``j``
    of rack ``i`` stands for (reversed by ``inverse_order``).
    """

    def __init__(self, counts, strategy=None, budget=None, seed=None, components=None):
        super().__init__([list(int(k) for k in rack) for rack in counts])
        self.strategy = strategy
        self.budget = int(sum(sum(rack) for rack in self)) if budget is None else int(budget)
        self.seed = seed
        self.components = components if components is not None else [list(range(len(r))) for r in self]

    @property
    def layers_per_rack(self):
        return [len(rack) for rack in self]

    def __str__(self):
        return format_row(self.layers_per_rack, self)

    def __repr__(self):
        return f"Allocation({list(self)!r}, strategy={self.strategy!r}, budget={self.budget})"


def largest_remainder(weights, total, minimum=1):
    """Integer counts ``>= minimum`` summing to ``total``, proportional to ``weights`` (module docstring)."""
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


def strategy_weights(plan, strategy="racknet", seed=0):
    """Per-layer weights ``beta`` (list of lists, plan order) of a strategy (module docstring)."""
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
    out = []
    for rack in plan.components:
        n_sum = float(sum(comp.n_clusters for comp in rack))
        out.append([(len(rack) / total_c) * (comp.n_clusters / n_sum) for comp in rack])
    return out


def _split(flat, sizes):
    out, start = [], 0
    for size in sizes:
        out.append([float(v) for v in flat[start:start + size]])
        start += size
    return out


def allocate(plan, budget, strategy="racknet", seed=0):
    """Distribute ``budget`` kernels over the plan's layers; returns an :class:`Allocation`."""
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
