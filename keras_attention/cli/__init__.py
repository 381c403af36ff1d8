"""``keras-attention``: train one model, or reproduce a paper experiment, from the command line.

    keras-attention list
    keras-attention train --model lenet5 --attention san-d --dataset fashion_mnist --epochs 10 --out runs/a
    keras-attention reproduce san-lenet --seeds 5 --epochs 10
    keras-attention sparsify runs/a/model.keras --sparsity 0.5 --dataset fashion_mnist --out sparse.keras

Every run writes into its own output directory (history JSON, training-curve PNG, final ``.keras`` model,
backups to resume from) and never writes into an existing one unless ``--overwrite`` (start again) or
``--resume`` (continue) is given. ``sparsify`` (iSparse sparsify-with: one-shot, no retraining) writes
one new ``.keras`` file and never replaces an existing one without ``--overwrite`` - and never the input
model, even with it; it prints the sparsity report and the test accuracy before and after.

Before TensorFlow is imported (it takes seconds) every check that needs none has answered: the arguments
(``--seed`` in 0 .. 2**32 - 1), the data set's name, ``--data-dir``, and the output folder (free, writable, not
under a file; ``train --resume`` of a finished run says so and exits 0). Errors are one line. Ctrl-C prints one
line saying how to continue (``--resume``) and exits 130; an ``OSError`` while a run writes (a full disk, a
read-only folder) one line naming the file and the cause, and exits 1.
"""

import os

# Before anything imports TensorFlow: no oneDNN / CUDA start-up lines for a command-line user.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import inspect  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

# Parsing needs only these light modules (no Keras, no TensorFlow): --help and argument errors answer at once.
from keras_attention.data.images import DATASETS, check_validation_split  # noqa: E402
from keras_attention.experiments.arguments import (  # noqa: E402
    MAX_SEED,
    add_series_arguments,
    positive_float,
    positive_int,
    seed_value,
)
from keras_attention.experiments.registry import EXPERIMENT_MODULES, SERIES_MODULES, SPECIFIC_OPTIONS  # noqa: E402
from keras_attention.racknet.allocation import DEFAULT_BUDGET  # noqa: E402
from keras_attention.racknet.analysis import MIXTURES  # noqa: E402

MODELS = ("lenet5", "vgg16", "vgg19", "resnet18", "resnet50", "cifar_resnet")
REGISTRY_MODULE = "keras_attention.layers.registry"
BUILDER_OPTIONS = ("conv", "stage", "k", "depth")  # passed only when given, to the builders that take them
STRATEGIES = ("default", "mirrored", "multiworker")
DEFAULT_BATCH = 128  # train's --batch-size; reproduce takes its experiment's (Settings.batch_size)
EXCLUSIVE = {"epochs": "steps", "steps": "epochs"}  # reproduce options that exclude each other
DISTRIBUTIONS = ("none", "data-parallel")
SPARSIFY_STRATEGIES = ("isparse", "magnitude", "random")


def _sparsity(text):
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1) of edges to prune, got {text}")
    return value


def attention_registry():
    """The registry of attention kinds (:mod:`keras_attention.layers.registry`), read without TensorFlow.

    Once ``keras_attention.layers`` is imported (by ``import keras_attention``, or by anyone who registered a
    kind) this is the registry module itself, with every kind registered so far. Before that - the
    ``keras-attention`` command, whose ``--help`` must not start TensorFlow - importing it would run
    ``keras_attention/layers/__init__.py``, which imports every layer and Keras; the registry file, which
    imports neither, is then loaded on its own. No kind can have been registered at that point, so both
    list the same kinds.
    """
    import importlib.util

    if "keras_attention.layers" in sys.modules:
        return importlib.import_module(REGISTRY_MODULE)
    name = f"_{REGISTRY_MODULE.replace('.', '_')}_without_keras"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parents[1] / "layers" / "registry.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def attention_choices():
    """The values of ``train --attention``: ``"none"``, then every registered kind that the image builders
    (:data:`MODELS`) can host at rank 2 - in their attention slots, after a ResNet stage or over the blocks
    (FA) - in registration order; a kind registered before :func:`main` runs is among them."""
    registry = attention_registry()
    return ("none", *registry.attention_names((registry.SLOT, registry.STAGE, registry.BLOCKS), rank=2))


