"""``racknet analyze`` on real digits (plan JSON + entropy PNG, no silent overwrite, argument errors before any
work) and the ``racknet`` experiment in quick mode (Table 3.6 with all six strategies, Table 3.8 timings)."""

import dataclasses
import json
import re

import matplotlib.image
import numpy as np
import pytest

import keras_attention.data
import keras_attention.racknet
from keras_attention import racknet
from keras_attention.cli import build_parser
from keras_attention.cli.racknet import cmd_racknet
from keras_attention.data import load_arrays
from keras_attention.experiments import racknet_runs
from keras_attention.experiments.artifacts import entropy_histogram_path
from keras_attention.experiments.registry import EXPERIMENTS, RunOptions
from keras_attention.racknet import PHASES, STRATEGIES, RackPlan, allocate, analyze


def parse(argv):
    args = build_parser().parse_args(argv)
    assert args.command == "racknet"
    return cmd_racknet, args


def run(argv):
    handler, args = parse(argv)
    return handler(args)


@pytest.fixture
def no_work(monkeypatch):
    """Make any attempt to load data or analyse fail loudly: errors must come before the work."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(keras_attention.data, "load_arrays", forbidden)
    monkeypatch.setattr(keras_attention.racknet, "analyze", forbidden)


def kernels(row):
    """Kernel counts of a Table 3.2 row such as ``"2-1 (4,3-3)"`` -> [[4, 3], [3]]."""
    inside = re.fullmatch(r"[\d-]+ \(([\d,-]+)\)", row).group(1)
    return [[int(k) for k in rack.split(",")] for rack in inside.split("-")]


def test_default_upscale_and_validation_split():
    assert racknet.default_upscale((8, 8, 1)) == 4
    assert racknet.default_upscale((16, 20)) == 2
    assert racknet.default_upscale((28, 28, 1)) == 1
    assert racknet.default_upscale((32, 32, 3)) == 1
    mask = racknet_runs.validation_split(1000)
    assert mask.dtype == bool and mask.sum() == 100
    np.testing.assert_array_equal(mask, racknet_runs.validation_split(1000))  # fixed: same for every strategy and seed
    assert racknet_runs.validation_split(5).sum() == 1 and racknet_runs.validation_split(1).sum() == 0


def test_analyze_on_digits_writes_plan_and_histogram(tmp_path, capsys):
    out = tmp_path / "plans" / "digits.json"
    assert run(["racknet", "analyze", "--dataset", "digits", "--limit", "300", "--budget", "90",
                "--out", str(out), "--jobs", "2"]) == 0
    plan = RackPlan.from_json(out)
    images, _ = load_arrays("digits", "train", limit=300)
    # the command is analyze() on the first 300 training images, enlarged 4x (8x8 images), budget 90
    direct = analyze(images, upscale=4, budget=90, n_jobs=1)
    assert dataclasses.replace(plan, timings={}) == dataclasses.replace(direct, timings={})
    assert plan.n_images == 300 and plan.settings["upscale"] == 4 and plan.settings["mixture"] == "bic"
    assert sum(map(sum, plan.allocation)) == 90 and plan.strategy == "racknet"
    assert set(plan.timings) == set(PHASES) and all(t >= 0 for t in plan.timings.values())

    printed = capsys.readouterr().out
    assert f"digits           {plan}" in printed  # the Table 3.2 row
    for phase in PHASES:
        assert re.search(rf"{phase} \d+\.\d\d", printed)
    assert f"{plan.n_keypoints} SIFT keypoints" in printed

    figure = tmp_path / "plans" / "digits_entropy.png"
    assert entropy_histogram_path(out) == figure
    pixels = matplotlib.image.imread(figure)
    assert pixels.shape[1] == round(4.2 * plan.n_racks * 110)  # one panel per rack
    assert pixels[..., :3].std() > 0.05  # something is drawn
    # 300 <= HISTOGRAM_IMAGES: the histogram holds exactly the analysed keypoints of every rack
    entropies, octaves = racknet.entropy_sample(images, plan)
    assert {int(o): int(n) for o, n in zip(*np.unique(octaves, return_counts=True))} == plan.octave_counts
    for octave, rack in zip(plan.octaves, plan.components):
        assert sum(c.n_keypoints for c in rack) == np.sum(octaves == octave)
        assert min(c.mean for c in rack) >= entropies[octaves == octave].min() - 1e-9


def test_existing_plan_is_not_overwritten_without_flag(tmp_path, monkeypatch):
    out = tmp_path / "plan.json"
    base = ["racknet", "analyze", "--dataset", "digits", "--limit", "120", "--out", str(out)]
    assert run(base + ["--budget", "50"]) == 0
    before = out.read_bytes()

    with monkeypatch.context() as patch:
        patch.setattr(keras_attention.data, "load_arrays",
                      lambda *a, **k: pytest.fail("data loaded before the overwrite check"))
        with pytest.raises(FileExistsError, match=r"plan\.json.*exist.*--overwrite"):
            run(base + ["--budget", "60"])
    assert out.read_bytes() == before

    out.unlink()  # the PNG alone also blocks a new plan
    with pytest.raises(FileExistsError, match=r"plan_entropy\.png.*--overwrite"):
        run(base + ["--budget", "60"])

    assert run(base + ["--budget", "60", "--overwrite"]) == 0
    assert json.loads(out.read_text())["budget"] == 60


def test_bad_arguments_fail_before_any_work(tmp_path, no_work, capsys):
    out = tmp_path / "plan.json"
    with pytest.raises(SystemExit):
        parse(["racknet", "analyze", "--dataset", "no_such_data", "--out", str(out)])
    assert re.search(r"argument --dataset: invalid choice: 'no_such_data' \(choose from .*fashion_mnist",
                     capsys.readouterr().err)
    for extra in ([], ["--overwrite"]):
        with pytest.raises(ValueError, match=r"--out .* is a directory"):
            run(["racknet", "analyze", "--dataset", "digits", "--out", str(tmp_path), *extra])
    for argv, name in ((["--budget", "0"], "--budget"), (["--mixture", "kmeans"], "--mixture"),
                       (["--upscale", "-2"], "--upscale"), (["--seed", "-1"], "--seed")):
        with pytest.raises(SystemExit):
            parse(["racknet", "analyze", "--dataset", "digits", "--out", str(out), *argv])
        assert name in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the sub-command is required
        parse(["racknet"])
    assert not out.exists()


def test_budget_smaller_than_layers_writes_nothing(tmp_path):
    out = tmp_path / "plan.json"
    with pytest.raises(ValueError, match=r"`budget`=2 is smaller than the number of convolution layers"):
        run(["racknet", "analyze", "--dataset", "digits", "--limit", "150", "--budget", "2", "--out", str(out)])
    assert not out.exists() and not entropy_histogram_path(out).exists()


def test_racknet_experiment_quick_on_digits(tmp_path):
    experiment = EXPERIMENTS["racknet"]
    assert experiment.run.resolve() is racknet_runs.run_racknet_experiment and experiment.settings.budget == 400
    summary = experiment.run(experiment, RunOptions(out_dir=tmp_path, dataset="digits", seeds=1, quick=True,
                                                    verbose=0))
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["rows"] == json.loads(json.dumps(summary["rows"]))
    assert [row["strategy"] for row in saved["rows"]] == [
        "random", "uniform_rack", "uniform_layer", "c_proportional", "inverse_order", "racknet"]
    assert sorted(row["strategy"] for row in saved["rows"]) == sorted(STRATEGIES)
    assert saved["images"] == {"train": 461, "validation": 51, "test": 256}

    plan = RackPlan.from_json(tmp_path / "plan.json")
    assert plan.n_images == 461 and plan.settings["upscale"] == 4
    by_strategy = {row["strategy"]: row for row in saved["rows"]}
    for strategy, row in by_strategy.items():
        counts = kernels(row["allocations"][0])
        assert counts == [list(r) for r in allocate(plan, 400, strategy, seed=0)]
        assert sum(map(sum, counts)) == 400
        assert len(row["top1"]) == 1 and 0.0 <= row["top1"][0] <= 100.0
        assert row["top1_mean_std"] == [row["top1"][0], 0.0]
        assert row["train_seconds_mean"] > 0
        assert (tmp_path / strategy / "seed0" / "model.keras").exists()
    assert kernels(by_strategy["inverse_order"]["allocations"][0]) == [
        rack[::-1] for rack in kernels(by_strategy["racknet"]["allocations"][0])]
    assert saved["plan_row"] == by_strategy["racknet"]["allocations"][0] == str(plan)

    assert list(saved["timings"]) == [*PHASES, "training"]
    assert saved["timings"]["training"] == by_strategy["racknet"]["train_seconds_mean"]
    assert all(saved["timings"][p] == plan.timings[p] for p in PHASES)

    table = (tmp_path / "results.md").read_text()
    for label in ("Random", "Uniform Rack", "Uniform Layer", "C-Proportional", "Inverse Order", "RACKNet"):
        assert re.search(rf"^\| {re.escape(label)} +\|", table, re.M)  # a row of the table
    assert "±" in table and "Mixture Separation" in table and "quick mode" in table
    for name in ("entropy_histogram.png", "strategy_accuracy.png"):
        assert (tmp_path / name).stat().st_size > 5000
