"""The experiment notebooks: they run end to end in smoke mode and are exactly what the generator writes.

Every notebook of ``notebooks/`` is executed once per test session with ``nbclient`` (kernel ``python3``) and
``KERAS_ATTENTION_SMOKE=1``, ``KERAS_ATTENTION_OUT=<its own tmp dir>``, ``KERAS_BACKEND=tensorflow``; two
kernels run at a time (each is mostly single-threaded Python at smoke size), every cell under a timeout.
Each notebook then has its own test: no cell raised, every figure and table it promises was written (PNG
files that really are PNGs, CSV tables with the paper column), and the figures were also shown inline.

The committed ``.ipynb`` files must carry no outputs or execution counts and equal, byte for byte, what
``notebooks/build_notebooks.py`` generates (regenerate with ``python notebooks/build_notebooks.py``).
"""

import asyncio
import csv
import importlib.util
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
CELL_TIMEOUT = 300  # seconds per cell (smoke cells take seconds; this only stops a hung kernel)
PARALLEL_KERNELS = 2
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

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


def _load_generator():
    spec = importlib.util.spec_from_file_location("build_notebooks", NOTEBOOK_DIR / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
        )
        client = NotebookClient(
            nb,
            timeout=CELL_TIMEOUT,
            kernel_name="python3",
            resources={"metadata": {"path": str(out_dir)}},
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
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
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


def test_committed_notebooks_are_generated_and_output_free():
    generator = _load_generator()
    assert set(generator.NOTEBOOKS) == set(EXPECTED)
    on_disk = sorted(p.stem for p in NOTEBOOK_DIR.glob("*.ipynb"))
    assert on_disk == sorted(generator.NOTEBOOKS), "notebooks/ holds .ipynb files the generator does not write"
    for name in generator.NOTEBOOKS:
        path = NOTEBOOK_DIR / f"{name}.ipynb"
        text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata.kernelspec.name == "python3"
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name} has outputs in git"
        assert text == generator.render(name), (
            f"{path.name} differs from what notebooks/build_notebooks.py generates; run "
            "`python notebooks/build_notebooks.py`"
        )


def test_generator_check_mode_reports_a_stale_notebook(tmp_path, monkeypatch):
    generator = _load_generator()
    for name in generator.NOTEBOOKS:
        (tmp_path / f"{name}.ipynb").write_text(generator.render(name), encoding="utf-8")
    monkeypatch.setattr(generator, "HERE", tmp_path)
    assert generator.main(["--check"]) == 0
    stale = tmp_path / "san.ipynb"
    stale.write_text(stale.read_text(encoding="utf-8").replace("Table IV", "Table 4"), encoding="utf-8")
    assert generator.main(["--check"]) == 1
    assert generator.main([]) == 0  # regenerates it
    assert stale.read_text(encoding="utf-8") == generator.render("san")
    assert generator.main(["--check"]) == 0
