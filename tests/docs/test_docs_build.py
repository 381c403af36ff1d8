"""The documentation site (docs/) is checked like code.

One build per test session (``python -m sphinx -W --keep-going -b html``, in a subprocess, into a fresh folder
under pytest's temporary directory; about 30 s on 2 cores): warnings are errors, and ``nitpicky = True`` makes
every cross-reference to an API name, every ``{ref}`` / ``{doc}`` link and every Markdown link between pages an
error when it does not resolve. The tests below then read the built HTML: every public name has an entry,
every internal link and anchor exists, every method page shows its equations and its example, the command
line's help is there, and the readings index covers every "SPEC §" the code cites.
"""

import html
import importlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BUILD_TIMEOUT = 300  # seconds; a build takes about 30 s on 2 idle cores

# the docs extra (pip install -e ".[docs]") builds the site; without it there is nothing to check here
for _module in ("sphinx", "myst_nb", "pydata_sphinx_theme", "jupytext"):
    pytest.importorskip(_module, reason='the documentation needs the docs extra: pip install -e ".[docs]"')

# subpackage -> its API page; every name of the subpackage's __all__ must have an entry there
API_PAGES = {
    "keras_attention.layers": "api/layers.html",
    "keras_attention.models": "api/models.html",
    "keras_attention.sparsity": "api/sparsity.html",
    "keras_attention.saliency": "api/saliency.html",
    "keras_attention.racknet": "api/racknet.html",
    "keras_attention.data": "api/data.html",
    "keras_attention.layers.registry": "api/registry.html",
}

