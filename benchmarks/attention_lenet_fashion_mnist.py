"""SAN's Table IV against the attention modules of the field: LeNet-5 on the full Fashion-MNIST (issue "Step 18").

Runs the registered ``attention-lenet`` experiment at its published protocol (10 epochs, 5 seeds, the
validation split held out and the checkpoint chosen on it; see ``keras_attention/experiments/catalog/field.py``)
and copies its table, record and accuracy-against-step-cost figure to
``benchmarks/results/attention_lenet_fashion_mnist.{md,json,png}``:

    python benchmarks/attention_lenet_fashion_mnist.py --data-dir /usr/share/datasets/fashion-mnist
    python benchmarks/attention_lenet_fashion_mnist.py --work-dir /work/runs --resume   # continue, then publish
    python benchmarks/attention_lenet_fashion_mnist.py --from-run runs/lenet   # publish a finished CLI run

``--from-run`` publishes the table of a finished ``keras-attention reproduce attention-lenet --preset published``
run without training again (the command recorded is the one that made it).

Training runs stay in ``--work-dir/attention-lenet`` (resumable with ``--resume``: finished seeds are kept).
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]

from keras_attention.experiments.arguments import positive_int  # noqa: E402
from keras_attention.experiments.field_comparison import PLOT  # noqa: E402
from keras_attention.experiments.registry import get_experiment  # noqa: E402
from support import publish_finished_run, publish_results, run_in  # noqa: E402

NAME = "attention-lenet"
STEM = "attention_lenet_fashion_mnist"


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="Fashion-MNIST IDX files (default: as `keras-attention reproduce` finds them)")
    parser.add_argument("--seeds", type=positive_int, default=None, help="default: the published preset's (5)")
    parser.add_argument("--epochs", type=positive_int, default=None, help="default: the published preset's (10)")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "runs")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--resume", action="store_true", help="keep the finished seeds in --work-dir")
    parser.add_argument("--overwrite", action="store_true", help="start again in an existing --work-dir")
    parser.add_argument("--from-run", type=Path, default=None,
                        help="publish a finished `keras-attention reproduce attention-lenet` run folder; no training")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.from_run is not None:
        print(publish_finished_run(args.from_run, NAME, args.results_dir, STEM, figures={PLOT: f"{STEM}.png"}))
        return 0
    command = " ".join(["python", "benchmarks/attention_lenet_fashion_mnist.py",
                        *(sys.argv[1:] if argv is None else argv)])
    options = dict(get_experiment(NAME).presets["published"])
    options.update({k: getattr(args, k) for k in ("seeds", "epochs") if getattr(args, k) is not None})
    if args.data_dir is not None:
        options["data_dir"] = args.data_dir
    work = Path(args.work_dir) / NAME
    summary, wall = run_in(NAME, work, overwrite=args.overwrite, resume=args.resume, verbose=2, **options)
    md = publish_results(summary, work, args.results_dir, STEM, command=command, wall_seconds=wall,
                         figures={PLOT: f"{STEM}.png"})
    print(md, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
