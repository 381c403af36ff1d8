"""iSparse on LeNet-5 / real Fashion-MNIST (dissertation Fig. 4.6a, Table 4.1; issue "Step 3").

Runs the registered ``isparse-lenet`` experiment (see ``keras_attention/experiments/catalog/isparse.py``
for what it trains and measures) on the 60000 / 10000 Fashion-MNIST images and copies its summary to

    benchmarks/results/isparse_fashion_mnist.json   all numbers (per seed), settings, machine, wall time
    benchmarks/results/isparse_fashion_mnist.md     the three tables (sparsify-with, train-with, update cost)
    benchmarks/results/isparse_fashion_mnist_sparsify_with.png
    benchmarks/results/isparse_fashion_mnist_train_with.png

The per-run artefacts (models, histories, backups) stay in ``--work-dir``; a killed run continues with
``--resume`` (finished runs are kept, the interrupted one resumes from its last epoch backup).

    python benchmarks/isparse_fashion_mnist.py                       # 3 seeds x 10 epochs (hours on 2 cores)
    python benchmarks/isparse_fashion_mnist.py --resume              # continue after a kill
    python benchmarks/isparse_fashion_mnist.py --quick --seeds 1 --work-dir /tmp/w --results-dir /tmp/r  # smoke
"""

import argparse
import dataclasses
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]

from keras_attention.experiments.arguments import positive_int  # noqa: E402
from keras_attention.experiments.catalog.isparse import (  # noqa: E402
    SPARSIFY_LEVELS,
    TRAIN_LEVELS,
    ISparseSettings,
)
from support import publish_results  # noqa: E402
from keras_attention.experiments.registry import get_experiment  # noqa: E402
from support import run_in  # noqa: E402

NAME = "isparse_fashion_mnist"


def _levels(text):
    values = tuple(float(v) for v in text.split(","))
    if not values or any(not 0 < v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated fractions in (0, 1), got {text}")
    return values


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=positive_int, default=3)
    parser.add_argument("--epochs", type=positive_int, default=10)
    parser.add_argument("--batch-size", type=positive_int, default=128)
    parser.add_argument("--sparsify-levels", type=_levels, default=None,
                        help=f"comma-separated sparsify-with factors (default {','.join(map(str, SPARSIFY_LEVELS))})")
    parser.add_argument("--train-levels", type=_levels, default=None,
                        help=f"comma-separated train-with targets (default {','.join(map(str, TRAIN_LEVELS))})")
    parser.add_argument("--samples", type=positive_int, default=256, help="iSparse score samples (>= 2)")
    parser.add_argument("--quick", action="store_true", help="512 train / 256 test images: a smoke run")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "runs" / "isparse-fashion-mnist")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in --work-dir")
    parser.add_argument("--overwrite", action="store_true", help="start again in an existing --work-dir")
    parser.add_argument("--data-dir", help="directory of the Fashion-MNIST IDX files (default: searched)")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.samples < 2:
        raise SystemExit("--samples must be >= 2 (InfFS needs a spread over samples).")
    settings = ISparseSettings(sparsify_levels=args.sparsify_levels, train_levels=args.train_levels,
                               max_samples=args.samples)
    experiment = dataclasses.replace(get_experiment("isparse-lenet"), settings=settings)
    summary, wall = run_in(experiment, args.work_dir, overwrite=args.overwrite, resume=args.resume,
                           dataset="fashion_mnist", seeds=args.seeds, epochs=args.epochs, quick=args.quick,
                           batch_size=args.batch_size, data_dir=args.data_dir, verbose=2)
    command = " ".join(["python", "benchmarks/isparse_fashion_mnist.py", *(sys.argv[1:] if argv is None else argv)])
    md = publish_results(summary, args.work_dir, args.results_dir, NAME, command=command, wall_seconds=wall,
                         figures={f"{part}.png": f"{NAME}_{part}.png" for part in ("sparsify_with", "train_with")})
    print(f"results: {md}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
