"""What only the benchmark scripts use: the machine a result was measured on, an experiment run in a claimed
work directory, its summary published into ``benchmarks/results``, and finished runs of one experiment taken
over into another (``xm2a-variants`` from ``xm2a``). The scripts import it as ``support`` (their folder is on
``sys.path`` when they run)."""

import os
import platform
import shutil
import time
from pathlib import Path

from keras_attention.experiments.artifacts import MANIFEST, RESULT, RESULTS_JSON, RESULTS_MD
from keras_attention.experiments.registry import RunOptions, get_experiment
from keras_attention.experiments.run_directory import prepare_out_dir
from keras_attention.utils.files import read_json, write_json, write_text


def cpu_flags():
    """The vector instruction sets this CPU reports (``/proc/cpuinfo``), e.g. ``"avx2 avx512f fma"``, and the
    oneDNN settings of this process (``ONEDNN_MAX_CPU_ISA``, ``TF_ENABLE_ONEDNN_OPTS``) when set: what decides
    which kernels TensorFlow's CPU ops run."""
    flags = set()
    try:
        with open("/proc/cpuinfo") as handle:
            line = next((line for line in handle if line.startswith("flags")), "")
        flags = set(line.split(":", 1)[-1].split())
    except OSError:
        pass
    vector = sorted(f for f in flags if f.startswith(("avx", "fma", "amx")) or f in ("sse4_2", "f16c"))
    text = " ".join(vector) or "unknown"
    settings = [f"{k}={os.environ[k]}" for k in ("ONEDNN_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS") if k in os.environ]
    return text + (f" ({', '.join(settings)})" if settings else "")


def machine_description():
    """One line: CPU model, logical cores, the CPU's vector flags and oneDNN settings, TensorFlow and Keras
    versions."""
    import keras
    import tensorflow as tf

    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), model)
    except OSError:
        pass
    gpus = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")]
    return (f"{model}, {os.cpu_count()} logical cores, CPU flags: {cpu_flags()}, "
            + (f"GPU: {', '.join(gpus)}, " if gpus else "") + f"TF {tf.__version__}, Keras {keras.__version__}")


def run_experiment(experiment, work_dir, **options):
    """Run ``experiment`` (an :class:`~keras_attention.experiments.registry.Experiment` or a registered name)
    in the claimed directory ``work_dir`` with ``RunOptions(**options)``; returns ``(summary, seconds)``."""
    experiment = get_experiment(experiment) if isinstance(experiment, str) else experiment
    start = time.perf_counter()
    summary = experiment.run(experiment, RunOptions(out_dir=Path(work_dir), **options))
    return summary, time.perf_counter() - start


def run_in(experiment, work_dir, *, overwrite=False, resume=False, **options):
    """Claim ``work_dir`` (:func:`~keras_attention.experiments.run_directory.prepare_out_dir`: refused when it
    holds something else than a run of this package, emptied with ``overwrite``, continued with ``resume``)
    and :func:`run_experiment` there; returns ``(summary, seconds)``."""
    work = prepare_out_dir(work_dir, overwrite=overwrite, resume=resume)
    return run_experiment(experiment, work, resume=resume, **options)


def publish_results(summary, work_dir, results_dir, stem, *, command, wall_seconds, figures=None):
    """Write ``results_dir/<stem>.json`` and ``.md`` from ``summary`` and ``work_dir/results.md``.

    ``figures`` maps a file under ``work_dir`` to its name under ``results_dir`` (missing files are
    skipped). ``wall_seconds`` is the time of this invocation (a resumed run counts only what it redid), None
    for a run published after it finished (:func:`publish_finished_run`). Returns the path of the markdown
    file."""
    work_dir, results_dir = Path(work_dir), Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    record = {**summary, "machine": machine_description(), "wall_seconds": wall_seconds, "command": command}
    write_json(results_dir / f"{stem}.json", record)
    md = (work_dir / RESULTS_MD).read_text()
    wall = ("published from the finished run" if wall_seconds is None
            else f"wall time of this invocation {wall_seconds / 60:.1f} min")
    md += (f"\nMachine: {record['machine']}; {wall} "
           f"(per-run training seconds are in the table / JSON); command: `{command}`.\n")
    md_path = results_dir / f"{stem}.md"
    write_text(md_path, md)
    for source, name in (figures or {}).items():
        if (work_dir / source).exists():
            shutil.copyfile(work_dir / source, results_dir / name)
    return md_path


def publish_finished_run(run_dir, experiment, results_dir, stem, *, figures=None):
    """Publish (:func:`publish_results`) the table of a finished ``keras-attention reproduce <experiment>`` run
    in ``run_dir`` without training again; the command recorded is the one that made the run (its
    ``run.json``). Raises ``ValueError`` naming the folder when it holds no finished run of ``experiment``."""
    run_dir = Path(run_dir)
    try:
        manifest, summary = read_json(run_dir / MANIFEST), read_json(run_dir / RESULTS_JSON)
    except (OSError, ValueError) as error:
        raise ValueError(f"--from-run: {str(run_dir)!r} holds no finished run (its {MANIFEST} and "
                         f"{RESULTS_JSON} are read): {error}") from None
    made_by = manifest.get("config", {}).get("experiment")
    if made_by != experiment:
        raise ValueError(f"--from-run: {str(run_dir)!r} is a run of {made_by!r}, expected {experiment!r}")
    command = " ".join(manifest.get("command", [])) or "unknown"
    return publish_results(summary, run_dir, results_dir, stem, command=command, wall_seconds=None,
                           figures=figures)


def reuse_runs(source, target, configs):
    """Copy the finished ``<dataset>/<slug>/seed<k>`` runs of ``source`` whose row (same label, hence the
    same network and protocol) is one of ``configs`` into ``target`` when ``target`` has no such run;
    returns how many were copied. ``xm2a-variants`` rows are all rows of ``xm2a``: without this they would
    be trained twice with identical seeds."""
    slugs = {config.slug for config in configs}
    copied = 0
    if not source.is_dir():
        return 0
    for result in sorted(source.glob(f"*/*/seed*/{RESULT}")):
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
