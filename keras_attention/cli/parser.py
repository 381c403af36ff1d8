"""The ``keras-attention`` argument parser, built without Keras or TensorFlow: ``--help`` and argument errors
answer at once.

Its choices come from the package's tables: ``--dataset`` from :data:`keras_attention.data.images.DATASETS`,
``--attention`` from the registry of attention kinds (read from its file, :func:`attention_registry`),
``reproduce EXPERIMENT`` from :data:`~keras_attention.experiments.registry.EXPERIMENT_MODULES`, ``--mixture``
from RACKNet's analysis; ``--model`` from :data:`IMAGE_MODELS`, the image builders of
:data:`keras_attention.models.BUILDERS` (which imports Keras; ``tests/cli/test_parser.py`` keeps the two
equal). Every default is defined once, where the code that uses it lives (the batch size:
:data:`~keras_attention.data.images.DEFAULT_BATCH_SIZE`).
"""

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from keras_attention.data.images import (
    DATASETS,
    DEFAULT_BATCH_SIZE,
    check_validation_split,
)
from keras_attention.experiments.arguments import (
    add_series_arguments,
    positive_float,
    positive_int,
    seed_value,
)
from keras_attention.experiments.registry import EXPERIMENT_MODULES, Settings
from keras_attention.racknet.allocation import DEFAULT_BUDGET
from keras_attention.racknet.analysis import MIXTURES

DESCRIPTION = "train one model, or reproduce a paper experiment, from the command line"
# The builders of keras_attention.models.BUILDERS that take images (``train --model``), in its order
IMAGE_MODELS = ("lenet5", "vgg16", "vgg19", "resnet18", "resnet50", "cifar_resnet")
REGISTRY_MODULE = "keras_attention.layers.registry"
STRATEGIES = ("default", "mirrored", "multiworker")
DISTRIBUTIONS = ("none", "data-parallel")
SPARSIFY_STRATEGIES = ("isparse", "magnitude", "random")
# --jit -> Keras' ``jit_compile``: "auto" lets Keras choose (XLA where a GPU is visible or the backend is JAX,
# not on a CPU-only TensorFlow machine, where a graph was faster for every model of model_step_time.md)
JIT_COMPILE: dict[str, bool | str] = {"auto": "auto", "on": True, "off": False}
TRAINING = Settings()  # train's learning rate (and every run's batch size) when none is given


# ----------------------------------------------------------------------------------------- argparse types
def _sparsity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1) of edges to prune, got {text}")
    return value


def _validation_split(text: str) -> float:
    """argparse type of ``train --validation-split``: a fraction in [0, 1)."""
    try:
        return check_validation_split(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1) of the training images (0: no "
                                         f"validation), got {text}") from None


def _samples(text: str) -> int:
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2 (InfFS needs a spread over samples), got {text}")
    return value


def data_directory(text: str) -> str:
    """argparse type of ``--data-dir``: an existing directory (``~`` expanded); the text is kept as given."""
    path = Path(text).expanduser()
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text!r} does not exist; name the directory of the IDX files")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a file, not a directory; name the directory of the IDX files")
    return text


# ------------------------------------------------------------------------------------- choices from tables
def attention_registry() -> ModuleType:
    """The registry of attention kinds (:mod:`keras_attention.layers.registry`), read without TensorFlow.

    Once ``keras_attention.layers`` is imported (by ``import keras_attention``, or by anyone who registered a
    kind) this is the registry module itself, with every kind registered so far. Before that - the
    ``keras-attention`` command, whose ``--help`` must not start TensorFlow - importing it would run
    ``keras_attention/layers/__init__.py``, which imports every layer and Keras; the registry file, which
    imports neither, is then loaded on its own. No kind can have been registered at that point, so both
    list the same kinds.
    """
    if "keras_attention.layers" in sys.modules:
        return importlib.import_module(REGISTRY_MODULE)
    name = f"_{REGISTRY_MODULE.replace('.', '_')}_without_keras"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name,
                                                      Path(__file__).resolve().parents[1] / "layers" / "registry.py")
        assert spec is not None and spec.loader is not None, name  # (a file of the package: it has a loader)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def attention_choices() -> tuple[str, ...]:
    """The values of ``train --attention``: ``"none"``, then every registered kind that the image builders
    (:data:`IMAGE_MODELS`) can host at rank 2 - in their attention slots, after a ResNet stage or over the
    blocks (FA) - in registration order; a kind registered before the parser is built is among them."""
    registry = attention_registry()
    return ("none", *registry.attention_names((registry.SLOT, registry.STAGE, registry.BLOCKS), rank=2))


