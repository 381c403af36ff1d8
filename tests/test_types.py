"""The package's annotations hold: mypy (installed by the test extra) checks keras_attention/ with the
strictness stated in mypy.ini (every function and method annotated, bodies checked) and finds no error;
the package says it is typed (py.typed, shipped as package data)."""

import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_error_in_the_package():
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(ROOT / "mypy.ini")],
                            cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout


def test_the_stated_strictness_is_the_one_checked():
    config = configparser.ConfigParser()
    config.read(ROOT / "mypy.ini")
    mypy = config["mypy"]
    assert mypy["files"] == "keras_attention"
    for option in ("disallow_untyped_defs", "disallow_incomplete_defs", "check_untyped_defs"):
        assert mypy.getboolean(option), option
    # no module of the package is exempted from the check
    assert not [s for s in config.sections() if s.startswith("mypy-keras_attention")]


def test_the_package_says_it_is_typed():
    assert (ROOT / "keras_attention" / "py.typed").is_file()
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert "py.typed" in setup["options.package_data"]["keras_attention"]
