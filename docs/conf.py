"""Sphinx configuration of refset's documentation site.

Build (from the repository root; the README gives the same command)::

    pip install ".[docs]" && python -m sphinx -W --keep-going -b html docs docs/_build/html

``REFSET_TUTORIAL_FAST=1`` executes the tutorials in their small configuration (what CI does,
a few minutes); without it they run their full configuration (much longer).

Pages that live elsewhere in the repository are copied into ``docs/`` when the build starts,
into git-ignored folders (see ``GENERATED`` below): the tutorials (``tutorials/*.py``, jupytext
percent scripts executed by MyST-NB), the reproduction reports (``experiments/*.md`` and the
images they embed) and ``benchmarks/README.md``. Edit the originals, never the copies.

Everything the pages load is local: MathJax 3 comes from the ``sphinx-mathjax-offline``
package and is copied into ``_static/mathjax``, so equations render with no network (readers
may be offline; CI machines are). No extension that fetches anything (intersphinx) is used.
"""
import filecmp
import os
import re
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent

# Document the installed refset (with its compiled kernels), not the bare source tree that
# `python -m sphinx` run from the repository root would put first on sys.path. An editable
# install still resolves to the source tree through its own import hook.
sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != ROOT]
import refset  # noqa: E402

# -- project -------------------------------------------------------------------------------------
project = "refset"
author = "refset developers"
copyright = "refset developers"
release = version = refset.__version__

# -- what is read --------------------------------------------------------------------------------
extensions = [
    "myst_nb",                      # MyST Markdown pages and executed notebooks
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",          # numpy-style docstrings, keeping refset's own sections
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",       # MathJax 3 shipped with the site: no CDN
    "sphinx.ext.viewcode",          # the source of every documented object, next to its docs
    "sphinx_design",
    "sphinx_copybutton",
]

# The tutorials are jupytext percent scripts: MyST-NB reads them as notebooks.
nb_custom_formats = {".py": ["jupytext.reads", {"fmt": "py:percent"}]}

exclude_patterns = ["_build", "_templates", "conf.py", "jupyter_execute", "**/.ipynb_checkpoints",
                    "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# An undefined TeX macro is a MathJax error (an error node the browser test finds), not red text.
mathjax3_config = {"tex": {"packages": {"[-]": ["noundefined"]}}}

# -- executing the tutorials ---------------------------------------------------------------------
FAST = os.environ.get("REFSET_TUTORIAL_FAST") == "1"
refset_tutorial_fast = FAST       # a config value (see setup): a change re-reads the tutorials
nb_execution_mode = "force"         # every build that reads a tutorial runs it (FAST or full)
# nbclient's limit is per cell: 300 s is far above any FAST cell (a FAST tutorial takes under a
# minute) and stops a hang in CI; the full configuration trains for minutes in one cell.
nb_execution_timeout = 300 if FAST else 3600
nb_execution_raise_on_error = True  # an exception in a tutorial fails the build
nb_execution_in_temp = True         # files a tutorial writes never land in docs/
nb_execution_show_tb = True         # the traceback in the build log when a tutorial fails
nb_merge_streams = True
# The scripts carry no kernelspec: nbclient starts the default "python3" kernel (ipykernel, from
# the docs extra) in the environment running Sphinx, and the kernel inherits this process's
# environment variables (REFSET_TUTORIAL_FAST, REFSET_DATA, ...). CI exports MPLBACKEND=Agg,
# which would keep the inline backend from capturing the figures: let ipykernel choose it.
os.environ.pop("MPLBACKEND", None)

# -- API reference -------------------------------------------------------------------------------
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"ignore-module-all": True}   # each object documented where defined
autodoc_member_order = "bysource"
autodoc_typehints = "none"          # the docstrings give the types (numpy style)
autodoc_preserve_defaults = True
add_module_names = False
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_ivar = True
napoleon_custom_sections = ["Deviations"]

# -- HTML ----------------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = f"refset {release}"
html_theme_options = {"home_page_in_toc": True, "show_toc_level": 2}
html_static_path = ["_static"]
html_logo = "_static/refset.svg"
html_favicon = "_static/refset.svg"
html_context = {"default_mode": "auto"}     # light or dark as the reader's system prefers
copybutton_exclude = ".linenos, .gp, .go"

# -- pages copied from elsewhere in the repository -----------------------------------------------
# (destination folder or file in docs/, source folder or file in the repository, file patterns)
GENERATED = [
    ("tutorials", ROOT / "tutorials", ["[0-9][0-9]_*.py"]),
    ("experiments", ROOT / "experiments", ["*.md", "*/**/*.png", "*/**/*.svg", "*/**/*.jpg"]),
    ("benchmarks.md", ROOT / "benchmarks" / "README.md", None),
]


def _copy_if_changed(src, dst):
    """Copy unless ``dst`` already holds the same bytes (keeps mtimes: no needless re-read)."""
    if dst.exists() and filecmp.cmp(src, dst, shallow=False):
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def copy_external_pages(app, config=None):
    """Bring the tutorials, the reports and the benchmarks' README into ``docs/``."""
    for dest, src, patterns in GENERATED:
        dest = DOCS / dest
        if patterns is None:
            _copy_if_changed(src, dest)
            continue
        wanted = set()
        for pattern in patterns:
            for path in src.glob(pattern):
                if path.is_file() and "__pycache__" not in path.parts:
                    wanted.add(path.relative_to(src))
        for rel in sorted(wanted):
            _copy_if_changed(src / rel, dest / rel)
        if dest.exists():       # a file removed at its source goes from the copy too
            for path in sorted(dest.rglob("*"), reverse=True):
                if path.is_file() and path.relative_to(dest) not in wanted:
                    path.unlink()
                elif path.is_dir() and not any(path.iterdir()):
                    path.rmdir()


_UNDERLINE = re.compile(r"^\s*(-{3,}|={3,}|~{3,})\s*$")


def headings_to_rubrics(app, what, name, obj, options, lines):
    """Turn the docstring headings napoleon does not know into rubrics.

    refset's module docstrings have their own numpy-style sections ("Conventions", "Closed
    form", "Output layout", ...). Napoleon renders the standard ones and "Deviations"; any other
    ``Title`` underlined with dashes would be a section title inside a docstring, which docutils
    rejects. Runs after napoleon (priority 600 > 500).
    """
    i = 1
    while i < len(lines):
        title = lines[i - 1].strip()
        if (_UNDERLINE.match(lines[i]) and title and len(lines[i].strip()) == len(title)
                and not title.startswith((">>>", "..")) and (i < 2 or not lines[i - 2].strip())):
            indent = lines[i - 1][: len(lines[i - 1]) - len(lines[i - 1].lstrip())]
            lines[i - 1:i + 1] = [f"{indent}.. rubric:: {title}", ""]
        i += 1


_SKLEARN_PLUMBING = re.compile(r"^(set_\w+_request|get_metadata_routing)$")


def skip_sklearn_plumbing(app, what, name, obj, skip, options):
    """scikit-learn's metadata-routing methods (``set_score_request``, ...) are generated on
    every estimator class; their docstrings cite scikit-learn's glossary, which this site does
    not have.  They are scikit-learn's API, documented there."""
    if _SKLEARN_PLUMBING.match(name):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", skip_sklearn_plumbing)
    # switching between FAST and full runs must re-read (and so re-execute) the tutorials
    app.add_config_value("refset_tutorial_fast", FAST, "env")
    app.connect("config-inited", copy_external_pages)
    app.connect("autodoc-process-docstring", headings_to_rubrics, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
