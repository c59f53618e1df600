"""The independent PyTorch port (examples/oracle/torch_dense.py) against the golden cases.

The port is written from the documentation, with dense masked weights, and implements the
papers' algorithm: every case must pass except the expected failures listed in
``examples/oracle/torch_dense_xfail.txt`` (the authors' mode, ``fidelity="authors"``) and the
cases of ``set_prune`` (the original SET code's removal alone), which it does not port.  Its
uniform stream is also checked, transform by transform, against :mod:`refset.draws` on random
inputs.  These tests need PyTorch (the ``torch`` extra); without it only the one-line message
that says how to install it is checked.
"""
import importlib.util
import os
import sys

import numpy as np
import pytest

from refset import oracle
from refset.cli import main
from refset.draws import Draws
from refset.oracle.testing import oracle_tests

ROOT = os.path.join(os.path.dirname(__file__), os.pardir)
EXAMPLES = os.path.join(ROOT, "examples", "oracle")
ADAPTER = os.path.join(EXAMPLES, "torch_dense.py")
XFAIL_FILE = os.path.join(EXAMPLES, "torch_dense_xfail.txt")
XFAIL = oracle.read_expected_failures(XFAIL_FILE)
NOT_PORTED = {"set_prune"}          # contract functions of the authors' mode only

HAVE_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAVE_TORCH,
                                 reason='needs PyTorch: pip install "refset[torch]"')
torch_dense = oracle.load_adapter(ADAPTER) if HAVE_TORCH else None

# one test per case: pass, or a strict xfail for the listed ones
test_torch_port_case = needs_torch(oracle_tests(ADAPTER, expected_failures=XFAIL_FILE))


# -- without torch: one line that says how to install it ----------------------------------------

INSTALL_HINT = 'pip install "refset[torch]"'


def _hide_torch(monkeypatch):
    """Make ``import torch`` fail as it does where torch is not installed."""
    monkeypatch.setitem(sys.modules, "torch", None)


def test_without_torch_the_import_says_how_to_install_it(monkeypatch):
    _hide_torch(monkeypatch)
    with pytest.raises(ValueError) as info:
        oracle.load_adapter(ADAPTER)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot import adapter {ADAPTER}: ModuleNotFoundError: this "
                              "PyTorch port of refset needs torch>=2.1, which is not installed")
    assert INSTALL_HINT in message and "download.pytorch.org/whl/cpu" in message


def test_oracle_check_without_torch_prints_one_line_and_exits_2(monkeypatch, capsys):
    _hide_torch(monkeypatch)
    monkeypatch.setattr("warnings.showwarning", __import__("warnings").showwarning)
    assert main(["oracle", "check", "--adapter", ADAPTER]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith("refset: error: cannot import adapter") and INSTALL_HINT in err


def test_the_torch_extra_is_declared():
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        extras = tomllib.load(f)["project"]["optional-dependencies"]
    assert extras["torch"] == ["torch>=2.1"]


# -- with torch -------------------------------------------------------------------------------

@needs_torch
def test_every_case_runs_and_only_the_listed_ones_fail():
    results = oracle.check(ADAPTER, expected_failures=XFAIL)
    by_status = {}
    for r in results:
        by_status.setdefault(r.status, []).append(r.name)
    assert not [r.name for r in results if r.unexpected], oracle.format_table(results, "torch")
    # every contract function is ported but the authors' removal alone
    assert {r.function for r in results if r.status == "n/a"} == NOT_PORTED
    assert sorted(by_status.get("xfail", [])) == sorted(XFAIL)
    assert len(by_status["pass"]) == (len(oracle.list_cases()) - len(XFAIL)
                                      - len(by_status["n/a"]))


def test_the_port_fails_only_cases_of_the_authors_mode():
    """What the port does not implement is the authors' published code, nothing else."""
    assert XFAIL == {"L1-er-replacement", "L1-set-original", "L1-esml-authors",
                     "L2-train-set-authors", "L2-train-cht-authors"}


# -- the uniform stream against refset.draws --------------------------------------------------

def _uniforms(global_seed, n=4000):
    return np.random.default_rng(global_seed).random(n)


@needs_torch
def test_stream_integers_normals_permutation(global_seed):
    u = _uniforms(global_seed)
    mine, ref = torch_dense.Uniforms(u), Draws.replay(u)
    for n in (1, 2, 7, 1000):
        assert mine.integers(n, 5).tolist() == ref.integers(n, size=5).tolist()
    np.testing.assert_allclose(mine.standard_normal(50).numpy(), ref.standard_normal(50),
                               rtol=1e-13, atol=0)
    assert mine.permutation(9).tolist() == ref.permutation(9).tolist()
    assert mine.pos == ref.consumed


@needs_torch
@pytest.mark.parametrize("n,k", [(10, 0), (10, 3), (10, 5), (10, 6), (10, 10), (1, 1), (200, 37),
                                 (200, 180)])
def test_stream_subset(global_seed, n, k):
    u = _uniforms(global_seed)
    mine, ref = torch_dense.Uniforms(u), Draws.replay(u)
    for _ in range(3):
        assert mine.subset(n, k).tolist() == ref.subset(n, k).tolist()
    assert mine.pos == ref.consumed


@needs_torch
def test_stream_subsets_rounds(global_seed):
    rng = np.random.default_rng(global_seed)
    u = _uniforms(global_seed)
    mine, ref = torch_dense.Uniforms(u), Draws.replay(u)
    for _ in range(20):
        sizes = rng.integers(1, 12, size=int(rng.integers(1, 6)))
        counts = np.array([int(rng.integers(0, s + 1)) for s in sizes])
        owner, values = ref.subsets(sizes, counts)
        got = mine.subsets(sizes, counts)
        for g, vals in enumerate(got):
            assert vals.tolist() == values[owner == g].tolist()
    assert mine.pos == ref.consumed


@needs_torch
def test_stream_choice_and_binomial(global_seed):
    rng = np.random.default_rng(global_seed)
    u = _uniforms(global_seed)
    mine, ref = torch_dense.Uniforms(u), Draws.replay(u)
    for _ in range(20):
        w = rng.random(int(rng.integers(1, 9))) * (rng.random() < 0.8)
        w[rng.integers(w.size)] = 0.5                    # at least one positive weight
        w[rng.random(w.size) < 0.3] = 0.0
        if not w.any():
            w[0] = 1.0
        assert mine.choice(w, 7).tolist() == ref.choice(w.size, size=7, p=w).tolist()
    for n, p in ((300, 0.14), (1, 0.5), (50, 0.999), (0, 0.3), (40, 0.0), (40, 1.0)):
        assert mine.binomial(n, p) == ref.binomial(n, p)
    assert mine.pos == ref.consumed


@needs_torch
def test_stream_refuses_to_run_out_and_to_leave_uniforms():
    s = torch_dense.Uniforms(np.array([0.5, 0.5]))
    s.integers(3)
    with pytest.raises(ValueError, match="only 1 of the 2"):
        s.finish()
    with pytest.raises(ValueError, match="ran out"):
        s.random(2)


@needs_torch
def test_port_notices_a_wrong_draw_count():
    """The port checks that it used every uniform: one extra uniform is an error."""
    doc, inputs, _ = oracle.load_case("L1-set-sign")
    inputs["uniforms"] = np.append(inputs["uniforms"], 0.5)
    with pytest.raises(ValueError, match="uniforms were used"):
        torch_dense.set_step(**inputs)


@needs_torch
def test_docstring_examples():
    import doctest

    result = doctest.testmod(torch_dense, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
