"""The row and settings types several catalogs share: an image experiment's rows (:class:`ImageConfig`) and
settings (:class:`ImageSettings`), a time-series experiment's settings (:class:`SeriesSettings`). Data only: no
Keras, no TensorFlow (the catalogs that use them are read without either)."""

from dataclasses import dataclass, field
from typing import Any

from keras_attention.experiments.registry import Settings
from keras_attention.experiments.results import Claim, slug


@dataclass(frozen=True)
class ImageSettings(Settings):
    """Filter-count multiplier of a full run (``width``) and of a ``--quick`` one (``quick_width``); the
    fraction of the training images held out for the validation curves (``validation_split``: the last ones)."""

    width: float = 1.0
    quick_width: float = 0.25
    validation_split: float = 0.1


@dataclass
class ImageConfig:
    """One row of an image experiment: ``builder`` (a name of :mod:`keras_attention.models`) with ``attention``
    (a kind of the registry, None: none) at ``placement``, and the builder's other ``options``."""

    label: str
    builder: str
    attention: str | None = None
    placement: str | None = "bottleneck"  # None: the builder's own
    options: dict[str, Any] = field(default_factory=dict)
    incompatible: str | None = None  # why this cell is '-' (Table IX) on a given builder

    @property
    def slug(self) -> str:
        """The row's folder name (:func:`~keras_attention.experiments.results.slug` of its label)."""
        return slug(self.label)


@dataclass(frozen=True)
class SeriesSettings(Settings):
    """``quick_datasets``: the sets of a ``--quick`` run; ``batch_size``, ``steps``, ``optimizer``,
    ``learning_rate``: the defaults of ``--batch-size``, ``--steps``, ``--optimizer``, ``--learning-rate``
    (the dissertation trained with RMSProp); ``reference``: the row every other row is tested against;
    ``claims``: the paper's claims (:class:`~keras_attention.experiments.results.Claim`) to check."""

    quick_datasets: tuple[str, ...] = ("BasicMotions",)
    batch_size: int = 16
    steps: int = 500
    optimizer: str = "rmsprop"
    reference: str | None = None
    claims: tuple[Claim, ...] = ()
