"""``keras-attention reproduce``: a ``--preset`` is resolved by the experiments' one resolver
(``runner.preset_options``), the options given on the command line over it, and reaches the run."""

import pytest

from keras_attention.cli import main
from keras_attention.experiments import runner
from keras_attention.experiments.registry import get_experiment


@pytest.fixture
def sdma(monkeypatch):
    """The sdma experiment with its run replaced by one that keeps the RunOptions it gets; and every call of
    ``runner.preset_options``."""
    experiment = get_experiment("sdma")
    runs, calls = [], []
    monkeypatch.setattr(experiment, "run", lambda experiment, options: runs.append(options) or {})
    resolve = runner.preset_options

    def preset_options(*args):
        calls.append(args)
        return resolve(*args)

    monkeypatch.setattr(runner, "preset_options", preset_options)
    return experiment, runs, calls


def test_a_preset_reaches_the_run_under_the_options_given(sdma, tmp_path):
    experiment, runs, calls = sdma
    published = experiment.presets["published"]
    assert main(["reproduce", "sdma", "--preset", "published", "--out", str(tmp_path / "a")]) == 0
    assert main(["reproduce", "sdma", "--preset", "published", "--epochs", "3", "--batch-size", "8",
                 "--out", str(tmp_path / "b")]) == 0
    assert [(call[0], call[1]) for call in calls] == [(experiment, "published")] * 2
    assert calls[1][2]["epochs"] == 3 and calls[1][2]["batch_size"] == 8
    preset, explicit = runs
    assert (preset.steps, preset.epochs, preset.batch_size) == (published["steps"], None, published["batch_size"])
    assert (preset.seeds, preset.optimizer, preset.dataset) == (published["seeds"], "rmsprop", published["dataset"])
    assert tuple(preset.rows) == tuple(published["rows"])
    # --epochs drops the preset's step budget (they exclude each other); the rest of the preset stays
    assert (explicit.epochs, explicit.steps, explicit.batch_size, explicit.seeds) == (3, None, 8, published["seeds"])


def test_an_unknown_preset_names_the_known_ones(sdma, tmp_path, capsys):
    experiment, runs, _ = sdma
    assert main(["reproduce", "sdma", "--preset", "nope", "--out", str(tmp_path / "a")]) == 2
    assert "--preset 'nope' is not a preset of sdma; its presets: published." in capsys.readouterr().err
    assert not runs
