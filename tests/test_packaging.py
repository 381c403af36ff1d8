"""The package as others install it (issue "Step 14", item 5): ``python -m build`` makes a wheel and an sdist,
both carry LICENSE (MIT) and ``py.typed``, the sdist holds the whole test tree, ``twine check --strict`` passes,
and the wheel, installed (not editable) in a fresh virtual environment, runs a README example from a directory
outside the repository.

The fresh environment sees the packages of the environment running the tests (one ``.pth`` line per
site-packages directory, what ``--system-site-packages`` does for an interpreter outside a venv), so TensorFlow
and the other dependencies are not installed again; ``pip install --no-deps`` puts only the wheel in it. Only
the build reaches the package index (its isolated build environment installs setuptools and wheel). Every
subprocess has a time limit.
"""

import os
import re
import site
import subprocess
import sys
import tarfile
import venv
import zipfile
from configparser import ConfigParser
from pathlib import Path

import pytest

from test_readme_examples import readme_blocks

ROOT = Path(__file__).resolve().parents[1]
BUILD_TIMEOUT = 300  # seconds; measured about 15 s (isolated build environments from the package index)
INSTALL_TIMEOUT = 180
RUN_TIMEOUT = 300
README_EXAMPLE = "SAN on images"
SLICE = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz", "LICENSE", "README.md")


def _run(command, timeout, **kwargs):
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"{command} took more than {timeout} s:\n{error.stdout}\n{error.stderr}")
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    return done


def _version():
    text = (ROOT / "keras_attention" / "__init__.py").read_text(encoding="utf-8")
    return re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE).group(1)


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """``(wheel, sdist)`` built by ``python -m build`` (the sdist first, then the wheel from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], BUILD_TIMEOUT, cwd=out)
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return wheels[0], sdists[0]


def test_build_makes_a_wheel_and_an_sdist_of_this_version(dists):
    wheel, sdist = dists
    assert wheel.name == f"keras_attention-{_version()}-py3-none-any.whl"
    assert sdist.name == f"keras_attention-{_version()}.tar.gz"


def test_wheel_holds_the_package_its_data_and_the_licence(dists):
    names = set(zipfile.ZipFile(dists[0]).namelist())
    info = f"keras_attention-{_version()}.dist-info"
    assert f"{info}/licenses/LICENSE" in names or f"{info}/LICENSE" in names, sorted(n for n in names if info in n)
    assert "keras_attention/py.typed" in names
    assert {f"keras_attention/data/bundled/fashion-mnist/{name}" for name in SLICE} <= names
    # the package and its metadata only: no tests, notebooks or benchmarks
    assert {name.split("/")[0] for name in names} == {"keras_attention", info}
    modules = {str(p.relative_to(ROOT).as_posix()) for p in (ROOT / "keras_attention").rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    metadata = zipfile.ZipFile(dists[0]).read(f"{info}/METADATA").decode()
    assert "License: MIT" in metadata and "License-File: LICENSE" in metadata
    urls = dict(re.findall(r"^Project-URL: ([^,]+), (\S+)$", metadata, re.MULTILINE))
    assert set(urls) >= {"Homepage", "Source", "Issues", "Changelog"}, urls
    assert all(url.startswith("https://") for url in urls.values()), urls


def test_sdist_holds_the_licence_and_the_whole_test_tree(dists):
    names = tarfile.open(dists[1]).getnames()
    top = f"keras_attention-{_version()}"
    inside = {name[len(top) + 1:] for name in names if name.startswith(top + "/")}
    assert {"LICENSE", "keras_attention/py.typed", "setup.cfg", "pyproject.toml", "README.md", "README.pypi.md",
            "CHANGELOG.md", "constraints/floors.txt"} <= inside
    assert {f"keras_attention/data/bundled/fashion-mnist/{name}" for name in SLICE} <= inside
    # every file of tests/ on disk (conftest, helpers, tests/data/, every test), and what the tests read
    wanted = {p.relative_to(ROOT).as_posix() for folder in ("tests", "notebooks", "docker", "benchmarks")
              for p in (ROOT / folder).rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts
              and p.suffix != ".pyc"}
    assert {"tests/conftest.py", "tests/real_data.py", "tests/data/test_images.py"} <= wanted
    assert wanted <= inside, sorted(wanted - inside)[:20]


def test_twine_check_passes(dists):
    done = _run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dists)], INSTALL_TIMEOUT)
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_long_description_has_no_relative_links():
    config = ConfigParser()
    config.read(ROOT / "setup.cfg")
    source = config["metadata"]["long_description"].split("file:")[1].strip()
    text = (ROOT / source).read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'(?:href|src)="([^"]+)"', text)
    assert links, f"{source} links nowhere"
    relative = [link for link in links if not re.match(r"https?://", link)]
    assert not relative, f"{source} has links that break on the package index: {relative}"
    # its example is README's, so both are run by the tests (README's by tests/test_readme_examples.py)
    blocks = {heading: code for _, heading, code in readme_blocks((ROOT / "README.md").read_text(encoding="utf-8"))}
    assert [code for _, _, code in readme_blocks(text)] == [blocks[README_EXAMPLE]]


def _fresh_venv(path):
    """A new virtual environment at ``path`` that also sees this interpreter's site-packages (after its own)."""
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    python = path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], 60).stdout
    parents = [p for p in dict.fromkeys(site.getsitepackages() + [site.getusersitepackages()]) if os.path.isdir(p)]
    Path(purelib.strip(), "_keras_attention_test_parent.pth").write_text("\n".join(parents) + "\n")
    return python


