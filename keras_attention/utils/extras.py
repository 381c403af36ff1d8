"""The optional dependencies of the package: which extra of ``setup.cfg`` installs each, and errors that say so.

``pip install keras-attention`` installs what the layers, the model builders, saliency, iSparse and RACKNet's
analysis need (TensorFlow, Keras, numpy, scipy, scikit-learn, tqdm, threadpoolctl). The rest comes with an
extra (:data:`EXTRAS`, kept equal to ``setup.cfg`` by ``tests/utils/test_extras.py``):

- ``experiments``: the experiments, the ``keras-attention`` command and the notebooks' tooling:
  tensorflow-datasets (the tfds data sets; importlib_resources, which tensorflow-datasets 4.9 imports without
  declaring it), pandas and tabulate (the results' markdown tables) and matplotlib (the figures);
- ``vision``: OpenCV, RACKNet's SIFT features;
- ``timeseries``: aeon, the UEA/UCR series.

:func:`import_optional` imports one of them, or raises :class:`MissingExtraError` naming the extra;
:func:`require_extras` checks a whole extra without importing anything (``keras-attention`` does so before
its work).
"""

import importlib
import importlib.util
from collections.abc import Iterable
from types import ModuleType

# extra -> {distribution: the module it installs}
EXTRAS: dict[str, dict[str, str]] = {
    "experiments": {"tensorflow-datasets": "tensorflow_datasets", "importlib_resources": "importlib_resources",
                    "matplotlib": "matplotlib", "pandas": "pandas", "tabulate": "tabulate"},
    "vision": {"opencv-python-headless": "cv2"},
    "timeseries": {"aeon": "aeon"},
}


class MissingExtraError(ModuleNotFoundError):
    """An optional dependency is not installed; the message says which extra installs it."""


def install_command(extra: str) -> str:
    """The pip command that installs ``extra``.

    Args:
        extra: a key of :data:`EXTRAS`.

    Returns:
        ``pip install 'keras-attention[<extra>]'``.
    """
    return f"pip install 'keras-attention[{extra}]'"


def _findable(module: str) -> bool:
    """Whether Python can find ``module`` (nothing is imported but its parent packages)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or half-removed installation
        return False


def missing_packages(extra: str) -> list[str]:
    """The distributions of ``extra`` whose modules Python cannot find (nothing is imported).

    Args:
        extra: a key of :data:`EXTRAS`.

    Returns:
        The names of the missing distributions, in :data:`EXTRAS`' order; empty when the extra is installed.

    Raises:
        KeyError: ``extra`` is not a key of :data:`EXTRAS`.
    """
    return [dist for dist, module in EXTRAS[extra].items() if not _findable(module)]


def require_extras(extras: Iterable[str]) -> None:
    """:class:`MissingExtraError` naming the missing packages and the extra to install, unless every package
    of every extra of ``extras`` can be found (nothing is imported).

    Args:
        extras: keys of :data:`EXTRAS`.

    Raises:
        MissingExtraError: a package of one of ``extras`` is missing (the first such extra is named).
        KeyError: a name in ``extras`` is not a key of :data:`EXTRAS`.
    """
    for extra in extras:
        absent = missing_packages(extra)
        if absent:
            raise MissingExtraError(f"{', '.join(absent)} {'is' if len(absent) == 1 else 'are'} not installed; "
                                    f"the {extra!r} extra installs {'it' if len(absent) == 1 else 'them'}: "
                                    f"{install_command(extra)}")


def import_optional(module: str, needed_by: str) -> ModuleType:
    """``module`` (a module of a package of :data:`EXTRAS`, or one inside it, e.g. ``"aeon.datasets"``)
    imported, or :class:`MissingExtraError` saying that ``needed_by`` needs it and which extra installs it.

    Args:
        module: the dotted name of the module; its top-level package must be one of :data:`EXTRAS`.
        needed_by: what needs it, for the error message (e.g. ``"RACKNet's SIFT features"``).

    Returns:
        The imported module.

    Raises:
        MissingExtraError: the module cannot be imported; the message names the distribution and the extra.
        StopIteration: ``module``'s top-level package belongs to no extra of :data:`EXTRAS`.
    """
    top = module.split(".")[0]
    extra, dist = next((extra, dist) for extra, modules in EXTRAS.items() for dist, name in modules.items()
                       if name == top)
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise MissingExtraError(f"{needed_by} needs {dist} ({error}); the {extra!r} extra installs it: "
                                f"{install_command(extra)}", name=top) from error
