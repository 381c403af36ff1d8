"""Cost of every attention module relative to the step it attends: forward + backward, side by side.

For each shape a "base" step is: input -> the convolution that produces ``current`` -> loss (mean square),
forward and backward. Each module is added after that convolution, as the builders deploy it: SAN gets
``[conv input, conv output]``, FocusAssociation ``[conv input, conv output]`` (the block's input and
output), CBAM / BAM / SE / SPANet / NonLocal / XM2A / MSMSA / MultiHeadAttention the conv output;
AWConv2D *replaces* the convolution (its row is the AWConv2D layer against Conv2D). Every module with a
fast path is timed twice, fast and reference (its straightforward form kept in the package), so the gain
of each fast path is measured in the same run.

All configurations of one shape and mode are timed interleaved, step by step, in one process (drift of a
shared machine hits each alike); the figure is the median of ``--steps`` steps after ``--warmup`` warm-up
steps, in eager mode, as a ``tf.function`` graph and under XLA (``jit_compile=True``). The "best" column
compares each configuration in its own fastest mode with the base step in its fastest mode. Beside the
times: the module's share of the forward FLOPs of the whole step (TensorFlow's graph profiler), its
parameters, and the peak memory of one training step (TensorFlow's BFC allocator statistics on the CPU).

    python benchmarks/layer_overhead.py            # writes benchmarks/results/layer_overhead.{json,md}
    python benchmarks/layer_overhead.py --shapes sequence --modes graph xla --steps 10
    python benchmarks/layer_overhead.py --modules SPANet NonLocal --out /tmp/spanet   # a subset
"""

import argparse
import inspect
import os
import statistics
import sys
import time
from pathlib import Path

if "--backend" in sys.argv[:-1]:  # the backend must be chosen before Keras is imported
    os.environ["KERAS_BACKEND"] = sys.argv[sys.argv.index("--backend") + 1]
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")  # get_memory_info on the CPU (peak memory)

import keras  # noqa: E402
import numpy as np  # noqa: E402

BACKEND = keras.backend.backend()
if BACKEND == "tensorflow":
    import tensorflow as tf

from support import machine_description  # noqa: E402
from keras_attention.experiments.costs import count_macs  # noqa: E402
from keras_attention.layers import (  # noqa: E402
    BAM,
    CBAM,
    ECA,
    MSMSA,
    SAN,
    SCSE,
    XM2A,
    AWConv2D,
    CoordinateAttention,
    FocusAssociation,
    GatherExcite,
    GlobalContext,
    NonLocalBlock,
    SalientPositionsAttention,
    SelectiveKernel,
    SimAM,
    TripletAttention,
    SqueezeExcitation,
)
from keras_attention.utils.files import write_json, write_text  # noqa: E402

MODES = ("eager", "graph", "xla")
SHAPES = {
    # name: (batch, input shape, conv filters, kernel size)
    "vgg16_bottleneck1": (128, (32, 32, 64), 64, 3),
    "lenet5_conv1": (128, (28, 28, 1), 6, 5),
    "resnet18_stage1": (32, (56, 56, 64), 64, 3),
    "sequence": (32, (256, 64), 64, 3),
}
ONE_PASS = "base + one element-wise pass"
# name -> (make(kernel) -> layer, how it is applied, shape kinds it runs on)
MODULES = {
    "SAN-c (full)": (lambda k, **i: SAN(variant="c", kernel_size=k, **i), "pair", ("image", "sequence")),
    "SAN-c (depthwise)": (lambda k, **i: SAN(variant="c", kernel_size=k, smoothing_mode="depthwise", **i), "pair",
                          ("image", "sequence")),
    "SAN-d (full)": (lambda k, **i: SAN(variant="d", kernel_size=k, **i), "pair", ("image", "sequence")),
    "SAN-d (depthwise)": (lambda k, **i: SAN(variant="d", kernel_size=k, smoothing_mode="depthwise", **i), "pair",
                          ("image", "sequence")),
    "CBAM": (lambda k, **i: CBAM(**i), "single", ("image", "sequence")),
    "BAM": (lambda k, **i: BAM(**i), "single", ("image", "sequence")),
    "SE": (lambda k, **i: SqueezeExcitation(**i), "single", ("image", "sequence")),
    "FocusAssociation": (lambda k, **i: FocusAssociation(**i), "fa", ("image",)),
    "SPANet": (lambda k, **i: SalientPositionsAttention(**i), "single", ("image",)),
    "NonLocal": (lambda k, **i: NonLocalBlock(**i), "single", ("image",)),
    "AWConv2D (replaces the conv)": (None, "awconv", ("image",)),
    "XM2A": (lambda k, **i: XM2A(num_heads=4, key_dim=16, **i), "single", ("sequence",)),
    "MSMSA": (lambda k, **i: MSMSA(num_heads=4, key_dim=16, **i), "single", ("sequence",)),
    "MultiHeadAttention": (lambda k, **i: keras.layers.MultiHeadAttention(4, 16), "self", ("sequence",)),
    "ECA": (lambda k, **i: ECA(**i), "single", ("image", "sequence")),
    "CoordinateAttention": (lambda k, **i: CoordinateAttention(**i), "single", ("image",)),
    "GlobalContext": (lambda k, **i: GlobalContext(**i), "single", ("image", "sequence")),
    "GatherExcite (theta+)": (lambda k, **i: GatherExcite(**i), "single", ("image", "sequence")),
    "SimAM": (lambda k, **i: SimAM(**i), "single", ("image", "sequence")),
    "TripletAttention": (lambda k, **i: TripletAttention(**i), "single", ("image",)),
    "SCSE": (lambda k, **i: SCSE(**i), "single", ("image", "sequence")),
    "SelectiveKernel (replaces the conv)": (lambda k, **i: SelectiveKernel, "sk", ("image",)),
    # the floor's unit: the base step with one element-wise product of the feature map (forward + gradient)
    ONE_PASS: (lambda k, **i: keras.layers.Multiply(), "pass", ("image", "sequence")),
}


