"""The time-series protocol (experiments/series.py, training.py, results.py): the step budget, the batch as
given, checkpoint selection on validation only, the Welch section, the options in results.json and the table
header, and a --quick run of every time-series experiment through the command line."""

import dataclasses
import json
import math
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from scipy import stats

from keras_attention.cli import main
from keras_attention.experiments import results as res
from keras_attention.experiments.configs import SeriesSettings
from keras_attention.experiments.registry import EXPERIMENTS, RunOptions, get_experiment
from keras_attention.experiments.runner import preset_options
from keras_attention.experiments.series import check_series_options, select_rows, training_plan
from keras_attention.experiments.training import best_validation_weights, train_run

SERIES_EXPERIMENTS = ("sdma", "sdma-ablation", "xm2a", "xm2a-variants", "xm2a-ablation")


def _experiment(**settings):
    return SimpleNamespace(name="toy", settings=SeriesSettings(**settings))


# ----------------------------------------------------------------------------- steps, epochs, batch
@pytest.mark.parametrize(
    "n_train,batch,steps,expected",
    [
        (28, 16, 500, {"batch_size": 16, "batches_per_epoch": 2, "epochs": 250, "steps": 500}),
        (216, 16, 500, {"batch_size": 16, "batches_per_epoch": 14, "epochs": 36, "steps": 504}),
        (40, 16, 7, {"batch_size": 16, "batches_per_epoch": 3, "epochs": 3, "steps": 9}),
        (32, 4, 1, {"batch_size": 4, "batches_per_epoch": 8, "epochs": 1, "steps": 8}),
    ],
)
def test_epochs_are_the_step_budget_over_the_batches_per_epoch(n_train, batch, steps, expected):
    plan = training_plan(_experiment(), RunOptions(out_dir=None, batch_size=batch, steps=steps), "set", n_train)
    assert {key: plan[key] for key in expected} == expected
    assert plan["step_budget"] == steps and plan["batch_requested"] == batch
    assert plan["epochs"] == math.ceil(steps / plan["batches_per_epoch"])
    assert plan["steps"] >= steps > plan["steps"] - plan["batches_per_epoch"]


def test_default_budget_fixed_epochs_and_quick_runs():
    experiment = _experiment(steps=123)
    default = training_plan(experiment, RunOptions(out_dir=None, batch_size=10), "set", 95)
    assert (default["step_budget"], default["batches_per_epoch"], default["epochs"]) == (123, 10, 13)
    fixed = training_plan(experiment, RunOptions(out_dir=None, batch_size=10, epochs=4), "set", 95)
    assert (fixed["step_budget"], fixed["epochs"], fixed["steps"]) == (None, 4, 40)
    quick = training_plan(experiment, RunOptions(out_dir=None, batch_size=10, quick=True), "set", 95)
    assert (quick["step_budget"], quick["epochs"]) == (None, 1)
    quick_steps = training_plan(experiment, RunOptions(out_dir=None, batch_size=10, quick=True, steps=25), "set", 95)
    assert (quick_steps["step_budget"], quick_steps["epochs"]) == (25, 3)
    assert SeriesSettings().steps >= 500


def test_batch_is_honoured_and_reduced_only_for_a_small_set_with_a_message(capsys):
    options = RunOptions(out_dir=None, batch_size=64, steps=10)
    kept = training_plan(_experiment(), options, "Big", 200)
    assert kept["batch_size"] == 64 and capsys.readouterr().out == ""
    reduced = training_plan(_experiment(), options, "ArrowHead", 28)
    assert (reduced["batch_size"], reduced["batch_requested"], reduced["batches_per_epoch"]) == (28, 64, 1)
    out = capsys.readouterr().out
    assert "ArrowHead: batch size 64 > 28 training series; batch 28" in out


@pytest.mark.parametrize(
    "options,match",
    [
        ({"epochs": 3, "steps": 10}, r"epochs=3 and steps=10 exclude each other"),
        ({"optimizer": "sgd"}, r"optimizer='sgd' is not one of adam, rmsprop"),
        ({"learning_rate": -1.0}, r"learning_rate=-1.0; expected a finite number > 0"),
        ({"batch_size": 0}, r"batch_size=0; expected an integer >= 1"),
    ],
)
def test_bad_series_options_fail_before_work(options, match):
    with pytest.raises(ValueError, match=match):
        check_series_options(_experiment(), RunOptions(out_dir=None, **{"batch_size": 16, **options}))