def test_wheel_installed_in_a_fresh_venv_runs_a_readme_example_outside_the_repository(dists, tmp_path):
    python = _fresh_venv(tmp_path / "venv")
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(dists[0])], INSTALL_TIMEOUT)
    blocks = {heading: code for _, heading, code in readme_blocks((ROOT / "README.md").read_text(encoding="utf-8"))}
    code = blocks[README_EXAMPLE] + (
        "import keras_attention, importlib.metadata\n"
        "from keras_attention.data import load_arrays\n"
        "x, y = load_arrays('fashion_mnist_slice', 'test', limit=3)   # the data shipped in the wheel\n"
        "print('labels', y.tolist(), x.shape)\n"
        "print('version', keras_attention.__version__, importlib.metadata.version('keras-attention'))\n"
        "print('file', keras_attention.__file__)\n"
    )
    work = tmp_path / "elsewhere"  # not the repository, and nothing of it on the path
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "KERAS_ATTENTION_DATA", "PYTHONHOME")}
    env.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    out = _run([str(python), "-c", code], RUN_TIMEOUT, cwd=work, env=env).stdout
    assert "(2, 10) (2, 10, 10, 16)" in out, out
    assert "labels [9, 2, 1] (3, 28, 28, 1)" in out, out
    assert f"version {_version()} {_version()}" in out, out
    installed = Path(re.search(r"^file (.+)$", out, re.MULTILINE).group(1)).resolve()
    assert installed.is_relative_to((tmp_path / "venv").resolve()), f"imported {installed}, not the venv's copy"
    assert not installed.is_relative_to(ROOT)
    # the console script of the wheel
    script = python.parent / ("keras-attention.exe" if os.name == "nt" else "keras-attention")
    assert _run([str(script), "--version"], RUN_TIMEOUT, cwd=work, env=env).stdout.strip() == _version()


def test_changelog_has_a_dated_section_for_this_version_under_unreleased():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "[Keep a Changelog](https://keepachangelog.com/" in text
    versions = re.findall(r"^## \[([^\]]+)\](?: - (\d{4}-\d{2}-\d{2}))?$", text, re.MULTILINE)
    assert versions[0] == ("Unreleased", ""), f"the first section must be [Unreleased]: {versions[:2]}"
    assert versions[1][0] == _version() and versions[1][1], f"no dated section for {_version()}: {versions[:3]}"
    assert [v for v, _ in versions].count(_version()) == 1
    # every version section sorts its entries under Keep a Changelog's headings
    for section in re.split(r"^## ", text, flags=re.MULTILINE)[2:]:
        headings = re.findall(r"^### (.+)$", section, re.MULTILINE)
        kinds = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}
        assert headings and set(headings) <= kinds, headings