def _validation_split(text):
    """argparse type of ``train --validation-split``: a fraction in [0, 1)."""
    try:
        return check_validation_split(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1) of the training images (0: no "
                                         f"validation), got {text}") from None


def _samples(text):
    value = int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2 (InfFS needs a spread over samples), got {text}")
    return value


class _Parser(argparse.ArgumentParser):
    """An argument error is one line (no usage block): what is wrong, and where the help is."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless it is unset (None / a flag) or the help already explains it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS or "default" in text:
            return text
        return super()._get_help_string(action)


def _formatted(sub, name, **kwargs):
    """A sub-command parser whose --help shows every default."""
    return sub.add_parser(name, formatter_class=_HelpFormatter, **kwargs)


def _dataset_help(what):
    return f"{what}; one of: {', '.join(sorted(DATASETS))}"


# --jit -> Keras' ``jit_compile``: "auto" lets Keras choose (XLA where a GPU is visible or the backend is JAX,
# not on a CPU-only TensorFlow machine, where a graph was faster for every model of model_step_time.md)
JIT_COMPILE = {"auto": "auto", "on": True, "off": False}


def build_parser():
    parser = _Parser(prog="keras-attention", description=__doc__.split("\n\n")[0], formatter_class=_HelpFormatter)
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command")

    sub.add_parser("list", help="list the reproducible experiments")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", type=Path, help="output directory (default: runs/<name>)")
    common.add_argument("--overwrite", action="store_true",
                        help="replace the run saved in --out (checked first; only a directory this package wrote)")
    common.add_argument("--resume", action="store_true", help="continue the run saved in --out (same settings)")
    common.add_argument("--jit", nargs="?", const="on", default="auto", choices=("auto", "on", "off"),
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
                        help=f"examples per optimizer step (default: {DEFAULT_BATCH}; reproduce: the experiment's, "
                             "16 for the time-series experiments, where it is honoured as given and reduced only "
                             "on a data set with fewer training series, which is printed and recorded)")
    common.add_argument("--data-dir", help="directory of local data (IDX files); also KERAS_ATTENTION_DATA")

    train = _formatted(sub, "train", parents=[common], help="train one model")
    train.add_argument("--model", choices=MODELS, required=True, help="model builder")
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
    train.add_argument("--dataset", required=True, help=_dataset_help("image data set"))
    train.add_argument("--epochs", type=positive_int, default=10, help="training epochs")
    train.add_argument("--seed", type=seed_value, default=0,
                       help="seed of the weights and the shuffling, 0 .. 2**32 - 1")
    train.add_argument("--width", type=positive_float, default=1.0, help="filter-count multiplier")
    train.add_argument("--learning-rate", type=positive_float, default=1e-3, help="Adam's learning rate")
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
    rep.add_argument("experiment", metavar="EXPERIMENT", help=f"one of: {', '.join(sorted(EXPERIMENT_MODULES))}")
    rep.add_argument("--dataset", help=_dataset_help(
        "data set (default: the experiment's; for san-lenet local Fashion-MNIST, else tensorflow-datasets, else "
        "fashion_mnist_slice, the 2,000 + 1,000-image slice shipped with the package); time-series experiments "
        "take UEA/UCR names, comma-separated"))
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

    spa = _formatted(sub, "sparsify", help="sparsify a saved model once, without retraining (iSparse sparsify-with)")
    spa.add_argument("model", type=Path, help="the saved .keras model (it is not modified)")
    spa.add_argument("--sparsity", type=_sparsity, required=True, help="fraction of kernel entries pruned per layer")
    spa.add_argument("--dataset", required=True, help=_dataset_help("data set of the score samples and the test accuracy"))
    spa.add_argument("--strategy", choices=SPARSIFY_STRATEGIES, default="isparse",
                     help="edge ranking: isparse (output-informed), magnitude (|W|) or random (DropConnect)")
    spa.add_argument("--samples", type=_samples, default=256, help="training images scored by isparse")
    spa.add_argument("--out", type=Path, required=True, help="the sparsified .keras file to write")
    spa.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    spa.add_argument("--seed", type=seed_value, default=0, help="seed of the sample draw and of the random strategy")
    spa.add_argument("--batch-size", type=positive_int, default=128, help="examples per batch")
    spa.add_argument("--limit", type=positive_int, default=None, help="evaluate on the first N test images only")
    spa.add_argument("--data-dir", help="directory of local data (IDX files); also KERAS_ATTENTION_DATA")

    racknet = sub.add_parser("racknet", help="RACKNet: derive a CNN's racks, layers and kernels from data")
    actions = racknet.add_subparsers(dest="racknet_command", metavar="{analyze}", required=True)
    analyze = _formatted(actions, "analyze", help="analyse a data set's SIFT features into a rack plan (JSON) and its "
                                                  "entropy histogram (PNG)")
    analyze.add_argument("--dataset", required=True, help=_dataset_help("image data set"))
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
    analyze.add_argument("--data-dir", help="directory of local data (IDX files); also KERAS_ATTENTION_DATA")
    return parser


def check_tf_config(text):
    """The parsed ``TF_CONFIG`` of a multi-worker run, or SystemExit saying what is wrong with it."""
    import json

    example = '{"cluster": {"worker": ["host0:12345", "host1:12345"]}, "task": {"type": "worker", "index": 0}}'
    if text is None:
        raise SystemExit(f"--strategy multiworker needs the TF_CONFIG environment variable, e.g. {example}.")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise SystemExit(f"TF_CONFIG is not valid JSON ({error}): {text!r}; expected e.g. {example}.") from None
    workers = config.get("cluster", {}).get("worker") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(workers, list) or not workers:
        raise SystemExit(f"TF_CONFIG has no cluster.worker list: {text!r}; expected e.g. {example}.")
    if (not isinstance(task, dict) or task.get("type") not in ("worker", "chief")
            or not isinstance(task.get("index"), int) or not 0 <= task["index"] < len(workers)):
        raise SystemExit(f"TF_CONFIG task must be {{'type': 'worker', 'index': 0..{len(workers) - 1}}}, "
                         f"got {task!r}.")
    return config


def _keras_version():
    import keras

    return keras.__version__


def make_strategy(name, distribution="none"):
    """The ``tf.distribute`` strategy of ``--strategy`` (None for default), or, with ``--distribution
    data-parallel``, JAX's processes joined and Keras' ``DataParallel`` set (None).

    Call it before TensorFlow or JAX runs anything: MultiWorkerMirroredStrategy configures collective ops,
    and JAX's processes join, only at program start-up."""
    if distribution != "none":
        if name != "default":
            raise SystemExit(f"--distribution {distribution} (JAX) and --strategy {name} (TensorFlow) exclude each "
                             "other; use one.")
        import keras

        if keras.backend.backend() != "jax":
            raise SystemExit(f"--distribution {distribution} needs the JAX backend (KERAS_BACKEND=jax); the backend "
                             f"is {keras.backend.backend()!r}.")
        from keras_attention.experiments.distributed import initialize_data_parallel

        initialize_data_parallel()
        return None
    if name == "multiworker":
        check_tf_config(os.environ.get("TF_CONFIG"))
        from keras_attention.experiments.distributed import make_multiworker_strategy

        return make_multiworker_strategy()
    if name == "mirrored":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy()
    return None