def _kind(shape):
    return "sequence" if len(shape[1]) == 2 else "image"


def _fast_and_reference(name, make):
    """``[(label, kwargs)]``: the fast path, plus its reference when the layer has one."""
    if make is None:
        cls = AWConv2D
    elif name.startswith("SelectiveKernel"):
        cls = SelectiveKernel
    else:
        cls = type(make(3))
    parameters = inspect.signature(cls.__init__).parameters
    if "implementation" in parameters:
        return [(name, {"implementation": "fast"}), (f"{name} [reference]", {"implementation": "reference"})]
    return [(name, {})]


def configurations(shape_name, modules=tuple(MODULES)):
    shape = SHAPES[shape_name]
    rows = [("base", None, "base", {})]
    for name, (make, how, kinds) in MODULES.items():
        if _kind(shape) in kinds and name in modules:
            rows += [(label, make, how, kwargs) for label, kwargs in _fast_and_reference(name, make)]
    return rows


def build(shape, make, how, kwargs):
    _, in_shape, filters, kernel = shape
    conv = keras.layers.Conv1D if len(in_shape) == 2 else keras.layers.Conv2D
    x = keras.Input(in_shape)
    if how == "awconv":
        y = AWConv2D(filters, kernel, padding="same", use_bias=True, **kwargs)(x)
        return keras.Model(x, keras.layers.ReLU()(y))
    if how == "sk":  # BatchNorm + ReLU inside each branch, as SKNet deploys it
        return keras.Model(x, SelectiveKernel(filters, kernel, padding="same", **kwargs)(x))
    y = conv(filters, kernel, padding="same", activation="relu")(x)
    if how == "pair":
        y = make(kernel, **kwargs)([x, y])
    elif how == "fa":
        y, _ = make(kernel, **kwargs)([x, y])
    elif how == "self":
        y = make(kernel)(y, y)
    elif how == "single":
        y = make(kernel, **kwargs)(y)
    elif how == "pass":
        y = make(kernel)([y, y])
    return keras.Model(x, y)


def make_step(model, mode):
    """One training step's gradients as a function of the batch: eager, a ``tf.function`` graph or XLA on
    TensorFlow; under JAX ``jax.grad`` of the model's stateless call, jitted (XLA) or not (eager)."""
    if BACKEND == "jax":
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss(trainable, non_trainable, x):
            y, _ = model.stateless_call(trainable, non_trainable, x, training=True)
            return jnp.mean(jnp.square(y))

        grad = jax.grad(loss)
        if mode == "xla":
            grad = jax.jit(grad)
        return lambda x: grad(trainable, non_trainable, x)

    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True)))
        return tape.gradient(loss, model.trainable_weights)

    return step if mode == "eager" else tf.function(step, jit_compile=(mode == "xla"))


def materialise(gradients):
    """Wait for every gradient (NumPy copies: JAX dispatches asynchronously)."""
    return [np.asarray(g) for g in gradients]


