"""Every tutorial runs: as a script (runpy) and as a notebook (jupytext + nbmake), in FAST mode.

STYLE §8: tutorials are jupytext percent scripts without outputs; CI executes each one with
``runpy`` (``REFSET_TUTORIAL_FAST=1``, ``MPLBACKEND=Agg``) and once more as a notebook.
"""
import importlib.util
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIAL_DIR = Path(__file__).resolve().parent.parent / "tutorials"
TUTORIALS = sorted(TUTORIAL_DIR.glob("[0-9][0-9]_*.py"))
NOTEBOOK_TIMEOUT = 300      # seconds per tutorial, far above the FAST budget of 30 s


def _ids(path):
    return path.name


@pytest.fixture
def fast_env(monkeypatch, tmp_path):
    """FAST mode, non-interactive matplotlib, and a scratch working directory."""
    monkeypatch.setenv("REFSET_TUTORIAL_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_tutorials_exist():
    assert TUTORIALS, f"no tutorials/NN_*.py found in {TUTORIAL_DIR}"


@pytest.mark.parametrize("path", TUTORIALS, ids=_ids)
def test_tutorial_structure(path):
    text = path.read_text(encoding="utf-8")
    assert "# %% [markdown]" in text, "not a jupytext percent script"
    assert 'os.environ.get("REFSET_TUTORIAL_FAST") == "1"' in text, "no FAST switch"
    assert "import refset" in text
    assert "\n# ## Summary" in text and "\n# ## Exercises" in text, \
        "a tutorial ends with Summary and Exercises sections"


@pytest.mark.parametrize("path", TUTORIALS, ids=_ids)
@pytest.mark.filterwarnings("ignore:.*non-interactive.*:UserWarning")
def test_tutorial_runs_as_script(path, fast_env):
    matplotlib = pytest.importorskip("matplotlib", reason="tutorials need matplotlib "
                                     "(pip install refset[tutorials])")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        runpy.run_path(str(path), run_name="__main__")
    finally:
        plt.close("all")


@pytest.mark.parametrize("path", TUTORIALS, ids=_ids)
def test_tutorial_runs_as_notebook(path, fast_env):
    missing = [m for m in ("matplotlib", "jupytext", "nbmake")
               if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"notebook run needs {', '.join(missing)} (pip install refset[tutorials])")
    notebook = fast_env / (path.stem + ".ipynb")
    convert = subprocess.run(
        [sys.executable, "-m", "jupytext", "--to", "ipynb", "--output", str(notebook), str(path)],
        capture_output=True, text=True, env=os.environ.copy())
    assert convert.returncode == 0, convert.stdout + convert.stderr
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbmake", str(notebook), "-p", "no:cacheprovider",
         "-q", "--rootdir", str(fast_env)],
        capture_output=True, text=True, cwd=fast_env, env=os.environ.copy(),
        timeout=NOTEBOOK_TIMEOUT)
    assert run.returncode == 0, (run.stdout[-6000:] + run.stderr[-3000:])
