"""RACKNet plan: what the data analysis decides (dissertation §3.4.3-3.4.6, Table 3.2; docs/methods/racknet.md).

A :class:`RackPlan` holds, per rack (one SIFT octave, Obs. 1), its convolution layers in feed-forward
order (one Gaussian component of the octave's entropy distribution each, ascending mean, Obs. 2-3) with
the component's mean, spread, mixing weight, keypoint count and number of descriptor clusters
``n_ij`` (Obs. 4). Once kernels are allocated it prints like a row of Table 3.2:
``"3-1-2 (130,137-131-...)"``: layers per rack joined by ``-``, then, in parentheses, the kernels of
each layer, comma-separated inside a rack, racks separated by ``-`` (the ``-`` stands for the
down-sampling layer between racks).

Plans round-trip through JSON (:meth:`RackPlan.to_json` / :meth:`RackPlan.from_json`), with the
settings of the analysis and the seconds each phase took (``features``, ``entropy``, ``mixture``,
``clustering``, the four rows of Table 3.8 before training).
"""

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from keras_attention.racknet.allocation import allocate, format_row
from keras_attention.utils.files import read_json, write_json

PHASES = ("features", "entropy", "mixture", "clustering")


@dataclass
class Component:
    """One Gaussian component of an octave's entropy distribution = one convolution layer (Obs. 2-4).

    Args:
        mean: mean keypoint entropy of the component, in bits (``mu_ij``; the layers of a rack are in
            ascending mean, Obs. 3).
        std: its standard deviation.
        weight: its mixing weight in the octave's mixture.
        n_keypoints: keypoints assigned to it (their most probable component).
        n_clusters: ``n_ij``, DBSCAN clusters of their SIFT descriptors (Obs. 4).

    Example:
        >>> from keras_attention.racknet import Component
        >>> component = Component(mean=2.1, std=0.3, weight=0.6, n_keypoints=120, n_clusters=4)
        >>> component.n_clusters
        4
    """

    mean: float
    std: float
    weight: float
    n_keypoints: int
    n_clusters: int


