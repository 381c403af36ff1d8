"""FA, SPANet and AW-convolution on real Fashion-MNIST (FANet Table I, SPANet Table 2, AW Table 1; issue "Step 7").

Runs the registered ``fa``, ``spanet`` and ``awconv`` experiments (see
``keras_attention/experiments/catalog/fa_spanet_aw.py`` for the protocol, FLOP counting, step time and peak
memory) and copies each table to ``benchmarks/results/<experiment>_fashion_mnist.{json,md}``. The defaults
are the CPU-sized settings of the committed tables; drop the limits on a GPU:

    python benchmarks/step7_fashion_mnist.py                               # the committed settings
    python benchmarks/step7_fashion_mnist.py --only spanet --resume        # publish a finished run again
    python benchmarks/step7_fashion_mnist.py --train-limit 0 --test-limit 0 --epochs 10   # full data

Training runs stay in ``--work-dir/<experiment>`` (resumable with ``--resume``).
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]

from keras_attention.experiments.arguments import comma_subset, positive_int  # noqa: E402
from support import publish_results  # noqa: E402
from keras_attention.experiments.registry import get_experiment  # noqa: E402
from support import run_in  # noqa: E402

EXPERIMENTS = ["fa", "spanet", "awconv"]
OVERRIDES = ("seeds", "epochs", "width", "batch_size", "train_limit", "test_limit")


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", type=comma_subset(EXPERIMENTS), default=EXPERIMENTS)
    parser.add_argument("--seeds", type=positive_int, default=None, help="default: the published preset's (3)")
    parser.add_argument("--epochs", type=positive_int, default=None, help="default: fa 4, spanet 3, awconv 4")
    parser.add_argument("--width", type=float, default=None, help="default: fa 0.25, spanet and awconv 0.125")
    parser.add_argument("--batch-size", type=positive_int, default=None, help="default: the preset's (32)")
    parser.add_argument("--train-limit", type=int, default=None, help="first N training images (0: all; default 4000)")
    parser.add_argument("--test-limit", type=int, default=None, help="first N test images (0: all; default 5000)")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "runs")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--resume", action="store_true", help="keep the finished runs in --work-dir")
    parser.add_argument("--overwrite", action="store_true", help="start again in an existing --work-dir")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    command = " ".join(["python", "benchmarks/step7_fashion_mnist.py", *(sys.argv[1:] if argv is None else argv)])
    for name in args.only:
        # the settings of the committed table (`keras-attention reproduce NAME --preset published`), overridden
        options = dict(get_experiment(name).presets["published"])
        options.update({key: getattr(args, key) for key in OVERRIDES if getattr(args, key) is not None})
        options.update({key: options[key] or None for key in ("train_limit", "test_limit")})  # 0: every image
        work = Path(args.work_dir) / name
        summary, wall = run_in(name, work, overwrite=args.overwrite, resume=args.resume, verbose=2, **options)
        md = publish_results(summary, work, args.results_dir, f"{name}_fashion_mnist", command=command,
                             wall_seconds=wall)
        print(f"{name}: {md}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
