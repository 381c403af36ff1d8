"""The registry of reproducible experiments behind ``keras-attention reproduce NAME``.

An :class:`Experiment` names the paper table it reproduces, the configurations it trains, its defaults
(dataset, seeds, epochs), its typed settings, the paper's numbers to print beside ours and the function that
runs it (a :class:`RunnerRef`, imported when the experiment runs). ``register`` adds one; the modules of
:mod:`keras_attention.experiments.catalog` (one per paper: data only) register theirs on import. This module
and the catalogs import neither Keras nor TensorFlow: the command line lists and checks experiments without
them (``keras-attention list`` answers in about a second), and a runner module is imported only when an
experiment runs.
"""

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keras_attention.data.images import DEFAULT_BATCH_SIZE

EXPERIMENTS: dict[str, "Experiment"] = {}  # name -> experiment, filled by register()

# Where each experiment is registered (a module of keras_attention.experiments.catalog): the command line
# lists and checks the names from this table without importing the modules (and TensorFlow); a test checks
# it against what the modules register.
EXPERIMENT_MODULES: dict[str, str] = {
    **dict.fromkeys(["san-lenet", "san-vgg", "san-resnet", "san-ablation"], "san"),
    "isparse-lenet": "isparse",
    "racknet": "racknet",
    **dict.fromkeys(["sdma", "sdma-ablation"], "sdma"),
    **dict.fromkeys(["fa", "spanet", "awconv"], "fa_spanet_aw"),
    **dict.fromkeys(["xm2a", "xm2a-variants", "xm2a-ablation"], "xm2a"),
    "attention-lenet": "field",
}
CATALOG = "keras_attention.experiments.catalog"
# The catalog modules of the time-series experiments, whose --dataset names UEA/UCR sets (comma-separated); the
# others' --dataset is an image data set of keras_attention.data.DATASETS, checked before TensorFlow starts.
SERIES_MODULES = ("sdma", "xm2a")

# The reproduce options that only some experiments take (RunOptions fields, argparse dests). An experiment
# lists those it takes in ``Experiment.options``; the command line refuses the others, before any work.
IMAGE_OPTIONS = ("train_limit", "test_limit", "width")
SERIES_OPTIONS = ("steps", "optimizer", "learning_rate", "rows")  # every time-series experiment
SALIENCY_OPTIONS = (*SERIES_OPTIONS, "sigma0")  # SDMA: the events' scale
ENCODER_OPTIONS = (*SERIES_OPTIONS, "positional", "depth", "heads", "key_dim")  # XM2A: the attention encoder
SPECIFIC_OPTIONS = tuple(dict.fromkeys((*IMAGE_OPTIONS, *SALIENCY_OPTIONS, *ENCODER_OPTIONS)))


@dataclass(frozen=True)
class RunnerRef:
    """The function that runs an experiment, named by its module and function, imported on first use.

    Calling it runs the experiment: ``RunnerRef("keras_attention.experiments.images",
    "run_image_experiment")(experiment, options)`` -> the summary dict."""

    module: str
    function: str

    def resolve(self) -> Callable[..., Any]:
        """The function itself (imports its module, and so TensorFlow).

        Returns:
            The runner function, ``function(experiment, options) -> summary dict``.

        Raises:
            ValueError: the module has no such function.
        """
        function = getattr(importlib.import_module(self.module), self.function, None)
        if function is None:
            raise ValueError(f"Module {self.module!r} has no function {self.function!r} (RunnerRef of the registry).")
        return function

    def __call__(self, experiment: "Experiment", options: "RunOptions") -> dict[str, Any]:
        """Run ``experiment`` with ``options``: the resolved function's summary dict."""
        return self.resolve()(experiment, options)


@dataclass(frozen=True)
class Settings:
    """What every experiment's training takes (each catalog module extends it with its own settings)."""

    learning_rate: float = 1e-3
    optimizer: str = "adam"
    batch_size: int = DEFAULT_BATCH_SIZE  # of `reproduce` without --batch-size


