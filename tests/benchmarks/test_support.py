"""benchmarks/support.py: publishing an experiment's summary into benchmarks/results, and taking over identical
runs (what only the benchmark scripts use)."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from support import publish_results, reuse_runs  # noqa: E402


def test_publish_results_writes_json_md_and_existing_figures(tmp_path):
    work, results = tmp_path / "work", tmp_path / "results"
    work.mkdir()
    (work / "results.md").write_text("# table\n\n| a | b |\n")
    (work / "plot.png").write_bytes(b"\x89PNG fake")
    md = publish_results({"rows": [1, 2]}, work, results, "exp_table", command="python x.py --seeds 3",
                         wall_seconds=90.0, figures={"plot.png": "exp_table.png", "missing.png": "never.png"})
    record = json.loads((results / "exp_table.json").read_text())
    assert record["rows"] == [1, 2] and record["wall_seconds"] == 90.0
    assert record["command"] == "python x.py --seeds 3" and "logical cores" in record["machine"]
    text = md.read_text()
    assert text.startswith("# table\n") and "wall time of this invocation 1.5 min" in text
    assert (results / "exp_table.png").read_bytes() == b"\x89PNG fake"
    assert not (results / "never.png").exists()


def _run(root, dataset, slug, seed, result):
    run = root / dataset / slug / f"seed{seed}"
    run.mkdir(parents=True)
    (run / "result.json").write_text(json.dumps(result))
    (run / "model.keras").write_bytes(b"weights")
    return run


def test_reuse_runs_copies_only_finished_runs_of_listed_rows(tmp_path):
    source, target = tmp_path / "xm2a", tmp_path / "variants"
    _run(source, "BasicMotions", "xm2a", 0, {"step_ms": 3.0})
    _run(source, "BasicMotions", "xm2a", 1, {"test": {}})           # killed while timing: not finished
    _run(source, "BasicMotions", "senet", 0, {"step_ms": 2.0})      # a row the target does not have
    _run(source, "JapaneseVowels", "msmsa", 0, {"step_ms": 4.0})
    _run(target, "JapaneseVowels", "msmsa", 0, {"step_ms": 9.0})    # the target's own run is kept
    configs = [SimpleNamespace(slug="xm2a"), SimpleNamespace(slug="msmsa")]
    assert reuse_runs(source, target, configs) == 1
    assert json.loads((target / "BasicMotions" / "xm2a" / "seed0" / "result.json").read_text()) == {"step_ms": 3.0}
    assert (target / "BasicMotions" / "xm2a" / "seed0" / "model.keras").exists()
    assert not (target / "BasicMotions" / "xm2a" / "seed1").exists()
    assert not (target / "BasicMotions" / "senet").exists()
    assert json.loads((target / "JapaneseVowels" / "msmsa" / "seed0" / "result.json").read_text()) == {"step_ms": 9.0}
    assert reuse_runs(tmp_path / "absent", target, configs) == 0
