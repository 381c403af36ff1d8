"""What the ``keras-attention`` commands share: the quiet TensorFlow import, the extras a command needs,
the settings a run records, and the checks of data made once TensorFlow is there."""

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from keras_attention.utils.extras import require_extras

RUNS_DIR = Path("runs")  # where a run without --out writes (runs/<name>, relative to the working directory)
# The extras each command needs besides the core install (the keras-attention command is experiment tooling)
COMMAND_EXTRAS = {"list": ("experiments",), "train": ("experiments",), "reproduce": ("experiments",),
                  "sparsify": ("experiments",), "racknet": ("experiments", "vision")}

# Settings that do not change what a run computes: a --resume may differ in them.
RUNTIME_ARGS = {"out", "overwrite", "resume", "jit", "strategy", "distribution", "data_dir", "command", "version",
                "backup_every", "seeds", "first_seed", "argv",
                "planned_out", "claimed_out", "run_directory"}  # (what the commands note on args as they go)

# TensorFlow 2.21 prints these at import, before its logging reads TF_CPP_MIN_LOG_LEVEL.
_STARTUP_NOISE = ("All log messages before absl::InitializeLog()", "port.cc:", "cudart_stub.cc:",
                  "cpu_feature_guard.cc:", "To enable the following instructions:", "cuda_dnn.cc:",
                  "cuda_fft.cc:", "cuda_blas.cc:", "computation_placer.cc:", "cuda_platform.cc:", "cuda_executor.cc:")


def check_command_extras(command: str) -> None:
    """:class:`~keras_attention.utils.extras.MissingExtraError` (naming the extra to install) unless every
    package ``command`` needs beyond the core install is there; found without importing them."""
    require_extras(COMMAND_EXTRAS[command])


def import_tensorflow_quietly() -> None:
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


def run_config(args: argparse.Namespace, **resolved: Any) -> dict[str, Any]:
    """The settings recorded in a run's manifest and compared by --resume (RUNTIME_ARGS left out)."""
    config = {key: value for key, value in vars(args).items() if key not in RUNTIME_ARGS}
    return {"command": args.command, **config, **resolved}


def command_line(args: argparse.Namespace) -> list[str]:
    """The command as the user typed it (recorded in a run's manifest)."""
    return ["keras-attention", *getattr(args, "argv", [])]


def verbosity() -> int:
    """Keras' ``verbose`` of a run: a progress bar on a terminal, one line per epoch otherwise."""
    return 1 if sys.stdout.isatty() else 2


def percent(metrics: Mapping[str, Any], name: str) -> str:
    """``metrics[name]`` (a fraction) in percent, two decimals: ``"89.43%"``."""
    return f"{100 * metrics[name]:.2f}%"


def register_package_objects() -> None:
    """Import the modules whose classes Keras must know to load or build this package's models."""
    from keras_attention import layers, sparsity  # noqa: F401


def check_image_data(dataset: str, data_dir: str | None) -> None:
    """Raise DatasetNotFoundError (listing every place tried) unless both splits of ``dataset`` can be read."""
    from keras_attention.data import load_arrays

    for split in ("train", "test"):
        load_arrays(dataset, split, data_dir=data_dir, limit=1)
