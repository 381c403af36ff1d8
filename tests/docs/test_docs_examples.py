"""The examples of the documentation run as written.

Every ```python block of the home page, the model builders' page and the method pages runs in one fresh Python
process (each block in its own namespace, in page order; about a minute on 2 cores, most of it the home page's
one-epoch training and RACKNet's SIFT analysis). A block that raises fails the test with its page and the
traceback; the comments after ``#`` that show an output are checked where they show a shape.
"""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = ["index.md", "models.md", *sorted(p.relative_to(DOCS).as_posix() for p in (DOCS / "methods").glob("*.md"))]
TIMEOUT = 600

RUNNER = textwrap.dedent("""
    import contextlib, io, json, sys, traceback
    blocks = json.load(sys.stdin)
    results = []
    for page, index, code in blocks:
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"{page} [block {index}]", "exec"), {"__name__": "__main__"})
            results.append({"page": page, "index": index, "ok": True, "stdout": out.getvalue()})
        except BaseException:
            results.append({"page": page, "index": index, "ok": False, "stdout": out.getvalue(),
                            "error": traceback.format_exc()})
    print("@@RESULTS@@" + json.dumps(results))
""")


def python_blocks():
    for page in PAGES:
        text = (DOCS / page).read_text(encoding="utf-8")
        for index, code in enumerate(re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)):
            yield page, index, code


def expected_shapes(code):
    """The shapes the block's comments promise for its ``print`` lines, in order: ``(2, 10) (2, 10, 10, 16)``."""
    shapes = []
    for line in code.splitlines():
        if line.lstrip().startswith("print(") and "#" in line:
            shapes += re.findall(r"\(\d+(?:, \d+)*,?\)", line.split("#", 1)[1])
    return shapes


@pytest.fixture(scope="module")
def results():
    blocks = list(python_blocks())
    assert len(blocks) >= len(PAGES) - 1, "fewer Python examples than pages"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    run = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(blocks), capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=TIMEOUT)
    marker = run.stdout.rfind("@@RESULTS@@")
    assert marker >= 0, f"the examples' process died:\n{run.stderr[-3000:]}"
    return {(r["page"], r["index"]): (r, code) for r, (_, _, code) in
            zip(json.loads(run.stdout[marker + len("@@RESULTS@@"):]), blocks)}


@pytest.mark.parametrize("page", PAGES)
def test_the_examples_of_each_page_run(results, page):
    ran = [(r, code) for (p, _), (r, code) in results.items() if p == page]
    if page != "methods/index.md":
        assert ran, f"{page} has no Python example"
    for result, code in ran:
        assert result["ok"], f"{page}, block {result['index']}:\n{result['error']}"
        for shape in expected_shapes(code):
            assert shape in result["stdout"], f"{page}, block {result['index']}: printed {result['stdout']!r}, " \
                                              f"the comments promise {shape}"