def forward_flops(model, x):
    """Forward FLOPs of ``model`` on a batch shaped like ``x`` (TensorFlow's graph profiler; ops it has no
    statistics for count 0); None under another backend."""
    if BACKEND != "tensorflow":
        return None
    from tensorflow.python.profiler import model_analyzer, option_builder

    function = tf.function(lambda inputs: model(inputs, training=True))
    graph = function.get_concrete_function(tf.TensorSpec(x.shape, x.dtype)).graph
    options = option_builder.ProfileOptionBuilder(option_builder.ProfileOptionBuilder.float_operation())
    options = options.with_empty_output().build()
    return int(model_analyzer.profile(graph, options=options).total_float_ops)


def peak_memory(step, x):
    """Peak bytes the CPU allocator held during one call of ``step`` (None when statistics are off, or
    under another backend than TensorFlow)."""
    if BACKEND != "tensorflow":
        return None
    try:
        tf.config.experimental.reset_memory_stats("CPU:0")
        before = tf.config.experimental.get_memory_info("CPU:0")["current"]
        materialise(step(x))
        return int(tf.config.experimental.get_memory_info("CPU:0")["peak"] - before)
    except (ValueError, RuntimeError):
        return None


def run(steps, warmup, shapes, modes, modules=tuple(MODULES)):
    rows = []
    for shape_name in shapes:
        shape = SHAPES[shape_name]
        x = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=(shape[0],) + shape[1]).astype("float32"))
        configs = configurations(shape_name, modules)
        models, info = {}, {}
        for label, make, how, kwargs in configs:
            keras.utils.set_random_seed(0)
            models[label] = build(shape, make, how, kwargs)
            info[label] = {"params": models[label].count_params(), "flops": forward_flops(models[label], x),
                           "macs": count_macs(models[label])["total"]}
        for mode in modes:
            fns = {label: make_step(model, mode) for label, model in models.items()}
            for label, fn in fns.items():
                for _ in range(warmup):
                    materialise(fn(x))
                info[label][f"peak_bytes_{mode}"] = peak_memory(fn, x)
            times = {label: [] for label in fns}
            for _ in range(steps):
                for label, fn in fns.items():
                    start = time.perf_counter()
                    materialise(fn(x))
                    times[label].append(time.perf_counter() - start)
            base = statistics.median(times["base"])
            for label in fns:
                median = statistics.median(times[label])
                info[label][f"ms_{mode}"] = 1000 * median
                info[label][f"ratio_{mode}"] = median / base
                print(f"{shape_name:18s} {mode:6s} {label:38s} {1000 * median:9.2f} ms  x{median / base:5.2f}",
                      flush=True)
        base = info["base"]
        base_best = min(base[f"ms_{m}"] for m in modes)
        for label, _, _, _ in configs:
            record = info[label]
            best_mode = min(modes, key=lambda m: record[f"ms_{m}"])
            rows.append({
                "shape": shape_name,
                "module": label,
                "params": int(record["params"] - (0 if label == "base" else base["params"])),
                "flop_share": (record["flops"] - base["flops"]) / base["flops"] if base["flops"] else None,
                "best_mode": best_mode,
                "ratio_best": record[f"ms_{best_mode}"] / base_best,
                **{k: v for k, v in record.items() if k not in ("params", "flops")},
                "flops": record["flops"],
                "macs": record["macs"],
            })
    return rows


# Step-ratio limits on a 2-core CPU at the VGG-16 first bottleneck (the shape the limits were set for)
TARGET_SHAPE = "vgg16_bottleneck1"
TARGETS = {
    "SAN-c (depthwise)": 1.6, "SAN-d (depthwise)": 1.6, "SAN-c (full)": 2.7, "SAN-d (full)": 2.7,
    "CBAM": 1.35, "BAM": 1.4, "SE": 1.15, "AWConv2D (replaces the conv)": 1.8,
}


# The floor of a module (graph mode, TARGET_SHAPE): the base step with its arithmetic scaled by the model's
# multiply-accumulates (base ms x MACs with the module / MACs of the base), plus the full-size element-wise passes
# over the feature map the module cannot avoid, each costing what one element-wise product costs in the same
# run (the ONE_PASS row minus the base). Passes counted in the forward form; the timed unit includes its gradient.
FLOOR_LIMIT = 1.2
FLOOR_PASSES = {
    "ECA": (2, "the channel means (one read), the rescale"),
    "CoordinateAttention": (4, "the pools along H and along W (one read each), the two gate products"),
    "GlobalContext": (3, "the context logits' read (a 1x1 conv, its MACs counted), the weighted pooling, the add"),
    "GatherExcite (theta+)": (2, "the depthwise gather (its MACs counted, one read), the rescale"),
    "SimAM": (5, "the mean, the squared deviations, the energy, the sigmoid, the product"),
    "TripletAttention": (8, "three Z-pools (a max and a mean, a read each), the gates' broadcast sum, the product"),
    "SCSE": (4, "the channel pool, the cSE product, the sSE product, the max of the two"),
    "SelectiveKernel (replaces the conv)": (8, "per branch a training-mode BatchNorm (statistics, normalise) and a "
                                                "ReLU; the branch sum; the softmax-weighted sum (two products)"),
}


