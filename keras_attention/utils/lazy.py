"""Lazy package exports (PEP 562): a package names what it exports and the submodule that defines each,
and a submodule is imported on the first access to one of its names, not when the package is imported.

This keeps ``keras-attention --help`` and argument errors free of TensorFlow: the command line reads
the data set and experiment names without importing the modules that build pipelines and models.
"""

import importlib


def lazy_exports(package, exports):
    """``(__getattr__, __dir__)`` for ``package`` (its ``__name__``) exporting ``{name: submodule}``.

    ``submodule`` is relative to ``package`` (``".images"``). Each name is imported once, on first access,
    and then cached in the package's namespace.
    """

    def __getattr__(name):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name], package)
        value = getattr(module, name)
        setattr(importlib.import_module(package), name, value)
        return value

    def __dir__():
        return sorted(set(exports) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__
