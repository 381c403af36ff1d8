"""The experiment notebooks: their ``.py`` sources, the committed ``.ipynb`` files, and a smoke run of each.

The source of every notebook is the jupytext percent file ``notebooks/<name>.py`` (paired with
``notebooks/<name>.ipynb`` through the ``formats: ipynb,py:percent`` header); the ``.ipynb`` is generated from it
(``jupytext --sync notebooks/<name>.py``) and committed without outputs, so the notebooks render on the web.
The sync test reads both files with jupytext and compares their cells (kind and source). What the notebooks
share (outputs, smoke switch, image data, ``train_run``) is ``notebooks/_shared.py``, imported from the
notebook's folder, where Jupyter starts its kernel (and so do these tests).

Every notebook is executed once per test session with ``nbclient`` (kernel ``python3``) in smoke mode
(``KERAS_ATTENTION_SMOKE=1``: tiny subsets, 1 epoch), ``KERAS_ATTENTION_OUT=<its own tmp dir>``,
``KERAS_BACKEND=tensorflow``; two kernels run at a time (each is mostly single-threaded Python at smoke size),
every cell under a timeout, the kernel started in ``notebooks/``. Each notebook then has its own test: no cell raised, every figure and table it
promises was written (PNG files that really are PNGs, CSV tables with the paper column), and the figures were
also shown inline.
"""

import asyncio
import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
CELL_TIMEOUT = 300  # seconds per cell (smoke cells take seconds; this only stops a hung kernel)
PARALLEL_KERNELS = 2
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SHARED = "_shared"  # notebooks/_shared.py: the helpers every notebook imports (not a notebook)
LINK = re.compile(r"(!?)\[[^\]]*\]\(([^)\s]+)\)")  # markdown links and images: (is image, target)

# notebook -> (figures written to $OUT/figures/<notebook>_<stem>.png, tables written to $OUT/<notebook>_<stem>.csv
# with the column holding the paper's numbers)
EXPECTED = {
    "san": (
        ["two_conv_curves", "two_conv_masks", "lenet_curves", "attention_masks", "mask_histogram"],
        {"table_iv": "paper top-1", "table_ix": "paper top-1"},
    ),
    "isparse": (
        ["base_curves", "sparsity_accuracy", "kept_pruned_histograms", "train_with_curves"],
        {"sparsify_with": "top-1", "table_4_1": "paper top-1"},
    ),
    "racknet": (
        ["analysis", "strategy_curves"],
        {"allocations": "allocation", "table_3_6": "paper top-1 (MNIST)", "table_3_8": "paper MNIST (60k images)"},
    ),
    "saliency_sdma": (
        ["event_histograms", "saliency_series"],
        {},
    ),
    "xm2a": (
        ["curves", "params_accuracy"],
        {"table_7_3_7_4": "paper SADD"},
    ),
    "fa_spanet_awconv": (
        ["curves", "fa_weights_spanet_energy"],
        {"comparison": "paper FANet CIFAR-10 ResNet-20"},
    ),
}
# SDMA networks run only when the SDMA modules are in the checkout (the notebook checks for them itself).
HAVE_SDMA = all(
    importlib.util.find_spec(m) is not None for m in ("keras_attention.layers.sdma", "keras_attention.models.sdma_net")
)
if HAVE_SDMA:
    EXPECTED["saliency_sdma"][0].append("curves")
    EXPECTED["saliency_sdma"][1]["table_6_2"] = "paper AUSLAN"


def _cells(nb):
    """``(kind, source)`` of every cell, the comparison the sync test makes."""
    return [(cell.cell_type, cell.source.strip("\n")) for cell in nb.cells]


# ------------------------------------------------------------------------------------ sources and sync
def test_every_notebook_has_a_py_source_and_nothing_else():
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")) == sorted(EXPECTED)
    assert sorted(p.stem for p in NOTEBOOK_DIR.glob("*.py")) == sorted([*EXPECTED, SHARED])


@pytest.mark.parametrize("name", list(EXPECTED))
def test_committed_ipynb_is_in_sync_with_its_py_source(name):
    source = jupytext.read(NOTEBOOK_DIR / f"{name}.py")
    assert source.metadata["jupytext"]["formats"] == "ipynb,py:percent", "the .py must pair itself with the .ipynb"
    text = (NOTEBOOK_DIR / f"{name}.ipynb").read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{name}.ipynb has outputs in git"
    assert _cells(jupytext.reads(text, fmt="ipynb")) == _cells(source), (
        f"notebooks/{name}.ipynb differs from notebooks/{name}.py; run `jupytext --sync notebooks/{name}.py`"
    )


@pytest.mark.parametrize("name", list(EXPECTED))
def test_first_code_cell_holds_the_smoke_parameter(name):
    first = next(cell for cell in jupytext.read(NOTEBOOK_DIR / f"{name}.py").cells if cell.cell_type == "code")
    assert "parameters" in first.metadata.get("tags", [])
    assert 'SMOKE = os.environ.get("KERAS_ATTENTION_SMOKE", "0") == "1"' in first.source


