"""SDMA on the bundled UEA/UCR series (dissertation Table 6.2, Table 6.3, Fig. 6.3; issue "Step 5").

Runs the registered ``sdma`` and ``sdma-ablation`` experiments (see
``keras_attention/experiments/catalog/sdma.py`` for the protocol) and times the temporal scale-space
event extraction, then writes

    benchmarks/results/sdma_comparison.{json,md}     Table 6.2 analog (+ MiniRocket reference row)
    benchmarks/results/sdma_ablation.{json,md}       Table 6.3 analog (amplitude x cut x architecture)
    benchmarks/results/sdma_saliency_<set>.png       Fig. 6.3 style: a test series, its events, its saliency
    benchmarks/results/sdma_events.{json,md}         seconds of extract_events + saliency_series per 1,000 series

The training runs stay in ``--work-dir/<experiment>`` (``runs/sdma``, ``runs/sdma-ablation`` by default,
where ``keras-attention reproduce sdma --out runs/sdma`` also writes); ``--resume`` keeps every finished run,
so a run made with the CLI is published without training again.

    python benchmarks/sdma_timeseries.py --only sdma --preset published    # the committed sdma_comparison
    python benchmarks/sdma_timeseries.py                                   # everything, 5 seeds x 500 steps
    python benchmarks/sdma_timeseries.py --resume --only sdma --datasets JapaneseVowels,BasicMotions
    python benchmarks/sdma_timeseries.py --only events                     # the timing alone (seconds)
    python benchmarks/sdma_timeseries.py --quick --work-dir /tmp/w --results-dir /tmp/r   # smoke run
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402

from keras_attention.data import load_timeseries  # noqa: E402
from keras_attention.experiments.arguments import add_series_run_arguments, comma_subset  # noqa: E402
from keras_attention.experiments.catalog.sdma import EVENT_OCTAVES, EVENT_SCALES, SDMA_DATASETS  # noqa: E402
from support import machine_description  # noqa: E402
from support import publish_results  # noqa: E402
from keras_attention.experiments.results import markdown_table  # noqa: E402
from keras_attention.experiments.registry import SALIENCY_OPTIONS, get_experiment  # noqa: E402
from keras_attention.experiments.runner import preset_options  # noqa: E402
from support import run_in  # noqa: E402
from keras_attention.saliency import extract_events, saliency_series  # noqa: E402

OUTPUTS = {"sdma": "sdma_comparison", "sdma-ablation": "sdma_ablation", "events": "sdma_events"}
TIMING_REPEATS = 3


def time_events(datasets, repeats=TIMING_REPEATS):
    """Per data set: every series (train + validation + test), the median over ``repeats`` of the seconds
    that ``extract_events`` and ``saliency_series`` take, and both scaled to 1,000 series."""
    rows = []
    for name in datasets:
        data = load_timeseries(name, validation_fraction=0.2, seed=0)
        x = np.concatenate([data.x_train, data.x_val, data.x_test])
        event_times, saliency_times = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            events = extract_events(x, octaves=EVENT_OCTAVES, scales=EVENT_SCALES)
            middle = time.perf_counter()
            saliency_series(x, events, amplitude="mean", cut=False)
            event_times.append(middle - start)
            saliency_times.append(time.perf_counter() - middle)
        events_s, saliency_s = statistics.median(event_times), statistics.median(saliency_times)
        rows.append({"dataset": name, "series": len(x), "length": data.length, "variates": data.n_variates,
                     "events": int(len(events)), "extract_seconds": events_s, "saliency_seconds": saliency_s,
                     "seconds_per_1000_series": 1000 * (events_s + saliency_s) / len(x)})
        print(f"events {name}: {len(x)} series x {data.length} x {data.n_variates}: {events_s:.3f} s + "
              f"{saliency_s:.3f} s", flush=True)
    return rows


def write_events(rows, results, command):
    record = {"rows": rows, "repeats": TIMING_REPEATS, "machine": machine_description(), "command": command}
    (results / "sdma_events.json").write_text(json.dumps(record, indent=1))
    lines = [
        "# Temporal scale-space events: extraction time",
        "",
        f"`extract_events` (O = {EVENT_OCTAVES}, S = {EVENT_SCALES}, "
        f"sigma0 = 1) and `saliency_series` (mean amplitude, no cut) over every series of each set (train + "
        f"validation + test), median of {TIMING_REPEATS} runs, one process. Machine: {record['machine']}.",
        "",
        markdown_table(["data set", "series", "length", "variates", "events", "extract s", "saliency s",
                        "s per 1,000 series"],
                       [[r["dataset"], r["series"], r["length"], r["variates"], f"{r['events']:,}",
                         f"{r['extract_seconds']:.3f}", f"{r['saliency_seconds']:.3f}",
                         f"{r['seconds_per_1000_series']:.2f}"] for r in rows]),
    ]
    lines.append(f"\nCommand: `{command}`.")
    (results / "sdma_events.md").write_text("\n".join(lines) + "\n")
    return results / "sdma_events.md"


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", type=comma_subset(list(OUTPUTS)), default=list(OUTPUTS),
                        help=f"comma-separated parts to run (default: {','.join(OUTPUTS)})")
    parser.add_argument("--datasets", default=None,
                        help="comma-separated data sets (default: each experiment's; events: the six of sdma)")
    add_series_run_arguments(parser, SALIENCY_OPTIONS)
    parser.add_argument("--quick", action="store_true", help="BasicMotions slices, 1 epoch")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "runs")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--resume", action="store_true", help="keep the finished runs in --work-dir")
    parser.add_argument("--overwrite", action="store_true", help="start again in an existing --work-dir")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    command = " ".join(["python", "benchmarks/sdma_timeseries.py", *(sys.argv[1:] if argv is None else argv)])
    results = Path(args.results_dir)
    results.mkdir(parents=True, exist_ok=True)
    for name in args.only:
        if name == "events":
            datasets = (args.datasets.split(",") if args.datasets else SDMA_DATASETS)
            print(write_events(time_events([d.strip() for d in datasets if d.strip()]), results, command))
            continue
        work = Path(args.work_dir) / name
        experiment = get_experiment(name)
        explicit = {"dataset": args.datasets, "seeds": args.seeds, "epochs": args.epochs,
                    "batch_size": args.batch_size, **{dest: getattr(args, dest) for dest in SALIENCY_OPTIONS}}
        options = preset_options(experiment, args.preset, explicit)
        options.setdefault("batch_size", experiment.settings.batch_size)
        summary, wall = run_in(experiment, work, overwrite=args.overwrite, resume=args.resume, quick=args.quick,
                               verbose=2, **options)
        figures = {f"saliency_{d}.png": f"sdma_saliency_{d}.png" for d in summary["datasets"]} if name == "sdma" else {}
        md = publish_results(summary, work, results, OUTPUTS[name], command=command, wall_seconds=wall,
                             figures=figures)
        print(f"{name}: {md} ({wall / 60:.1f} min)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
