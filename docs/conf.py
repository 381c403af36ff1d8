"""Sphinx configuration of the keras_attention documentation.

Build (no network needed): ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.

Sources: MyST Markdown (prose, method pages), reStructuredText (the API pages, which autodoc fills), and the
notebooks of ``notebooks/`` (rendered by myst-nb from their jupytext sources, not executed). The extensions of
``docs/_ext`` generate what must follow the code: the API entries (``ka_api``), the command line's help
(``ka_cli``), the tables read from ``benchmarks/results/layer_overhead.json`` (``ka_tables``) and the
experiment pages and notebooks copied in from ``benchmarks/results`` and ``notebooks`` (``ka_generated``).
"""

import os
import sys
from pathlib import Path

# before Keras is imported by autodoc: the TensorFlow backend, without its start-up lines
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(ROOT))  # document this checkout, whatever else is installed

import keras_attention  # noqa: E402

project = "keras_attention"
author = "the keras_attention authors"
copyright = "2026, the keras_attention authors"  # noqa: A001 (Sphinx's name)
release = keras_attention.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_nb",  # MyST Markdown and notebooks (it loads myst_parser itself)
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "ka_api",
    "ka_cli",
    "ka_tables",
    "ka_generated",
]
try:  # MathJax served from the site itself (the theme's default is a CDN): equations render offline
    import importlib

    importlib.import_module("sphinx-mathjax-offline")
    extensions.append("sphinx-mathjax-offline")
except ImportError:  # without it the pages load MathJax from its CDN, the equations stay TeX until then
    pass

exclude_patterns = ["_build", "figures", "**/.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
root_doc = "index"

# every cross-reference must resolve; the names below belong to other projects, whose inventories
# (intersphinx) cannot be fetched without network, so they are shown as code, not links
nitpicky = True
nitpick_ignore_regex = [
    # Keras, TensorFlow, numpy, scipy, scikit-learn, pandas, OpenCV: base classes and annotations of the
    # package's public classes and functions
    (r"py:.*", r"(keras|tf|tensorflow|np|numpy|scipy|sklearn|pandas|cv2)(\..*)?"),
    # the standard library's types in signatures and "alias of" lines
    (r"py:.*", r"(argparse|pathlib|os|typing|collections|dataclasses|enum|numbers)\..*"),
    # private names in annotations (type variables, protocols of the decorators and of the backend kernels):
    # not public API, so they have no page; a signature shows them as code
    (r"py:class", r"(.*\.)?_\w+"),
    (r"py:class", r"keras_attention\.kernels\..*"),
]
nitpick_ignore = []

# MyST
myst_enable_extensions = ["amsmath", "colon_fence", "deflist", "dollarmath"]
myst_heading_anchors = 3  # [text](page.md#a-heading) links to headings down to ###
myst_dmath_double_inline = True
nb_execution_mode = "off"  # the notebooks train networks: shown as committed, never run by the build
nb_merge_streams = True

# autodoc / napoleon: the package's docstrings are Google style ("Args:", "Returns:")
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
autodoc_class_signature = "mixed"
autodoc_inherit_docstrings = False  # Keras' own docstrings of call / build are not this package's
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# the layers' "Call arguments:" section (Keras' own docstring convention) is rendered like "Args:"
napoleon_custom_sections = [("Call arguments", "params_style")]
napoleon_use_rtype = False
napoleon_use_ivar = True

# HTML
html_theme = "pydata_sphinx_theme"
html_title = f"keras_attention {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "navbar_align": "left",
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": [], "changelog": []}
html_last_updated_fmt = None
html_copy_source = False