def worker_out_dir(out, strategy, distribution):
    """Where this process writes: ``out`` for the chief (the multi-worker chief, JAX process 0, or a single
    process), else a directory of its own beside it (:func:`~keras_attention.experiments.artifacts.worker_dir`,
    ``<out>.worker<i>``: backups, its copy of the history), so that no two processes claim the same run
    directory on a shared file system."""
    from keras_attention.experiments.artifacts import worker_dir
    from keras_attention.experiments.distributed import is_chief_process, worker_role

    if distribution != "none":
        import jax

        index, chief = jax.process_index(), is_chief_process()
    elif strategy is not None and type(strategy).__name__ == "MultiWorkerMirroredStrategy":
        _, index, chief = worker_role(strategy)
    else:
        return out
    return out if chief else worker_dir(out, index)


def _verbose():
    return 1 if sys.stdout.isatty() else 2


def cmd_list(_args):
    import_tensorflow_quietly()  # (the catalog modules import it)
    from keras_attention.experiments.registry import list_experiments

    for name, exp in list_experiments().items():
        print(f"{name:16s} {exp.paper_table}\n{'':16s} {exp.description}")
        if exp.presets:
            print(f"{'':16s} --preset {' | '.join(sorted(exp.presets))}")
    return 0


# Settings that do not change what a run computes: a --resume may differ in them.
RUNTIME_ARGS = {"out", "overwrite", "resume", "jit", "strategy", "distribution", "data_dir", "command", "version", "backup_every",
                "seeds", "first_seed", "argv",
                "planned_out", "claimed_out", "run_directory"}  # (what the commands note on args as they go)


