"""RACKNet on real Fashion-MNIST: Table 3.6 (six kernel allocation strategies, budget 400) and Table 3.8 (seconds).

Runs the registered ``racknet`` experiment (:mod:`keras_attention.experiments.catalog.racknet`): one SIFT
analysis of the 54 000 training images (6 000 more are the validation set), then every strategy's CNN trained
for ``--epochs`` epochs per seed and tested on the 10 000 test images. The training runs live in ``--work-dir``
(resumable with ``--resume``); the tables and figures are copied to ``--out``:

    python benchmarks/racknet_fashion_mnist.py      # -> benchmarks/results/racknet_fashion_mnist{.json,.md,
                                                    #    _entropy.png,_accuracy.png}
    python benchmarks/racknet_fashion_mnist.py --quick --seeds 1 --out /tmp/racknet-smoke   # a smoke run
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


from support import (
    publish_results,  # noqa: E402
    run_in,  # noqa: E402
)

from keras_attention.experiments.artifacts import ENTROPY_HISTOGRAM, STRATEGY_ACCURACY  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--seeds", type=int, help="seeds 0..K-1 (default 3; 2 with --quick)")
    parser.add_argument("--epochs", type=int, help="epochs per run (default 10; 1 with --quick)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--quick", action="store_true", help="512 training / 256 test images, 1 epoch")
    parser.add_argument("--work-dir", type=Path, help="training runs (default: runs/racknet-<dataset>[-quick])")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--resume", action="store_true", help="continue the runs saved in --work-dir")
    parser.add_argument("--overwrite", action="store_true", help="start --work-dir again")
    parser.add_argument("--train-limit", type=int, help="analyse and train on the first N training images only")
    parser.add_argument("--test-limit", type=int, help="test on the first N test images only")
    args = parser.parse_args(argv)

    work = args.work_dir or Path("runs") / (f"racknet-{args.dataset}" + ("-quick" if args.quick else ""))
    summary, wall = run_in("racknet", work, overwrite=args.overwrite, resume=args.resume, dataset=args.dataset,
                           seeds=args.seeds, epochs=args.epochs, quick=args.quick, batch_size=args.batch_size,
                           verbose=2, train_limit=args.train_limit, test_limit=args.test_limit)
    stem = f"racknet_{args.dataset}" + ("_quick" if args.quick else "")
    command = " ".join(["python", "benchmarks/racknet_fashion_mnist.py", *(sys.argv[1:] if argv is None else argv)])
    publish_results(summary, work, args.out, stem, command=command, wall_seconds=wall,
                    figures={ENTROPY_HISTOGRAM: f"{stem}_entropy.png", STRATEGY_ACCURACY: f"{stem}_accuracy.png"})
    print(f"wrote {args.out / stem}{{.json,.md,_entropy.png,_accuracy.png}} in {wall:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
