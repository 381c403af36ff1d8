"""Docstrings hold what they promise: every public layer, builder, callback and function of the package has
Args / Call arguments (layers) / Returns and an Example, every example runs as a doctest (small shapes, so they
stay fast), and no comment or docstring cites the specification the package once followed outside the
repository: its readings are in the documentation (docs/), which the code links to."""

import doctest
import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import keras
import numpy as np
import pytest
from backend import tensorflow_only

import keras_attention

PACKAGE = Path(keras_attention.__file__).resolve().parent
PUBLIC_MODULES = ["keras_attention.layers", "keras_attention.models", "keras_attention.sparsity",
                  "keras_attention.saliency", "keras_attention.racknet", "keras_attention.data"]
OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

pytestmark = tensorflow_only


def _modules():
    names = ["keras_attention"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="keras_attention."):
        if not info.name.endswith(".__main__"):  # running it is the command line
            names.append(info.name)
    return sorted(names)


def _doctests():
    finder = doctest.DocTestFinder(exclude_empty=True)
    found = []
    for name in _modules():
        module = importlib.import_module(name)
        for test in finder.find(module, name):
            if test.examples and test.name.startswith(name):
                found.append(test)
    return sorted({t.name: t for t in found}.values(), key=lambda t: t.name)


DOCTESTS = _doctests()


def _public_callables():
    names = [("keras_attention", "create_attention")]
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        names += [(module_name, n) for n in module.__all__ if callable(getattr(module, n))]
    seen, unique = set(), []
    for module_name, name in names:
        obj = getattr(importlib.import_module(module_name), name)
        if id(obj) not in seen:  # an alias (ECA = EfficientChannelAttention) is one object
            seen.add(id(obj))
            unique.append((f"{module_name}.{name}", obj))
    return unique


PUBLIC = _public_callables()


def test_there_are_examples_to_run():
    assert len(DOCTESTS) >= len(PUBLIC) > 60


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_example_runs(test):
    keras.utils.set_random_seed(0)
    np.set_printoptions(precision=4, suppress=True)
    runner = doctest.DocTestRunner(optionflags=OPTIONS)
    output = []
    globs = dict(test.globs)
    test.globs = globs
    result = runner.run(test, out=output.append, clear_globs=False)
    assert result.failed == 0, "".join(output)


@pytest.mark.parametrize("name, obj", PUBLIC, ids=[n for n, _ in PUBLIC])
def test_public_name_documents_itself(name, obj):
    doc = inspect.getdoc(obj) or ""
    missing = []
    if not re.search(r"^Examples?:\n(\s+.*\n)*?\s+>>> ", doc + "\n", re.MULTILINE):
        missing.append("Example: with >>> lines")
    if inspect.isclass(obj) and issubclass(obj, keras.layers.Layer):
        missing += [s for s in ("Args:", "Call arguments:", "Returns:") if s not in doc]
    elif inspect.isfunction(obj):
        signature = inspect.signature(obj)
        if signature.parameters and "Args:" not in doc:
            missing.append("Args:")
        if signature.return_annotation not in (None, "None") and not re.search(r"^(Returns|Yields):", doc,
                                                                                re.MULTILINE):
            missing.append("Returns:")
    assert not missing, f"{name}: its docstring lacks {', '.join(missing)}"


def test_no_reference_to_the_outside_specification_is_left():
    cited = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bSPEC\b", line):
                cited.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    assert not cited, "cites SPEC instead of the documentation:\n" + "\n".join(cited)


def test_documentation_links_in_the_code_point_at_pages_and_anchors_that_exist():
    docs = PACKAGE.parent / "docs"
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for page, anchor in re.findall(r"docs/([\w/]+\.md)(?:#([\w-]+))?", path.read_text()):
            target = docs / page
            if not target.is_file():
                broken.append(f"{path.name}: docs/{page}")
            elif anchor and f"({anchor})=" not in target.read_text():
                broken.append(f"{path.name}: docs/{page}#{anchor}")
    assert not broken, "links to no page or section:\n" + "\n".join(sorted(set(broken)))