def run_config(args, **resolved):
    """The settings recorded in a run's manifest and compared by --resume (RUNTIME_ARGS left out)."""
    config = {key: value for key, value in vars(args).items() if key not in RUNTIME_ARGS}
    return {"command": args.command, **config, **resolved}


# TensorFlow 2.21 prints these at import, before its logging reads TF_CPP_MIN_LOG_LEVEL.
_STARTUP_NOISE = ("All log messages before absl::InitializeLog()", "port.cc:", "cudart_stub.cc:",
                  "cpu_feature_guard.cc:", "To enable the following instructions:", "cuda_dnn.cc:",
                  "cuda_fft.cc:", "cuda_blas.cc:", "computation_placer.cc:", "cuda_platform.cc:", "cuda_executor.cc:")


def import_tensorflow_quietly():
    """Import TensorFlow and Keras with their start-up lines (oneDNN, CUDA probe, CPU features) held back.

    Those lines are written to file descriptor 2 by C++ code before TensorFlow reads its log level, so the
    descriptor points at a temporary file during the import; every other line is passed on unchanged.
    """
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as held:
        os.dup2(held.fileno(), 2)
        try:
            import keras  # noqa: F401
            import tensorflow

            tensorflow.config.list_physical_devices("GPU")  # the CUDA probe (cuInit) prints here, not mid-run
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode(errors="replace").splitlines(keepends=True)
    sys.stderr.write("".join(line for line in lines if not any(mark in line for mark in _STARTUP_NOISE)))


def command_line(args):
    """The command as the user typed it (recorded in a run's manifest)."""
    return ["keras-attention", *getattr(args, "argv", [])]


def register_package_objects():
    """Import the modules whose classes Keras must know to load or build this package's models."""
    from keras_attention import layers, sparsity  # noqa: F401


def check_image_data(dataset, data_dir):
    """Raise DatasetNotFoundError (listing every place tried) unless both splits of ``dataset`` can be read."""
    from keras_attention.data import load_arrays

    for split in ("train", "test"):
        load_arrays(dataset, split, data_dir=data_dir, limit=1)


def train_split_sizes(args):
    """``{"train", "validation", "test"}`` example counts of a ``train`` run (ValueError, before any work,
    when ``--validation-split`` leaves either part of the training images empty)."""
    from keras_attention.data.images import example_count, validation_split_sizes

    total = example_count(args.dataset, "train", data_dir=args.data_dir, limit=args.limit)
    try:
        n_train, n_val = validation_split_sizes(total, args.validation_split)
    except ValueError as error:
        raise ValueError(f"--validation-split {args.validation_split:g}: {error}") from None
    return {"train": n_train, "validation": n_val,
            "test": example_count(args.dataset, "test", data_dir=args.data_dir, limit=args.limit)}


def _percent(metrics, name):
    return f"{100 * metrics[name]:.2f}%"


# ------------------------------------------------------------------------- checks made before TensorFlow
def check_dataset_name(dataset, argument="--dataset"):
    """ValueError unless ``dataset`` is an image data set of :data:`DATASETS`."""
    if dataset not in DATASETS:
        raise ValueError(f"{argument} {dataset!r} is not known; choose one of: {', '.join(sorted(DATASETS))}.")


def check_data_dir(data_dir, argument="--data-dir"):
    """ValueError unless ``data_dir`` (when given) is an existing directory."""
    if data_dir is None:
        return
    path = Path(data_dir).expanduser()
    if not path.exists():
        raise ValueError(f"{argument} {str(data_dir)!r} does not exist; name the directory of the IDX files.")
    if not path.is_dir():
        raise ValueError(f"{argument} {str(data_dir)!r} is a file, not a directory; name the directory of the "
                         "IDX files.")


def check_seed_range(first_seed, seeds):
    """ValueError when the seeds ``first_seed .. first_seed + seeds - 1`` go past 2**32 - 1."""
    if seeds and first_seed + seeds - 1 > MAX_SEED:
        raise ValueError(f"--first-seed {first_seed} with --seeds {seeds} goes past the largest seed, 2**32 - 1 "
                         f"({MAX_SEED}); start lower or run fewer seeds.")


