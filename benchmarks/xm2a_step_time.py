"""XM2A layer step time: fused heads vs the per-head reference path, every variant, MSMSA and Keras'
MultiHeadAttention, eager / graph / XLA (issue "Step 6": "XLA friendly ... measure").

One layer on a ``(batch, T, width)`` sequence, forward + backward of ``mean(y**2)`` (the layer's own cost,
no encoder around it), for the sequence lengths of the bundled data sets. All layers of one shape and mode
are timed side by side, interleaved step by step; the figure is the median of ``--steps`` steps after
``--warmup`` warm-up steps. ``x MHA`` divides by ``MultiHeadAttention`` (same heads and key_dim, self-
attention) in the same mode.

    python benchmarks/xm2a_step_time.py        # writes benchmarks/results/xm2a_step_time.{json,md}
"""

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from layer_overhead import make_step  # noqa: E402

from support import machine_description  # noqa: E402
from keras_attention.layers import XM2A, MultiScaleSelfAttention  # noqa: E402

HEADS, KEY_DIM, WIDTH, BATCH = 4, 16, 64, 16  # the xm2a experiments' CPU depth (one block's attention)
LENGTHS = {"JapaneseVowels": 25, "BasicMotions": 100, "ArrowHead": 251, "OSULeaf": 427}
LAYERS = {
    "MultiHeadAttention": None,
    "XM2A fused": lambda: XM2A(HEADS, KEY_DIM, output_dim=WIDTH),
    "XM2A per-head (reference)": lambda: XM2A(HEADS, KEY_DIM, output_dim=WIDTH, implementation="reference"),
    "XM2A-MSMSA (M) fused": lambda: XM2A(HEADS, KEY_DIM, variant="msmsa", output_dim=WIDTH),
    "XM2A-Exp (E) fused": lambda: XM2A(HEADS, KEY_DIM, variant="exp", output_dim=WIDTH),
    "XM2A-Pool (P) fused": lambda: XM2A(HEADS, KEY_DIM, variant="pool", output_dim=WIDTH),
    "XM2A-Exp-Pool (EP) fused": lambda: XM2A(HEADS, KEY_DIM, variant="exp_pool", output_dim=WIDTH),
    "MSMSA layer": lambda: MultiScaleSelfAttention(HEADS, KEY_DIM, output_dim=WIDTH),
}


def build(length, name):
    x = keras.Input((length, WIDTH))
    if LAYERS[name] is None:
        y = keras.layers.MultiHeadAttention(HEADS, KEY_DIM)(x, x)
    else:
        y = LAYERS[name]()(x)
    return keras.Model(x, y)


def run(steps, warmup, modes):
    rows = []
    for dataset, length in LENGTHS.items():
        x = tf.constant(np.random.default_rng(0).normal(size=(BATCH, length, WIDTH)).astype("float32"))
        for mode in modes:
            fns, params = {}, {}
            for name in LAYERS:
                keras.utils.set_random_seed(0)
                model = build(length, name)
                params[name] = model.count_params()
                fns[name] = make_step(model, mode)
                for _ in range(warmup):
                    [g.numpy() for g in fns[name](x)]
            times = {name: [] for name in LAYERS}
            for _ in range(steps):
                for name, fn in fns.items():
                    start = time.perf_counter()
                    [g.numpy() for g in fn(x)]
                    times[name].append(time.perf_counter() - start)
            base = statistics.median(times["MultiHeadAttention"])
            for name in LAYERS:
                med = statistics.median(times[name])
                rows.append({"dataset": dataset, "length": length, "mode": mode, "layer": name,
                             "params": int(params[name]), "median_ms": 1000 * med, "ratio_to_mha": med / base})
                print(f"T={length:4d} {mode:5s} {name:28s} {1000 * med:8.2f} ms  x{med / base:5.2f}", flush=True)
    return rows


def write(rows, out_dir, args):
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"machine": machine_description(), "steps": args.steps, "warmup": args.warmup, "batch": BATCH,
            "heads": HEADS, "key_dim": KEY_DIM, "width": WIDTH}
    (out_dir / "xm2a_step_time.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    lines = [
        "# XM2A layer step time (forward + backward of one layer)",
        "",
        f"Machine: {meta['machine']}. Batch {BATCH}, width {WIDTH}, {HEADS} heads x key_dim {KEY_DIM}; median "
        f"of {args.steps} interleaved steps after {args.warmup} warm-up steps. Cell: ms (x MultiHeadAttention "
        "in the same mode).",
        "",
        "| layer | params | " + " | ".join(f"T={t} {m}" for t in LENGTHS.values() for m in args.modes) + " |",
        "|---|---:|" + "---:|" * (len(LENGTHS) * len(args.modes)),
    ]
    for name in LAYERS:
        cells = []
        for dataset in LENGTHS:
            for mode in args.modes:
                (r,) = [r for r in rows if r["dataset"] == dataset and r["mode"] == mode and r["layer"] == name]
                cells.append(f"{r['median_ms']:.1f} (x{r['ratio_to_mha']:.2f})")
        params = next(r["params"] for r in rows if r["layer"] == name)
        lines.append(f"| {name} | {params:,} | " + " | ".join(cells) + " |")
    lines.append(f"\nSequence lengths: {', '.join(f'{d} {t}' for d, t in LENGTHS.items())}.")
    (out_dir / "xm2a_step_time.md").write_text("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=["eager", "graph", "xla"], choices=["eager", "graph", "xla"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    write(run(args.steps, args.warmup, args.modes), args.out, args)
    print(f"wrote {args.out / 'xm2a_step_time.md'}")


if __name__ == "__main__":
    main()
