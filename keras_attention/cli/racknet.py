"""``keras-attention racknet analyze --dataset D --out plan.json``: RACKNet's analysis of a data set.

It analyses the training images of ``D`` with :func:`keras_attention.racknet.analyze` (tqdm bar over the
images), allocates ``--budget`` kernels the RACKNet way, writes the plan as JSON, prints it as a row of
Table 3.2 with the seconds of every analysis phase, and draws ``<plan stem>_entropy.png`` next to it: per
rack (octave), the histogram of the keypoint entropies with the fitted Gaussian components (Fig. 3.4).
Every argument and the output path are checked before any work.
"""

import argparse
from pathlib import Path

from keras_attention.cli.common import import_tensorflow_quietly


def cmd_racknet_analyze(args: argparse.Namespace) -> int:
    """``racknet analyze``: checks the output path before any work (module docstring)."""
    from keras_attention.data import dataset_info, load_arrays
    from keras_attention.experiments.artifacts import entropy_histogram_path
    from keras_attention.experiments.plots import plot_entropy_histogram
    from keras_attention.racknet import analyze, default_upscale, describe_plan, entropy_sample

    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"--out {str(out)!r} is a directory; expected the path of the plan's JSON file.")
    figure = entropy_histogram_path(out)
    taken = [str(p) for p in (out, figure) if p.exists()]
    if taken and not args.overwrite:
        raise FileExistsError(f"{' and '.join(taken)} exist(s); pass --overwrite to replace the plan.")
    info = dataset_info(args.dataset, data_dir=args.data_dir)
    upscale = args.upscale or default_upscale(info["input_shape"])

    images, _ = load_arrays(args.dataset, "train", data_dir=args.data_dir, limit=args.limit)
    print(f"analysing {len(images)} {args.dataset} training images (SIFT upscale {upscale})", flush=True)
    plan = analyze(images, mixture=args.mixture, upscale=upscale, seed=args.seed, n_jobs=args.jobs,
                   progress=True, budget=args.budget)
    entropies, octaves = entropy_sample(images, plan, n_jobs=args.jobs)

    out.parent.mkdir(parents=True, exist_ok=True)
    plan.to_json(out)
    plot_entropy_histogram(plan, entropies, octaves, figure,
                           title=f"{args.dataset}: keypoint entropy per octave and its Gaussian components")
    print(describe_plan(plan, args.dataset))
    print(f"plan: {out}\nentropy histogram: {figure}", flush=True)
    return 0


def cmd_racknet(args: argparse.Namespace) -> int:
    """Handler of the ``racknet`` command: runs its sub-command (the arguments were checked by the parser)."""
    import_tensorflow_quietly()
    return {"analyze": cmd_racknet_analyze}[args.racknet_command](args)
