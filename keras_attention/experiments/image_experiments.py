"""SAN image-classification experiments: Table IV (LeNet-5), Tables II/III (VGG-16, ResNet-18), Table IX.

Each configuration is trained once per seed (seed k sets Keras' global seed, the weight initialisation and
the shuffling order); the table reports mean ± sample standard deviation over the seeds of top-1 and top-5
test accuracy (in %), and the mean training seconds, next to the paper's numbers. The first attention
module of each attention configuration (seed 0 model) is drawn for a few test images.
"""

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from keras_attention import models
from keras_attention.data import dataset_info, image_dataset
from keras_attention.data.images import default_image_dataset
from keras_attention.experiments.plots import plot_attention_grid
from keras_attention.experiments.registry import Experiment, register, run_limits, subset_note
from keras_attention.experiments.training import train_experiment_run
from keras_attention.utils.files import read_json, write_json, write_text

QUICK_TRAIN, QUICK_TEST = 512, 256


@dataclass
class ImageConfig:
    label: str
    builder: str
    attention: str = None
    placement: str = "bottleneck"
    options: dict = field(default_factory=dict)
    incompatible: str = None  # why this cell is '-' (Table IX) on a given builder

    @property
    def slug(self):
        return "".join(ch if ch.isalnum() else "_" for ch in self.label.lower()).strip("_")


def default_dataset(data_dir=None):
    """The image experiments' default data set, printed with where it comes from and why.

    Local Fashion-MNIST IDX files, else tensorflow-datasets' ``fashion_mnist`` (already prepared, or
    downloaded where a network exists), else scikit-learn's bundled digits
    (:func:`keras_attention.data.images.default_image_dataset`).
    """
    name, reason = default_image_dataset(data_dir)
    print(f"data: {name} ({reason})", flush=True)
    return name


def image_size_for(builder, input_shape):
    """The input size each builder needs: LeNet-5 works on 28 px, VGG/ResNet on at least 32 px."""
    h, w = input_shape[:2]
    need = 28 if builder == "lenet5" else 32
    if h >= need and w >= need:
        return None
    return (max(h, need), max(w, need))


def _mean_std(values):
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std


def _fmt(mean_std):
    return f"{mean_std[0]:.2f} ± {mean_std[1]:.2f}"


def attention_masks(model, images):
    """Masks of the first attention module of ``model`` on ``images`` (None when it has none).

    A twin of the module is built with ``return_attention=True`` and the module's weights, and fed the
    module's own inputs taken from the trained model.
    """
    first = next((layer for layer in model.layers if "return_attention" in layer.get_config()), None)
    if first is None:
        return None, None
    feed = keras.Model(model.inputs, first.input)
    inputs = feed.predict(images, verbose=0)
    twin = type(first).from_config({**first.get_config(), "return_attention": True, "name": first.name + "_twin"})
    twin(inputs)
    twin.set_weights(first.get_weights())
    _, mask = twin(inputs, training=False)
    return first.name, np.asarray(mask)


