"""``keras-attention sparsify MODEL --sparsity S --dataset D --out F``: iSparse sparsify-with, once, without
retraining.

It writes one new ``.keras`` file and never replaces an existing one without ``--overwrite`` - and never the
input model, even with it; it prints the sparsity report and the test accuracy before and after. The paths
are checked before TensorFlow is imported.
"""

import argparse
from pathlib import Path

from keras_attention.cli.common import (
    check_image_data,
    import_tensorflow_quietly,
    register_package_objects,
)


def _check_sparsify_paths(model_path: Path, out: Path, overwrite: bool) -> None:
    """Validate the input model and the --out file before anything is loaded or written."""
    if model_path.suffix != ".keras":
        raise ValueError(f"MODEL {str(model_path)!r} must be a .keras file (Keras 3 format).")
    if not model_path.is_file():
        raise FileNotFoundError(f"MODEL {str(model_path)!r} does not exist or is not a file.")
    if out.suffix != ".keras":
        raise ValueError(f"--out {str(out)!r} must end in .keras.")
    if out.resolve() == model_path.resolve():
        raise ValueError(f"--out {str(out)!r} is the input model; write the sparsified model to another file.")
    if out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a directory; expected a .keras file path.")
    if out.exists() and not overwrite:
        raise FileExistsError(f"--out {str(out)!r} exists; pass --overwrite to replace it.")


def cmd_sparsify(args: argparse.Namespace) -> int:
    """``keras-attention sparsify`` (module docstring); 0 when the sparsified model is written."""
    from keras_attention.experiments.run_directory import check_writable

    _check_sparsify_paths(args.model, args.out, args.overwrite)
    check_writable(args.out.parent)
    import_tensorflow_quietly()
    import keras

    from keras_attention.data import dataset_info, image_dataset
    from keras_attention.experiments.evaluation import dataset_labels, topk_accuracy
    from keras_attention.sparsity import (
        format_sparsity_report,
        sparsify,
        sparsity_report,
    )
    from keras_attention.utils.files import save_model

    info = dataset_info(args.dataset, data_dir=args.data_dir)
    check_image_data(args.dataset, args.data_dir)
    register_package_objects()
    model = keras.saving.load_model(args.model, safe_mode=True, compile=False)
    shape = model.input_shape
    if isinstance(shape, list) or len(shape) != 4 or shape[-1] != info["input_shape"][-1] or None in shape[1:]:
        raise ValueError(f"MODEL {str(args.model)!r} takes inputs of shape {shape}; --dataset {args.dataset!r} has "
                         f"images (H, W, {info['input_shape'][-1]}), so the model must take one (None, H, W, "
                         f"{info['input_shape'][-1]}) input.")
    size: tuple[int, ...] | None = tuple(shape[1:3])
    size = None if size == tuple(info["input_shape"][:2]) else size
    common = dict(batch_size=args.batch_size, data_dir=args.data_dir, image_size=size)
    test_ds = image_dataset(args.dataset, "test", shuffle=False, limit=args.limit, **common)
    samples = None
    if args.strategy == "isparse":
        samples = image_dataset(args.dataset, "train", shuffle=True, seed=args.seed, **common)

    print(f"sparsifying {args.model} ({args.strategy}, sparsity {args.sparsity:g}) on {args.dataset}", flush=True)
    sparse = sparsify(model, args.sparsity, samples, args.strategy, seed=args.seed, max_samples=args.samples)
    labels = dataset_labels(test_ds)
    before, after = topk_accuracy(model, test_ds, labels), topk_accuracy(sparse, test_ds, labels)
    print("before:\n" + format_sparsity_report(sparsity_report(model)))
    print("after:\n" + format_sparsity_report(sparsity_report(sparse)))
    print(f"test top-1 {100 * before['top1']:.2f}% -> {100 * after['top1']:.2f}%, "
          f"top-5 {100 * before['top5']:.2f}% -> {100 * after['top5']:.2f}% ({len(labels)} test images)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    save_model(sparse, args.out)
    print(f"sparsified model: {args.out}", flush=True)
    return 0

