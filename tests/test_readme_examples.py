"""The README's Python examples run as written (issue "Step 8", deliverable 4).

Every ```python block of README.md is run in a fresh interpreter (``sys.executable -c code``) with the
TensorFlow backend, in a temporary directory, as its own test case named after its ``###`` heading (or
its ``##`` heading outside the sub-sections). To keep the file fast on a busy machine the processes of
the selected cases are started together, a few at a time, when the first case runs; each case then
waits for its own. Static checks: every method family has its sub-section under ``## Using the layers``
with exactly one block that uses the family's API, builds a model and runs it, and no block has more
than 14 non-blank lines. The two ```py blocks of "Training on several machines" are multi-process recipes
(they need TF_CONFIG / SLURM's variables and several processes): tests/experiments/test_multiworker.py runs the same
functions with the same environment variables in 2 local worker processes instead.
"""

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SECTION = "Using the layers"
MAX_LINES = 14
TIMEOUT_S = 600
WORKERS = max(2, min(4, os.cpu_count() or 1))

# family -> (words that must all appear in its sub-section heading, names its code block must use)
FAMILIES = {
    "SAN 2-D": (("SAN", "images"), ("SAN(", "keras.Input((28, 28")),
    "SAN 1-D": (("SAN", "1-D", "recurrent"), ("SAN(", "LSTM(")),
    "CBAM / BAM / SE": (("CBAM", "BAM", "Squeeze"), ("CBAM(", "BAM(", "SqueezeExcitation(")),
    "SDMA": (("SDMA",), ("SDMA(", "SDCA(", "saliency_series(")),
    "XM2A": (("XM2A",), ("XM2A(", "attention_encoder(")),
    "FocusAssociation": (("FocusAssociation",), ("FocusAssociation(",)),
    "SPANet": (("SalientPositionsAttention", "NonLocalBlock"), ("SalientPositionsAttention(", "NonLocalBlock(")),
    "AWConv2D": (("AWConv2D",), ("AWConv2D(",)),
    "RACKNet": (("RACKNet",), ("load_digits", "analyze(", "allocate(", "build_model(", ".fit(")),
    "iSparse": (("iSparse",), ("load_digits", "sparsify(", "ISparse(", ".fit(")),
}
# a block builds a functional model (or uses a builder that returns one) and then executes it
BUILDS = ("keras.Model(", "build_model(", "attention_encoder(", "sdma_net(")
RUNS = re.compile(r"\bmodel\(|\.predict\(|\.fit\(|\bencoder\(")


def readme_blocks(text):
    """``[(section, heading, code)]`` for every ```python block; ``heading`` is the nearest ## or ###."""
    blocks, section, heading, code = [], None, None, None
    for line in text.splitlines():
        if code is not None:
            if line.strip() == "```":
                blocks.append((section, heading, "\n".join(code) + "\n"))
                code = None
            else:
                code.append(line)
        elif line.startswith("## "):
            section = heading = line[3:].strip()
        elif line.startswith("### "):
            heading = line[4:].strip()
        elif line.strip() == "```python":
            code = []
    assert code is None, "README.md has an unterminated ```python block"
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))
EXAMPLES = [b for b in BLOCKS if b[0] == SECTION]


def _case_id(block):
    section, heading, _ = block
    return heading if section == SECTION else f"{section} (outside {SECTION!r})"


IDS = [_case_id(b) for b in BLOCKS]


def _has_words(heading, words):
    """Every word occurs in ``heading`` as a whole word (case-insensitive; "BAM" is not in "CBAM")."""
    return all(re.search(rf"(?<!\w){re.escape(word)}(?!\w)", heading, re.IGNORECASE) for word in words)


def _family_blocks(words):
    return [(heading, code) for _, heading, code in EXAMPLES if _has_words(heading, words)]


def test_parser_reads_blocks_headings_and_fences():
    text = "# t\n## A\n```python\nx = 1\n```\n## Using the layers\n### One\n\n```python\nprint(1)\n\nprint(2)\n```\n"
    text += "```bash\nls\n```\n### Two\n```python\npass\n```\n"
    assert readme_blocks(text) == [
        ("A", "A", "x = 1\n"),
        (SECTION, "One", "print(1)\n\nprint(2)\n"),
        (SECTION, "Two", "pass\n"),
    ]
    with pytest.raises(AssertionError, match="unterminated"):
        readme_blocks("## A\n```python\nx = 1\n")


def test_every_family_has_one_runnable_block():
    assert EXAMPLES, f"README.md has no ```python block under '## {SECTION}'"
    assert len(set(IDS)) == len(IDS), f"duplicate example headings: {IDS}"
    headings = [heading for _, heading, _ in EXAMPLES]
    assert len(set(headings)) == len(headings), f"a sub-section has more than one ```python block: {headings}"
    for family, (words, names) in FAMILIES.items():
        found = _family_blocks(words)
        assert len(found) == 1, f"{family}: expected one sub-section whose heading has {words}, got {found}"
        heading, code = found[0]
        missing = [name for name in names if name not in code]
        assert not missing, f"{family} ({heading!r}): the example does not use {missing}"
        assert any(b in code for b in BUILDS), f"{family} ({heading!r}): the example builds no model"
        assert RUNS.search(code), f"{family} ({heading!r}): the example never calls, predicts or fits its model"


def test_blocks_are_short():
    for block, case in zip(BLOCKS, IDS):
        lines = [line for line in block[2].splitlines() if line.strip()]
        assert len(lines) <= MAX_LINES, f"{case!r}: {len(lines)} non-blank lines, at most {MAX_LINES}"


def _run(code, cwd):
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    try:
        return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as error:
        return subprocess.CompletedProcess(error.cmd, -1, error.stdout or "", f"timed out after {TIMEOUT_S} s")


@pytest.fixture(scope="module")
def example_runs(request, tmp_path_factory):
    """Start every selected example at once (``WORKERS`` at a time); ``{index: Future}``."""
    selected = sorted({item.callspec.params["index"] for item in request.session.items
                       if item.originalname == "test_readme_example" and hasattr(item, "callspec")})
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        yield {i: pool.submit(_run, BLOCKS[i][2], tmp_path_factory.mktemp(f"example{i}")) for i in selected}


@pytest.mark.parametrize("index", range(len(BLOCKS)), ids=IDS)
def test_readme_example(index, example_runs):
    result = example_runs[index].result()
    assert result.returncode == 0, (
        f"README example {IDS[index]!r} failed (exit {result.returncode}).\n--- code ---\n{BLOCKS[index][2]}"
        f"--- stdout ---\n{result.stdout[-3000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
    )