# method page -> the equation tags it must show (the papers' numbers)
METHOD_EQUATIONS = {
    "methods/san": ["4", "5", "6", "7", "8", "9", "10", "11", "12"],
    "methods/cbam_bam_se": ["1", "2", "3", "4"],
    "methods/sdma": ["6.3", "6.4", "6.5", "6.6", "6.7", "6.8", "6.9", "6.10", "6.11", "6.12"],
    "methods/xm2a": ["7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "7.7", "7.8", "7.9", "7.10", "7.11"],
    "methods/fa": ["5", "6", "7", "8", "9"],
    "methods/spanet": ["1", "3", "4", "5", "6", "7"],
    "methods/awconv": ["5", "6", "7", "8"],
    "methods/positional_encoding": ["PE-sin", "PE-cos"],
    "methods/racknet": ["Obs. 1", "Obs. 2", "Obs. 3", "Obs. 4"],
    "methods/isparse": ["2.21", "2.22", "2.23", "4.5", "4.6", "4.8", "4.10", "4.11", "4.12", "4.13"],
    # the modules of the field: equations shown without the papers' numbers where those could not be checked
    "methods/eca": [], "methods/coordinate_attention": [], "methods/global_context": [],
    "methods/selective_kernel": [], "methods/gather_excite": [], "methods/simam": ["5"],
    "methods/triplet_attention": [], "methods/scse": [],
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the site once; return the HTML folder."""
    out = tmp_path_factory.mktemp("docs-build")
    html_dir = out / "html"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
               "-d", str(out / "doctrees"), str(DOCS), str(html_dir)]
    start = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT)
    problems = [line for line in result.stderr.splitlines()
                if ("WARNING" in line or "ERROR" in line) and "absl::InitializeLog" not in line]
    assert result.returncode == 0, "the documentation does not build with -W:\n" + "\n".join(
        problems or result.stderr.splitlines()[-40:])
    print(f"docs built in {time.monotonic() - start:.0f} s")
    return html_dir


def page_text(path):
    """The visible text of an HTML page (tags dropped, entities decoded, whitespace collapsed)."""
    raw = Path(path).read_text(encoding="utf-8")
    raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", raw)).split())


def element_ids(path):
    return set(re.findall(r'\bid="([^"]+)"', Path(path).read_text(encoding="utf-8")))


def test_the_site_builds_with_warnings_as_errors(site):
    assert (site / "index.html").exists()
    for page in ("methods/san.html", "api/layers.html", "api/cli.html", "experiments/index.html",
                 "adding_a_method.html", "changelog.html", "readings.html"):
        assert (site / page).exists(), page


@pytest.mark.parametrize("module", sorted(API_PAGES))
def test_every_public_name_has_an_api_entry(site, module):
    names = importlib.import_module(module).__all__
    ids = element_ids(site / API_PAGES[module])
    missing = [name for name in names if f"{module}.{name}" not in ids]
    assert not missing, f"{module}: no entry in {API_PAGES[module]} for {missing}"


def test_the_package_entry_documents_create_attention(site):
    assert "keras_attention.create_attention" in element_ids(site / "api/package.html")


def local_links(page):
    """``(target file, fragment)`` of every link of ``page`` that stays inside the site."""
    text = page.read_text(encoding="utf-8")
    for href in re.findall(r'\bhref="([^"]*)"', text):
        href = html.unescape(href)
        parts = urlsplit(href)
        if parts.scheme or href.startswith(("//", "javascript:")) or not (parts.path or parts.fragment):
            continue
        target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
        yield href, target, unquote(parts.fragment)


def test_every_internal_link_and_anchor_resolves(site):
    broken = []
    ids = {}
    pages = [page for page in sorted(site.rglob("*.html")) if not page.relative_to(site).parts[0].startswith("_")]
    for page in pages:  # the site's pages (not the theme's templates copied into _static)
        for href, target, fragment in local_links(page):
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {href} (no such file)")
                continue
            if fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = element_ids(target)
                if fragment not in ids[target]:
                    broken.append(f"{page.relative_to(site)}: {href} (no anchor #{fragment})")
    assert not broken, "\n".join(broken[:50])


def example_lines(source):
    """The lines of the Python code blocks under the page's "## Example" heading."""
    text = source.read_text(encoding="utf-8")
    section = text.split("\n## Example\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, f"{source}: no Python example"
    return [line.split("#")[0].strip() for block in blocks for line in block.splitlines() if line.strip()]


@pytest.mark.parametrize("page", sorted(METHOD_EQUATIONS))
def test_each_method_page_shows_its_equations_and_its_example(site, page):
    built = site / f"{page}.html"
    raw = built.read_text(encoding="utf-8")
    math_blocks = re.findall(r'<div class="math[^"]*"[^>]*>(.*?)</div>', raw, flags=re.S)
    tags = {html.unescape(tag) for block in math_blocks for tag in re.findall(r"\\tag\{([^}]*)\}", block)}
    missing = [tag for tag in METHOD_EQUATIONS[page] if tag not in tags]
    assert not missing, f"{page}: equations {missing} are not in the built page (found {sorted(tags)})"
    text = page_text(built)
    absent = [line for line in example_lines(DOCS / f"{page}.md") if line and " ".join(line.split()) not in text]
    assert not absent, f"{page}: example lines missing from the built page: {absent}"
    assert "<img" in raw, f"{page}: no figure"


def test_the_equations_are_rendered_by_the_sites_own_mathjax(site):
    raw = (site / "methods/san.html").read_text(encoding="utf-8")
    assert re.search(r'<script[^>]+src="\.\./_static/mathjax/tex-chtml\.js"', raw), "MathJax is not served locally"
    assert (site / "_static/mathjax/tex-chtml.js").exists()


def test_the_cli_page_holds_the_help_of_every_command(site):
    text = page_text(site / "api/cli.html")
    assert "usage: keras-attention" in text
    for command in ("list", "train", "reproduce", "sparsify", "racknet"):
        assert f"usage: keras-attention {command}" in text, command


def test_the_home_page_lists_every_layer(site):
    import keras_attention.layers as layers

    home = (site / "index.html").read_text(encoding="utf-8")
    classes = {getattr(layers, name) for name in layers.__all__}
    missing = [cls.__name__ for cls in classes
               if not any(f"keras_attention.layers.{name}" in home
                          for name in layers.__all__ if getattr(layers, name) is cls)]
    assert not missing, f"the methods-at-a-glance table has no row for {sorted(missing)}"


def test_the_experiments_pages_show_every_committed_result_and_notebook(site):
    for md in sorted((ROOT / "benchmarks" / "results").glob("*.md")):
        assert (site / "experiments" / "results" / f"{md.stem}.html").exists(), md.name
    for source in sorted((ROOT / "notebooks").glob("*.py")):
        if not source.name.startswith("_"):
            built = site / "experiments" / "notebooks" / f"{source.stem}.html"
            assert built.exists(), source.name
            title = re.search(r"^# # (.+)$", source.read_text(encoding="utf-8"), flags=re.M).group(1)
            assert " ".join(html.unescape(title).replace("`", "").split()[:3]) in page_text(built), source.name


def test_the_readings_index_covers_every_spec_section_the_code_cites():
    cited = set()
    for folder in ("keras_attention", "tests", "benchmarks", "notebooks"):
        for path in (ROOT / folder).rglob("*.py"):
            cited.update(re.findall(r"SPEC ?§ ?(\d+(?:\.\d+)?)", path.read_text(encoding="utf-8")))
    readings = (DOCS / "readings.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| SPEC §(\d+(?:\.\d+)?)", readings, flags=re.M))
    assert cited, "no SPEC citations found: the test reads the wrong files"
    assert not cited - listed, f"SPEC sections cited in the code without a row in docs/readings.md: {cited - listed}"