def finished_train_run(out):
    """The ``result.json`` of a ``train`` run in ``out`` that finished (its ``model.keras`` written too), else None."""
    from keras_attention.experiments.runner import finished_result

    return finished_result(out, need_model=True)


def say_finished(out, result):
    """The line of ``train --resume`` on a finished run."""
    test = result.get("test") or {}
    scores = (f" (test top-1 {_percent(test, 'top1')}, top-5 {_percent(test, 'top5')})"
              if {"top1", "top5"} <= set(test) else "")
    print(f"the run in {str(out)!r} is complete{scores}: nothing to resume, nothing was changed. Its model: "
          f"{Path(out) / 'model.keras'}; --overwrite trains it again.", flush=True)


def builder_options(args, builder):
    """The keyword arguments of ``--conv``, ``--stage``, ``--k``, ``--depth`` and ``--placement`` (those given)
    for ``builder``. ``--k`` of ``--attention spanet`` reaches a builder without a ``k`` argument (VGG, LeNet-5:
    SPANet in their attention slots) as ``attention_options={"k": k}``. ValueError for an option the builder
    does not take."""
    accepted = inspect.signature(builder).parameters
    options = {name: getattr(args, name) for name in BUILDER_OPTIONS if getattr(args, name) is not None}
    if "k" in options and args.attention != "spanet":
        raise ValueError(f"--k {args.k} (salient positions) applies only to --attention spanet; got --attention "
                         f"{args.attention}.")
    if "k" in options and "k" not in accepted and "attention_options" in accepted:
        options["attention_options"] = {"k": options.pop("k")}
    for name in options:
        if name not in accepted:
            raise ValueError(f"--{name} does not apply to --model {args.model}.")
    if args.placement is not None:
        options["placement"] = args.placement
    return options


def build_error(error, args):
    """The message of a dry build's ValueError, with the ``--k`` to pass when SPANet's ``k`` exceeds the
    positions of a feature map."""
    import re

    found = re.search(r"exceeds the number of positions \S+?=(\d+)", str(error))
    if found and args.attention == "spanet":
        return (f"{error} Pass --k {found.group(1)} or less: the salient positions SPANet keeps must fit the "
                "smallest feature map it weights.")
    return str(error)