@dataclass
class Experiment:
    """One reproducible experiment of the registry (module docstring).

    ``settings`` is the :class:`Settings` subclass of its catalog (``ImageSettings``, ``SeriesSettings``, ...);
    its runner reads the fields of that subclass. ``configs`` are the rows it trains (``ImageConfig``,
    ``SeriesConfig``, ``EncoderConfig``: each has a ``label`` and a ``slug``).
    """

    name: str
    description: str
    paper_table: str
    # run(experiment, options: RunOptions) -> dict summary: a RunnerRef (any callable will do)
    run: Callable[["Experiment", "RunOptions"], dict[str, Any]]
    default_dataset: str | None = None  # image experiments; None: the offline default (runner.default_dataset)
    default_datasets: tuple[str, ...] = ()  # time-series experiments: the UEA/UCR sets of a full run
    default_seeds: int = 3
    default_epochs: int = 10
    quick_seeds: int = 1  # seeds of a --quick run
    configs: list[Any] = field(default_factory=list)
    paper: dict[str, Any] = field(default_factory=dict)  # {dataset: {config label: numbers}}
    settings: Settings = field(default_factory=Settings)
    # named settings of `reproduce NAME --preset P`: {P: {reproduce option (dest): value}}; "published" = the
    # settings of the committed table in benchmarks/results
    presets: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the SPECIFIC_OPTIONS this experiment takes (the command line refuses the others)
    options: tuple[str, ...] = IMAGE_OPTIONS


@dataclass
class RunOptions:
    """The options of one ``reproduce`` run (the command line's, by argparse dest); None: the experiment's."""

    out_dir: Path | str
    dataset: str | None = None
    seeds: int | None = None
    first_seed: int = 0
    epochs: int | None = None
    quick: bool = False
    resume: bool = False
    jit_compile: bool | str = "auto"  # Keras' jit_compile: True, False or "auto" (XLA on GPU / JAX, not on a CPU)
    strategy: Any = None  # a tf.distribute.Strategy, or None (the default strategy)
    batch_size: int = DEFAULT_BATCH_SIZE
    data_dir: str | None = None
    verbose: int | str = "auto"  # Keras' verbose: "auto", 0, 1 or 2
    train_limit: int | None = None
    test_limit: int | None = None
    width: float | None = None
    # time-series experiments (None: the experiment's settings)
    steps: int | None = None  # optimizer-step budget; epochs = ceil(steps / batches per epoch); excludes ``epochs``
    optimizer: str | None = None  # "adam" or "rmsprop"
    learning_rate: float | None = None
    positional: str | None = None  # attention encoder: "sinusoidal", "learned" or "none"
    depth: int | None = None  # attention encoder: blocks
    heads: int | None = None  # attention encoder: heads
    key_dim: int | None = None  # attention encoder: per-head width
    sigma0: float | None = None  # SDMA: the events' first scale on every data set (default: per data set)
    # the rows (configuration labels or their slugs; one as a str) to train, in the experiment's order; None: all
    rows: Sequence[str] | None = None


def register(experiment: Experiment) -> Experiment:
    """Add ``experiment`` to the registry (:data:`EXPERIMENTS`); the catalog modules call it on import.

    Args:
        experiment: the experiment; its ``name`` must be new.

    Returns:
        ``experiment`` itself.

    Raises:
        ValueError: an experiment of that name is registered already.
    """
    if experiment.name in EXPERIMENTS:
        raise ValueError(f"Experiment {experiment.name!r} is registered twice.")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def _import_catalog(module: str) -> None:
    importlib.import_module(f"{CATALOG}.{module}")


def get_experiment(name: str) -> Experiment:
    """The registered experiment ``name`` (its catalog module is imported on the way).

    Args:
        name: an experiment's name (a key of :data:`EXPERIMENT_MODULES`, or one registered by hand).

    Returns:
        The :class:`Experiment`.

    Raises:
        ValueError: no experiment has that name (the message lists the known ones).

    Example:
        >>> from keras_attention.experiments.registry import get_experiment
        >>> experiment = get_experiment("san-lenet")
        >>> experiment.paper_table, [config.label for config in experiment.configs][:2]
        ('SAN paper Table IV', ['Base Model', 'CBAM'])
    """
    if name not in EXPERIMENTS and name in EXPERIMENT_MODULES:
        _import_catalog(EXPERIMENT_MODULES[name])
    if name not in EXPERIMENTS:
        raise ValueError(f"Unknown experiment {name!r}; known experiments: {', '.join(sorted(EXPERIMENT_MODULES))}.")
    return EXPERIMENTS[name]


def list_experiments() -> dict[str, Experiment]:
    """Every experiment, by name (importing every module of :data:`EXPERIMENT_MODULES` registers them).

    Returns:
        ``{name: Experiment}``, sorted by name.

    Example:
        >>> from keras_attention.experiments.registry import list_experiments
        >>> "san-lenet" in list_experiments()
        True
    """
    for module in sorted(set(EXPERIMENT_MODULES.values())):
        _import_catalog(module)
    return dict(sorted(EXPERIMENTS.items()))