# ----------------------------------------------------------------------------- checkpoint selection
class _TestAccuracyProbe(keras.callbacks.Callback):
    """Records the test accuracy after every epoch: what a selection on the test set would look at."""

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y, self.accuracy = x, y, []

    def on_epoch_end(self, epoch, logs=None):
        probs = np.asarray(self.model.predict(self.x, verbose=0))
        self.accuracy.append(float(np.mean(probs.argmax(axis=1) == self.y)))


def test_best_checkpoint_is_chosen_on_validation_only(tmp_path):
    """Validation and test hold the same series with opposite labels, so the validation accuracy is 1 - the
    test accuracy in every epoch: the selected epoch is the test set's worst, the final model its best."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x_train = rng.normal(size=(64, 2)).astype("float32")
    x_test = rng.normal(size=(48, 2)).astype("float32")
    y_train, y_test = (x_train[:, 0] > 0).astype("int64"), (x_test[:, 0] > 0).astype("int64")
    y_val = 1 - y_test

    def build():
        inputs = keras.Input((2,))
        return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))

    keras.utils.set_random_seed(3)
    probe = _TestAccuracyProbe(x_test, y_test)
    batches = lambda x, y: tf.data.Dataset.from_tensor_slices((x, y)).batch(16)  # noqa: E731
    run = train_run(build, batches(x_train, y_train), epochs=6, out_dir=tmp_path, val_ds=batches(x_test, y_val),
                    test_ds=batches(x_test, y_test), learning_rate=0.05, verbose=0, callbacks=[probe],
                    select_best="val_top1", evaluate_train=True)
    result = json.loads((tmp_path / "result.json").read_text())
    val = run.history["val_top1"]
    selected = result["best_val_epoch"]
    assert selected == int(np.argmax(val)) + 1 and result["best_val_top1"] == pytest.approx(max(val))
    # the selection disagrees with the test set: it picked the test set's worst epoch, not its best
    assert probe.accuracy[selected - 1] == min(probe.accuracy) < max(probe.accuracy)
    assert result["test_best_val"]["top1"] == pytest.approx(probe.accuracy[selected - 1])
    assert result["test"]["top1"] == pytest.approx(probe.accuracy[-1])
    assert result["test"]["top1"] > result["test_best_val"]["top1"]
    # the kept weights are that epoch's; the model (and model.keras) keep the final ones
    best = build()
    best.set_weights(best_validation_weights(best, tmp_path))
    assert np.mean(np.asarray(best.predict(x_test, verbose=0)).argmax(1) == y_test) == pytest.approx(
        result["test_best_val"]["top1"])
    final = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_array_equal(final.get_weights()[0], run.model.get_weights()[0])
    assert result["optimizer_steps"] == 6 * 4 and 0.5 < result["train_final"]["top1"] <= 1.0


def test_without_validation_there_is_no_selection(tmp_path):
    import tensorflow as tf

    x = np.random.default_rng(1).normal(size=(8, 3)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, np.arange(8) % 2)).batch(4)

    def build():
        inputs = keras.Input((3,))
        return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))

    train_run(build, data, epochs=1, out_dir=tmp_path, test_ds=data, verbose=0, select_best="val_top1")
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["test_best_val"] is None and result["best_val_epoch"] is None and result["optimizer_steps"] == 2


# ----------------------------------------------------------------------------- Welch
A = [71.2, 74.5, 69.8, 73.1, 72.0]
B = [65.0, 66.2, 63.9, 67.5, 64.4]
C = [70.0, 76.0, 68.5, 75.0, 71.0]


def test_welch_test_is_scipys():
    expected = stats.ttest_ind(A, B, equal_var=False)
    test = res.welch_test(A, B)
    assert test["t"] == pytest.approx(expected.statistic) and test["p"] == pytest.approx(expected.pvalue)
    assert test["diff"] == pytest.approx(np.mean(A) - np.mean(B)) and test["n"] == (5, 5)
    assert res.welch_test([1.0], B)["p"] is None  # one seed: nothing to compare the spread with
    assert res.welch_test([50.0] * 3, [50.0] * 3)["p"] == 1.0  # the same constant: no difference
    assert res.welch_test([100.0] * 3, [50.0] * 3)["p"] == 0.0  # two constants: an exact difference


def test_rows_against_the_reference_and_claims():
    samples = {"base": B, "method": A, "noisy": C, "worse": [v - 10 for v in B], "single": [80.0], "missing": None}
    rows = {r["label"]: r for r in res.compare_to_reference(samples, "base")}
    assert set(rows) == {"method", "noisy", "worse", "single"}
    assert rows["method"]["verdict"] == "higher" and rows["method"]["p"] < 0.05
    assert rows["worse"]["verdict"] == "lower"
    assert rows["single"]["verdict"] == "not tested"
    p_noisy = stats.ttest_ind(C, B, equal_var=False).pvalue
    assert rows["noisy"]["p"] == pytest.approx(p_noisy)
    assert rows["noisy"]["verdict"] == ("higher" if p_noisy < 0.05 else "within the seed spread")
    assert res.claim_verdict(res.Claim("method", "base"), samples)["verdict"] == "reproduced"
    assert res.claim_verdict(res.Claim("base", "method"), samples)["verdict"] == "opposite significant"
    same = {"x": A, "y": [v + 0.1 for v in A[::-1]]}
    assert res.claim_verdict(res.Claim("x", "y"), same)["verdict"] == "not reproduced"
    assert res.claim_verdict(res.Claim("x", "nowhere"), same)["verdict"] == "not tested"


def test_numbers_say_section():
    samples = {"base": B, "method": A, "worse": [v - 10 for v in B]}
    lines = res.numbers_say({"final model": samples}, "base", [res.Claim("method", "base", "§1"),
                                                               res.Claim("worse", "base", "§2")])
    text = "\n".join(lines)
    p = stats.ttest_ind(A, B, equal_var=False).pvalue
    assert "What the numbers say" in text and "**base**" in text
    assert f"higher: method (+{np.mean(A) - np.mean(B):.2f} points, p = {p:.3g})" in text
    assert "lower: worse (-10.00 points" in text
    assert "Claim (§1): method > base. final model: reproduced" in text
    assert "Claim (§2): worse > base. final model: opposite significant" in text


# ----------------------------------------------------------------------------- options recorded
def _only(name, labels, monkeypatch):
    experiment = get_experiment(name)
    experiment = dataclasses.replace(experiment, configs=[c for c in experiment.configs if c.label in labels])
    assert len(experiment.configs) == len(labels)
    monkeypatch.setitem(EXPERIMENTS, name, experiment)
    return experiment


def test_sdma_options_are_in_results_and_header(tmp_path, monkeypatch):
    experiment = _only("sdma", ["Base LSTM (no attention)"], monkeypatch)
    out = tmp_path / "run"
    assert main(["reproduce", "sdma", "--quick", "--dataset", "BasicMotions", "--seeds", "2", "--steps", "4",
                 "--batch-size", "64", "--optimizer", "adam", "--learning-rate", "0.01", "--sigma0", "0.7",
                 "--out", str(out)]) == 0
    summary = json.loads((out / "results.json").read_text())
    protocol = summary["protocol"]
    assert (protocol["step_budget"], protocol["batch_size"], protocol["optimizer"], protocol["learning_rate"]) == \
        (4, 64, "adam", 0.01)
    assert summary["steps"] == 4 and summary["epochs"] is None and summary["sigma0"] == {"BasicMotions": 0.7}
    plan = summary["dataset_info"]["BasicMotions"]["plan"]
    # BasicMotions: 32 training series (its 40 minus the validation part) < 64
    assert (plan["batch_size"], plan["batch_requested"], plan["epochs"], plan["steps"]) == (32, 64, 4, 4)
    cell = summary["rows"][0]["results"]["BasicMotions"]
    assert cell["optimizer_steps"] == [4, 4] and all(1 <= e <= 4 for e in cell["best_val_epoch"])
    assert len(cell["top1_best_val"]) == len(cell["train_top1"]) == 2
    run = json.loads((out / "BasicMotions" / experiment.configs[0].slug / "seed1" / "result.json").read_text())
    assert run["plan"]["batch_size"] == 32 and run["optimizer_steps"] == 4
    md = (out / "results.md").read_text()
    for text in ("4 optimizer steps per run", "batch 64", "adam with learning rate 0.01", "best-validation checkpoint",
                 "sigma0 BasicMotions 0.7 (--sigma0)", "batch 32, 1 batches per epoch, 4 epochs = 4 optimizer steps",
                 "test, final model", "test, best-val checkpoint", "train, final model", "What the numbers say"):
        assert text in md, text


def test_xm2a_options_are_in_results_and_header(tmp_path, monkeypatch):
    experiment = _only("xm2a", ["No attention", "Transformer (MultiHeadAttention) without positional encoding"],
                       monkeypatch)
    out = tmp_path / "run"
    assert main(["reproduce", "xm2a", "--quick", "--steps", "3", "--positional", "learned", "--depth", "1",
                 "--heads", "3", "--key-dim", "4", "--optimizer", "rmsprop", "--out", str(out)]) == 0
    summary = json.loads((out / "results.json").read_text())
    assert summary["depth"] == {"num_layers": 1, "num_heads": 3, "key_dim": 4, "dropout": 0.1}
    assert summary["positional"] == "learned" and summary["receptive_field"]["xm2a"] == 1 + 1 * (3 - 1)
    assert summary["protocol"]["optimizer"] == "rmsprop" and summary["batch_size"] == 16
    model = keras.saving.load_model(out / "BasicMotions" / "no_attention" / "seed0" / "model.keras", safe_mode=True)
    assert model.get_layer("positional_encoding").mode == "learned"
    ablation = out / "BasicMotions" / experiment.configs[1].slug / "seed0"
    assert not any(layer.name == "positional_encoding"
                   for layer in keras.saving.load_model(ablation / "model.keras", safe_mode=True).layers)
    md = (out / "results.md").read_text()
    assert "encoder depth 1 blocks x 3 heads x key_dim 4" in md and "positional encoding learned" in md
    assert "reach 3 time steps" in md


# ----------------------------------------------------------------------------- the command line
@pytest.mark.parametrize(
    "argv,match",
    [
        (["reproduce", "xm2a", "--sigma0", "1.5"], r"--sigma0 1.5 does not apply to experiment xm2a"),
        (["reproduce", "sdma", "--positional", "none"], r"--positional none does not apply to experiment sdma"),
        (["reproduce", "sdma", "--depth", "3"], r"--depth 3 does not apply to experiment sdma"),
        (["reproduce", "san-lenet", "--steps", "100"], r"--steps 100 does not apply to experiment san-lenet"),
        (["reproduce", "xm2a", "--width", "0.5"], r"--width 0.5 does not apply to experiment xm2a"),
        (["reproduce", "sdma", "--epochs", "2", "--steps", "10"], r"--epochs 2 and --steps 10 exclude each other"),
        (["reproduce", "xm2a", "--rows", "xm2a,nothing"], r"rows \['nothing'\] are not rows of the experiment.*msmsa"),
        (["reproduce", "san-lenet", "--rows", "cbam"], r"--rows cbam does not apply to experiment san-lenet"),
    ],
)
def test_options_that_do_not_apply_are_refused_before_work(argv, match, tmp_path, capsys):
    out = tmp_path / "never"
    assert main([*argv, "--out", str(out)]) == 2
    import re

    assert re.search(match, capsys.readouterr().err)
    assert not out.exists()


def test_published_presets_follow_the_protocol():
    for name in SERIES_EXPERIMENTS:
        experiment = get_experiment(name)
        preset = experiment.presets["published"]
        assert preset["seeds"] >= 5 and preset["steps"] >= 500, name
        chosen = select_rows(experiment, SimpleNamespace(rows=preset.get("rows")))  # every preset row exists
        assert len(chosen.configs) == len(preset.get("rows") or experiment.configs)
    datasets = get_experiment("xm2a").presets["published"]["dataset"].split(",")
    assert {"JapaneseVowels", "ArrowHead", "PickupGestureWiimoteZ", "BasicMotions"} <= set(datasets)
    assert get_experiment("xm2a-ablation").presets["published"]["dataset"] == "ArrowHead,PickupGestureWiimoteZ"
    chosen = preset_options(get_experiment("sdma"), "published", {"epochs": 3, "steps": None})
    assert (chosen["epochs"], chosen.get("steps"), chosen["seeds"]) == (3, None, 5)  # explicit epochs drop the steps


@pytest.mark.parametrize("name", SERIES_EXPERIMENTS)
def test_quick_run_of_every_time_series_experiment(name, tmp_path, monkeypatch):
    """One row of each (the full --quick grid is the same code for every row), through the command line."""
    experiment = get_experiment(name)
    _only(name, [experiment.configs[-1].label if name == "sdma" else experiment.configs[0].label], monkeypatch)
    out = tmp_path / name
    assert main(["reproduce", name, "--quick", "--out", str(out)]) == 0
    summary = json.loads((out / "results.json").read_text())
    assert summary["quick"] and summary["epochs"] == 1 and summary["protocol"]["step_budget"] is None
    assert summary["batch_size"] == experiment.settings.batch_size == 16
    assert (out / "results.md").read_text().startswith(f"# {name}:")
