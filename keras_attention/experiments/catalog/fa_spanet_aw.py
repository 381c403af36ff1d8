"""FA (FANet Table I), SPANet vs non-local per stage (SPANet Table 2), AW-ResNet-18 (issue "Step 7").

All three train on real Fashion-MNIST, resized to 32 x 32 (bilinear, antialiased; the builders need
32 px), with :func:`~keras_attention.experiments.images.run_image_experiment` (seed k sets
Keras' global seed, the initial weights and the shuffling order; 3 seeds and 10 epochs by default, Adam
1e-3, batch 128). After training, every configuration's first-seed model is measured on one batch of real
test images, and the experiment's table is written to ``results.md`` / ``results.json`` next to the
paper's numbers (which come from other datasets: CIFAR-10, CIFAR-100, ImageNet; they show the
expected direction, not the expected value).

- ``fa`` (FANet Table I analog): ResNet-20 and ResNet-56 (the CIFAR ResNet, 6n + 2), each plain, with
  SE in every block (``reduction=4``, one of the two ratios the FANet paper tried for SENet) and with FA
  (multi-stage deployment of Fig. 4, ``r1 = r2 = 4``): top-1 error, parameters and FLOPs.
- ``spanet`` (SPANet Table 2 analog): ResNet-18, plain and with ONE SPANet (``k = 2``) or non-local
  block after stage 1, 2, 3 or 4: top-1 accuracy, parameters, FLOPs, the attention map's size, peak
  memory of a training step and step time side by side.
- ``awconv`` (AW paper Table 1 analog on ResNet-18): ResNet-18, AW-ResNet-18, SE-ResNet-18 and
  AW-SE-ResNet-18 (SE in every block, Fig. 2): top-1 accuracy, parameters, FLOPs and step time.

Width (SPEC §10's multiplier, chosen so that CPU runs are feasible): 0.5 for the CIFAR ResNets (8-16-32
filters), 0.25 for ResNet-18 (16-32-64-128 filters); ``--quick`` halves it again and trains 1 epoch on
512 images.

FLOPs are counted analytically, as multiply-accumulates (MACs; the convention of the SE / FA / AW
papers' "FLOPs"), for the convolution and dense layers and the dense parts of the attention modules;
BN, activations, poolings, additions, softmax and sigmoid gates are not counted. With ``H_o x W_o`` the
output size, ``N = H x W`` the positions, ``C`` channels and ``h`` hidden widths:

- ``Conv2D``: ``H_o W_o k_h k_w (C_in / groups) C_out``; ``Dense``: ``positions C_in C_out``;
- ``AWConv2D``: ``H_o W_o k_h k_w C_1 C_2 + k_h k_w (C_1 h + h C_2)`` (the convolution plus the attention
  branch's two pointwise convolutions on the pooled ``k_h x k_w`` map);
- ``FocusAssociation``: ``C_x h + h`` (focus) ``+ i (e i) + e i`` (association, blocks after the first)
  ``+ H_u W_u C_x C_u`` (the 1x1 projection, when ``x`` and ``u`` differ);
- ``SqueezeExcitation``: ``2 C h``; ``CBAM``: ``4 C h + 2 N k^2`` (MLP on two descriptors, spatial conv);
- ``SalientPositionsAttention``: ``2 N C d + k d^2 + N d^2 + N d C`` (theta and g, ``K^T K``, ``V A^T``,
  ``W``; ``d`` = inter channels);
- ``NonLocalBlock``: ``3 N C d + 2 N N' d + N d C`` (theta, phi, g; affinity and aggregation; ``W``).
  Any other layer with weights is listed as uncounted.

Peak memory (``spanet``): ``tf.config.experimental.get_memory_info`` peak during the timed training
steps (compiled as in training, after 2 warm-up steps and a ``reset_memory_stats``) minus the memory
in use before them: what a step adds (activations, gradients, workspace). On a GPU this runs in the
process. TensorFlow's default CPU allocator keeps no statistics (the call reports zeros), so on the CPU
the measurement runs in a child process started with ``TF_CPU_ALLOCATOR_USE_BFC=true`` (the BFC
allocator, which keeps them), unless this process already runs with it.

Step time: median wall time of ``train_on_batch`` over the timed steps after 2 warm-up steps, compiled
as in training. Both depend on the machine and its load: compare within one table.
"""

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from keras_attention.data import image_dataset
from keras_attention.experiments.images import ImageConfig, ImageSettings, run_header, run_image_experiment
from keras_attention.experiments.registry import Experiment, register
from keras_attention.experiments.results import format_mean_std, markdown_table, slug, write_results
from keras_attention.experiments.training import compile_classifier, median_step_seconds
from keras_attention.layers import (
    CBAM,
    AWConv2D,
    FocusAssociation,
    NonLocalBlock,
    SalientPositionsAttention,
    SqueezeExcitation,
)

