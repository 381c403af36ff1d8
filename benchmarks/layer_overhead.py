"""Forward+backward cost of each attention module relative to the same step without it (issue Step 1).

For each shape, a "base" step is: conv (the layer that produces ``current``) -> loss, forward and backward.
Each module adds itself after that conv: SAN gets ``[conv input, conv output]``; CBAM, BAM and SE get the
conv output. All configurations are timed side by side in one run, interleaved step by step (so drift of
the machine hits every configuration alike), in eager mode, as a ``tf.function`` graph and under XLA
(``jit_compile=True``); the figure is the median of ``--steps`` steps after ``--warmup`` warm-up steps.

    python benchmarks/layer_overhead.py            # writes benchmarks/results/layer_overhead.{json,md}
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

from keras_attention.experiments.machine import machine_description  # noqa: E402
from keras_attention.layers import BAM, CBAM, SAN, SqueezeExcitation  # noqa: E402

SHAPES = {
    # name: (batch, input spatial+channels of the conv, conv filters, kernel)
    "vgg16_bottleneck1": (128, (32, 32, 64), 64, 3),
    "lenet5_conv1": (128, (28, 28, 1), 6, 5),
}

MODULES = {
    "base": None,
    "SAN-c (full)": lambda k: SAN(variant="c", kernel_size=k),
    "SAN-c (depthwise)": lambda k: SAN(variant="c", kernel_size=k, smoothing_mode="depthwise"),
    "SAN-d (full)": lambda k: SAN(variant="d", kernel_size=k),
    "SAN-d (depthwise)": lambda k: SAN(variant="d", kernel_size=k, smoothing_mode="depthwise"),
    "CBAM": lambda k: CBAM(),
    "BAM": lambda k: BAM(),
    "SE": lambda k: SqueezeExcitation(),
}




def build(shape, make_module):
    _, in_shape, filters, kernel = shape
    x = keras.Input(in_shape)
    y = keras.layers.Conv2D(filters, kernel, padding="same", activation="relu")(x)
    conv_params = (kernel * kernel * in_shape[-1] + 1) * filters
    if make_module is not None:
        module = make_module(kernel)
        y = module([x, y]) if isinstance(module, SAN) else module(y)
    model = keras.Model(x, y)
    return model, model.count_params() - conv_params


def make_step(model, mode):
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True)))
        return tape.gradient(loss, model.trainable_weights)

    if mode == "eager":
        return step
    return tf.function(step, jit_compile=(mode == "xla"))


def run(steps, warmup, shapes, modes):
    rows = []
    for shape_name in shapes:
        shape = SHAPES[shape_name]
        x = tf.constant(np.random.default_rng(0).normal(size=(shape[0],) + shape[1]).astype("float32"))
        for mode in modes:
            fns, params = {}, {}
            for name, make in MODULES.items():
                keras.utils.set_random_seed(0)
                model, params[name] = build(shape, make)
                fns[name] = make_step(model, mode)
                for _ in range(warmup):
                    [g.numpy() for g in fns[name](x)]
            times = {name: [] for name in MODULES}
            for _ in range(steps):
                for name, fn in fns.items():
                    start = time.perf_counter()
                    [g.numpy() for g in fn(x)]
                    times[name].append(time.perf_counter() - start)
            base = statistics.median(times["base"])
            for name in MODULES:
                med = statistics.median(times[name])
                rows.append(
                    {
                        "shape": shape_name,
                        "mode": mode,
                        "module": name,
                        "params": int(params[name]),
                        "median_ms": 1000 * med,
                        "ratio_to_base": med / base,
                        "steps": steps,
                    }
                )
                print(f"{shape_name:18s} {mode:6s} {name:18s} {1000 * med:9.2f} ms  x{med / base:5.2f}", flush=True)
    return rows


def write(rows, out_dir, args):
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"machine": machine_description(), "steps": args.steps, "warmup": args.warmup, "shapes": SHAPES}
    (out_dir / "layer_overhead.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str))
    lines = [
        "# Attention-module overhead (forward + backward, one training step)",
        "",
        f"Machine: {meta['machine']}. Median of {args.steps} interleaved steps after {args.warmup} warm-up "
        "steps; ratio = step time with the module / step time of the same conv without it.",
        "",
    ]
    for shape_name in dict.fromkeys(r["shape"] for r in rows):
        batch, in_shape, filters, kernel = SHAPES[shape_name]
        lines += [
            f"## {shape_name}: batch {batch}, input {in_shape}, conv {filters}@{kernel}x{kernel}",
            "",
            "| module | module params | " + " | ".join(f"{m} ms (ratio)" for m in args.modes) + " |",
            "|---|---:|" + "---:|" * len(args.modes),
        ]
        for name in MODULES:
            cells = []
            for mode in args.modes:
                (r,) = [r for r in rows if r["shape"] == shape_name and r["mode"] == mode and r["module"] == name]
                cells.append(f"{r['median_ms']:.1f} (x{r['ratio_to_base']:.2f})")
            params = next(r["params"] for r in rows if r["shape"] == shape_name and r["module"] == name)
            lines.append(f"| {name} | {params} | " + " | ".join(cells) + " |")
        lines.append("")
    (out_dir / "layer_overhead.md").write_text("\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--modes", nargs="+", default=["eager", "graph", "xla"], choices=["eager", "graph", "xla"])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    rows = run(args.steps, args.warmup, args.shapes, args.modes)
    write(rows, args.out, args)


if __name__ == "__main__":
    main()
