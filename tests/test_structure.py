"""What the package's structure promises (issue "Step 16", ARCHITECTURE.md), read from the source with ``ast``:
layer modules do not import TensorFlow at module level (the backend kernels under ``keras_attention/kernels``
do, lazily); the catalogs are data (no function over 30 lines); each file name of a run is written once, in
``experiments/artifacts.py``."""

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "keras_attention"
FILE_SUFFIXES = (".json", ".keras", ".csv", ".md", ".h5", ".png", ".npz", ".txt")
CATALOG_FUNCTION_LINES = 30


def _tree(path):
    return ast.parse(path.read_text(), filename=str(path))


def _module_level_imports(tree):
    for node in tree.body:
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module


def test_no_layer_module_imports_tensorflow_at_module_level():
    found = [f"{path.name}: {name}" for path in sorted((PACKAGE / "layers").glob("*.py"))
             for name in _module_level_imports(_tree(path)) if name.split(".")[0] == "tensorflow"]
    assert not found, found


def test_the_check_reads_module_level_imports(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("import numpy\nimport tensorflow as tf\nfrom tensorflow.python import ops\n"
                       "def f():\n    import torch\n")
    assert list(_module_level_imports(_tree(planted))) == ["numpy", "tensorflow", "tensorflow.python"]


def test_catalogs_hold_no_function_over_30_lines():
    long = []
    for path in sorted((PACKAGE / "experiments" / "catalog").glob("*.py")):
        for node in ast.walk(_tree(path)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                lines = node.end_lineno - node.lineno + 1
                if lines > CATALOG_FUNCTION_LINES:
                    long.append(f"{path.name}:{node.lineno} {getattr(node, 'name', 'lambda')} ({lines} lines)")
    assert not long, long


def _file_names(tree):
    return {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and node.value.endswith(FILE_SUFFIXES) and " " not in node.value and "/" not in node.value}


def test_each_file_name_of_a_run_is_written_once():
    names = _file_names(_tree(PACKAGE / "experiments" / "artifacts.py"))
    assert {"result.json", "model.keras", "history.json", "results.md"} <= names
    where = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Constant) and node.value in names:
                where[node.value].append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    repeated = {name: places for name, places in where.items() if len(places) > 1}
    assert not repeated, repeated