@pytest.mark.parametrize("name", list(EXPECTED))
def test_markdown_links_and_committed_figures_exist(name):
    """Every relative link of the markdown (the committed ``benchmarks/results`` tables and figures) resolves,
    so the figures show on the web without running anything."""
    nb = jupytext.read(NOTEBOOK_DIR / f"{name}.py")
    links = [m.groups() for cell in nb.cells if cell.cell_type == "markdown" for m in LINK.finditer(cell.source)]
    local = [(image, target) for image, target in links if "://" not in target]
    assert any(target.startswith("../benchmarks/results/") for _, target in local), f"{name} links no results"
    for image, target in local:
        assert (NOTEBOOK_DIR / target).is_file(), f"{name}: {target} does not exist"
        if image:
            assert target.endswith(".png")
    if name != "fa_spanet_awconv":  # the FA / SPANet / AW-conv runs committed tables only
        assert any(image for image, _ in local), f"{name} embeds no committed figure"


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff is not installed")
def test_notebook_sources_are_lint_clean():
    sources = sorted(str(p) for p in NOTEBOOK_DIR.glob("*.py"))
    result = subprocess.run(["ruff", "check", "--select", "F,E9", "--line-length", "120", *sources],
                            capture_output=True, text=True, cwd=ROOT, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", list(EXPECTED))
def test_notebook_sources_compile(name):
    compile((NOTEBOOK_DIR / f"{name}.py").read_text(encoding="utf-8"), f"{name}.py", "exec")


# --------------------------------------------------------------------------------------- smoke runs
async def _execute_all(jobs):
    """Run ``{name: (notebook, out_dir)}`` with at most PARALLEL_KERNELS kernels; return ``{name: error or None}``."""
    gate = asyncio.Semaphore(PARALLEL_KERNELS)

    async def one(name, nb, out_dir):
        env = dict(os.environ)
        env.update(
            KERAS_ATTENTION_SMOKE="1",
            KERAS_ATTENTION_OUT=str(out_dir),
            KERAS_BACKEND="tensorflow",
            TF_CPP_MIN_LOG_LEVEL="2",
            PYTHONDONTWRITEBYTECODE="1",  # no __pycache__ in notebooks/ from importing _shared
        )
        client = NotebookClient(
            nb,
            timeout=CELL_TIMEOUT,
            kernel_name="python3",
            resources={"metadata": {"path": str(NOTEBOOK_DIR)}},  # where Jupyter starts it; outputs go to out_dir
        )
        async with gate:
            try:
                await client.async_execute(env=env)
            except CellExecutionError as err:  # the cell's traceback, for the per-notebook test to report
                return name, err
            except Exception as err:  # noqa: BLE001  (kernel death, timeout: reported by that notebook's test)
                return name, err
        return name, None

    results = await asyncio.gather(*(one(name, nb, out) for name, (nb, out) in jobs.items()))
    return dict(results)


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Every notebook executed in smoke mode: ``{name: (executed notebook, out dir, error or None)}``."""
    jobs = {}
    for name in EXPECTED:
        nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
        jobs[name] = (nb, tmp_path_factory.mktemp(f"nb_{name}"))
    errors = asyncio.run(_execute_all(jobs))
    return {name: (nb, out, errors[name]) for name, (nb, out) in jobs.items()}


def _stream_text(nb):
    return "".join(
        output.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "stream"
    )


def _rows(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.parametrize("name", list(EXPECTED))
def test_notebook_runs_in_smoke_mode(executed, name):
    nb, out, error = executed[name]
    assert error is None, f"{name}.ipynb failed in smoke mode:\n{error}"
    code_cells = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert all(cell.execution_count is not None for cell in code_cells), "a code cell did not run"
    assert not [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert f"{name}: smoke=True" in _stream_text(nb)  # the notebook saw the smoke switch

    figures, tables = EXPECTED[name]
    written = sorted(p.name for p in (out / "figures").glob("*.png"))
    for stem in figures:
        path = out / "figures" / f"{name}_{stem}.png"
        assert path.exists(), f"{name}.ipynb did not write {path.name}; it wrote {written}"
        assert path.read_bytes()[:8] == PNG_MAGIC and path.stat().st_size > 5000, f"{path.name} is not a real figure"
    inline = sum("image/png" in o.get("data", {}) for c in code_cells for o in c.outputs)
    assert inline >= len(figures), f"{name}.ipynb showed {inline} figures inline, expected at least {len(figures)}"

    for stem, column in tables.items():
        path = out / f"{name}_{stem}.csv"
        assert path.exists(), f"{name}.ipynb did not write {path.name}"
        rows = _rows(path)
        assert rows, f"{path.name} is empty"
        assert column in rows[0], f"{path.name} has no {column!r} column: {list(rows[0])}"
        if column.startswith("paper"):  # the paper's numbers are printed next to ours
            assert any(row[column] not in ("", "nan") for row in rows), f"{path.name}: no paper number"


def test_sdma_section_matches_checkout(executed):
    nb, _, error = executed["saliency_sdma"]
    assert error is None
    text = _stream_text(nb)
    assert f"SDMA available: {HAVE_SDMA}" in text
    if not HAVE_SDMA:
        assert "the SDMA network experiment is skipped" in text


@pytest.mark.skipif(not HAVE_SDMA, reason="the SDMA modules are not in this checkout")
def test_sdma_table_reports_the_final_model_as_reproduce_does(executed):
    """The test accuracy of the SDMA table is the one ``train_run`` (``reproduce sdma``) writes for the final
    model; the best-validation number is a separate, labelled validation column."""
    _, out, error = executed["saliency_sdma"]
    assert error is None
    rows = _rows(out / "saliency_sdma_table_6_2.csv")
    results = sorted((out / "runs" / "saliency_sdma" / "smoke").glob("*/result.json"))
    assert len(results) == len(rows)
    final = sorted(100 * json.loads(p.read_text())["test"]["top1"] for p in results)
    assert sorted(float(row["test accuracy"]) for row in rows) == pytest.approx(final)
    assert {"best validation accuracy", "best validation epoch"} <= set(rows[0])

