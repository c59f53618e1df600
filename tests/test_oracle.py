"""The oracle harness on refset's own adapters, case storage, and the harness's own checks."""
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

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


# -- an adapter that exits, hangs or cannot be imported cannot pass --------------------------

def _adapter_file(tmp_path, source, name="port.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return str(path)


def test_adapter_exit_fails_its_case_and_the_check_goes_on(tmp_path, capsys):
    from refset.cli import main

    adapter = _adapter_file(tmp_path, """
        import sys
        from refset.oracle.adapters.numpy import sparse_forward

        class Custom(BaseException):
            pass

        def sparse_backward(D, layer):
            sys.exit(0)

        def ch3_l3_scores(layer):
            raise SystemExit("bye")

        def path_products(layers, paths):
            try:
                raise Custom("not an Exception")
            except Exception:
                return None
        """)
    status = main(["oracle", "check", "--adapter", adapter, "--level", "0",
                   "--json", str(tmp_path / "r.json")])
    out, err = capsys.readouterr()
    assert status == 1
    results = {r["name"]: r for r in json.loads((tmp_path / "r.json").read_text())}
    by_status = {}
    for r in results.values():
        by_status.setdefault(r["status"], set()).add(r["function"])
    assert by_status["pass"] == {"sparse_forward"}
    assert by_status["error"] == {"sparse_backward", "ch3_l3_scores", "path_products"}
    assert results["L0-backward-f64-b1"]["problems"][0] == "adapter called sys.exit(0)"
    assert results["L0-ch3-l3"]["problems"][0] == "adapter called sys.exit('bye')"
    assert results["L0-path-products"]["problems"][0] == "Custom: not an Exception"
    assert "port.py" in results["L0-backward-f64-b1"]["problems"][1]
    # the whole table, its summary line last, and the unexpected results on stderr
    assert out.count("\n") == len(results) + 2
    assert out.rstrip().splitlines()[-1] == f"{adapter}: 7 error, 5 n/a, 4 pass"
    assert "adapter called sys.exit(0)" in out and "7 unexpected" in err


def test_keyboard_interrupt_still_stops_the_check():
    class Interrupted:
        def sparse_forward(self, X, layer):
            raise KeyboardInterrupt

    real_exit = os._exit
    with pytest.raises(KeyboardInterrupt):
        oracle.check(Interrupted(), level=0, pattern="forward")
    assert os._exit is real_exit                    # the harness's interception is undone


def test_os_exit_in_an_adapter_fails_its_case(tmp_path):
    """os._exit cannot be caught; the harness intercepts it while a case runs (in a child
    process here, so that a regression cannot end the test session)."""
    adapter = _adapter_file(tmp_path, """
        import os
        from refset.oracle.adapters.numpy import sparse_forward

        def sparse_backward(D, layer):
            os._exit(0)
        """)
    proc = subprocess.run([sys.executable, "-m", "refset.cli", "oracle", "check", "--adapter",
                           adapter, "--level", "0", "--case", "f64-b1"],
                          capture_output=True, text=True, timeout=120,
                          cwd=os.path.dirname(adapter))
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "adapter called os._exit(0)" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-1].endswith(": 1 error, 1 n/a, 1 pass")


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="the time limit needs SIGALRM")
def test_a_hanging_case_times_out_and_the_check_goes_on(tmp_path, capsys):
    from refset.cli import main

    adapter = _adapter_file(tmp_path, """
        import time
        from refset.oracle.adapters.numpy import sparse_forward

        # each "hangs" for 5 s, so that a broken time limit fails this test instead of
        # hanging the suite
        def sparse_backward(D, layer):
            end = time.monotonic() + 5
            while time.monotonic() < end:
                pass

        def sparse_gradient(X, D, layer):
            end = time.monotonic() + 5
            while time.monotonic() < end:   # swallows every Exception: still interrupted
                try:
                    time.sleep(5)
                except Exception:
                    pass
        """)
    t0 = time.monotonic()
    status = main(["oracle", "check", "--adapter", adapter, "--level", "0", "--case", "f64-b1",
                   "--timeout", "1"])
    elapsed = time.monotonic() - t0
    out, err = capsys.readouterr()
    assert status == 1 and elapsed < 9
    rows = {line.split()[0]: line for line in out.splitlines()[1:-1]}
    assert "pass" in rows["L0-forward-f64-b1"]
    for name in ("L0-backward-f64-b1", "L0-gradient-f64-b1"):
        assert " error " in rows[name] and "timed out after 1 s" in rows[name]
    assert out.rstrip().splitlines()[-1] == f"{adapter}: 2 error, 1 pass"
    assert "2 unexpected" in err


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="the time limit needs SIGALRM")
def test_time_limit_in_python_restores_the_alarm_and_an_outer_timer():
    class Slow:
        def sparse_forward(self, X, layer):
            time.sleep(5)

    def outer(signum, frame):
        raise RuntimeError("the outer timer fired")

    previous = signal.signal(signal.SIGALRM, outer)
    signal.setitimer(signal.ITIMER_REAL, 100)
    try:
        t0 = time.monotonic()
        results = oracle.check(Slow(), level=0, pattern="forward-f64", timeout=0.2)
        assert time.monotonic() - t0 < 4
        assert [r.problems[0] for r in results] == ["timed out after 0.2 s"] * 2
        assert 90 < signal.getitimer(signal.ITIMER_REAL)[0] <= 100   # re-armed
        assert signal.getsignal(signal.SIGALRM) is outer
        # an outer timer that fires first is left alone
        signal.setitimer(signal.ITIMER_REAL, 0.3)
        r = oracle.check(Slow(), level=0, pattern="forward-f64-b1", timeout=5)[0]
        assert r.problems[0] == "RuntimeError: the outer timer fired"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    with pytest.raises(ValueError, match="timeout"):
        oracle.check(Slow(), level=0, timeout=-1)


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="the time limit needs SIGALRM")
def test_oracle_tests_time_limit(tmp_path):
    adapter = _adapter_file(tmp_path, """
        import time

        def sparse_forward(X, layer):
            end = time.monotonic() + 5
            while time.monotonic() < end:
                pass
        """)
    test = oracle_tests(adapter, pattern="forward-f64-b1", timeout=0.5)
    with pytest.raises(AssertionError, match="timed out after 0.5 s"):
        test("L0-forward-f64-b1")


@pytest.mark.parametrize("name, source, says", [
    ("raises.py", "raise RuntimeError('broken at import')\n",
     "RuntimeError: broken at import"),
    ("syntax.py", "def f(:\n", "SyntaxError: "),
    ("exits.py", "import sys\nsys.exit(0)\n", "adapter called sys.exit(0)"),
    ("base.py", "raise GeneratorExit\n", "GeneratorExit"),
    ("dependency.py", "import refset_no_such_dependency\n",
     "ModuleNotFoundError: No module named 'refset_no_such_dependency'"),
    ("missing.py", None, "does not exist"),
    ("adapter.txt", "x = 1\n", "is not a .py file"),
    ("refset_no_such_adapter_module", None, "no module named"),
])
def test_an_adapter_that_cannot_be_imported_is_one_line_and_exit_2(tmp_path, capsys, name,
                                                                     source, says):
    from refset.cli import main

    if name.endswith("module"):
        adapter = name
    else:
        adapter = str(tmp_path / name)
        if source is not None:
            (tmp_path / name).write_text(source)
    assert main(["oracle", "check", "--adapter", adapter]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("refset: error: ")
    assert adapter in err and says in err
    if source is not None:
        assert f"cannot import adapter {adapter}: " in err or "not a .py" in err
