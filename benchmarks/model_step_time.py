"""Whole-model training cost: the SAN paper's Table IV LeNet-5 rows and AW ResNet-18, side by side.

Each model is compiled as ``reproduce`` compiles it (Adam, sparse cross-entropy, top-1/top-5) in graph mode
and under XLA (``jit_compile=True``) and trained with ``train_on_batch`` on one real batch of Fashion-MNIST
(the committed test slice, or ``--data-dir`` / ``KERAS_ATTENTION_DATA``); the configurations of a group are
timed interleaved, step by step, in one process, and the median step is reported, with the seconds of one
epoch of the full 60,000-image training set at that step time (``ceil(60000 / batch)`` steps). Seeds only
change the initial weights; two are run to show the spread.

    python benchmarks/model_step_time.py       # writes benchmarks/results/model_step_time.{json,md}
"""

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_attention import models  # noqa: E402
from keras_attention.data import load_arrays  # noqa: E402
from support import machine_description  # noqa: E402
from keras_attention.experiments.training import compile_classifier  # noqa: E402
from keras_attention.utils.files import write_json, write_text  # noqa: E402

TRAIN_IMAGES = 60000
GROUPS = {
    # group: (input size, [(label, builder, options)])
    "LeNet-5 (SAN paper Table IV)": (28, [
        ("Base Model", "lenet5", {}),
        ("CBAM", "lenet5", {"attention": "cbam"}),
        ("BAM", "lenet5", {"attention": "bam"}),
        ("SAN-c", "lenet5", {"attention": "san-c"}),
        ("SAN-d", "lenet5", {"attention": "san-d"}),
    ]),
    "ResNet-18, width 0.125 (AW-convolution)": (32, [
        ("ResNet-18", "resnet18", {"width": 0.125}),
        ("AW ResNet-18", "resnet18", {"width": 0.125, "conv": "aw"}),
    ]),
}


def batch(size, batch_size):
    images, labels = load_arrays("fashion_mnist", "train", limit=batch_size)
    x = images.astype("float32") / 255.0
    pad = (size - 28) // 2
    x = np.pad(x, [(0, 0), (pad, size - 28 - pad), (pad, size - 28 - pad), (0, 0)])
    return x, labels


def run(args):
    rows = []
    for group, (size, configs) in GROUPS.items():
        x, y = batch(size, args.batch_size)
        for jit in (False, True):
            for seed in range(args.seeds):
                compiled = {}
                for label, builder, options in configs:
                    keras.utils.set_random_seed(seed)
                    model = getattr(models, builder)((size, size, 1), 10, **options)
                    compiled[label] = compile_classifier(model, jit_compile=jit)
                    for _ in range(args.warmup):
                        compiled[label].train_on_batch(x, y)
                times = {label: [] for label in compiled}
                for _ in range(args.steps):
                    for label, model in compiled.items():
                        start = time.perf_counter()
                        model.train_on_batch(x, y)
                        times[label].append(time.perf_counter() - start)
                base = statistics.median(times[configs[0][0]])
                for label, _, _ in configs:
                    step = statistics.median(times[label])
                    rows.append({"group": group, "model": label, "mode": "xla" if jit else "graph", "seed": seed,
                                 "step_ms": 1000 * step, "ratio": step / base,
                                 "epoch_s": step * math.ceil(TRAIN_IMAGES / args.batch_size)})
                    print(f"{group[:24]:24s} {'xla' if jit else 'graph':5s} seed {seed} {label:14s} "
                          f"{1000 * step:8.2f} ms  x{step / base:5.2f}", flush=True)
    return rows


def write(rows, args):
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "model_step_time.json", {"machine": machine_description(), "batch_size": args.batch_size,
                                                   "steps": args.steps, "seeds": args.seeds, "rows": rows})
    lines = ["# Whole-model training step: attention modules in their networks", "",
             f"Machine: {machine_description()}. Batch {args.batch_size}; median of {args.steps} interleaved "
             f"`train_on_batch` steps after {args.warmup} warm-up steps, per seed ({args.seeds} seeds: mean ± "
             "spread over seeds); epoch = that step time x 469 steps (60,000 images). Ratio = step / the "
             "group's first row in the same mode and seed.", "",
             "Command: `python benchmarks/model_step_time.py " + " ".join(sys.argv[1:]) + "`", ""]
    for group in GROUPS:
        lines += [f"## {group}", "", "| model | graph ms/step | graph ratio | graph s/epoch | XLA ms/step | "
                  "XLA ratio | XLA s/epoch |", "|---|---:|---:|---:|---:|---:|---:|"]
        for label, _, _ in GROUPS[group][1]:
            cells = []
            for mode in ("graph", "xla"):
                picked = [r for r in rows if r["group"] == group and r["model"] == label and r["mode"] == mode]
                for key, fmt in (("step_ms", ".1f"), ("ratio", ".2f"), ("epoch_s", ".1f")):
                    values = [r[key] for r in picked]
                    spread = (max(values) - min(values)) / 2
                    cells.append(f"{statistics.fmean(values):{fmt}} ± {spread:{fmt}}")
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    write_text(args.out / "model_step_time.md", "\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    write(run(args), args)


if __name__ == "__main__":
    main()
