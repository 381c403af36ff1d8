"""The registry of reproducible experiments behind ``keras-attention reproduce NAME``.

An :class:`Experiment` names the paper table it reproduces, the configurations it trains, its defaults
(dataset, seeds, epochs) and the paper's numbers to print beside ours. ``register`` adds one; the
method-specific modules (``image_experiments`` and later ones) register theirs on import.
"""

import importlib
from dataclasses import dataclass, field
from typing import Callable

EXPERIMENTS = {}

# Where each experiment is registered: the command line lists and checks the names from this table
# without importing the modules (and TensorFlow); a test checks it against what the modules register.
EXPERIMENT_MODULES = {
    **dict.fromkeys(["san-lenet", "san-vgg", "san-resnet", "san-ablation"], "image_experiments"),
    "isparse-lenet": "isparse_experiments",
    "racknet": "racknet_experiments",
    **dict.fromkeys(["sdma", "sdma-ablation"], "sdma_experiments"),
    **dict.fromkeys(["fa", "spanet", "awconv"], "step7_experiments"),
    **dict.fromkeys(["xm2a", "xm2a-variants", "xm2a-ablation"], "xm2a_experiments"),
}


@dataclass
class Experiment:
    name: str
    description: str
    paper_table: str
    run: Callable  # run(experiment, options: RunOptions) -> dict summary
    default_dataset: str = None
    default_seeds: int = 3
    default_epochs: int = 10
    configs: list = field(default_factory=list)
    paper: dict = field(default_factory=dict)  # {dataset: {config label: (top1, top5)}}
    extra: dict = field(default_factory=dict)


@dataclass
class RunOptions:
    out_dir: object
    dataset: str = None
    seeds: int = None
    first_seed: int = 0
    epochs: int = None
    quick: bool = False
    resume: bool = False
    jit_compile: bool = False
    strategy: object = None
    batch_size: int = 128
    data_dir: str = None
    verbose: object = "auto"
    train_limit: int = None
    test_limit: int = None
    width: float = None


def run_limits(options, quick_train, quick_test):
    """(train, test) image limits of a run: the explicit ``train_limit`` / ``test_limit``, else the quick
    subset sizes in quick mode, else ``None`` (everything)."""
    train = options.train_limit or (quick_train if options.quick else None)
    test = options.test_limit or (quick_test if options.quick else None)
    return train, test


def subset_note(summary):
    """The markdown phrase that says a run used image subsets (empty when it used every image)."""
    parts = []
    if summary.get("train_limit"):
        parts.append(f"the first {summary['train_limit']} training images")
    if summary.get("test_limit"):
        parts.append(f"the first {summary['test_limit']} test images")
    return f" (subset: {' and '.join(parts)})" if parts else ""


def register(experiment):
    if experiment.name in EXPERIMENTS:
        raise ValueError(f"Experiment {experiment.name!r} is registered twice.")
    EXPERIMENTS[experiment.name] = experiment
    return experiment


def get_experiment(name):
    """The registered experiment ``name`` (its module is imported on the way)."""
    if name not in EXPERIMENTS and name in EXPERIMENT_MODULES:
        importlib.import_module(f"keras_attention.experiments.{EXPERIMENT_MODULES[name]}")
    if name not in EXPERIMENTS:
        raise ValueError(f"Unknown experiment {name!r}; known experiments: {', '.join(sorted(EXPERIMENT_MODULES))}.")
    return EXPERIMENTS[name]


def list_experiments():
    """Every experiment, by name (importing every module of :data:`EXPERIMENT_MODULES` registers them)."""
    for module in sorted(set(EXPERIMENT_MODULES.values())):
        importlib.import_module(f"keras_attention.experiments.{module}")
    return dict(sorted(EXPERIMENTS.items()))
