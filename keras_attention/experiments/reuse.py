"""Take over finished runs of one experiment into another whose rows are the same networks under the same
protocol (``xm2a-variants`` rows are all rows of ``xm2a``), instead of training them twice."""

import shutil
from keras_attention.utils.files import read_json


def reuse_runs(source, target, configs):
    """Copy the finished ``<dataset>/<slug>/seed<k>`` runs of ``source`` whose row (same label, hence the
    same network and protocol) is one of ``configs`` into ``target`` when ``target`` has no such run;
    returns how many were copied. ``xm2a-variants`` rows are all rows of ``xm2a``: without this they would
    be trained twice with identical seeds."""
    slugs = {config.slug for config in configs}
    copied = 0
    if not source.is_dir():
        return 0
    for result in sorted(source.glob("*/*/seed*/result.json")):
        run = result.parent
        dataset, slug = run.parent.parent.name, run.parent.name
        if slug not in slugs or "step_ms" not in read_json(result):
            continue
        destination = target / dataset / slug / run.name
        if destination.exists():
            continue
        shutil.copytree(run, destination)
        copied += 1
    return copied
