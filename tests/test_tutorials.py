"""Every tutorial runs: as a script (runpy) and as a notebook (jupytext + nbmake), in FAST mode;
and its prose states no number that a run produces (printed or asserted instead).

STYLE §8: tutorials are jupytext percent scripts without outputs; CI executes each one with
``runpy`` (``REFSET_TUTORIAL_FAST=1``, ``MPLBACKEND=Agg``) and once more as a notebook.
"""
import bisect
import importlib.util
import itertools
import os
import re
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


# -- numbers in the prose ---------------------------------------------------------------------
#
# A number that a run produces (an accuracy, a share, an epoch, a time) goes stale in prose
# when the code changes. A tutorial prints it from its own variables ("the cell above
# prints ...") or asserts it in full mode (``if not FAST: assert ...``). The scan below lists
# every number in the markdown cells that looks like a run's result; each one must be listed
# here with the reason it is not (a parameter, a paper's figure, a budget) or where the code
# asserts it. Quotations (lines starting with ">"), code spans, fenced code, math, section
# numbers and settings written "x = 0.3" / "> 0.9" / "∈ {...}" are not scanned.
RUN_NUMBER_PATTERNS = {
    "percentage": r"\d+(?:[.,]\d+)?\s?%",                               # 97 %, 27%
    "decimal": r"(?<![\w.])\d+\.\d+(?![\w.])",                          # 0.903
    "epoch": r"\bepochs?\s+\d+\b",                                      # epoch 92
    "time": r"\b\d+(?:\.\d+)?\s?(?:s|ms|seconds?|minutes?|min|hours?|h)\b",  # 30 s
    "approximate": r"(?:\babout|\baround|\broughly|~|≈)\s?\d+(?:\.\d+)?",     # about 27
}
NOT_SCANNED = [
    r"`[^`]*`",                                      # code spans
    r"^#+\s+[\d.]+",                                 # numbered headings: ### 2.1
    r"[~≈]?\d+(?:\.\d+)?e[−-]?\d+",                  # tolerances: 1e-12, ~1e-16
    r"\$\$.*?\$\$", r"\$[^$\n]*\$",                  # math
    r"§\s?\d+(?:\.\d+)*",                            # section references: §5.4
    r"\barXiv\s+\S+",                                # arXiv 2103.07674
    r"[=≤≥<>]\s*[−-]?\d+(?:\.\d+)?(?:\s?%)?",        # settings, thresholds: ζ = 0.3, > 0.9
    r"∈\s*\{[^}]*\}",                                # ζ ∈ {0, 0.01, 0.02, 0.3}
]
# tutorial -> {number as written: why it may stand in the prose}
ALLOWED_NUMBERS = {
    "01_erdos_renyi_and_set.py": {
        "30 s": "CI's time budget of a FAST tutorial",
        "1.33 %": "asserted: round(100 * p_3000, 2) == 1.33",
        "1.5": "a setting: ε of the tiny layer",
        "30 %": "ζ = 0.3",
        "25 %": "chance level, 4 classes",
        "95 %": "asserted in full mode (first epoch above 0.95, final test accuracy)",
        "98 %": "Cavallaro et al., Table 3",
        "90 %": "a setting of exercise 2",
    },
    "02_path_weight_and_sensitivity.py": {
        "30 s": "CI's time budget of a FAST tutorial",
        "10 %": "the paper's density",
        "about 100": "asserted after the sweep: every network and λ with λ m(e) > 100",
        "1.5": "derived: 2L / (L + 1) for L = 3",
        "30 %": "ζ = 0.3",
    },
    "03_cht.py": {
        "30 s": "CI's time budget of a FAST tutorial",
        "0.9": "the early-stop threshold; asserted: CHT's ANP > 0.9",
        "30 %": "ζ = 0.3",
        "99 %": "the paper's sparsity",
        "98.05 %": "published (Zhang et al. 2024)", "95.45": "published",
        "98.34 %": "published", "97.91 %": "published", "98.69 %": "published",
        "98.73 %": "published", "88.07 %": "published", "88.66 %": "published",
        "90.43 %": "published", "90.74 %": "published", "31.15 %": "published",
        "97.45 %": "published", "33.27 %": "published", "100 %": "published", "31 %": "published",
        "94 %": "asserted in full mode: CHT's accuracy after epoch 1",
        "epoch 25": "asserted in full mode: CHT's curve after epoch 25",
        "1 %": "the learning-rate schedule's floor",
    },
    "04_zeta_study.py": {
        "30 s": "CI's time budget of a FAST tutorial",
        "2.5": "PERFORMANCE.md §3 (the original code, on the machine named)",
        "11.8": "PERFORMANCE.md §3", "6.2": "PERFORMANCE.md §3", "7.5": "PERFORMANCE.md §3",
        "0.137": "published gain (Cavallaro et al.)", "0.366": "published gain",
        "0.005": "published gain",
        "95 %": "the confidence level",
        "0.3": "quoted from Cavallaro et al., and ζ settings",
        "100 %": "a bound (an interval's upper end)",
        "epoch 0": "where an interrupted run restarts",
        "0.01": "a ζ setting of exercise 5",
    },
    "05_checking_an_implementation.py": {},
}


