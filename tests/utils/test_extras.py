"""The light core install (keras_attention/utils/extras.py, setup.cfg): ``pip install keras-attention`` pulls
what the layers, builders, saliency, iSparse and RACKNet need; the experiments' tooling is the ``experiments``
extra, and a missing extra is an error that names it.

A package "not installed" is simulated in a subprocess by a finder at the head of ``sys.meta_path`` that
refuses to find it (what Python does for a package that is not there; Keras, which imports matplotlib or pandas
when it finds them, then goes without them, as on a light install)."""

import subprocess
import sys
import textwrap
from configparser import ConfigParser
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from keras_attention.utils.extras import EXTRAS, MissingExtraError, import_optional, missing_packages, require_extras

ROOT = Path(__file__).resolve().parents[2]
OPTIONAL_MODULES = tuple(module for modules in EXTRAS.values() for module in modules.values())
TIMEOUT = 300

# Run first in the subprocesses: the modules of BLOCKED cannot be found, and every attempt is noted.
BLOCKER = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = set({blocked!r})
    ATTEMPTS = []

    class NotInstalled(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                ATTEMPTS.append(name)
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, NotInstalled())
""")


def _python(code, blocked, timeout=TIMEOUT):
    script = BLOCKER.format(blocked=sorted(blocked)) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def _setup_cfg():
    config = ConfigParser()
    config.read(ROOT / "setup.cfg")
    return config


def _requirements(text):
    return [Requirement(line.strip()) for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def _extra(name):
    return _requirements(_setup_cfg()["options.extras_require"][name])


# ------------------------------------------------------------------------------------------------ setup.cfg
def test_the_extras_table_is_setup_cfgs():
    for extra, modules in EXTRAS.items():
        assert {canonicalize_name(r.name) for r in _extra(extra)} == {canonicalize_name(d) for d in modules}, extra


def test_the_core_install_leaves_the_experiments_tooling_to_its_extra():
    core = {canonicalize_name(r.name) for r in _requirements(_setup_cfg()["options"]["install_requires"])}
    optional = {canonicalize_name(dist) for modules in EXTRAS.values() for dist in modules}
    assert not core & optional, sorted(core & optional)
    assert {"tensorflow", "keras", "numpy", "scipy", "scikit-learn"} <= core
    assert not core & {"matplotlib", "pandas", "tabulate", "tensorflow-datasets"}


@pytest.mark.parametrize("extra", ["test", "notebooks", "docs"])
def test_the_extras_that_run_experiments_carry_the_experiments_extra(extra):
    """The README's test command (``pip install -e ".[test]"``), the notebooks and the site's pages run experiments."""
    lines = {str(r) for r in _extra(extra)}
    assert {str(r) for r in _extra("experiments")} <= lines


# ----------------------------------------------------------------------------------------- without extras
def test_layers_builders_saliency_isparse_and_racknet_work_without_any_extra():
    code = """
        import os
        os.environ["KERAS_BACKEND"] = "tensorflow"
        import numpy as np
        import keras_attention
        from keras_attention import models, racknet, saliency, sparsity
        from keras_attention.data import load_arrays

        rng = np.random.default_rng(0)
        images, labels = load_arrays("fashion_mnist_slice", "train", limit=64)  # shipped with the package
        load_arrays("digits", "test", limit=1)  # scikit-learn's digits
        model = models.BUILDERS["lenet5"]((28, 28, 1), 10, attention="san-d")
        x = images.astype("float32") / 255
        assert model(x[:2]).shape == (2, 10)
        sparse = sparsity.sparsify(model, 0.5, x[:16], "isparse", seed=0)  # InfFS ranks: scipy
        assert sparse(x[:2]).shape == (2, 10)
        series = rng.normal(size=(2, 64, 1))
        assert saliency.saliency_series(series, saliency.extract_events(series)).shape == series.shape
        components, _ = racknet.fit_mixture(rng.normal(size=200))  # scikit-learn's mixtures
        rack_net = racknet.build_model([[4, 3], [3]], (28, 28, 1), 10)
        print("OK", len(components) >= 1, rack_net.count_params() > 0)
    """
    done = _python(code, OPTIONAL_MODULES)
    assert done.returncode == 0 and "OK True True" in done.stdout, done.stderr[-3000:]


def test_the_no_extra_environment_is_a_real_one():
    """The simulated light install refuses each optional package, as Python does for one not installed."""
    for module in OPTIONAL_MODULES:
        done = _python(f"import {module}", [module])
        assert done.returncode == 1 and f"ModuleNotFoundError: No module named '{module}'" in done.stderr, module


def test_importing_the_layers_and_builders_loads_no_extra_package():
    """Keras itself imports matplotlib, pandas and OpenCV when they are installed; tensorflow-datasets, tabulate,
    importlib_resources and aeon it does not: the layers, builders, iSparse, saliency and RACKNet import none of
    them either."""
    code = """
        import os, sys
        os.environ["KERAS_BACKEND"] = "tensorflow"
        import keras_attention
        import keras_attention.layers, keras_attention.models, keras_attention.sparsity, keras_attention.saliency
        import keras_attention.racknet, keras_attention.data
        keras_attention.models.lenet5((28, 28, 1), 10, attention="cbam")
        keras_attention.racknet.build_model([[4], [2]], (28, 28, 1), 10)
        print("LOADED", sorted(name for name in {modules!r} if name in sys.modules))
    """.replace("{modules!r}", repr(("tensorflow_datasets", "tabulate", "importlib_resources", "aeon")))
    done = _python(code, ())
    assert done.returncode == 0, done.stderr[-3000:]
    assert "LOADED []" in done.stdout, done.stdout


# ------------------------------------------------------------------------------------ errors naming the extra
@pytest.mark.parametrize("module, extra", [("cv2", "vision"), ("aeon.datasets", "timeseries"),
                                           ("tensorflow_datasets", "experiments"), ("matplotlib.pyplot", "experiments")])
def test_a_missing_optional_package_names_its_extra(monkeypatch, module, extra):
    for name in {module, module.split(".")[0]}:
        monkeypatch.setitem(sys.modules, name, None)  # what Python reports for a missing package
    with pytest.raises(MissingExtraError, match=rf"the '{extra}' extra installs it: pip install 'keras-attention\[{extra}\]'"):
        import_optional(module, "this")
    assert issubclass(MissingExtraError, ModuleNotFoundError)


def test_the_packages_own_optional_imports_name_their_extras(monkeypatch):
    from keras_attention.data import timeseries
    from keras_attention.data.images import DatasetNotFoundError, load_arrays
    from keras_attention.racknet.features import require_cv2

    for module in ("cv2", "aeon", "tensorflow_datasets"):
        # the package and any of its submodules an earlier test of this process imported (aeon.datasets)
        for name in [m for m in list(sys.modules) if m == module or m.startswith(module + ".")] + [module]:
            monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingExtraError, match=r"keras_attention.racknet .*pip install 'keras-attention\[vision\]'"):
        require_cv2()
    with pytest.raises(MissingExtraError, match=r"pip install 'keras-attention\[timeseries\]'"):
        timeseries.load_timeseries("JapaneseVowels")
    with pytest.raises(DatasetNotFoundError, match=r"pip install 'keras-attention\[experiments\]'"):
        load_arrays("cifar10", "test", limit=1)


def test_require_extras_finds_without_importing(monkeypatch):
    assert missing_packages("experiments") == []
    require_extras(EXTRAS)  # the test environment has every extra
    monkeypatch.setattr("importlib.util.find_spec", lambda name, package=None: None if name == "pandas" else object())
    assert missing_packages("experiments") == ["pandas"]
    with pytest.raises(MissingExtraError, match=r"^pandas is not installed; the 'experiments' extra installs it: "
                                                r"pip install 'keras-attention\[experiments\]'$"):
        require_extras(["vision", "experiments"])


@pytest.mark.parametrize("command, missing, extra", [
    (["reproduce", "san-lenet", "--quick"], "matplotlib", "experiments"),
    (["train", "--model", "lenet5", "--dataset", "digits"], "tensorflow_datasets", "experiments"),
    (["racknet", "analyze", "--dataset", "digits", "--out", "{tmp}/plan.json"], "cv2", "vision"),
])
def test_the_command_without_its_extra_says_which_to_install_before_tensorflow(tmp_path, command, missing, extra):
    argv = [word.replace("{tmp}", str(tmp_path)) for word in command]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "run")]
    code = f"""
        sys.argv = ["keras-attention", *{argv!r}]  # as the console script starts (keras_attention/__init__.py)
        from keras_attention.cli import main
        code = main()
        print("EXIT", code, sorted({{"tensorflow", "keras"}} & set(sys.modules)))
    """
    done = _python(code, [missing])
    assert "EXIT 1 []" in done.stdout, (done.stdout, done.stderr[-3000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    dist = next(dist for modules in EXTRAS.values() for dist, module in modules.items() if module == missing)
    assert lines[0].startswith(f"keras-attention {argv[0]}: error: {dist} is not installed;"), lines[0]
    assert f"the '{extra}' extra installs it: pip install 'keras-attention[{extra}]'" in lines[0]
    assert not any(tmp_path.iterdir())  # nothing written
