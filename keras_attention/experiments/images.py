"""The image-classification runner shared by the SAN tables and the FA / SPANet / AW-convolution tables.

Each configuration is trained once per seed (seed k sets Keras' global seed, the weight initialisation and
the shuffling order; :func:`~keras_attention.experiments.runner.run_seeds`); the table reports mean ±
sample standard deviation over the seeds of top-1 and top-5 test accuracy (in %) of the final model, and the
mean training seconds, next to the paper's numbers. The validation curves of each run come from the last
``settings.validation_split`` (10%) of the training images (after ``--train-limit``), held out of training
by :func:`keras_attention.data.images.image_dataset` (the same images for every seed and configuration); the
test set is evaluated only once, on the final model. The first attention module of each attention
configuration (first seed's model) is drawn for a few test images.
"""

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import keras
import numpy as np

from keras_attention import models
from keras_attention.data import DATASETS, dataset_info, image_dataset
from keras_attention.data.images import example_count, validation_split_sizes
from keras_attention.experiments.artifacts import ATTENTION_MASKS, MODEL, RESULT, seed_dir
from keras_attention.experiments.configs import ImageConfig, ImageSettings
from keras_attention.experiments.plots import plot_attention_grid
from keras_attention.experiments.registry import Experiment, RunOptions
from keras_attention.experiments.results import (
    QUICK_NOTE,
    format_mean_std,
    markdown_table,
    paper_value,
    seed_statistics,
    slug,
    subset_note,
    summary_head,
    write_results,
)
from keras_attention.experiments.runner import (
    Progress,
    epoch_count,
    image_dataset_name,
    run_limits,
    run_seeds,
    seed_list,
    train_experiment_run,
)
from keras_attention.utils.files import read_json

QUICK_TRAIN, QUICK_TEST = 512, 256


def image_size_for(builder: str, input_shape: Sequence[int]) -> tuple[int, int] | None:
    """The input size each builder needs: LeNet-5 works on 28 px, VGG/ResNet on at least 32 px.

    Args:
        builder: the builder's name in :mod:`keras_attention.models`.
        input_shape: the data set's image shape ``(H, W, C)``.

    Returns:
        ``(height, width)`` to resize the images to, or None when they are large enough.

    Example:
        >>> from keras_attention.experiments.images import image_size_for
        >>> image_size_for("lenet5", (28, 28, 1)), image_size_for("vgg16", (28, 28, 1))
        (None, (32, 32))
    """
    h, w = input_shape[:2]
    need = 28 if builder == "lenet5" else 32
    if h >= need and w >= need:
        return None
    return (max(h, need), max(w, need))