# ------------------------------------------------------------------------------------------------ parser
class _Parser(argparse.ArgumentParser):
    """An argument error is one line (no usage block): what is wrong, and where the help is."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless it is unset (None / a flag) or the help already explains it."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if (action.default is None or action.default is False or action.default == argparse.SUPPRESS
                or "default" in text):
            return text
        return super()._get_help_string(action)


def _formatted(sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A sub-command parser whose --help shows every default."""
    return sub.add_parser(name, formatter_class=_HelpFormatter, **kwargs)


def _add_image_dataset(parser: argparse.ArgumentParser, what: str) -> None:
    """``--dataset``, required: an image data set of :data:`~keras_attention.data.images.DATASETS`."""
    names = tuple(sorted(DATASETS))
    parser.add_argument("--dataset", required=True, choices=names, metavar="DATASET",
                        help=f"{what}; one of: {', '.join(names)}")


def build_parser() -> argparse.ArgumentParser:
    """The ``keras-attention`` parser (module docstring): built without Keras or TensorFlow.

    Returns:
        The parser, one sub-parser per command (``list``, ``train``, ``reproduce``, ``sparsify``, ``racknet``).

    Example:
        >>> from keras_attention.cli.parser import build_parser
        >>> args = build_parser().parse_args(["reproduce", "san-lenet", "--seeds", "2"])
        >>> args.command, args.experiment, args.seeds
        ('reproduce', 'san-lenet', 2)
    """
    parser = _Parser(prog="keras-attention", description=f"keras-attention: {DESCRIPTION}.",
                     formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")

    sub.add_parser("list", help="list the reproducible experiments")

    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data-dir", type=data_directory,
                      help="directory of local data (IDX files); also KERAS_ATTENTION_DATA")

    common = argparse.ArgumentParser(add_help=False, parents=[data])
    common.add_argument("--out", type=Path, help="output directory (default: runs/<name>)")
    common.add_argument("--overwrite", action="store_true",
                        help="replace the run saved in --out (checked first; only a directory this package wrote)")
    common.add_argument("--resume", action="store_true", help="continue the run saved in --out (same settings)")
    common.add_argument("--jit", nargs="?", const="on", default="auto", choices=tuple(JIT_COMPILE),
                        help="compile training steps with XLA: on (bare --jit), off, or auto: XLA on a GPU or under "
                             "JAX, a tf.function graph on a CPU, the faster there in every measured model "
                             "(benchmarks/results/model_step_time.md)")
    common.add_argument("--strategy", choices=STRATEGIES, default="default",
                        help="tf.distribute strategy: mirrored (the GPUs of one machine) or multiworker (several "
                             "machines; reads TF_CONFIG, trains with a custom loop, see README)")
    common.add_argument("--distribution", choices=DISTRIBUTIONS, default="none",
                        help="data-parallel: JAX processes on several machines through keras.distribution "
                             "(KERAS_BACKEND=jax; reads SLURM_NTASKS, SLURM_PROCID and KERAS_ATTENTION_COORDINATOR "
                             "or the SLURM node list, see README)")
    common.add_argument("--batch-size", type=positive_int, default=None,
                        help=f"examples per optimizer step (default: {DEFAULT_BATCH_SIZE}; reproduce: the "
                             "experiment's, 16 for the time-series experiments, where it is honoured as given and "
                             "reduced only on a data set with fewer training series, which is printed and recorded)")

    train = _formatted(sub, "train", parents=[common], help="train one model")
    train.add_argument("--model", choices=IMAGE_MODELS, required=True, help="model builder")
    train.add_argument("--attention", choices=attention_choices(), default="none",
                       help="attention module: none, or a kind of the registry (keras_attention.layers.registry) "
                            "that an image model can host")
    train.add_argument("--placement", choices=("bottleneck", "full"), default=None,
                       help="attention placement (default: the builder's, bottleneck for slot modules)")
    train.add_argument("--conv", choices=("standard", "aw"), help="ResNets: 'aw' uses AW-convolutions")
    train.add_argument("--stage", type=positive_int, help="ResNet stage after which spanet/nonlocal goes")
    train.add_argument("--k", type=positive_int, help="salient positions kept by spanet (after a ResNet stage, or in "
                                                      "every attention slot of VGG / LeNet-5)")
    train.add_argument("--depth", type=positive_int, help="cifar_resnet depth (6n+2)")
    _add_image_dataset(train, "image data set")
    train.add_argument("--epochs", type=positive_int, default=10, help="training epochs")
    train.add_argument("--seed", type=seed_value, default=0,
                       help="seed of the weights and the shuffling, 0 .. 2**32 - 1")
    train.add_argument("--width", type=positive_float, default=1.0, help="filter-count multiplier")
    train.add_argument("--learning-rate", type=positive_float, default=TRAINING.learning_rate,
                       help="Adam's learning rate")
    train.add_argument("--augment", action="store_true", help="CIFAR-style crop + flip augmentation")
    train.add_argument("--backup-every", type=positive_int, default=None,
                       help="batches between backups, besides the one at every epoch end (--resume continues at "
                            "the batch backed up last)")
    train.add_argument("--limit", type=positive_int, default=None,
                       help="use only the first N images of each split (training and test)")
    train.add_argument("--validation-split", type=_validation_split, default=0.1,
                       help="fraction of the training images held out for validation: the LAST "
                            "round(fraction x N) of the N training images (after --limit), in the data set's own "
                            "order, never trained on and the same for every seed; their loss/accuracy per epoch "
                            "are the 'validation' curves. 0 disables it. The test set is evaluated once, on the "
                            "final model (default: 0.1)")

    rep = _formatted(sub, "reproduce", parents=[common], help="reproduce a paper experiment")
    rep.add_argument("experiment", metavar="EXPERIMENT", choices=tuple(sorted(EXPERIMENT_MODULES)),
                     help=f"one of: {', '.join(sorted(EXPERIMENT_MODULES))}")
    rep.add_argument("--dataset", help=(
        "data set (default: the experiment's; for san-lenet local Fashion-MNIST, else tensorflow-datasets, else "
        "fashion_mnist_slice, the 2,000 + 1,000-image slice shipped with the package); image experiments take one "
        f"of: {', '.join(sorted(DATASETS))}; time-series experiments take UEA/UCR names, comma-separated"))
    rep.add_argument("--seeds", type=positive_int, help="number of seeds K (seeds first-seed .. first-seed+K-1)")
    rep.add_argument("--first-seed", type=seed_value, default=0,
                     help="first seed (to split seeds over machines); seeds are 0 .. 2**32 - 1")
    rep.add_argument("--epochs", type=positive_int, help="epochs per run (default: the experiment's; time-series "
                                                         "experiments derive them from --steps, which it excludes)")
    rep.add_argument("--quick", action="store_true", help="tiny subset and 1 epoch: a smoke run")
    rep.add_argument("--train-limit", type=positive_int, default=None,
                     help="image experiments: train on the first N training images only")
    rep.add_argument("--test-limit", type=positive_int, default=None,
                     help="image experiments: evaluate on the first N test images only")
    rep.add_argument("--width", type=positive_float, default=None,
                     help="image experiments: filter-count multiplier (default: the experiment's)")
    rep.add_argument("--preset", help="named settings of the experiment, e.g. 'published': those of its committed "
                                      "table in benchmarks/results (options given explicitly win)")
    add_series_arguments(rep)

    spa = _formatted(sub, "sparsify", parents=[data],
                     help="sparsify a saved model once, without retraining (iSparse sparsify-with)")
    spa.add_argument("model", type=Path, help="the saved .keras model (it is not modified)")
    spa.add_argument("--sparsity", type=_sparsity, required=True, help="fraction of kernel entries pruned per layer")
    _add_image_dataset(spa, "data set of the score samples and the test accuracy")
    spa.add_argument("--strategy", choices=SPARSIFY_STRATEGIES, default="isparse",
                     help="edge ranking: isparse (output-informed), magnitude (|W|) or random (DropConnect)")
    spa.add_argument("--samples", type=_samples, default=256, help="training images scored by isparse")
    spa.add_argument("--out", type=Path, required=True, help="the sparsified .keras file to write")
    spa.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    spa.add_argument("--seed", type=seed_value, default=0, help="seed of the sample draw and of the random strategy")
    spa.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH_SIZE, help="examples per batch")
    spa.add_argument("--limit", type=positive_int, default=None, help="evaluate on the first N test images only")

    racknet = sub.add_parser("racknet", help="RACKNet: derive a CNN's racks, layers and kernels from data")
    actions = racknet.add_subparsers(dest="racknet_command", metavar="{analyze}", required=True)
    analyze = _formatted(actions, "analyze", parents=[data],
                         help="analyse a data set's SIFT features into a rack plan (JSON) and its entropy histogram "
                              "(PNG)")
    _add_image_dataset(analyze, "image data set")
    analyze.add_argument("--limit", type=positive_int, help="analyse only the first N training images")
    analyze.add_argument("--budget", type=positive_int, default=DEFAULT_BUDGET, help="kernels to allocate")
    analyze.add_argument("--upscale", type=positive_int,
                         help="enlarge images by K before SIFT (default: 1 from 28 px on, 4 for 8x8 digits)")
    analyze.add_argument("--mixture", choices=MIXTURES, default="bic",
                         help="lowest-BIC GaussianMixture or Dirichlet-process BayesianGaussianMixture")
    analyze.add_argument("--out", type=Path, required=True, help="plan JSON file to write")
    analyze.add_argument("--overwrite", action="store_true", help="replace an existing plan")
    analyze.add_argument("--seed", type=seed_value, default=0, help="seed of the mixtures and DBSCAN subsamples")
    analyze.add_argument("--jobs", type=positive_int, help="SIFT threads (default: up to 8)")
    return parser
