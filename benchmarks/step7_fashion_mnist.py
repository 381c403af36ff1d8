"""FA, SPANet and AW-convolution on real Fashion-MNIST (FANet Table I, SPANet Table 2, AW Table 1; issue "Step 7").

Runs the registered ``fa``, ``spanet`` and ``awconv`` experiments (see
``keras_attention/experiments/step7_experiments.py`` for the protocol, FLOP counting, step time and peak
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
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from keras_attention.experiments.arguments import comma_subset, positive_int  # noqa: E402
from keras_attention.experiments.run_directory import prepare_out_dir  # noqa: E402
from keras_attention.experiments.publish import publish_results  # noqa: E402
from keras_attention.experiments.registry import RunOptions, get_experiment  # noqa: E402

# experiment -> (epochs, width) of the committed CPU tables
SETTINGS = {"fa": (4, 0.25), "spanet": (3, 0.125), "awconv": (4, 0.125)}


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", type=comma_subset(list(SETTINGS)), default=list(SETTINGS))
    parser.add_argument("--seeds", type=positive_int, default=3)
    parser.add_argument("--epochs", type=positive_int, default=None, help="default: fa 4, spanet 3, awconv 4")
    parser.add_argument("--width", type=float, default=None, help="default: fa 0.25, spanet and awconv 0.125")
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--train-limit", type=int, default=4000, help="first N training images (0: all)")
    parser.add_argument("--test-limit", type=int, default=5000, help="first N test images (0: all)")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "runs")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--resume", action="store_true", help="keep the finished runs in --work-dir")
    parser.add_argument("--overwrite", action="store_true", help="start again in an existing --work-dir")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    command = " ".join(["python", "benchmarks/step7_fashion_mnist.py", *(sys.argv[1:] if argv is None else argv)])
    for name in args.only:
        experiment = get_experiment(name)
        epochs, width = SETTINGS[name]
        work = prepare_out_dir(Path(args.work_dir) / name, overwrite=args.overwrite, resume=args.resume)
        options = RunOptions(out_dir=work, dataset="fashion_mnist", seeds=args.seeds, epochs=args.epochs or epochs,
                             resume=args.resume, batch_size=args.batch_size, verbose=2, width=args.width or width,
                             train_limit=args.train_limit or None, test_limit=args.test_limit or None)
        start = time.perf_counter()
        summary = experiment.run(experiment, options)
        md = publish_results(summary, work, args.results_dir, f"{name}_fashion_mnist", command=command,
                             wall_seconds=time.perf_counter() - start)
        print(f"{name}: {md}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
