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
from dataclasses import dataclass, field

from keras_attention.data.images import DEFAULT_BATCH_SIZE

EXPERIMENTS = {}

# Where each experiment is registered (a module of keras_attention.experiments.catalog): the command line
# lists and checks the names from this table without importing the modules (and TensorFlow); a test checks
# it against what the modules register.
EXPERIMENT_MODULES = {
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

    def resolve(self):
        """The function itself (imports its module, and so TensorFlow)."""
        function = getattr(importlib.import_module(self.module), self.function, None)
        if function is None:
            raise ValueError(f"Module {self.module!r} has no function {self.function!r} (RunnerRef of the registry).")
        return function

    def __call__(self, experiment, options):
        return self.resolve()(experiment, options)


@dataclass(frozen=True)
class Settings:
    """What every experiment's training takes (each catalog module extends it with its own settings)."""

    learning_rate: float = 1e-3
    optimizer: str = "adam"
    batch_size: int = DEFAULT_BATCH_SIZE  # of `reproduce` without --batch-size


@dataclass
class Experiment:
    name: str
    description: str
    paper_table: str
    run: RunnerRef  # run(experiment, options: RunOptions) -> dict summary (any callable will do)
    default_dataset: str = None  # image experiments; None: the offline default (runner.default_dataset)
    default_datasets: tuple = ()  # time-series experiments: the UEA/UCR sets of a full run
    default_seeds: int = 3
    default_epochs: int = 10
    quick_seeds: int = 1  # seeds of a --quick run
    configs: list = field(default_factory=list)
    paper: dict = field(default_factory=dict)  # {dataset: {config label: numbers}}
    settings: Settings = field(default_factory=Settings)
    # named settings of `reproduce NAME --preset P`: {P: {reproduce option (dest): value}}; "published" = the
    # settings of the committed table in benchmarks/results
    presets: dict = field(default_factory=dict)
    # the SPECIFIC_OPTIONS this experiment takes (the command line refuses the others)
    options: tuple = IMAGE_OPTIONS


@dataclass
class RunOptions:
    out_dir: object
    dataset: str = None
    seeds: int = None
    first_seed: int = 0
    epochs: int = None
    quick: bool = False
    resume: bool = False
    jit_compile: object = "auto"  # Keras' jit_compile: True, False or "auto" (XLA on GPU / JAX, not on a CPU)
    strategy: object = None
    batch_size: int = DEFAULT_BATCH_SIZE
    data_dir: str = None
    verbose: object = "auto"
    train_limit: int = None
    test_limit: int = None
    width: float = None
    # time-series experiments (None: the experiment's settings)
    steps: int = None  # optimizer-step budget; epochs = ceil(steps / batches per epoch); excludes ``epochs``
    optimizer: str = None  # "adam" or "rmsprop"
    learning_rate: float = None
    positional: str = None  # attention encoder: "sinusoidal", "learned" or "none"
    depth: int = None  # attention encoder: blocks
    heads: int = None  # attention encoder: heads
    key_dim: int = None  # attention encoder: per-head width
    sigma0: float = None  # SDMA: the events' first scale on every data set (default: per data set)
    rows: tuple = None  # the rows (configuration labels or their slugs) to train, in the experiment's order; None: all


def register(experiment):
    if experiment.name in EXPERIMENTS:
        raise ValueError(f"Experiment {experiment.name!r} is registered twice.")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def _import_catalog(module):
    importlib.import_module(f"{CATALOG}.{module}")


def get_experiment(name):
    """The registered experiment ``name`` (its catalog module is imported on the way)."""
    if name not in EXPERIMENTS and name in EXPERIMENT_MODULES:
        _import_catalog(EXPERIMENT_MODULES[name])
    if name not in EXPERIMENTS:
        raise ValueError(f"Unknown experiment {name!r}; known experiments: {', '.join(sorted(EXPERIMENT_MODULES))}.")
    return EXPERIMENTS[name]


def list_experiments():
    """Every experiment, by name (importing every module of :data:`EXPERIMENT_MODULES` registers them)."""
    for module in sorted(set(EXPERIMENT_MODULES.values())):
        _import_catalog(module)
    return dict(sorted(EXPERIMENTS.items()))