def cmd_train(args):
    from keras_attention.experiments.run_directory import RunDirectory

    check_dataset_name(args.dataset)
    check_data_dir(args.data_dir)
    if args.batch_size is None:
        args.batch_size = DEFAULT_BATCH
    placement = args.placement or "default"
    out = args.out or Path("runs") / f"train-{args.model}-{args.attention}-{placement}-{args.dataset}-s{args.seed}"
    args.planned_out = out
    run_dir = RunDirectory(out, run_config(args), overwrite=args.overwrite, resume=args.resume,
                           command=command_line(args)).check()
    finished = finished_train_run(out) if args.resume else None
    if finished is not None:
        say_finished(out, finished)
        return 0
    if args.backup_every and args.strategy == "multiworker":
        raise SystemExit(f"--backup-every {args.backup_every}: --strategy multiworker backs up after every epoch "
                         "only (its custom training loop); leave --backup-every out.")
    import_tensorflow_quietly()
    strategy = make_strategy(args.strategy, args.distribution)  # before any op: collectives are set up at start-up
    if worker_out_dir(out, strategy, args.distribution) != out:  # a worker that is not the chief: its own directory
        out = worker_out_dir(out, strategy, args.distribution)
        args.planned_out = out
        run_dir = RunDirectory(out, run_config(args), overwrite=args.overwrite, resume=args.resume,
                               command=command_line(args)).check()

    import keras

    from keras_attention import models
    from keras_attention.data import dataset_info, image_dataset
    from keras_attention.experiments.images import image_size_for, split_note
    from keras_attention.experiments.training import train_run

    attention = None if args.attention == "none" else args.attention
    builder = getattr(models, args.model)
    options = builder_options(args, builder)
    info = dataset_info(args.dataset, data_dir=args.data_dir)
    size = image_size_for(args.model, info["input_shape"])
    input_shape = tuple(size or info["input_shape"][:2]) + (info["input_shape"][2],)

    def build():
        return builder(input_shape=input_shape, num_classes=info["num_classes"], attention=attention,
                       width=args.width, **options)

    try:
        build()  # a dry build: an invalid combination of arguments fails here, before any directory or data
    except ValueError as error:
        raise ValueError(build_error(error, args)) from None
    keras.backend.clear_session()
    check_image_data(args.dataset, args.data_dir)
    sizes = train_split_sizes(args)  # a split too small for the data fails here, before the directory is claimed
    out = run_dir.claim()  # only now, with everything validated, is an old run replaced
    args.claimed_out, args.run_directory = out, run_dir
    keras.utils.set_random_seed(args.seed)
    common = dict(batch_size=args.batch_size, data_dir=args.data_dir, image_size=size, limit=args.limit)
    split = dict(validation_split=args.validation_split)
    train_ds = image_dataset(args.dataset, "train", shuffle=True, seed=args.seed, augment=args.augment,
                             subset="training", **split, **common)
    val_ds = (image_dataset(args.dataset, "train", shuffle=False, subset="validation", **split, **common)
              if sizes["validation"] else None)
    test_ds = image_dataset(args.dataset, "test", shuffle=False, **common)
    print(f"training {args.model} (attention={args.attention}, placement={placement}, options={options}) on "
          f"{args.dataset} for {args.epochs} epochs: {split_note(sizes, args.validation_split)} -> {out}", flush=True)
    extra = {"examples": sizes, "validation_split": args.validation_split,
             "validation_rule": "the last round(validation_split x N) of the N training images, in order"}
    from keras_attention.experiments.artifacts import MODEL, RESULT

    if args.strategy == "multiworker":
        from keras_attention.experiments.distributed import train_multiworker

        result = train_multiworker(build, train_ds, epochs=args.epochs, out_dir=out, test_ds=test_ds,
                                   strategy=strategy, learning_rate=args.learning_rate, verbose=True, extra=extra)
    else:
        result = train_run(
            build,
            train_ds,
            epochs=args.epochs,
            out_dir=out,
            val_ds=val_ds,
            test_ds=test_ds,
            strategy=strategy,
            jit_compile=JIT_COMPILE[args.jit],
            learning_rate=args.learning_rate,
            backup_freq=args.backup_every or "epoch",
            verbose=_verbose(),
            extra=extra,
        )
    validation = result.validation_metrics
    if validation:
        print(f"validation (last epoch) top-1 {_percent(validation, 'top1')}  top-5 {_percent(validation, 'top5')}",
              flush=True)
    print(f"test (final model, {sizes['test']} images) top-1 {_percent(result.test_metrics, 'top1')}  top-5 "
          f"{_percent(result.test_metrics, 'top5')}  ({result.train_seconds:.0f} s training); model: "
          f"{out / MODEL}; results: {out / RESULT}", flush=True)
    return 0


def reproduce_dataset(experiment, args):
    """The data set a reproduce run uses: ``--dataset``, else the experiment's default, else the offline
    default of the image experiments (local Fashion-MNIST, tensorflow-datasets, the shipped Fashion-MNIST slice;
    printed with why)."""
    from keras_attention.experiments.runner import experiment_dataset

    return experiment_dataset(experiment, args.dataset, args.data_dir)


def apply_preset(experiment, args):
    """Fill the options of ``--preset`` into ``args``, except those given on the command line."""
    if args.preset is None:
        return args
    if args.preset not in experiment.presets:
        known = ", ".join(sorted(experiment.presets)) or "none"
        raise ValueError(f"--preset {args.preset!r} is not a preset of {experiment.name}; its presets: {known}.")
    given = {word.split("=")[0] for word in getattr(args, "argv", []) if word.startswith("--")}
    for dest, value in experiment.presets[args.preset].items():
        flag = "--" + dest.replace("_", "-")
        excluded_by = EXCLUSIVE.get(dest)
        if flag not in given and (excluded_by is None or "--" + excluded_by not in given):
            setattr(args, dest, value)
    return args


def check_reproduce_options(experiment, args):
    """ValueError, before any work, for an option the experiment does not take (``Experiment.options``) or
    for --epochs with --steps."""
    if getattr(args, "epochs", None) is not None and getattr(args, "steps", None) is not None:
        raise ValueError(f"--epochs {args.epochs} and --steps {args.steps} exclude each other: --steps is an "
                         "optimizer-step budget from which the epochs are derived; give one.")
    for dest in SPECIFIC_OPTIONS:
        value = getattr(args, dest, None)
        if value is not None and dest not in experiment.options:
            takes = ", ".join("--" + d.replace("_", "-") for d in experiment.options) or "none of them"
            shown = ",".join(value) if isinstance(value, (tuple, list)) else value
            raise ValueError(f"--{dest.replace('_', '-')} {shown} does not apply to experiment {experiment.name} "
                             f"(its own options: {takes}).")
    if getattr(args, "rows", None) is not None:
        from keras_attention.experiments.series import select_rows

        select_rows(experiment, args)  # unknown rows fail here