def floor_lines(rows):
    """Markdown lines: each module of FLOOR_PASSES against its floor in graph mode at TARGET_SHAPE."""
    picked = {r["module"]: r for r in rows if r["shape"] == TARGET_SHAPE}
    if "base" not in picked or ONE_PASS not in picked or "ms_graph" not in picked["base"]:
        return []
    base, one_pass = picked["base"], picked[ONE_PASS]
    unit = max(one_pass["ms_graph"] - base["ms_graph"], 0.0)
    lines = [f"## Against the floor ({TARGET_SHAPE}, graph mode)", "",
             f"Floor = base step x (MACs with the module / MACs of the base) + passes x one element-wise pass "
             f"({unit:.1f} ms here: the `{ONE_PASS}` row minus the base, forward and gradient). Limit: "
             f"x{FLOOR_LIMIT} of the floor.", "",
             "| module | MACs / base MACs | passes (which) | floor ms | measured ms | measured / floor | within |",
             "|---|---:|---|---:|---:|---:|---|"]
    for name, (passes, which) in FLOOR_PASSES.items():
        row = picked.get(name)
        if row is None or "ms_graph" not in row:
            continue
        mac_ratio = row["macs"] / base["macs"]
        floor = base["ms_graph"] * mac_ratio + passes * unit
        ratio = row["ms_graph"] / floor
        lines.append(f"| {name} | {mac_ratio:.3f} | {passes} ({which}) | {floor:.1f} | {row['ms_graph']:.1f} | "
                     f"x{ratio:.2f} | {'yes' if ratio <= FLOOR_LIMIT else 'no'} |")
    return lines + [""]


def target_lines(rows, modes):
    """Markdown lines: each limited module's ratio per mode against its limit, and XLA against graph."""
    picked = {r["module"]: r for r in rows if r["shape"] == TARGET_SHAPE}
    if not picked or not all(f"ratio_{m}" in picked["base"] for m in modes):
        return []
    lines = [f"## Limits ({TARGET_SHAPE}; ratio to the base step in each mode)", "",
             "| module | limit | " + " | ".join(modes) + " | within the limit | XLA ms / graph ms |",
             "|---|---:|" + "---:|" * len(modes) + "---|---:|"]
    for name, limit in TARGETS.items():
        if name not in picked:
            continue
        row = picked[name]
        ratios = [row[f"ratio_{m}"] for m in modes]
        missed = [m for m, r in zip(modes, ratios) if r > limit]
        xla = f"{row['ms_xla'] / row['ms_graph']:.2f}" if "ms_xla" in row and "ms_graph" in row else "-"
        lines.append(f"| {name} | {limit} | " + " | ".join(f"x{r:.2f}" for r in ratios) + " | "
                     + ("yes" if not missed else "no: " + ", ".join(missed)) + f" | {xla} |")
    base = picked["base"]
    if "ms_xla" in base and "ms_graph" in base:
        lines += ["", f"The base step itself takes {base['ms_xla'] / base['ms_graph']:.2f}x as long under XLA as in "
                  "a `tf.function` graph on this CPU.", ""]
    return lines


def _cell(value, fmt):
    return "-" if value is None else format(value, fmt)