@dataclass
class RackPlan:
    """Racks (octave ids), their layers (components, ascending mean) and, optionally, an allocation.

    What :func:`~keras_attention.racknet.analyze` decides: a rack per SIFT octave (Obs. 1), a layer per
    Gaussian component of its keypoint entropies (Obs. 2) in ascending mean (Obs. 3), with its descriptor
    cluster count ``n_ij`` (Obs. 4) (docs/methods/racknet.md#racknet-racks,
    docs/methods/racknet.md#racknet-layers, docs/methods/racknet.md#racknet-order). Prints like a row of
    dissertation Table 3.2.

    Args:
        octaves: the octave id of each rack, ascending.
        components: per rack, its :class:`Component` s (or dicts of their fields), ascending mean.
        octave_counts: ``{octave: keypoints}`` of every octave SIFT found.
        n_images: images analysed.
        n_keypoints: keypoints found in them.
        settings: the settings of the analysis (``upscale``, ``mixture``, ``sift_params``...).
        timings: seconds of each phase (``features``, ``entropy``, ``mixture``, ``clustering``).
        fallback: whether this is the minimal one-layer plan for too few keypoints.
        allocation: kernels per layer, one list per rack (None: not allocated; see :meth:`allocated`).
        budget: the budget of ``allocation``.
        strategy: the strategy of ``allocation``.

    Raises:
        ValueError: ``octaves`` and ``components`` differ in length, or a rack has no component.

    Example:
        >>> from keras_attention.racknet import Component, RackPlan
        >>> plan = RackPlan(octaves=[0, 1], components=[
        ...     [Component(2.1, 0.3, 0.6, 120, 4), Component(3.2, 0.2, 0.4, 80, 2)],
        ...     [Component(2.8, 0.4, 1.0, 60, 3)]])
        >>> plan.n_racks, plan.layers_per_rack, plan.n_clusters
        (2, [2, 1], [[4, 2], [3]])
        >>> print(plan.allocated(64))  # Table 3.2 form: layers per rack (kernels per layer)
        2-1 (18,25-21)
        >>> RackPlan.from_dict(plan.to_dict()) == plan
        True
    """

    octaves: list[int]
    components: list[list[Component]]
    octave_counts: dict[int, int] = field(default_factory=dict)
    n_images: int = 0
    n_keypoints: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    fallback: bool = False
    allocation: list[list[int]] | None = None
    budget: int | None = None
    strategy: str | None = None

    def __post_init__(self) -> None:
        self.octaves = [int(o) for o in self.octaves]
        self.components = [
            [c if isinstance(c, Component) else Component(**c) for c in rack] for rack in self.components
        ]
        self.octave_counts = {int(k): int(v) for k, v in self.octave_counts.items()}
        if len(self.octaves) != len(self.components) or not self.octaves or any(not r for r in self.components):
            raise ValueError(
                f"A RackPlan needs one non-empty component list per rack; got octaves={self.octaves} and "
                f"{[len(r) for r in self.components]} components per rack."
            )
        if self.allocation is not None:
            self.allocation = [[int(k) for k in rack] for rack in self.allocation]

    # -- derived quantities -------------------------------------------------------------------------
    @property
    def n_racks(self) -> int:
        """``r`` (Obs. 1)."""
        return len(self.octaves)

    @property
    def layers_per_rack(self) -> list[int]:
        """``c_i`` (Obs. 2)."""
        return [len(rack) for rack in self.components]

    @property
    def n_layers(self) -> int:
        """``sum c``: the number of convolution layers."""
        return sum(self.layers_per_rack)

    @property
    def means(self) -> list[list[float]]:
        """``mu_ij``: the mean entropy of each layer's component (Obs. 3: ascending in each rack)."""
        return [[c.mean for c in rack] for rack in self.components]

    @property
    def weights(self) -> list[list[float]]:
        """The mixing weight of each layer's component in its octave."""
        return [[c.weight for c in rack] for rack in self.components]

    @property
    def n_clusters(self) -> list[list[int]]:
        """``n_ij`` (Obs. 4)."""
        return [[c.n_clusters for c in rack] for rack in self.components]

    @property
    def betas(self) -> list[list[float]]:
        """``beta_ij = 1 - (c_i / sum c) * (n_ij / sum_l n_il)`` (§3.4.6.1)."""
        total = float(self.n_layers)
        betas: list[list[float]] = []
        for rack in self.components:
            n_sum = float(sum(c.n_clusters for c in rack))
            betas.append([1.0 - (len(rack) / total) * (c.n_clusters / n_sum) for c in rack])
        return betas

    def allocated(self, budget: int, strategy: str = "racknet", seed: int = 0) -> "RackPlan":
        """A copy of this plan with ``allocate(self, budget, strategy, seed)`` stored in it.

        Args:
            budget: kernels to allocate (see :func:`~keras_attention.racknet.allocate`).
            strategy: the allocation strategy.
            seed: seed of the ``random`` strategy.

        Returns:
            The copy, with ``allocation``, ``budget`` and ``strategy`` set.
        """
        allocation = allocate(self, budget, strategy=strategy, seed=seed)
        return dataclasses.replace(self, allocation=[list(r) for r in allocation], budget=budget, strategy=strategy)

    def __str__(self) -> str:
        return format_row(self.layers_per_rack, self.allocation)

    # -- serialisation ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-native Python objects (what :meth:`from_dict` reads back)."""
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "RackPlan":
        """The plan :meth:`to_dict` wrote; a ValueError for anything else than a dict of known fields."""
        if not isinstance(data, dict):
            raise ValueError(f"A RackPlan is read from a dict; got {type(data).__name__}.")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"Unknown RackPlan fields {unknown}; expected a subset of {sorted(names)}.")
        return cls(**data)

    def to_json(self, path: str | os.PathLike[str]) -> str | os.PathLike[str]:
        """Write the plan to ``path`` as JSON (floats written exactly, so the round trip is lossless).

        Args:
            path: the JSON file, written atomically.

        Returns:
            ``path``.
        """
        return write_json(path, self.to_dict(), indent=2)  # atomic: a kill never leaves half a plan

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> "RackPlan":
        """The plan :meth:`to_json` wrote to ``path``."""
        return cls.from_dict(read_json(path))


def _plain(value: Any) -> Any:
    """Convert numpy scalars / tuples inside ``value`` to JSON-native Python objects."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