def cmd_reproduce(args):
    from keras_attention.experiments.registry import RunOptions, get_experiment
    from keras_attention.experiments.run_directory import RunDirectory

    if args.experiment not in EXPERIMENT_MODULES:
        raise ValueError(f"Unknown experiment {args.experiment!r}; known experiments: "
                         f"{', '.join(sorted(EXPERIMENT_MODULES))}.")
    if args.dataset is not None and EXPERIMENT_MODULES[args.experiment] not in SERIES_MODULES:
        check_dataset_name(args.dataset)
    check_data_dir(args.data_dir)
    check_seed_range(args.first_seed, args.seeds)
    out = args.out or Path("runs") / (args.experiment + ("-quick" if args.quick else ""))
    args.planned_out = out
    RunDirectory(out, {}, overwrite=args.overwrite, resume=args.resume).check(config=False)  # the rest: below
    import_tensorflow_quietly()
    strategy = make_strategy(args.strategy, args.distribution)  # before any op (collectives, JAX processes)
    out = worker_out_dir(out, strategy, args.distribution)  # a worker that is not the chief: its own directory
    experiment = get_experiment(args.experiment)
    apply_preset(experiment, args)
    check_reproduce_options(experiment, args)
    if args.batch_size is None:
        args.batch_size = experiment.settings.batch_size
    dataset = reproduce_dataset(experiment, args)
    if isinstance(dataset, str) and dataset in DATASETS:
        check_image_data(dataset, args.data_dir)
    config = run_config(args, dataset=dataset)
    args.planned_out = out
    args.run_directory = RunDirectory(out, config, overwrite=args.overwrite, resume=args.resume,
                                      command=command_line(args))
    out = args.claimed_out = args.run_directory.claim()
    options = RunOptions(
        out_dir=out,
        dataset=args.dataset or (None if experiment.default_dataset or experiment.default_datasets else dataset),
        seeds=args.seeds,
        first_seed=args.first_seed,
        epochs=args.epochs,
        quick=args.quick,
        resume=args.resume,
        jit_compile=JIT_COMPILE[args.jit],
        strategy=strategy,
        batch_size=args.batch_size,
        data_dir=args.data_dir,
        verbose=_verbose(),
        train_limit=args.train_limit,
        test_limit=args.test_limit,
        width=args.width,
        **{dest: getattr(args, dest) for dest in ("steps", "optimizer", "learning_rate", "positional", "depth",
                                                   "heads", "key_dim", "sigma0", "rows")},
    )
    experiment.run(experiment, options)
    print(f"results: {out / 'results.md'}", flush=True)
    return 0


def _check_sparsify_paths(model_path, out, overwrite):
    """Validate the input model and the --out file before anything is loaded or written."""
    if model_path.suffix != ".keras":
        raise ValueError(f"MODEL {str(model_path)!r} must be a .keras file (Keras 3 format).")
    if not model_path.is_file():
        raise FileNotFoundError(f"MODEL {str(model_path)!r} does not exist or is not a file.")
    if out.suffix != ".keras":
        raise ValueError(f"--out {str(out)!r} must end in .keras.")
    if out.resolve() == model_path.resolve():
        raise ValueError(f"--out {str(out)!r} is the input model; write the sparsified model to another file.")
    if out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a directory; expected a .keras file path.")
    if out.exists() and not overwrite:
        raise FileExistsError(f"--out {str(out)!r} exists; pass --overwrite to replace it.")