def write(rows, out_dir, args, machine=None):
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"machine": machine or machine_description(), "backend": keras.backend.backend(), "steps": args.steps,
            "warmup": args.warmup, "modes": args.modes, "shapes": {s: SHAPES[s] for s in args.shapes},
            "keras": keras.__version__, "argv": args.argv}
    stem = "layer_overhead" if meta["backend"] == "tensorflow" else f"layer_overhead_{meta['backend']}"
    if os.environ.get("ONEDNN_MAX_CPU_ISA"):  # the table of another CPU path keeps its own files
        stem += "_onednn_" + os.environ["ONEDNN_MAX_CPU_ISA"].lower()
    meta["dtype_policy"] = keras.mixed_precision.global_policy().name
    if meta["dtype_policy"] != "float32":
        stem += "_" + meta["dtype_policy"]
    stem = getattr(args, "name", None) or stem
    write_json(out_dir / f"{stem}.json", {"meta": meta, "rows": rows})
    lines = [
        "# Attention-module cost (forward + backward, one training step)",
        "",
        f"Machine: {meta['machine']}. Backend: {meta['backend']}, dtype policy {meta['dtype_policy']}. Median of "
        f"{args.steps} interleaved steps after {args.warmup} warm-up steps. Ratio = step time with the module / "
        "step time of the same convolution without it, in the same mode; best = each in its own fastest "
        "mode. FLOP share = forward FLOPs the module adds / forward FLOPs of the base step (TensorFlow's profiler; the larger count of a module's two paths). Peak = bytes the "
        "CPU allocator held during one step (graph mode). `[reference]` rows are the straightforward form of "
        "the same equations, kept in the package and tested equal to the fast path.",
        "",
        "Command: `python benchmarks/layer_overhead.py " + " ".join(args.argv) + "`",
        "",
    ]
    # TensorFlow's profiler counts no FLOPs for some ops (einsum, custom gradients' forward functions), so the
    # two paths of one module may show different counts for the same arithmetic: each module's share is the
    # larger of its rows' (the profiler misses ops, it never invents them)
    share_of = {}
    for row in rows:
        key = (row["shape"], row["module"].removesuffix(" [reference]"))
        share_of[key] = max(share_of.get(key, -1.0), row["flop_share"] if row["flop_share"] is not None else -1.0)
    for shape_name in args.shapes:
        batch, in_shape, filters, kernel = SHAPES[shape_name]
        conv = "Conv1D" if len(in_shape) == 2 else "Conv2D"
        lines += [f"## {shape_name}: batch {batch}, input {in_shape}, {conv} {filters}@{kernel}", "",
                  "| module | params | FLOP share | " + " | ".join(f"{m} ms (ratio)" for m in args.modes)
                  + " | best (mode) | peak MiB |",
                  "|---|---:|---:|" + "---:|" * len(args.modes) + "---:|---:|"]
        for row in (r for r in rows if r["shape"] == shape_name):
            cells = [f"{row[f'ms_{m}']:.1f} (x{row[f'ratio_{m}']:.2f})" for m in args.modes]
            peak = row.get("peak_bytes_graph") or row.get(f"peak_bytes_{args.modes[0]}")
            share = share_of[(shape_name, row["module"].removesuffix(" [reference]"))]
            share = "-" if row["module"] == "base" or share < 0 else f"{100 * share:.1f}%"
            lines.append(f"| {row['module']} | {row['params']} | {share} | " + " | ".join(cells)
                         + f" | x{row['ratio_best']:.2f} ({row['best_mode']}) | "
                         + _cell(peak and peak / 2**20, ".1f") + " |")
        lines.append("")
    lines += target_lines(rows, args.modes)
    lines += floor_lines(rows)
    write_text(out_dir / f"{stem}.md", "\n".join(lines))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--modes", nargs="+", choices=list(MODES),
                        help="default: eager graph xla (TensorFlow), xla (JAX: jax.jit; eager is op by op)")
    parser.add_argument("--backend", choices=("tensorflow", "jax"), default="tensorflow",
                        help="Keras backend (read before Keras is imported)")
    parser.add_argument("--modules", nargs="+", default=list(MODULES), choices=list(MODULES), metavar="MODULE",
                        help="modules to time (default: all): " + ", ".join(repr(m) for m in MODULES))
    parser.add_argument("--render", type=Path, metavar="JSON",
                        help="only rewrite the markdown from a layer_overhead.json written before (no timing)")
    parser.add_argument("--mixed-precision", action="store_true",
                        help="time every model under keras.mixed_precision 'mixed_float16' (GPU runs)")
    parser.add_argument("--name", help="file stem of the results (default: layer_overhead[_<backend>]"
                                       "[_onednn_<isa>][_mixed_float16])")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    if args.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    args.argv = sys.argv[1:]
    if args.modes is None:
        args.modes = list(MODES) if BACKEND == "tensorflow" else ["xla"]
    if BACKEND != "tensorflow" and "graph" in args.modes:
        parser.error(f"--modes graph needs TensorFlow; the backend is {BACKEND}")
    if args.render:
        import json

        saved = json.loads(args.render.read_text())
        meta = saved["meta"]
        args.steps, args.warmup, args.modes, args.shapes = meta["steps"], meta["warmup"], meta["modes"], list(meta["shapes"])
        args.argv = meta.get("argv", args.argv)
        write(saved["rows"], args.out, args, machine=meta["machine"])
        return
    write(run(args.steps, args.warmup, args.shapes, args.modes, args.modules), args.out, args)


if __name__ == "__main__":
    main()
