"""XM2A on the bundled UEA/UCR series (dissertation Table 7.3, Fig. 7.4, Table 7.4; issue "Step 6").

Runs the registered ``xm2a``, ``xm2a-variants`` and ``xm2a-ablation`` experiments (see
``keras_attention/experiments/catalog/xm2a.py`` for the protocol: data splits, the CPU-feasible encoder
depth of 2 blocks x 4 heads x key_dim 16, positional encoding, training, step timing, MiniRocket) and copies
their summaries to

    benchmarks/results/xm2a_comparison.{json,md}    Table 7.3 analog (+ params, step time, x MHA ratio)
    benchmarks/results/xm2a_variants.{json,md,png}  Fig. 7.4 analog (accuracy vs parameters)
    benchmarks/results/xm2a_ablation.{json,md}      Table 7.4 analog (talk x descriptor x norm)

The per-run artefacts (models, histories, backups) stay in ``--work-dir/<experiment>``; a killed run
continues with ``--resume`` (finished runs are kept, the interrupted one resumes from its last backup, at most
30 s of training old).

    python benchmarks/xm2a_timeseries.py --only xm2a --preset published   # the committed xm2a_comparison
    python benchmarks/xm2a_timeseries.py                         # 5 seeds x 500 steps x 6 data sets
    python benchmarks/xm2a_timeseries.py --resume                # continue after a kill
    python benchmarks/xm2a_timeseries.py --only xm2a --datasets BasicMotions,JapaneseVowels
    python benchmarks/xm2a_timeseries.py --quick --work-dir /tmp/w --results-dir /tmp/r   # smoke run
"""

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]

from keras_attention.experiments.arguments import add_series_run_arguments, comma_subset  # noqa: E402
from support import publish_results  # noqa: E402
from keras_attention.experiments.registry import ENCODER_OPTIONS, get_experiment  # noqa: E402
from support import reuse_runs  # noqa: E402
from keras_attention.experiments.run_directory import prepare_out_dir  # noqa: E402
from keras_attention.experiments.runner import preset_options  # noqa: E402
from support import run_experiment  # noqa: E402

# experiment -> file stem under --results-dir
OUTPUTS = {"xm2a": "xm2a_comparison", "xm2a-variants": "xm2a_variants", "xm2a-ablation": "xm2a_ablation"}


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", type=comma_subset(list(OUTPUTS)), default=list(OUTPUTS),
                        help=f"comma-separated experiments to run (default: {','.join(OUTPUTS)})")
    parser.add_argument("--datasets", default=None, help="comma-separated data sets (default: the six of the module)")
    add_series_run_arguments(parser, ENCODER_OPTIONS)
    parser.add_argument("--quick", action="store_true", help="BasicMotions slices, 1 block x 2 heads x key_dim 8")
    parser.add_argument("--jit", action="store_true", help="compile training steps with XLA")
    parser.add_argument("--work-dir", type=Path, default=ROOT / "runs" / "xm2a-timeseries")
    parser.add_argument("--results-dir", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--resume", action="store_true", help="continue the runs saved in --work-dir")
    parser.add_argument("--overwrite", action="store_true", help="start again in an existing --work-dir")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    results = Path(args.results_dir)
    results.mkdir(parents=True, exist_ok=True)
    finished = {}
    for name in args.only:
        experiment = get_experiment(name)
        work = prepare_out_dir(Path(args.work_dir) / name, overwrite=args.overwrite, resume=args.resume)
        explicit = {"dataset": args.datasets, "seeds": args.seeds, "epochs": args.epochs,
                    "batch_size": args.batch_size, **{dest: getattr(args, dest) for dest in ENCODER_OPTIONS}}
        options = preset_options(experiment, args.preset, explicit)
        options.setdefault("batch_size", experiment.settings.batch_size)
        # only runs of this invocation's xm2a (same datasets, seeds, protocol, depth) are taken over, and only
        # when this experiment's options are the same (a preset may differ between the two)
        same = "xm2a" in finished and options == finished["xm2a"]
        reused = reuse_runs(Path(args.work_dir) / "xm2a", work, experiment.configs) if same else 0
        if reused:
            print(f"{name}: {reused} finished runs of identical rows taken over from the xm2a run", flush=True)
        summary, wall = run_experiment(experiment, work, quick=args.quick, resume=args.resume or bool(reused),
                                       jit_compile=args.jit, verbose=2, **options)
        stem = OUTPUTS[name]
        md = publish_results(summary, work, results, stem, wall_seconds=wall,
                             command=" ".join(["python", "benchmarks/xm2a_timeseries.py", *argv]),
                             figures={"accuracy_vs_params.png": f"{stem}.png"})
        print(f"{name}: {md} ({wall / 60:.1f} min)", flush=True)
        finished[name] = options
    return 0


if __name__ == "__main__":
    sys.exit(main())
