"""README.md shows what the code prints: every sample output agrees with a fresh run.

``tools/readme_samples.py --check`` runs the commands whose output README.md shows
(``refset train``, the ``zeta_quick`` sweep) and recomputes the outputs quoted inline (a
repr, the golden-case counts, a config error), and compares them with the README, times
masked. ``python tools/readme_samples.py --write`` updates the README when the code's output
changes on purpose. The performance table is ``benchmarks/readme_table.py``'s rendering of the
stored benchmark run its caption names.

The ``train`` sample (100 epochs) takes about 20 s on the compiled kernels and several minutes
on the numpy twins: with ``REFSET_BACKEND=numpy`` it is skipped (the compiled run of the suite
checks the README; the twins' agreement with the compiled kernels is tested elsewhere).
"""
import os
import difflib
import importlib.util
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SCRIPT = ROOT / "tools" / "readme_samples.py"
SLOW = {"train"}            # slow on the numpy backend


def _load_script():
    spec = importlib.util.spec_from_file_location("readme_samples", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


if README.is_file() and SCRIPT.is_file():
    samples = _load_script()
    NAMES = samples.NAMES
else:                       # an installed package: the README is checked in the source tree
    samples, NAMES = None, ["(none)"]

pytestmark = pytest.mark.skipif(
    samples is None, reason="README.md and tools/readme_samples.py are not here (installed "
                            "package, not a source checkout): the README is checked from the "
                            "source tree")


_ON_TWINS = pytest.mark.skipif(os.environ.get("REFSET_BACKEND") == "numpy",
                               reason="100 epochs on the numpy twins take minutes; the README "
                               "is checked on the compiled kernels")


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow, _ON_TWINS])
                                  if n in SLOW else n for n in NAMES])
def test_readme_sample_is_what_the_code_prints(name):
    report = samples.run([name])
    if report:
        pytest.fail("\n".join(report.lines) + f"\n(if the change is intended: python "
                    f"{SCRIPT.relative_to(ROOT)} --write)", pytrace=False)


def test_readme_performance_table_is_generated():
    """The table is benchmarks/readme_table.py's rendering of the stored run its caption names."""
    table_script = ROOT / "benchmarks" / "readme_table.py"
    if not table_script.is_file():
        pytest.skip("benchmarks/readme_table.py not present")
    spec = importlib.util.spec_from_file_location("readme_table", table_script)
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    current = table.current_block(README.read_text(encoding="utf-8"))
    assert current, f"README.md has no {table.BEGIN} ... {table.END} block"
    named = re.search(r"`(benchmarks/runs/[^`]+\.json)`", current)
    assert named, "the performance table's caption names no stored run (benchmarks/runs/*.json)"
    run = json.loads((ROOT / named[1]).read_text(encoding="utf-8"))
    expected = table.block(run, named[1])
    if current != expected:
        diff = difflib.unified_diff(current.splitlines(), expected.splitlines(), "README.md",
                                    "generated", lineterm="")
        pytest.fail("README.md's performance table is not the one of " + named[1]
                    + f" (python benchmarks/readme_table.py {named[1]} --write):\n"
                    + "\n".join(diff), pytrace=False)


def test_time_masks():
    mask = samples.mask
    assert mask("(0.13s train, 0.02s eval)") == mask("(10.50s train, 0.00s eval)")
    assert mask("acc 0.7450  0.029s  ETA 0:00:07") == mask("acc 0.7450  1.5s  ETA 1:02:03")
    row = "synthetic  set     0.0   3  74.50   73.50 [71.02, 75.98]  67.30 [59.74, 74.86]  "
    assert mask(row + "0.029 (0.026/0.002/0.002)  0.4386") == \
        mask(row.replace("   3", "   3 ") + "10.029 (9.026/0.002/1.002)  -0.0386")
    # everything else must match exactly
    assert mask("loss 1.3595  train acc 0.3196") != mask("loss 1.3747  train acc 0.3196")
    assert mask(row + "0.029 (0.026/0.002/0.002)  0.4386") != \
        mask(row.replace("73.50", "73.51") + "0.029 (0.026/0.002/0.002)  0.4386")
    assert mask("done: test accuracy 0.7106 after 20 epochs (4.0s)") != \
        mask("done: test accuracy 0.7106 after 21 epochs (4.0s)")