def run_image_experiment(experiment, options):
    out_dir = Path(options.out_dir)
    dataset = options.dataset or experiment.default_dataset or default_dataset(options.data_dir)
    seeds = options.seeds or (2 if options.quick else experiment.default_seeds)
    epochs = options.epochs or (1 if options.quick else experiment.default_epochs)
    limit_train, limit_test = run_limits(options, QUICK_TRAIN, QUICK_TEST)
    info = dataset_info(dataset, data_dir=options.data_dir)
    configs = experiment.configs
    width = options.width or (experiment.extra.get("quick_width", 0.25) if options.quick
                              else experiment.extra.get("width", 1.0))
    total = len([c for c in configs if not c.incompatible]) * seeds
    seed_list = list(range(options.first_seed, options.first_seed + seeds))
    print(f"{experiment.name}: {experiment.paper_table} on {dataset} — {len(configs)} configurations x "
          f"seeds {seed_list} x {epochs} epochs -> {out_dir}", flush=True)

    rows, done = [], 0
    for config in configs:
        if config.incompatible:
            rows.append({"label": config.label, "incompatible": config.incompatible})
            continue
        size = image_size_for(config.builder, info["input_shape"])
        input_shape = tuple(size or info["input_shape"][:2]) + (info["input_shape"][2],)
        runs = []
        for seed in range(options.first_seed, options.first_seed + seeds):
            done += 1
            run_dir = out_dir / config.slug / f"seed{seed}"
            result_file = run_dir / "result.json"
            if options.resume and result_file.exists():
                runs.append(read_json(result_file))
                print(f"[{done}/{total}] {config.label} seed {seed}: done earlier, kept", flush=True)
                continue
            print(f"[{done}/{total}] {config.label} seed {seed}", flush=True)
            keras.utils.set_random_seed(seed)
            common = dict(batch_size=options.batch_size, data_dir=options.data_dir, image_size=size)
            train_ds = image_dataset(dataset, "train", shuffle=True, seed=seed, limit=limit_train, **common)
            test_ds = image_dataset(dataset, "test", shuffle=False, limit=limit_test, **common)

            def build(config=config, input_shape=input_shape):
                builder = getattr(models, config.builder)
                return builder(
                    input_shape=input_shape,
                    num_classes=info["num_classes"],
                    attention=config.attention,
                    placement=config.placement,
                    width=width,
                    **config.options,
                )

            result = train_experiment_run(
                experiment,
                options,
                build,
                train_ds,
                epochs=epochs,
                out_dir=run_dir,
                val_ds=test_ds,
                test_ds=test_ds,
            )
            runs.append(read_json(result_file))
            print(f"    top-1 {100 * result.test_metrics['top1']:.2f}  top-5 {100 * result.test_metrics['top5']:.2f}"
                  f"  {result.train_seconds:.0f} s", flush=True)
        top1 = [100 * r["test"]["top1"] for r in runs]
        top5 = [100 * r["test"]["top5"] for r in runs]
        rows.append(
            {
                "label": config.label,
                "builder": config.builder,
                "attention": config.attention,
                "placement": config.placement,
                "options": config.options,
                "top1": top1,
                "top5": top5,
                "top1_mean_std": _mean_std(top1),
                "top5_mean_std": _mean_std(top5),
                "train_seconds_mean": statistics.fmean(r["train_seconds"] for r in runs),
                "params": runs[0]["params"],
            }
        )
    summary = {
        "experiment": experiment.name,
        "paper_table": experiment.paper_table,
        "dataset": dataset,
        "seeds": seeds,
        "seed_list": seed_list,
        "epochs": epochs,
        "quick": options.quick,
        "width": width,
        "train_limit": limit_train,
        "test_limit": limit_test,
        "batch_size": options.batch_size,
        "rows": rows,
        "paper": experiment.paper.get(dataset, {}),
    }
    write_summary(summary, out_dir)
    draw_masks(experiment, summary, dataset, out_dir, options)
    return summary


