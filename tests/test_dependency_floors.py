"""Versions tested at both ends (issue "Step 14", item 6): the lowest versions ``setup.cfg`` admits work.

``constraints/floors.txt`` pins every dependency of ``install_requires`` and of the ``experiments`` extra at its
floor (``name==floor``, and one transitive dependency that the floor environment needs, see there); a test checks
that it says what ``setup.cfg`` says, and another installs the package with its experiments extra and those pins
(and pytest) in a fresh virtual environment, checks the installed versions and that tensorflow-datasets imports,
and runs the layer tests
marked ``backends`` (the numpy references of every layer and the Keras conventions: build, call, config,
``.keras`` round trip) on the TensorFlow backend, from the installed package. The newest versions are what
the usual ``pip install -e ".[test]"`` gets, so the rest of the suite tests that end. By hand (README)::

    python3 -m venv /tmp/floors && /tmp/floors/bin/pip install -c constraints/floors.txt ".[experiments]" pytest hypothesis
    cd /tmp && /tmp/floors/bin/python -m pytest -q -m backends -p no:cacheprovider <repository>/tests/layers

The install reaches the package index (about 600 MB of wheels, TensorFlow's the largest; the test took 80 to
120 s on 2 busy cores with a fast connection); each subprocess has a time limit.
"""

import json
import os
import re
import shutil
import subprocess
import venv
from configparser import ConfigParser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
FLOORS = ROOT / "constraints" / "floors.txt"
INSTALL_TIMEOUT = 900  # seconds; measured about 60 s
TEST_TIMEOUT = 600  # measured about 20 s (77 tests)


FLOORED_EXTRA = "experiments"  # the extra whose floors are pinned (and installed) with install_requires


def requirements(section, key):
    """The requirements ``key`` of ``setup.cfg``'s ``section`` (comment lines left out)."""
    config = ConfigParser()
    config.read(ROOT / "setup.cfg")
    lines = config[section][key].splitlines()
    return [Requirement(line.strip()) for line in lines if line.strip() and not line.strip().startswith("#")]


def floored_requirements():
    """``install_requires`` and the requirements of :data:`FLOORED_EXTRA`."""
    return [*requirements("options", "install_requires"), *requirements("options.extras_require", FLOORED_EXTRA)]


def floor_pins():
    """``{canonical name: version}`` of ``constraints/floors.txt``."""
    pins = {}
    for line in FLOORS.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if line:
            requirement = Requirement(line)
            specifiers = list(requirement.specifier)
            exact = len(specifiers) == 1 and specifiers[0].operator == "=="
            assert exact, f"{FLOORS.name}: {line!r} is not name==version"
            pins[canonicalize_name(requirement.name)] = specifiers[0].version
    return pins


# pins of the floor environment for packages that setup.cfg does not require (why: constraints/floors.txt)
TRANSITIVE = {"tensorflow-metadata"}


def test_floors_file_pins_every_dependency_at_its_setup_cfg_floor():
    pins = floor_pins()
    floors = {}
    for requirement in floored_requirements():
        lower = [s.version for s in requirement.specifier if s.operator == ">="]
        assert len(lower) == 1, f"setup.cfg: {requirement} has no single '>=' floor"
        floors[canonicalize_name(requirement.name)] = lower[0]
        assert requirement.specifier.contains(lower[0]), f"setup.cfg: {requirement} excludes its own floor"
    assert set(pins) - set(floors) == TRANSITIVE, f"constraints/floors.txt pins {sorted(set(pins) - set(floors))}"
    mine = {name: pins.get(name) for name in floors}
    assert mine == floors, f"constraints/floors.txt {mine} differs from setup.cfg's floors {floors}"


def _run(command, timeout, **kwargs):
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{command} took more than {timeout} s:\n{str(error.stdout)[-3000:]}\n{str(error.stderr)[-3000:]}")
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout[-6000:]}\n{done.stderr[-6000:]}"
    return done


def _package_copy(target):
    """What building the package reads (setup.cfg, pyproject.toml, MANIFEST.in, README.pypi.md, LICENSE and the
    package), copied to ``target``: pip builds there, not in the repository, where a build leaves build/ and
    egg-info behind and would race tests/test_packaging.py's build in the other pytest-xdist worker."""
    target.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "MANIFEST.in", "README.pypi.md", "LICENSE"):
        shutil.copy2(ROOT / name, target / name)
    shutil.copytree(ROOT / "keras_attention", target / "keras_attention",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


def test_layer_tests_pass_on_the_floors(tmp_path):
    source = _package_copy(tmp_path / "source")
    venv.EnvBuilder(with_pip=True, clear=True).create(tmp_path / "floors")
    python = tmp_path / "floors" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV")}
    env.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="2", PIP_DISABLE_PIP_VERSION_CHECK="1")
    # the package at its floors, and the test tools the layer test modules import (not pinned: not the package's)
    _run([str(python), "-m", "pip", "install", "-c", str(FLOORS), f"{source}[{FLOORED_EXTRA}]", "pytest", "hypothesis"],
         INSTALL_TIMEOUT, env=env, cwd=tmp_path)

    # the installed versions are the floors, and the package is the venv's copy, not the repository's
    pins = floor_pins()
    probe = ("import importlib.metadata as m, json, keras_attention, tensorflow_datasets as tfds\n"
             "prepared = tfds.builder('mnist', data_dir='tfds').is_prepared()  # as default_image_dataset\n"
             f"print(json.dumps({{'versions': {{n: m.version(n) for n in {sorted(pins)!r}}}, "
             "'package': keras_attention.__file__, 'prepared': prepared}))\n")
    found = json.loads(_run([str(python), "-c", probe], TEST_TIMEOUT, env=env, cwd=tmp_path).stdout.splitlines()[-1])
    assert found["versions"] == pins
    assert Path(found["package"]).resolve().is_relative_to((tmp_path / "floors").resolve()), found["package"]
    assert found["prepared"] is False

    # the layer tests marked `backends`, importing the installed package (the repository is not on the path)
    done = _run([str(python), "-m", "pytest", "-q", "-m", "backends", "-p", "no:cacheprovider", "-p", "no:xdist",
                 "--rootdir", str(ROOT), "-c", str(ROOT / "setup.cfg"), str(ROOT / "tests" / "layers")],
                TEST_TIMEOUT, env=env, cwd=tmp_path)
    counts = re.search(r"(\d+) passed", done.stdout)
    assert counts and int(counts.group(1)) >= 50 and " failed" not in done.stdout, done.stdout[-3000:]
