"""Lazy package exports (PEP 562): a package names what it exports and the submodule that defines each,
and a submodule is imported on the first access to one of its names, not when the package is imported.

This keeps ``keras-attention --help`` and argument errors free of TensorFlow: the command line reads
the data set and experiment names without importing the modules that build pipelines and models.
"""

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package`` (its ``__name__``) exporting ``{name: submodule}``.

    ``submodule`` is relative to ``package`` (``".images"``). Each name is imported once, on first access,
    and then cached in the package's namespace.

    Args:
        package: the package's ``__name__``.
        exports: ``{name: submodule}``, each submodule relative to ``package``.

    Returns:
        The package's module-level ``__getattr__`` and ``__dir__`` (PEP 562).

    Raises:
        AttributeError: from the returned ``__getattr__``, for a name that ``exports`` does not list.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name], package)
        value = getattr(module, name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(exports) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__
