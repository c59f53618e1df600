"""The oracle harness on refset's own adapters, case storage, and the harness's own checks."""
import json
import os
import shutil

import numpy as np
import pytest

from refset import oracle
from refset.oracle import Layer, compare
from refset.oracle.harness import regenerate, run_case
from refset.oracle.testing import oracle_tests

# every stored case against refset's active backend (compiled in CI), one test per case
test_active_backend = oracle_tests(
    "refset.oracle.adapters.cython" if os.environ.get("REFSET_BACKEND") != "numpy"
    else "refset.oracle.adapters.numpy")


def test_case_counts_per_level():
    names = oracle.list_cases()
    per_level = {lvl: sum(n.startswith(f"L{lvl}-") for n in names) for lvl in (0, 1, 2)}
    assert per_level[0] >= 10 and per_level[1] >= 10 and per_level[2] >= 4
    assert oracle.list_cases(level=2) == [n for n in names if n.startswith("L2-")]


def test_stored_cases_are_current():
    """``refset oracle regenerate --check``: the shipped files are what the code produces."""
    assert regenerate(check_only=True) == []


def test_regenerate_check_detects_a_changed_case(tmp_path):
    data = tmp_path / "v1"
    shutil.copytree(oracle.DATA_DIR, data)
    doc_path = data / "L1-set-sign" / "case.json"
    doc = json.loads(doc_path.read_text())
    doc["tolerance"]["rtol"] = 0.5
    doc_path.write_text(json.dumps(doc))
    assert regenerate(check_only=True, data_dir=str(data), names=["L1-set-sign", "L0-ch3-l3"]) \
        == ["L1-set-sign"]


def test_every_case_pins_its_choices_and_tolerances():
    for name in oracle.list_cases():
        doc = oracle.load_case(name)[0]
        assert doc["format"] == 1 and doc["version"] == oracle.VERSION
        assert set(doc["tolerance"]) == {"rtol", "atol"}
        assert doc["description"] and doc["spec"]
        if doc["level"] >= 1 and doc["function"] not in ("swi_weights",):
            assert doc["pins"], name
        if not doc["hand_made_ties"]:
            assert doc["exact_ties_at_boundaries"] == 0, name
            margin = doc["min_relative_margin"]
            assert margin is None or margin >= 1e-6, name


def test_stochastic_cases_carry_their_uniforms():
    sizes = {}
    for name in oracle.list_cases():
        doc, inputs, _ = oracle.load_case(name)
        if doc["function"] == "set_prune":          # removal alone: no randomness
            assert "uniforms" not in inputs
        elif doc["level"] >= 1:
            u = inputs["uniforms"]
            assert u.dtype == np.float64 and u.ndim == 1
            assert np.all((u >= 0) & (u < 1))
            sizes[name] = u.size
    # an ESML step without shortfall and with zero new weights draws nothing (the authors'
    # step drops its shortfall and has no guard); the others do
    assert [n for n, k in sizes.items() if k == 0] == ["L1-esml-authors", "L1-esml-ch3-cut"]


def test_cases_are_small():
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(oracle.DATA_DIR)
                for f in files)
    assert total < 2_000_000


# -- the harness catches what it should ---------------------------------------------------------

class _Broken:
    """An adapter whose set_step keeps the layer unchanged and whose forward is off by 1e-6."""

    def __init__(self):
        from refset.oracle.adapters import reference

        self._ref = reference.make("numpy")

    def set_step(self, layer, **kwargs):
        return layer

    def sparse_forward(self, X, layer):
        return self._ref.sparse_forward(X, layer) * (1 + 1e-6)


def test_harness_reports_failures_with_a_reason():
    results = {r.name: r for r in oracle.check(_Broken(), level=1, pattern="set-sign")}
    assert results["L1-set-sign"].status == "fail"
    assert "topology differs" in results["L1-set-sign"].problems[0]
    r = run_case(_Broken(), "L0-forward-f64-b5")
    assert r.status == "fail" and 5e-7 < r.max_error < 2e-6
    assert run_case(_Broken(), "L0-backward-f64-b5").status == "n/a"


def test_expected_failures_and_unexpected_passes(tmp_path):
    r = run_case(_Broken(), "L1-set-sign", expected_failures={"L1-set-sign"})
    assert r.status == "xfail" and not r.unexpected
    ok = run_case(oracle.load_adapter("refset.oracle.adapters.numpy"), "L1-set-sign",
                  expected_failures={"L1-set-sign"})
    assert ok.status == "xpass" and ok.unexpected
    f = tmp_path / "xfail.txt"
    f.write_text("# known\nL1-set-sign  # topology\n\n")
    assert oracle.read_expected_failures(str(f)) == {"L1-set-sign"}
    f.write_text("L9-nothing\n")
    with pytest.raises(ValueError, match="unknown cases"):
        oracle.read_expected_failures(str(f))


def test_adapter_crash_is_an_error_result():
    class Crash:
        def set_step(self, **kwargs):
            raise RuntimeError("boom")
    r = run_case(Crash(), "L1-set-sign")
    assert r.status == "error" and "boom" in r.problems[0]


def test_compare_layers_in_any_order_and_exact_topology():
    L = Layer(np.array([1, 0]), np.array([0, 1]), np.array([2.0, 3.0]), (2, 2))
    same = Layer(np.array([0, 1]), np.array([1, 0]), np.array([3.0, 2.0]), (2, 2))
    assert compare(same, L, {"rtol": 0, "atol": 0}) == ([], 0.0)
    moved = Layer(np.array([0, 1]), np.array([0, 0]), np.array([3.0, 2.0]), (2, 2))
    assert "topology differs" in compare(moved, L, {"rtol": 1, "atol": 1})[0][0]


def test_load_adapter_errors(tmp_path):
    with pytest.raises(ValueError, match="no module named"):
        oracle.load_adapter("no_such_adapter_module")
    with pytest.raises(ValueError, match="does not exist"):
        oracle.load_adapter(str(tmp_path / "missing.py"))
    path = tmp_path / "my_adapter.py"
    path.write_text("from refset.oracle.adapters.numpy import sparse_forward\n")
    results = oracle.check(str(path), level=0)
    assert {r.status for r in results} == {"pass", "n/a"}


def test_cli_check_exit_status(tmp_path, capsys):
    from refset.cli import main

    assert main(["oracle", "check", "--adapter", "refset.oracle.adapters.numpy", "--level", "0",
                 "--case", "forward", "--json", str(tmp_path / "r.json")]) == 0
    assert "4 pass" in capsys.readouterr().out          # f32 / f64 at B = 1 and 5
    assert len(json.loads((tmp_path / "r.json").read_text())) == 4
    bad = tmp_path / "bad_port.py"
    bad.write_text("def set_step(layer, **kwargs):\n    return layer\n")
    assert main(["oracle", "check", "--adapter", str(bad), "--case", "set-sign"]) == 1
    out = capsys.readouterr()
    assert "topology differs" in out.out and "unexpected" in out.err
    xfail = tmp_path / "xfail.txt"
    xfail.write_text("L1-set-sign\nL1-set-sign-forbid-removed\n")
    assert main(["oracle", "check", "--adapter", str(bad), "--case", "set-sign",
                 "--expected-failures", str(xfail)]) == 0
    assert main(["oracle", "check", "--case", "no-such-case"]) == 2
    assert main(["oracle", "regenerate", "--check"]) == 0