def attention_masks(model: Any, images: Any) -> tuple[str | None, np.ndarray | None]:
    """Masks of the first attention module of ``model`` on ``images``.

    A twin of the module is built with ``return_attention=True`` and the module's weights, and fed the
    module's own inputs taken from the trained model.

    Args:
        model: a functional ``keras.Model``.
        images: a batch of its inputs.

    Returns:
        ``(module name, masks)``, or ``(None, None)`` when the model has no attention module.
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


def run_image_experiment(experiment: Experiment, options: RunOptions) -> dict[str, Any]:
    """``run(experiment, options)`` of the image experiments: train every configuration for every seed and
    write ``results.json`` / ``results.md`` (:func:`format_image_markdown`) and ``attention_masks.png``.

    Args:
        experiment: an image experiment (``ImageConfig`` rows, ``ImageSettings``).
        options: the run options.

    Returns:
        The summary written to ``results.json``.
    """
    out_dir = Path(options.out_dir)
    dataset = image_dataset_name(experiment, options)
    seeds = seed_list(experiment, options)
    epochs = epoch_count(experiment, options)
    limit_train, limit_test = run_limits(options, QUICK_TRAIN, QUICK_TEST)
    info = dataset_info(dataset, data_dir=options.data_dir)
    configs = experiment.configs
    settings = cast(ImageSettings, experiment.settings)  # an image experiment's
    width = options.width or (settings.quick_width if options.quick else settings.width)
    n_train, n_val = validation_split_sizes(example_count(dataset, "train", data_dir=options.data_dir,
                                                          limit=limit_train), settings.validation_split)
    examples = {"train": n_train, "validation": n_val,
                "test": example_count(dataset, "test", data_dir=options.data_dir, limit=limit_test)}
    progress = Progress(len([c for c in configs if not c.incompatible]) * len(seeds))
    print(f"{experiment.name}: {experiment.paper_table} on {dataset} — {len(configs)} configurations x "
          f"seeds {seeds} x {epochs} epochs -> {out_dir}", flush=True)

    rows: list[dict[str, Any]] = []
    for config in configs:
        if config.incompatible:
            rows.append({"label": config.label, "incompatible": config.incompatible})
            continue
        size = image_size_for(config.builder, info["input_shape"])
        input_shape = tuple(size or info["input_shape"][:2]) + (info["input_shape"][2],)

        def build(config: ImageConfig = config, input_shape: tuple[int, ...] = input_shape) -> Any:
            return getattr(models, config.builder)(input_shape=input_shape, num_classes=info["num_classes"],
                                                   attention=config.attention, placement=config.placement,
                                                   width=width, **config.options)

        def train(seed: int, run_dir: Path, size: tuple[int, int] | None = size,
                  build: Callable[[], Any] = build) -> dict[str, Any]:
            common = dict(batch_size=options.batch_size, data_dir=options.data_dir, image_size=size)
            split = dict(validation_split=settings.validation_split, limit=limit_train, **common)
            train_ds = image_dataset(dataset, "train", shuffle=True, seed=seed, subset="training", **split)
            val_ds = image_dataset(dataset, "train", shuffle=False, subset="validation", **split) if n_val else None
            test_ds = image_dataset(dataset, "test", shuffle=False, limit=limit_test, **common)
            train_experiment_run(experiment, options, build, train_ds, epochs=epochs, out_dir=run_dir,
                                 val_ds=val_ds, test_ds=test_ds, extra={"examples": examples})
            return read_json(run_dir / RESULT)

        runs = run_seeds(seeds, lambda seed, config=config: seed_dir(out_dir, config.slug, seed), train,
                         options=options, progress=progress, title=config.label,
                         report=lambda r: (f"top-1 {100 * r['test']['top1']:.2f}  top-5 {100 * r['test']['top5']:.2f}"
                                           f"  {r['train_seconds']:.0f} s"))
        rows.append({"label": config.label, "builder": config.builder, "attention": config.attention,
                     "placement": config.placement, "options": config.options,
                     **seed_statistics(runs, ("top1", "top5"))})
    summary = {
        **summary_head(experiment, options, seeds, epochs, dataset=dataset),
        "seed_list": seeds,
        "width": width,
        "train_limit": limit_train,
        "test_limit": limit_test,
        "batch_size": options.batch_size,
        "validation_split": settings.validation_split,
        "examples": examples,
        "rows": rows,
        "paper": paper_numbers(experiment, dataset),
    }
    write_results(summary, out_dir, format_image_markdown(summary))
    draw_masks(summary, dataset, out_dir, options)
    return summary


def paper_numbers(experiment: Experiment, dataset: str) -> dict[str, Any]:
    """The paper's numbers for ``dataset``; for a slice of a data set (``fashion_mnist_slice``), the numbers of
    the data set it is taken from (the table's header says which images were used)."""
    spec = DATASETS.get(dataset)
    full = spec.subset_of if spec is not None else None
    return experiment.paper.get(dataset) or (experiment.paper.get(full, {}) if full else {})


def split_note(examples: Mapping[str, int], validation_split: float) -> str:
    """``"N training images, M validation images (the last F% of the training images, for the curves only),
    K test images"`` from ``{"train", "validation", "test"}`` counts.

    Args:
        examples: ``{"train", "validation", "test"}`` image counts.
        validation_split: the fraction of the training images held out.

    Returns:
        The phrase.

    Example:
        >>> from keras_attention.experiments.images import split_note
        >>> print(split_note({"train": 900, "validation": 100, "test": 500}, 0.1))
        900 training images, 100 validation images (the last 10% of the training images, for the curves only),
        500 test images
    """
    held_out = (f"{examples['validation']} validation images (the last {100 * validation_split:g}% of the "
                f"training images, for the curves only)" if examples["validation"] else "no validation images")
    return f"{examples['train']} training images, {held_out}, {examples['test']} test images"


def run_header(summary: Mapping[str, Any]) -> str:
    """The line under an image table's title: seeds, epochs, batch, width, quick mode, subsets and split."""
    return (f"{summary['seeds']} seeds x {summary['epochs']} epochs, batch {summary['batch_size']}, width "
            f"{summary.get('width', 1.0):g}" + (QUICK_NOTE if summary["quick"] else "") + subset_note(summary)
            + (f"; {split_note(summary['examples'], summary['validation_split'])}" if "examples" in summary else ""))


def format_image_markdown(summary: Mapping[str, Any]) -> str:
    """``results.md`` of an image experiment: ours (mean ± std over seeds) next to the paper's top-1 / top-5.

    Args:
        summary: the summary of :func:`run_image_experiment`.

    Returns:
        The markdown text, ending in a newline.
    """
    paper = summary["paper"]
    rows = []
    for row in summary["rows"]:
        ref = [paper_value(v) for v in paper.get(row["label"], (None, None))]
        if "incompatible" in row:
            rows.append([row["label"], "-", "-", *ref, "-", "-"])
        else:
            rows.append([row["label"], format_mean_std(row["top1_mean_std"]), format_mean_std(row["top5_mean_std"]),
                         *ref, f"{row['train_seconds_mean']:.0f}", row["params"]])
    table = markdown_table(["model", "top-1", "top-5", "paper top-1", "paper top-5", "train s (mean)", "params"], rows)
    lines = [f"# {summary['experiment']}: {summary['paper_table']} on {summary['dataset']}", "",
             run_header(summary) + ". Test accuracy of the final model in %, mean ± std over seeds.", "", table]
    notes = [row for row in summary["rows"] if "incompatible" in row]
    if notes:
        lines += ["", *[f"- {row['label']}: {row['incompatible']}" for row in notes]]
    return "\n".join(lines) + "\n"


def draw_masks(summary: Mapping[str, Any], dataset: str, out_dir: Path, options: RunOptions, n_images: int = 3) -> None:
    """``attention_masks.png``: the first attention module's masks of every attention configuration (model of
    the first seed) on ``n_images`` test images."""
    masks: dict[str, np.ndarray] = {}
    images = None
    for row in summary["rows"]:
        if "incompatible" in row or not row.get("attention"):
            continue
        model_file = seed_dir(out_dir, slug(row["label"]), summary["seed_list"][0]) / MODEL
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
        plot_attention_grid(images, masks, out_dir / ATTENTION_MASKS,
                            title=f"{summary['experiment']}: first attention module, {dataset} test images")


__all__ = ["ImageConfig", "ImageSettings", "attention_masks", "format_image_markdown", "image_size_for",
           "run_image_experiment", "split_note"]
