"""The ``keras-attention`` parser (keras_attention/cli/parser.py): its choices are the package's tables, its
defaults are defined once, and the package is one module per command."""

import argparse
import inspect
from pathlib import Path

import pytest

from keras_attention.cli import build_parser
from keras_attention.cli.parser import IMAGE_MODELS
from keras_attention.data.images import DATASETS, DEFAULT_BATCH_SIZE, image_dataset
from keras_attention.experiments.registry import EXPERIMENT_MODULES, RunOptions, Settings
from keras_attention.models import BUILDERS

PACKAGE = Path(__file__).resolve().parents[2] / "keras_attention"
COMMANDS = ("list", "train", "reproduce", "sparsify", "racknet")


def _subparsers(parser):
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def _action(parser, dest):
    return next(a for a in parser._actions if a.dest == dest)


def _commands():
    commands = _subparsers(build_parser())
    return {"train": commands["train"], "reproduce": commands["reproduce"], "sparsify": commands["sparsify"],
            "racknet analyze": _subparsers(commands["racknet"])["analyze"]}


def test_model_choices_are_the_image_builders_of_the_builder_table():
    """IMAGE_MODELS is read without Keras (``--help``); it must name every image builder of BUILDERS (those
    with a ``data_format``: the sequence builders have none), in the table's order, and nothing else."""
    images = tuple(name for name, builder in BUILDERS.items()
                   if "data_format" in inspect.signature(builder).parameters)
    assert images and len(images) < len(BUILDERS)  # (the sequence builder lstm4 is left out)
    assert IMAGE_MODELS == images
    assert _action(_commands()["train"], "model").choices == IMAGE_MODELS


@pytest.mark.parametrize("command", ["train", "sparsify", "racknet analyze"])
def test_dataset_choices_are_the_data_set_table(command):
    action = _action(_commands()[command], "dataset")
    assert action.required and set(action.choices) == set(DATASETS)


def test_reproduce_takes_the_experiments_of_the_registry_and_any_data_set_name():
    reproduce = _commands()["reproduce"]
    assert set(_action(reproduce, "experiment").choices) == set(EXPERIMENT_MODULES)
    assert _action(reproduce, "dataset").choices is None  # time-series experiments: UEA/UCR names, comma-separated


def test_data_dir_is_declared_once_and_checked_by_the_parser(tmp_path, capsys):
    actions = {name: _action(parser, "data_dir") for name, parser in _commands().items()}
    assert len({id(a.type) for a in actions.values()}) == 1  # one declaration (a parent parser), one check
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for argv in (["train", "--model", "lenet5", "--dataset", "digits"], ["racknet", "analyze", "--dataset", "digits",
                                                                           "--out", "p.json"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args([*argv, "--data-dir", str(a_file)])
        assert f"argument --data-dir: {str(a_file)!r} is a file, not a directory" in capsys.readouterr().err
    args = build_parser().parse_args(["sparsify", "m.keras", "--sparsity", "0.5", "--dataset", "digits",
                                      "--out", "s.keras", "--data-dir", str(tmp_path)])
    assert args.data_dir == str(tmp_path)


def test_the_default_batch_size_is_defined_once():
    assert DEFAULT_BATCH_SIZE == 128
    assert Settings().batch_size == RunOptions(out_dir=None).batch_size == DEFAULT_BATCH_SIZE
    assert inspect.signature(image_dataset).parameters["batch_size"].default == DEFAULT_BATCH_SIZE
    assert _action(_commands()["sparsify"], "batch_size").default == DEFAULT_BATCH_SIZE
    assert f"default: {DEFAULT_BATCH_SIZE};" in _action(_commands()["train"], "batch_size").help
    assert _action(_commands()["train"], "learning_rate").default == Settings().learning_rate
    sources = "\n".join(path.read_text() for path in (PACKAGE / "cli").glob("*.py"))
    assert "128" not in sources


def test_one_module_per_command():
    """Each command runs ``cmd_<command>`` of ``keras_attention.cli.<command>`` (imported when it runs)."""
    import importlib

    from keras_attention.cli import command_handler

    assert set(_subparsers(build_parser())) == set(COMMANDS)
    for command in COMMANDS:
        module = importlib.import_module(f"keras_attention.cli.{command}")
        assert command_handler(command) is getattr(module, f"cmd_{command}")
    # the parser and the run orchestration live apart; multi-machine set-up is the experiments' own
    parser_source = (PACKAGE / "cli" / "parser.py").read_text()
    assert "def cmd_" not in parser_source and "make_strategy" not in parser_source
    for name in ("make_strategy", "check_tf_config", "worker_out_dir", "apply_preset", "_keras_version"):
        assert all(f"def {name}(" not in path.read_text() for path in (PACKAGE / "cli").glob("*.py")), name