def cmd_sparsify(args):
    from keras_attention.experiments.run_directory import check_writable

    _check_sparsify_paths(args.model, args.out, args.overwrite)
    check_dataset_name(args.dataset)
    check_data_dir(args.data_dir)
    check_writable(args.out.parent)
    import_tensorflow_quietly()
    import keras

    from keras_attention.data import dataset_info, image_dataset
    from keras_attention.experiments.evaluation import dataset_labels, topk_accuracy
    from keras_attention.sparsity import format_sparsity_report, sparsify, sparsity_report
    from keras_attention.utils.files import save_model

    info = dataset_info(args.dataset, data_dir=args.data_dir)
    check_image_data(args.dataset, args.data_dir)
    register_package_objects()
    model = keras.saving.load_model(args.model, safe_mode=True, compile=False)
    shape = model.input_shape
    if isinstance(shape, list) or len(shape) != 4 or shape[-1] != info["input_shape"][-1] or None in shape[1:]:
        raise ValueError(f"MODEL {str(args.model)!r} takes inputs of shape {shape}; --dataset {args.dataset!r} has "
                         f"images (H, W, {info['input_shape'][-1]}), so the model must take one (None, H, W, "
                         f"{info['input_shape'][-1]}) input.")
    size = tuple(shape[1:3])
    size = None if size == tuple(info["input_shape"][:2]) else size
    common = dict(batch_size=args.batch_size, data_dir=args.data_dir, image_size=size)
    test_ds = image_dataset(args.dataset, "test", shuffle=False, limit=args.limit, **common)
    samples = None
    if args.strategy == "isparse":
        samples = image_dataset(args.dataset, "train", shuffle=True, seed=args.seed, **common)

    print(f"sparsifying {args.model} ({args.strategy}, sparsity {args.sparsity:g}) on {args.dataset}", flush=True)
    sparse = sparsify(model, args.sparsity, samples, args.strategy, seed=args.seed, max_samples=args.samples)
    labels = dataset_labels(test_ds)
    before, after = topk_accuracy(model, test_ds, labels), topk_accuracy(sparse, test_ds, labels)
    print("before:\n" + format_sparsity_report(sparsity_report(model)))
    print("after:\n" + format_sparsity_report(sparsity_report(sparse)))
    print(f"test top-1 {100 * before['top1']:.2f}% -> {100 * after['top1']:.2f}%, "
          f"top-5 {100 * before['top5']:.2f}% -> {100 * after['top5']:.2f}% ({len(labels)} test images)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_model(sparse, args.out)
    print(f"sparsified model: {args.out}", flush=True)
    return 0


def cmd_racknet(args):
    check_dataset_name(args.dataset)
    check_data_dir(args.data_dir)
    import_tensorflow_quietly()
    from keras_attention.cli.racknet import cmd_racknet as run_racknet

    return run_racknet(args)


def interrupted_line(args):
    """What Ctrl-C prints: one line saying how the run continues."""
    command = f"keras-attention {args.command}"
    claimed, planned = getattr(args, "claimed_out", None), getattr(args, "planned_out", None)
    if claimed is not None:
        again = ("run the same command again" if args.resume else
                 "run the same command with --resume" + (" instead of --overwrite" if args.overwrite else ""))
        return f"{command}: interrupted; {again} to continue from the last backup in {str(claimed)!r}"
    if planned is not None:
        return f"{command}: interrupted before anything was written to {str(planned)!r}"
    return f"{command}: interrupted"


def os_error_line(args, error):
    """The one line of an ``OSError`` a run met while it wrote (a full disk, a read-only folder): the file, the
    cause, and how the run continues."""
    from keras_attention.utils.files import describe_os_error

    backup = sys.modules.get("keras_attention.experiments.backup")
    if backup is not None and isinstance(error, backup.BackupWriteError):
        return str(error)  # it says which backup is kept
    text = describe_os_error(error)
    claimed = getattr(args, "claimed_out", None)
    if claimed is not None:
        text += (f"; the run in {str(claimed)!r} keeps its last good backup: fix that, then run the same command "
                 f"{'again' if args.resume else 'with --resume'}")
    return text


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.version:
        from keras_attention import __version__

        print(__version__)
        return 0
    commands = {
        "list": cmd_list,
        "train": cmd_train,
        "reproduce": cmd_reproduce,
        "racknet": cmd_racknet,
        "sparsify": cmd_sparsify,
    }
    if args.command not in commands:
        parser.print_help()
        return 2
    try:
        return commands[args.command](args)  # each imports TensorFlow once the checks without it passed
    except KeyboardInterrupt:
        print(interrupted_line(args), file=sys.stderr, flush=True)
        return 130
    except (FileExistsError, FileNotFoundError, ValueError) as error:
        print(f"keras-attention {args.command}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"keras-attention {args.command}: error: {os_error_line(args, error)}", file=sys.stderr)
        return 1
    finally:
        if getattr(args, "run_directory", None) is not None:
            args.run_directory.release()  # (the end of the process would release it too)

