"""RACKNet on real Fashion-MNIST: Table 3.6 (six kernel allocation strategies, budget 400) and Table 3.8 (seconds).

Runs the registered ``racknet`` experiment (:mod:`keras_attention.experiments.racknet_experiments`): one SIFT
analysis of the 54 000 training images (6 000 more are the validation set), then every strategy's CNN trained
for ``--epochs`` epochs per seed and tested on the 10 000 test images. The training runs live in ``--work-dir``
(resumable with ``--resume``); the tables and figures are copied to ``--out``:

    python benchmarks/racknet_fashion_mnist.py      # -> benchmarks/results/racknet_fashion_mnist{.json,.md,
                                                    #    _entropy.png,_accuracy.png}
    python benchmarks/racknet_fashion_mnist.py --quick --seeds 1 --out /tmp/racknet-smoke   # a smoke run
"""

import argparse
import json
import os
import shutil
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


from keras_attention.experiments import racknet_experiments
from keras_attention.experiments.run_directory import prepare_out_dir
from keras_attention.experiments.machine import machine_description
from keras_attention.experiments.registry import EXPERIMENTS, RunOptions

# experiment output -> suffix of the copy in --out
COPIES = {
    "results.json": ".json",
    "results.md": ".md",
    racknet_experiments.HISTOGRAM_FILE: "_entropy.png",
    racknet_experiments.ACCURACY_FILE: "_accuracy.png",
}




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
    work = prepare_out_dir(work, overwrite=args.overwrite, resume=args.resume)
    experiment = EXPERIMENTS["racknet"]
    options = RunOptions(out_dir=work, dataset=args.dataset, seeds=args.seeds, epochs=args.epochs,
                         quick=args.quick, resume=args.resume, batch_size=args.batch_size, verbose=2,
                         train_limit=args.train_limit, test_limit=args.test_limit)
    start = time.perf_counter()
    summary = experiment.run(experiment, options)
    wall = time.perf_counter() - start

    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"racknet_{args.dataset}" + ("_quick" if args.quick else "")
    for name, suffix in COPIES.items():
        shutil.copyfile(work / name, args.out / (stem + suffix))
    record = {**summary, "machine": machine_description(), "wall_seconds": wall, "work_dir": str(work)}
    (args.out / f"{stem}.json").write_text(json.dumps(record, indent=1))
    with open(args.out / f"{stem}.md", "a", encoding="utf-8") as handle:
        handle.write(f"\n{machine_description()}; whole run {wall:.0f} s.\n")
    print(f"wrote {args.out / stem}{{.json,.md,_entropy.png,_accuracy.png}} in {wall:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