def write_summary(summary, out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "results.json", summary)
    paper = summary["paper"]
    lines = [
        f"# {summary['experiment']}: {summary['paper_table']} on {summary['dataset']}",
        "",
        f"{summary['seeds']} seeds x {summary['epochs']} epochs, batch {summary['batch_size']}, width "
        f"{summary.get('width', 1.0):g}"
        + (" (quick mode: small subset, not comparable to the paper)" if summary["quick"] else "")
        + subset_note(summary)
        + ". Accuracy in %, mean ± std over seeds.",
        "",
        "| model | top-1 | top-5 | paper top-1 | paper top-5 | train s (mean) | params |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in summary["rows"]:
        ref = paper.get(row["label"], (math.nan, math.nan))
        ref_cells = [("-" if math.isnan(v) else f"{v:.2f}") for v in ref]
        if "incompatible" in row:
            lines.append(f"| {row['label']} | - | - | {ref_cells[0]} | {ref_cells[1]} | - | - |")
            continue
        lines.append(
            f"| {row['label']} | {_fmt(row['top1_mean_std'])} | {_fmt(row['top5_mean_std'])} | {ref_cells[0]} | "
            f"{ref_cells[1]} | {row['train_seconds_mean']:.0f} | {row['params']} |"
        )
    notes = [row for row in summary["rows"] if "incompatible" in row]
    if notes:
        lines += ["", *[f"- {row['label']}: {row['incompatible']}" for row in notes]]
    write_text(out_dir / "results.md", "\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def draw_masks(experiment, summary, dataset, out_dir, options, n_images=3):
    masks, images = {}, None
    for row in summary["rows"]:
        if "incompatible" in row or not row.get("attention"):
            continue
        slug = ImageConfig(row["label"], row["builder"]).slug
        model_file = out_dir / slug / f"seed{summary['seed_list'][0]}" / "model.keras"
        if not model_file.exists():
            continue
        model = keras.saving.load_model(model_file, safe_mode=True)
        if images is None:
            size = model.input_shape[1:3]
            batch = next(iter(image_dataset(dataset, "test", batch_size=n_images, shuffle=False,
                                            data_dir=options.data_dir, image_size=size, limit=n_images)))
            images = np.asarray(batch[0])
        name, mask = attention_masks(model, images)
        if mask is not None:
            masks[f"{row['label']}\n({name})"] = mask
    if masks:
        plot_attention_grid(images, masks, out_dir / "attention_masks.png",
                            title=f"{summary['experiment']}: first attention module, {dataset} test images")


# ----------------------------------------------------------------------------- the registry entries
COMPETITORS = [("Base Model", None), ("CBAM", "cbam"), ("BAM", "bam"), ("SAN-c", "san-c"), ("SAN-d", "san-d")]

register(
    Experiment(
        name="san-lenet",
        description="LeNet-5 with no attention, CBAM, BAM, SAN-c and SAN-d (bottleneck = full for LeNet).",
        paper_table="SAN paper Table IV",
        run=run_image_experiment,
        default_dataset=None,
        default_seeds=3,
        default_epochs=10,
        configs=[ImageConfig(label, "lenet5", att) for label, att in COMPETITORS],
        paper={
            "mnist": {"Base Model": (98.37, 99.98), "CBAM": (97.88, 99.98), "BAM": (98.52, 99.99),
                      "SAN-c": (98.56, 99.99), "SAN-d": (98.70, 100.00)},
            "fashion_mnist": {"Base Model": (89.43, 99.87), "CBAM": (89.27, 99.85), "BAM": (89.64, 99.90),
                              "SAN-c": (89.75, 99.92), "SAN-d": (89.94, 99.96)},
        },
        extra={"width": 1.0, "quick_width": 1.0},
    )
)


def _placement_configs(builder):
    configs = [ImageConfig("Base Model", builder, None)]
    for placement in ("bottleneck", "full"):
        for label, att in COMPETITORS[1:]:
            configs.append(ImageConfig(f"{label} ({placement})", builder, att, placement))
    return configs


def _paper_placement(table):
    out = {}
    for dataset, cells in table.items():
        out[dataset] = {"Base Model": cells["Base Model"]}
        for label in ("CBAM", "BAM", "SAN-c", "SAN-d"):
            out[dataset][f"{label} (bottleneck)"] = cells[label][0]
            out[dataset][f"{label} (full)"] = cells[label][1]
    return out


_TABLE_II = {  # VGG-16: dataset -> label -> ((bottleneck top1, top5), (full top1, top5))
    "cifar10": {"Base Model": (72.70, 93.12), "CBAM": ((76.57, 95.23), (74.65, 94.26)),
                "BAM": ((76.15, 94.85), (76.42, 95.63)), "SAN-c": ((78.42, 97.86), (79.89, 97.99)),
                "SAN-d": ((79.01, 99.50), (81.24, 99.98))},
    "cifar20": {"Base Model": (45.17, 70.01), "CBAM": ((46.14, 72.56), (45.74, 72.16)),
                "BAM": ((48.95, 76.89), (46.79, 73.68)), "SAN-c": ((50.23, 78.99), (51.14, 82.99)),
                "SAN-d": ((52.84, 82.03), (54.88, 86.48))},
    "cifar100": {"Base Model": (31.07, 53.01), "CBAM": ((32.17, 54.02), (32.51, 54.67)),
                 "BAM": ((32.96, 55.65), (35.96, 61.45)), "SAN-c": ((34.58, 58.99), (37.59, 63.48)),
                 "SAN-d": ((36.14, 61.23), (39.03, 68.45))},
}
_TABLE_III = {  # ResNet-18
    "cifar10": {"Base Model": (68.55, 90.51), "CBAM": ((73.76, 96.40), (74.40, 97.42)),
                "BAM": ((73.42, 93.42), (72.67, 96.71)), "SAN-c": ((74.82, 97.86), (75.03, 98.99)),
                "SAN-d": ((78.89, 99.97), (79.67, 100.00))},
    "cifar20": {"Base Model": (49.32, 73.00), "CBAM": ((53.39, 80.34), (51.73, 75.89)),
                "BAM": ((53.53, 81.13), (54.77, 82.64)), "SAN-c": ((55.23, 85.82), (52.74, 78.95)),
                "SAN-d": ((56.53, 87.26), (54.94, 83.98))},
    "cifar100": {"Base Model": (37.83, 62.95), "CBAM": ((40.95, 65.65), (40.74, 67.97)),
                 "BAM": ((40.72, 65.39), (40.49, 67.01)), "SAN-c": ((41.74, 67.10), (44.14, 72.43)),
                 "SAN-d": ((41.49, 66.95), (47.06, 74.42))},
}

register(
    Experiment(
        name="san-vgg",
        description="VGG-16 with CBAM, BAM, SAN-c, SAN-d at bottleneck and full placement.",
        paper_table="SAN paper Table II",
        run=run_image_experiment,
        default_dataset="cifar10",
        configs=_placement_configs("vgg16"),
        paper=_paper_placement(_TABLE_II),
        extra={"width": 1.0, "quick_width": 0.125},
    )
)
register(
    Experiment(
        name="san-resnet",
        description="ResNet-18 with CBAM, BAM, SAN-c, SAN-d at bottleneck and full placement.",
        paper_table="SAN paper Table III",
        run=run_image_experiment,
        default_dataset="cifar10",
        configs=_placement_configs("resnet18"),
        paper=_paper_placement(_TABLE_III),
        extra={"width": 1.0, "quick_width": 0.125},
    )
)

_ABLATION_ROWS = [  # Table IX rows 1-5: (label, absolute, channel_alignment, extrema, smoothing)
    ("1 no-Abs, no-CCA, no-Extrema, no-Smoothing", False, False, False, False),
    ("2 Abs, no-CCA, no-Extrema, no-Smoothing", True, False, False, False),
    ("3 Abs, CCA, no-Extrema, no-Smoothing", True, True, False, False),
    ("4 Abs, CCA, Extrema, no-Smoothing", True, True, True, False),
    ("5 Abs, CCA, Extrema, Smoothing", True, True, True, True),
]


def _ablation_configs(builder):
    configs = [ImageConfig("0 Base Model", builder, None)]
    for label, absolute, cca, extrema, smoothing in _ABLATION_ROWS:
        switches = dict(absolute=absolute, channel_alignment=cca, extrema=extrema, smoothing=smoothing)
        incompatible = None
        if builder == "lenet5" and not cca:
            incompatible = ("incompatible configuration: LeNet-5's SAN pairs have different channel counts "
                            "(1 -> 6, 6 -> 16), which needs cross-layer channel alignment (Table IX '-')")
        configs.append(ImageConfig(label, builder, "san-c", "bottleneck",
                                   {"attention_options": switches}, incompatible))
    return configs


register(
    Experiment(
        name="san-ablation",
        description="SAN ablation (Table IX rows 0-5) on LeNet-5; rows 1-2 are incompatible there.",
        paper_table="SAN paper Table IX",
        run=run_image_experiment,
        default_dataset=None,
        configs=_ablation_configs("lenet5"),
        paper={
            "mnist": {"0 Base Model": (98.37, math.nan), **{r[0]: v for r, v in zip(
                _ABLATION_ROWS, [(math.nan,) * 2] * 2 + [(98.34, math.nan), (98.17, math.nan), (98.56, math.nan)])}},
            "fashion_mnist": {"0 Base Model": (89.43, math.nan), **{r[0]: v for r, v in zip(
                _ABLATION_ROWS, [(math.nan,) * 2] * 2 + [(89.55, math.nan), (89.28, math.nan), (89.75, math.nan)])}},
        },
    )
)

__all__ = ["ImageConfig", "attention_masks", "default_dataset", "run_image_experiment"]
