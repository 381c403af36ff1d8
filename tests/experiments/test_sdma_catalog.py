"""The ``sdma`` and ``sdma-ablation`` experiments of experiments/catalog/sdma.py: registry entries and a quick run."""

import dataclasses
import json

import keras


# ----------------------------------------------------------------------------- the experiments
def test_registry_entries():
    from keras_attention.experiments.catalog import sdma  # noqa: F401  (registers on import)
    from keras_attention.experiments.registry import EXPERIMENTS

    table = EXPERIMENTS["sdma"]
    labels = [c.label for c in table.configs]
    assert len(set(labels)) == len(labels) == 11  # with the 3-layer base LSTM (Table 6.2, multi-layer columns)
    assert {c.kind for c in table.configs} == {"lstm", "self_attention", "san1d", "fusion", "sdma", "minirocket"}
    assert table.default_datasets[:2] == ("JapaneseVowels", "BasicMotions")
    assert all(label in labels for label in table.paper["MOCAP"])
    ablation = EXPERIMENTS["sdma-ablation"]
    grid = {(c.options.get("architecture", "single"), c.options["layers"], c.amplitude, c.cut)
            for c in ablation.configs if c.kind == "sdma"}
    assert len(grid) == 3 * 4 * 2
    assert {g[2] for g in grid} == {"mean", "center", "unit", "dog"}
    ablation_labels = [c.label for c in ablation.configs]
    assert all(label in ablation_labels for label in ablation.paper["AUSLAN"])


def test_sdma_experiment_quick_run_writes_its_files(tmp_path):
    from keras_attention.experiments.registry import EXPERIMENTS, RunOptions
    from keras_attention.experiments.sdma_runs import run_sdma_experiment

    full = EXPERIMENTS["sdma"]
    keep = ("Base LSTM (no attention)", "SDMA single layer", "MiniRocket (non-neural reference)")
    experiment = dataclasses.replace(full, configs=[c for c in full.configs if c.label in keep])
    options = RunOptions(out_dir=tmp_path, dataset="BasicMotions", seeds=1, epochs=1, quick=True, verbose=0)
    summary = run_sdma_experiment(experiment, options)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["datasets"] == ["BasicMotions"] and saved["seeds"] == 1 and saved["epochs"] == 1
    assert [row["label"] for row in saved["rows"]] == list(keep)
    for row in summary["rows"]:
        top1 = row["results"]["BasicMotions"]["top1"]
        assert len(top1) == 1 and 0 <= top1[0] <= 100
    table = (tmp_path / "results.md").read_text()
    assert "SDMA single layer" in table and "±" in table and "paper MOCAP" in table and "88.23" in table
    assert (tmp_path / "saliency_BasicMotions.png").stat().st_size > 5000
    run = tmp_path / "BasicMotions" / "sdma_single_layer" / "seed0"
    assert (run / "training_curves.png").exists() and (run / "history.json").exists()
    model = keras.saving.load_model(run / "model.keras", safe_mode=True)
    assert [type(layer).__name__ for layer in model.layers].count("SDMA") == 1
    assert (tmp_path / "BasicMotions" / "minirocket__non_neural_reference" / "seed0" / "result.json").exists()
