"""benchmarks/support.py: publishing an experiment's summary into benchmarks/results, and taking over identical
runs (what only the benchmark scripts use)."""

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from support import publish_finished_run, publish_results, reuse_runs  # noqa: E402


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


def test_publish_finished_run_takes_the_command_that_made_it_and_refuses_another_experiment(tmp_path):
    run, results = tmp_path / "run", tmp_path / "results"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"command": ["keras-attention", "reproduce", "attention-lenet"],
                                              "config": {"experiment": "attention-lenet"}}))
    (run / "results.json").write_text(json.dumps({"rows": [3]}))
    (run / "results.md").write_text("# field\n")
    (run / "plot.png").write_bytes(b"png")
    md = publish_finished_run(run, "attention-lenet", results, "field", figures={"plot.png": "field.png"})
    record = json.loads((results / "field.json").read_text())
    assert record["rows"] == [3] and record["wall_seconds"] is None
    assert record["command"] == "keras-attention reproduce attention-lenet"
    assert "published from the finished run" in md.read_text() and (results / "field.png").exists()
    with pytest.raises(ValueError, match="'attention-lenet', expected 'xm2a'"):
        publish_finished_run(run, "xm2a", results, "other")
    with pytest.raises(ValueError, match="holds no finished run"):
        publish_finished_run(tmp_path / "nothing", "xm2a", results, "other")
