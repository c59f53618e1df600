"""The oracle has teeth and precision: each mutant of refset fails the cases that exercise its
bug and passes the cases its bug cannot reach; refset itself passes every case.

A mutant is "caught" by a case when the case fails (wrong output) or errors with
``DrawsExhausted`` (the mutant asked for more uniforms than refset used: its counts or draw
order diverged before the output was complete).  Any other error would be a bug of the mutant.
"""
import importlib

import pytest

import refset.kernels.backend as backend
from refset import oracle
from refset.oracle.adapters.mutants import MUTANTS, describe

L2_SET = {"L2-train-set", "L2-train-set-dropout"}
L2_ALL = L2_SET | {"L2-train-path-weight", "L2-train-sensitivity", "L2-train-cht"}
L2_AUTHORS = {"L2-train-set-authors", "L2-train-cht-authors"}      # the authors' code's quirks
SET_SIGN = {"L1-set-sign", "L1-set-sign-forbid-removed", "L1-set-isolation-guard"}
ESML = {"L1-esml-zero", "L1-esml-swi-drop"}
GRADIENT = {f"L0-gradient-{t}-b{b}" for t in ("f32", "f64") for b in (1, 5)}

# the cases that must catch each mutant
CATCHES = {
    "prune-farthest-negatives": SET_SIGN | ESML | L2_SET | {"L2-train-cht"},
    "regrow-removed-when-forbidden": {"L1-set-sign-forbid-removed"},
    "removal-count-off-by-one": SET_SIGN | ESML | L2_SET | {"L1-set-magnitude", "L2-train-cht"},
    "gradient-all-positions": GRADIENT | L2_ALL,
    "swi-fan-out": {"L1-swi", "L1-esml-swi-drop", "L2-train-cht"},
    # the L1 ESML cases cannot see this one: their CH3-L3 top-k takes every candidate in two
    # layers and the same 9 of 19 in the third under both scorings
    "ch3-no-local-community": {"L0-ch3-l3", "L0-ch3-l3-fixture-ties", "L2-train-cht"},
    "set-no-isolation-guard": {"L1-set-isolation-guard", "L1-set-ties", "L2-train-set"},
    "path-weight-uniform-sources": {"L1-path-weight-exact", "L1-path-weight-sampled",
                                    "L2-train-path-weight"},
    "new-links-keep-momentum": L2_ALL,
}

# cases of a function the mutant changes that its bug cannot reach (all other functions' cases
# cannot be reached either); every one of them must pass
UNREACHABLE = {
    "prune-farthest-negatives": {
        "L1-set-magnitude": "magnitude rule, no sign groups",
        "L1-set-ties": "every negative is -0.5: the farthest are the closest",
        "L2-train-path-weight": "no SET rule", "L2-train-sensitivity": "no SET rule"},
    "regrow-removed-when-forbidden": {
        **{name: "allow_regrow_removed=True" for name in
           ("L1-set-sign", "L1-set-magnitude", "L1-set-isolation-guard", "L1-set-ties")},
        **{name: "trains with the default allow_regrow_removed=True" for name in L2_ALL}},
    "removal-count-off-by-one": {
        "L1-set-ties": "zeta n = 0.5 x 6 is an integer: ceil = floor",
        "L2-train-path-weight": "no SET rule", "L2-train-sensitivity": "no SET rule"},
    "gradient-all-positions": {},
    "swi-fan-out": {
        "L1-esml-zero": "new weights 0",
        **{name: "Normal(0.1) initialiser" for name in L2_ALL - {"L2-train-cht"}}},
    "ch3-no-local-community": {name: "no CH3-L3" for name in L2_ALL - {"L2-train-cht"}},
    "set-no-isolation-guard": {name: "not SET" for name in L2_ALL - L2_SET},
    "path-weight-uniform-sources": {
        "L1-path-weight-paper-count": "count_rule 'paper' has its own source law",
        **{name: "not Path-Weight" for name in L2_ALL - {"L2-train-path-weight"}}},
    "new-links-keep-momentum": {},
}


def _caught(result):
    return result.status == "fail" or (
        result.status == "error" and result.problems[0].startswith("DrawsExhausted"))


@pytest.fixture(scope="module")
def results():
    return {name: oracle.check(adapter) for name, adapter in MUTANTS.items()}


def test_every_mutant_is_listed():
    assert set(MUTANTS) == set(CATCHES) == set(UNREACHABLE)
    for name, mutant in MUTANTS.items():
        assert describe(name) == mutant.__doc__ and mutant.changed


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_is_caught(results, name):
    by_name = {r.name: r for r in results[name]}
    assert CATCHES[name] <= set(by_name), "a named case does not exist"
    missed = sorted(n for n in CATCHES[name] if not _caught(by_name[n]))
    assert not missed, f"{name} not caught by {missed}"
    crashed = [(r.name, r.problems[0]) for r in results[name]
               if r.status == "error" and not _caught(r)]
    assert not crashed, f"the mutant itself crashed: {crashed}"


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_mutant_passes_the_cases_it_cannot_reach(results, name):
    changed = MUTANTS[name].changed
    unreachable = [r for r in results[name]
                   if r.function not in changed or r.name in UNREACHABLE[name]]
    assert len(unreachable) >= len(UNREACHABLE[name])
    wrong = {r.name: r.problems[:1] for r in unreachable if r.status != "pass"}
    assert not wrong, f"{name} failed cases its bug cannot reach: {wrong}"
    assert all(r.status != "n/a" for r in results[name])


def test_swapped_helpers_are_restored_after_a_failing_call():
    cht = importlib.import_module("refset.algorithms.cht")
    sparse_evolutionary = importlib.import_module("refset.algorithms.sparse_evolutionary")
    before = (sparse_evolutionary.select_prune, cht.select_prune, cht.ch3_l3_top_k, cht.SWI)
    statuses = {r.status for name in ("removal-count-off-by-one", "ch3-no-local-community",
                                      "swi-fan-out")
                for r in oracle.check(MUTANTS[name], level=2, pattern="cht")}
    assert "error" in statuses          # the swap was undone although the call raised
    assert (sparse_evolutionary.select_prune, cht.select_prune, cht.ch3_l3_top_k,
            cht.SWI) == before
    assert [r.status for r in oracle.check("refset.oracle.adapters.numpy", level=2)] \
        == ["pass"] * len(L2_ALL | L2_AUTHORS)


def test_describe_rejects_unknown_names():
    with pytest.raises(ValueError, match="name must be one of"):
        describe("no-such-mutant")


@pytest.mark.parametrize("backend_name", [
    "numpy", pytest.param("cython", marks=pytest.mark.skipif(
        not backend.compiled_available(), reason="compiled extension not built"))])
def test_refset_passes_every_case(backend_name):
    results = oracle.check(f"refset.oracle.adapters.{backend_name}")
    assert len(results) == len(oracle.list_cases()) > 0
    assert {r.name: r.problems for r in results if r.status != "pass"} == {}


def test_stored_cases_are_current():
    assert oracle.regenerate(check_only=True) == []
