"""RACKNet plan: what the data analysis decides (dissertation §3.4.3-3.4.6, Table 3.2; SPEC §8).

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
from dataclasses import dataclass, field

import numpy as np

from keras_attention.racknet.allocation import allocate, format_row
from keras_attention.utils.files import read_json, write_json

PHASES = ("features", "entropy", "mixture", "clustering")


@dataclass
class Component:
    """One Gaussian component of an octave's entropy distribution = one convolution layer."""

    mean: float
    std: float
    weight: float
    n_keypoints: int
    n_clusters: int


@dataclass
class RackPlan:
    """Racks (octave ids), their layers (components, ascending mean) and, optionally, an allocation."""

    octaves: list
    components: list
    octave_counts: dict = field(default_factory=dict)
    n_images: int = 0
    n_keypoints: int = 0
    settings: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    fallback: bool = False
    allocation: list = None
    budget: int = None
    strategy: str = None

    def __post_init__(self):
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
    def n_racks(self):
        """``r`` (Obs. 1)."""
        return len(self.octaves)

    @property
    def layers_per_rack(self):
        """``c_i`` (Obs. 2)."""
        return [len(rack) for rack in self.components]

    @property
    def n_layers(self):
        return sum(self.layers_per_rack)

    @property
    def means(self):
        return [[c.mean for c in rack] for rack in self.components]

    @property
    def weights(self):
        return [[c.weight for c in rack] for rack in self.components]

    @property
    def n_clusters(self):
        """``n_ij`` (Obs. 4)."""
        return [[c.n_clusters for c in rack] for rack in self.components]

    @property
    def betas(self):
        """``beta_ij = 1 - (c_i / sum c) * (n_ij / sum_l n_il)`` (§3.4.6.1)."""
        total = float(self.n_layers)
        betas = []
        for rack in self.components:
            n_sum = float(sum(c.n_clusters for c in rack))
            betas.append([1.0 - (len(rack) / total) * (c.n_clusters / n_sum) for c in rack])
        return betas

    def allocated(self, budget, strategy="racknet", seed=0):
        """A copy of this plan with ``allocate(self, budget, strategy, seed)`` stored in it."""
        allocation = allocate(self, budget, strategy=strategy, seed=seed)
        return dataclasses.replace(self, allocation=[list(r) for r in allocation], budget=budget, strategy=strategy)

    def __str__(self):
        return format_row(self.layers_per_rack, self.allocation)

    # -- serialisation ------------------------------------------------------------------------------
    def to_dict(self):
        return _plain(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data):
        if not isinstance(data, dict):
            raise ValueError(f"A RackPlan is read from a dict; got {type(data).__name__}.")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"Unknown RackPlan fields {unknown}; expected a subset of {sorted(names)}.")
        return cls(**data)

    def to_json(self, path):
        """Write the plan to ``path`` as JSON (floats written exactly, so the round trip is lossless)."""
        return write_json(path, self.to_dict(), indent=2)  # atomic: a kill never leaves half a plan

    @classmethod
    def from_json(cls, path):
        return cls.from_dict(read_json(path))


def _plain(value):
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