def markdown_prose(text):
    """[(line number, text)] of the markdown cells, without quotations and fenced code."""
    out, in_markdown, fenced = [], False, False
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("# %%"):
            in_markdown, fenced = "[markdown]" in line, False
            continue
        if not in_markdown:
            continue
        if not line.startswith("#"):
            if line.strip():
                in_markdown = False
            continue
        body = line[2:] if line.startswith("# ") else line[1:]
        if body.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and not body.lstrip().startswith(">"):
            out.append((number, body))
    return out


def run_numbers(text):
    """[(line number, number as written)] of the prose numbers that look like a run's result."""
    lines = markdown_prose(text)
    joined = "\n".join(body for _, body in lines)
    for pattern in NOT_SCANNED:         # blank out, keeping every offset and line break
        joined = re.sub(pattern, lambda m: re.sub(r"[^\n]", " ", m[0]), joined, flags=re.S | re.M)
    found = re.compile("|".join(RUN_NUMBER_PATTERNS.values()))
    starts = list(itertools.accumulate([len(body) + 1 for _, body in lines], initial=0))
    return [(lines[bisect.bisect_right(starts, m.start()) - 1][0], " ".join(m[0].split()))
            for m in found.finditer(joined)]


def test_run_numbers_finds_stale_claims():
    planted = ("# %% [markdown]\n# Over 100 epochs all four end between 97 % and 98 %; the\n"
               "# training accuracy reaches 0.903 at epoch 5 and the loss is lowest at epoch 92\n"
               "# (about 27 % of the links, 14% in FAST mode; a couple of minutes, 40 s here).\n"
               "# > quoted: 3% better accuracy\n"
               "# With ζ = 0.3, `lam=0.1`, $K_1 = 2$, §5.4, 1e-12.\n"
               "\n# %%\nprint(0.5)\n")
    assert [n for _, n in run_numbers(planted)] == [
        "97 %", "98 %", "0.903", "epoch 5", "epoch 92", "about 27", "14%", "40 s"]
    assert {line for line, _ in run_numbers(planted)} == {2, 3, 4}


@pytest.mark.parametrize("path", TUTORIALS, ids=_ids)
def test_tutorial_prose_states_no_run_number(path):
    allowed = ALLOWED_NUMBERS.get(path.name, {})
    found = run_numbers(path.read_text(encoding="utf-8"))
    stale = [f"  line {line}: {number!r}" for line, number in found if number not in allowed]
    assert not stale, (
        f"{path.name}: numbers in the markdown that look like results of a run; print them from "
        "the tutorial's variables (and say 'the cell above prints ...'), assert them in full "
        "mode, or list them in ALLOWED_NUMBERS with the reason they cannot go stale:\n"
        + "\n".join(stale))
    unused = sorted(set(allowed) - {number for _, number in found})
    assert not unused, f"{path.name}: ALLOWED_NUMBERS lists numbers not in the prose: {unused}"


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
