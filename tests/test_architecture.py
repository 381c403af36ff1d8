"""The package's import structure (ARCHITECTURE.md): no import circle between modules, and every
subpackage imports only subpackages below it.

The graph is read from the source with ``ast``: every import, at module level and inside functions (an
import deferred into a function, e.g. of TensorFlow or of a backend's kernels, is still a dependency and may
form a circle), so the test needs no TensorFlow and sees every module, imported or not. Imports under
``if TYPE_CHECKING:`` never run: they count for the levels (a subpackage does not even name one above it) but
not for the circles (two modules that name each other's types for the type checker only are no import circle).
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "keras_attention"

# subpackage -> its level; a module may import its own subpackage and any subpackage of a LOWER level.
# "(root)" is keras_attention/__init__.py (version, lazy exports): the experiments may read it.
LEVELS = {
    "utils": 0,
    "kernels": 1,
    "layers": 2, "saliency": 2, "racknet": 2, "data": 2,
    "sparsity": 3, "models": 3,
    "experiments": 4,
    "cli": 5,
}
ALLOWED_UPWARD = {("experiments", "(root)"), ("cli", "(root)")}  # the package version, from (root)


def module_name(path):
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree):
    """The nodes inside ``if TYPE_CHECKING:`` (or ``typing.TYPE_CHECKING``) blocks of ``tree``."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            for statement in node.body:
                inside.update(id(n) for n in ast.walk(statement))
    return inside


def imported_modules(path, *, type_checking=True):
    """The ``keras_attention`` modules ``path`` imports, anywhere in it (absolute names); with
    ``type_checking=False``, not those imported only for the type checker."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = set() if type_checking else _type_checking_nodes(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "keras_attention")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "keras_attention":
                continue
            found.add(target)
            # `from keras_attention.x import y` may import the submodule x.y
            found.update(f"{target}.{a.name}" for a in node.names)
    return found


def import_graph(*, type_checking=True):
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: sorted(m for m in imported_modules(path, type_checking=type_checking) if m in modules and m != name)
            for name, path in modules.items()}


def find_cycle(graph):
    """One import cycle as a list of module names, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def subpackage(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(root)"


def test_the_graph_sees_the_package():
    graph = import_graph()
    assert len(graph) > 60
    assert "keras_attention.models.attention_slots" in graph
    assert "keras_attention.layers.registry" in graph["keras_attention.models.attention_slots"]
    # an import inside a function is an edge too (the layer imports SAN's TensorFlow kernel when it runs)
    assert "keras_attention.kernels.tensorflow.scale_space" in graph["keras_attention.layers.scale_space_attention"]


def test_no_import_cycle():
    assert find_cycle(import_graph(type_checking=False)) is None


def test_imports_for_the_type_checker_only_are_not_circle_edges(tmp_path):
    module = tmp_path / "keras_attention" / "racknet" / "planted.py"
    module.parent.mkdir(parents=True)
    module.write_text("from typing import TYPE_CHECKING\nimport keras_attention.utils.files\n"
                      "if TYPE_CHECKING:\n    from keras_attention.racknet.plan import RackPlan\n")
    global PACKAGE
    saved, PACKAGE = PACKAGE, tmp_path / "keras_attention"
    try:
        every = imported_modules(module)
        runtime = imported_modules(module, type_checking=False)
    finally:
        PACKAGE = saved
    assert "keras_attention.racknet.plan" in every and "keras_attention.racknet.plan" not in runtime
    assert "keras_attention.utils.files" in runtime


def test_find_cycle_finds_a_planted_cycle():
    graph = {"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}
    assert find_cycle(graph) in (["a", "b", "c", "a"], ["b", "c", "a", "b"], ["c", "a", "b", "c"])
    assert find_cycle({"a": ["b"], "b": []}) is None


def test_every_subpackage_has_a_level():
    subpackages = {subpackage(m) for m in import_graph()} - {"(root)"}
    assert subpackages <= set(LEVELS), sorted(subpackages - set(LEVELS))


@pytest.mark.parametrize("low, high", [("utils", "kernels"), ("kernels", "layers"), ("layers", "models"), ("models", "experiments"),
                                       ("data", "experiments"), ("experiments", "cli")])
def test_levels_order_the_layers_of_the_package(low, high):
    assert LEVELS[low] < LEVELS[high]


def test_no_subpackage_imports_one_above_it():
    wrong = []
    for module, targets in import_graph().items():
        source = subpackage(module)
        for target in targets:
            dest = subpackage(target)
            if source == dest or (source, dest) in ALLOWED_UPWARD or source == "(root)":
                continue
            if LEVELS[dest] >= LEVELS[source]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against ARCHITECTURE.md's levels:\n" + "\n".join(wrong)


def test_the_suites_longest_first_list_names_existing_files():
    """conftest.LONGEST_FIRST orders pytest-xdist's work; a renamed file would silently fall out of it."""
    from conftest import LONGEST_FIRST

    root = PACKAGE.parent
    missing = [name for name in LONGEST_FIRST if not (root / name).is_file()]
    assert not missing and len(set(LONGEST_FIRST)) == len(LONGEST_FIRST), missing