WARMUP_STEPS = 2
TIMED_STEPS, QUICK_TIMED_STEPS = 10, 3
MIB = 2**20


# ----------------------------------------------------------------------------- FLOPs (MACs)
def _shape(tensor):
    return tuple(tensor.shape)


def _positions(shape):
    return int(np.prod(shape[1:-1])) if len(shape) > 2 else 1


def layer_macs(layer):
    """Multiply-accumulates of one call of ``layer`` (per sample), or None for a layer with weights whose
    cost this module does not model (see the module docstring for the formulas); 0 for weightless layers."""
    if isinstance(layer, AWConv2D):
        x, y = _shape(layer.input), _shape(layer.output)
        kh, kw = layer.kernel_size
        c1, c2 = x[-1], y[-1]
        hidden = int(layer.pointwise1.shape[-1])
        return _positions(y) * kh * kw * c1 * c2 + kh * kw * (c1 * hidden + hidden * c2)
    if isinstance(layer, keras.layers.Conv2D) and type(layer) in (keras.layers.Conv2D,):
        y = _shape(layer.output)
        kh, kw = layer.kernel_size
        c_in = _shape(layer.input)[-1] // layer.groups
        return _positions(y) * kh * kw * c_in * layer.filters
    if isinstance(layer, keras.layers.Dense):
        x = _shape(layer.input)
        return _positions(x) * x[-1] * layer.units
    if isinstance(layer, FocusAssociation):
        shapes = [_shape(t) for t in layer.input]
        x, u = shapes[0], shapes[1]
        hidden = int(layer.w1.shape[-1])
        macs = x[-1] * hidden + hidden
        if len(shapes) == 3:
            i = shapes[2][-1] + 1
            macs += i * layer.expansion * i + layer.expansion * i
        if x[1:] != u[1:]:
            macs += _positions(u) * x[-1] * u[-1]
        return macs
    if isinstance(layer, SqueezeExcitation):
        return 2 * int(np.prod(layer.squeeze_kernel.shape))
    if isinstance(layer, CBAM):
        x = _shape(layer.input)
        k2 = int(np.prod(layer.spatial_kernel.shape[:-2]))
        return 2 * (int(np.prod(layer.mlp_kernel_1.shape)) + int(np.prod(layer.mlp_kernel_2.shape))) + (
            _positions(x) * k2 * 2
        )
    if isinstance(layer, SalientPositionsAttention):
        x = _shape(layer.input)
        n, c, d, k = _positions(x), x[-1], layer._inter, layer._k
        return 2 * n * c * d + k * d * d + n * d * d + n * d * c
    if isinstance(layer, NonLocalBlock):
        x = _shape(layer.input)
        n, c, d = _positions(x), x[-1], layer._inter
        n_keys = int(np.prod([s // 2 for s in x[1:-1]])) if layer.sub_sample else n
        return 3 * n * c * d + 2 * n * n_keys * d + n * d * c
    if not layer.weights or isinstance(layer, keras.layers.BatchNormalization):
        return 0
    return None


def count_macs(model):
    """``{"total": MACs per sample, "layers": {name: MACs}, "uncounted": [names]}`` for ``model``."""
    per_layer, uncounted = {}, []
    for layer in model.layers:
        macs = layer_macs(layer)
        if macs is None:
            uncounted.append(layer.name)
        elif macs:
            per_layer[layer.name] = int(macs)
    return {"total": int(sum(per_layer.values())), "layers": per_layer, "uncounted": uncounted}


def attention_map_entries(model):
    """Entries per sample of the attention maps of the SPANet / non-local modules in ``model``: SPANet keeps
    ``K`` (``k x d``) and ``A`` (``d x d``), the non-local block ``f`` (``N x N'``)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, SalientPositionsAttention):
            total += layer._k * layer._inter + layer._inter**2
        elif isinstance(layer, NonLocalBlock):
            spatial = _shape(layer.input)[1:-1]
            n = int(np.prod(spatial))
            total += n * (int(np.prod([s // 2 for s in spatial])) if layer.sub_sample else n)
    return total


# ----------------------------------------------------------------------------- step time and memory
def time_train_steps(model, images, labels, steps, *, warmup=WARMUP_STEPS, jit_compile=False):
    """Median seconds of one ``train_on_batch`` on ``(images, labels)`` after ``warmup`` untimed steps.

    The model is (re)compiled as in training (Adam, sparse cross-entropy), so its weights move."""
    compile_classifier(model, jit_compile=jit_compile)
    return median_step_seconds(model, images, labels, steps, warmup)


def _allocator_peak(model, images, labels, steps, device, jit_compile=False):
    """Peak bytes the allocator of ``device`` holds during ``steps`` compiled training steps, above what it
    held before them (after 2 warm-up steps that trace the step and create the optimizer's slots)."""
    compile_classifier(model, jit_compile=jit_compile)
    for _ in range(WARMUP_STEPS):
        model.train_on_batch(images, labels)
    tf.config.experimental.reset_memory_stats(device)
    before = tf.config.experimental.get_memory_info(device)["current"]
    for _ in range(steps):
        model.train_on_batch(images, labels)
    return int(tf.config.experimental.get_memory_info(device)["peak"] - before)


def _cpu_stats_enabled():
    return os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "").lower() in ("1", "true")


def _memory_child(argv):
    """Child-process entry (CPU, BFC allocator with statistics): ``model.keras batch.npz steps jit`` ->
    one JSON line ``{"peak": bytes}``."""
    model_path, batch_path, steps, jit = argv[0], argv[1], int(argv[2]), json.loads(argv[3])
    model = keras.saving.load_model(model_path, safe_mode=True)
    batch = np.load(batch_path)
    peak = _allocator_peak(model, batch["images"], batch["labels"], steps, "CPU:0", jit)
    print(json.dumps({"peak": peak}), flush=True)


def peak_step_memory(model, model_path, images, labels, steps, *, jit_compile=False):
    """``(bytes, method)``: the peak memory the training steps add (module docstring)."""
    gpus = tf.config.list_logical_devices("GPU")
    if gpus:
        device = gpus[0].name.replace("/device:", "")
        return _allocator_peak(model, images, labels, steps, device, jit_compile), f"{device} get_memory_info peak"
    if _cpu_stats_enabled():  # this process already runs the CPU allocator with statistics
        return _allocator_peak(model, images, labels, steps, "CPU:0", jit_compile), "CPU:0 get_memory_info peak"
    with tempfile.TemporaryDirectory() as tmp:
        batch_path = Path(tmp) / "batch.npz"
        np.savez(batch_path, images=images, labels=labels)
        code = ("import sys; from keras_attention.experiments.catalog.fa_spanet_aw import _memory_child; "
                "_memory_child(sys.argv[1:])")
        env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CPU_ALLOCATOR_USE_BFC": "true"}
        argv = [str(model_path), str(batch_path), str(steps), json.dumps(jit_compile)]  # True, False or "auto"
        done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env,
                              check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise RuntimeError(f"memory measurement of {model_path} failed:\n{done.stderr[-2000:]}")
    return int(json.loads(lines[-1])["peak"]), "CPU:0 get_memory_info peak, child process with the BFC allocator"
# ----------------------------------------------------------------------------- the runner
@dataclass(frozen=True)
class MeasuredSettings(ImageSettings):
    """``table``: which table (``fa`` reports the error, ``spanet`` adds the attention-map size and the peak
    step memory, measured when ``memory``); ``paper_reference``: the paper's columns and rows."""

    table: str = "fa"
    memory: bool = False
    paper_reference: dict = field(default_factory=dict)


def _probe_batch(dataset, size, batch_size, data_dir):
    batch = next(iter(image_dataset(dataset, "test", batch_size=batch_size, shuffle=False, data_dir=data_dir,
                                    image_size=size, limit=batch_size)))
    return np.asarray(batch[0]), np.asarray(batch[1])


def run_step7_experiment(experiment, options):
    """Train the configurations (``run_image_experiment``), then measure each first-seed model and write the
    experiment's table (``results.md``, ``results.json``, with the measurements added to the rows)."""
    summary = run_image_experiment(experiment, options)
    settings = experiment.settings
    out_dir = Path(options.out_dir)
    steps = QUICK_TIMED_STEPS if options.quick else TIMED_STEPS
    probe = None
    for row in summary["rows"]:
        if "incompatible" in row:
            continue
        model_path = out_dir / slug(row["label"]) / f"seed{summary['seed_list'][0]}" / "model.keras"
        model = keras.saving.load_model(model_path, safe_mode=True)
        if probe is None:
            probe = _probe_batch(summary["dataset"], tuple(model.input_shape[1:3]), options.batch_size,
                                 options.data_dir)
        macs = count_macs(model)
        row["macs"], row["macs_uncounted"] = macs["total"], macs["uncounted"]
        row["attention_map_entries"] = attention_map_entries(model)
        if settings.memory:
            row["peak_step_memory_bytes"], row["memory_method"] = peak_step_memory(
                model, model_path, *probe, steps, jit_compile=options.jit_compile)
            model = keras.saving.load_model(model_path, safe_mode=True)
        row["step_seconds"] = time_train_steps(model, *probe, steps, jit_compile=options.jit_compile)
        print(f"    {row['label']}: {row['macs'] / 1e6:.2f} MMACs, step {1e3 * row['step_seconds']:.1f} ms"
              + (f", peak +{row['peak_step_memory_bytes'] / MIB:.1f} MiB" if settings.memory else ""), flush=True)
    summary["measured_batch"] = options.batch_size
    summary["timed_steps"] = steps
    summary["paper_reference"] = settings.paper_reference
    write_results(summary, out_dir, format_step7_markdown(summary, settings.table))
    return summary


def format_step7_markdown(summary, table):
    """The experiment's table: ours (mean ± std over seeds) next to the paper's reference numbers."""
    ref = summary["paper_reference"]
    measured = ["params", "MMACs", "step ms"]
    if table == "spanet":
        measured += ["attn map entries", "peak step MiB"]
    metric = "top-1 error %" if table == "fa" else "top-1 %"
    header = ["model", metric, *measured, *ref["columns"]]
    rows = []
    for row in summary["rows"]:
        paper = [str(v) for v in ref["rows"].get(row["label"], ["-"] * len(ref["columns"]))]
        if "incompatible" in row:
            rows.append([row["label"]] + ["-"] * (len(header) - 1 - len(paper)) + paper)
            continue
        mean, std = row["top1_mean_std"]  # over the seeds (run_image_experiment)
        if table == "fa":
            mean = 100.0 - mean  # error; its std is the accuracy's
        cells = [row["label"], format_mean_std((mean, std)), f"{row['params']:,}", f"{row['macs'] / 1e6:.3f}",
                 f"{1e3 * row['step_seconds']:.1f}"]
        if table == "spanet":
            memory = row.get("peak_step_memory_bytes")
            cells += [f"{row['attention_map_entries']:,}", "-" if memory is None else f"{memory / MIB:.1f}"]
        rows.append(cells + paper)
    lines = [
        f"# {summary['experiment']}: {summary['paper_table']} on {summary['dataset']} (32 x 32)",
        "",
        run_header(summary)
        + f". Mean ± std over seeds. MMACs: multiply-accumulates per image (module docstring); step ms: median "
        f"of {summary['timed_steps']} training steps of batch {summary['measured_batch']}. Paper columns: "
        f"{ref['source']}.",
        "",
        markdown_table(header, rows),
    ]
    methods = sorted({row["memory_method"] for row in summary["rows"] if "memory_method" in row})
    if methods:
        lines += ["", f"Peak step memory: {', '.join(methods)}; above the memory in use before the steps."]
    uncounted = sorted({name for row in summary["rows"] for name in row.get("macs_uncounted", [])})
    if uncounted:
        lines += ["", f"Layers not in the MAC count: {', '.join(uncounted)}."]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the registry entries
def fa_configs(depths=(20, 56)):
    configs = []
    for depth in depths:
        common = {"depth": depth}
        configs += [
            ImageConfig(f"ResNet-{depth}", "cifar_resnet", None, None, dict(common)),
            ImageConfig(f"SE-ResNet-{depth}", "cifar_resnet", "se", "full",
                        {**common, "attention_options": {"reduction": 4}}),
            ImageConfig(f"FA-ResNet-{depth}", "cifar_resnet", "fa", None,
                        {**common, "attention_options": {"reduction": 4, "expansion": 4}}),
        ]
    return configs


def spanet_configs(stages=(1, 2, 3, 4), k=2):
    configs = [ImageConfig("ResNet-18", "resnet18", None, None)]
    for kind, label in (("spanet", "SPANet"), ("nonlocal", "NonLocal")):
        for stage in stages:
            options = {"stage": stage, **({"k": k} if kind == "spanet" else {})}
            configs.append(ImageConfig(f"ResNet-18 + {label} stage {stage}", "resnet18", kind, None, options))
    return configs


def awconv_configs():
    return [
        ImageConfig("ResNet-18", "resnet18", None, None),
        ImageConfig("AW-ResNet-18", "resnet18", None, None, {"conv": "aw"}),
        ImageConfig("SE-ResNet-18", "resnet18", "se", "full"),
        ImageConfig("AW-SE-ResNet-18", "resnet18", "se", "full", {"conv": "aw"}),
    ]


_FA_PAPER = {  # FANet Table I, CIFAR-10: top-1 err %, MFLOPs, #params
    "ResNet-20": (7.70, 2.063, "0.293M"), "SE-ResNet-20": (7.25, 2.122, "0.301M"),
    "FA-ResNet-20": (7.32, 2.093, "0.297M"), "ResNet-56": (6.31, 6.168, "0.876M"),
    "SE-ResNet-56": (6.10, 6.259, "0.889M"), "FA-ResNet-56": (5.86, 6.278, "0.892M"),
}
_SPANET_PAPER = {"ResNet-18": (75.87,)}  # SPANet Table 1 (base) and Table 2, CIFAR-100 top-1 %, ResNet-18
for _stage, (_nl, _spa) in enumerate([(78.50, 78.51), (78.26, 78.59), (78.39, 78.68), (77.92, 76.82)], start=1):
    _SPANET_PAPER[f"ResNet-18 + NonLocal stage {_stage}"] = (_nl,)
    _SPANET_PAPER[f"ResNet-18 + SPANet stage {_stage}"] = (_spa,)
_AW_PAPER = {  # AW paper Table 1, ImageNet, ResNet-50: top-1 err %, GFLOPs, params (M)
    "ResNet-18": (24.56, 3.86, 25.56), "AW-ResNet-18": (23.38, 3.87, 25.72),
    "SE-ResNet-18": (23.14, 3.87, 28.09), "AW-SE-ResNet-18": (22.72, 3.88, 28.25),
}

# The committed tables (benchmarks/results/<name>_fashion_mnist.md): (epochs, width); 3 seeds, batch 32, the first
# 4000 training and 5000 test images.
PUBLISHED = {"fa": (4, 0.25), "spanet": (3, 0.125), "awconv": (4, 0.125)}

_ENTRIES = [  # name, description, paper table, configurations, settings
    ("fa", "CIFAR ResNet-20/56 plain, with SE and with FA (multi-stage, Fig. 4): error, params, FLOPs.",
     "FANet Table I", fa_configs(),
     MeasuredSettings(width=0.5, quick_width=0.25, table="fa", paper_reference={
         "source": "FANet Table I, CIFAR-10, full-width networks (the paper's MFLOPs)",
         "columns": ["paper err %", "paper MFLOPs", "paper params"], "rows": _FA_PAPER})),
    ("spanet", "ResNet-18 with one SPANet (k=2) or non-local block after stage 1-4: accuracy, memory, time.",
     "SPANet Table 2", spanet_configs(),
     MeasuredSettings(width=0.25, quick_width=0.125, table="spanet", memory=True, paper_reference={
         "source": "SPANet Tables 1-2, CIFAR-100 top-1 %, ResNet-18, k = 2",
         "columns": ["paper top-1 %"], "rows": _SPANET_PAPER})),
    ("awconv", "ResNet-18 with AW-convolution (and SE, Fig. 2) against plain: accuracy, params, step time.",
     "AW paper Table 1", awconv_configs(),
     MeasuredSettings(width=0.25, quick_width=0.125, table="awconv", paper_reference={
         "source": "AW paper Table 1, ImageNet, ResNet-50 (not ResNet-18)",
         "columns": ["paper err %", "paper GFLOPs", "paper params M"], "rows": _AW_PAPER})),
]
for _name, _description, _table, _configs, _settings in _ENTRIES:
    register(Experiment(name=_name, description=_description, paper_table=_table, run=run_step7_experiment,
                        default_dataset="fashion_mnist", quick_seeds=2, configs=_configs, settings=_settings,
                        presets={"published": {"dataset": "fashion_mnist", "seeds": 3, "epochs": PUBLISHED[_name][0],
                                               "width": PUBLISHED[_name][1], "batch_size": 32, "train_limit": 4000,
                                               "test_limit": 5000}}))

__all__ = [
    "MeasuredSettings",
    "attention_map_entries",
    "awconv_configs",
    "count_macs",
    "fa_configs",
    "layer_macs",
    "peak_step_memory",
    "run_step7_experiment",
    "spanet_configs",
    "time_train_steps",
]
