"""Path-Weight evolution (ALGORITHMS §4.2-4.4) and the shared removal/regrowth rules."""
import functools
import json
import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chisquare

from _stats import assert_follows

from refset import CooMatrix
from refset.algorithms import path_weight_step, update_schedule
from refset.algorithms import paths as P
from refset.algorithms._importance_regrowth import (_source_counts, fraction_count,
                                                    guarded_smallest, uniform_subsets)
from refset.algorithms.initializers import HeUniform

from _networks import networks, random_network  # noqa: E402

fractions = st.floats(0.0, 1.0)




def check_step_invariants(layers, step):
    """Invariants every Path-Weight / Sensitivity step must keep (count conserved)."""
    assert len(step.layers) == len(layers)
    for l, (W, new) in enumerate(zip(layers, step.layers)):
        new.check(allow_zeros=True)                              # canonical, no duplicates
        assert new.shape == W.shape and new.values.dtype == W.values.dtype
        assert new.nnz == W.nnz                                  # conserved
        out_deg, in_deg = new.degrees()
        assert out_deg.min() >= 1 and in_deg.min() >= 1          # no isolated neuron
        old, lin = W.linear(), new.linear()
        removed, regrown = step.removed[l], step.regrown[l]
        assert removed.size == regrown.size
        assert np.all(np.diff(removed) > 0) and np.all(np.diff(regrown) > 0)
        assert np.isin(removed, old).all()
        kept = np.setdiff1d(old, removed)
        assert np.intersect1d(kept, regrown).size == 0           # removed ∩ kept = ∅, etc.
        assert np.array_equal(np.union1d(kept, regrown), lin)
        if not step.info["regrow_fallback"][l]:
            assert np.intersect1d(removed, regrown).size == 0
        src = step.sources[l]
        is_old = src >= 0
        assert np.array_equal(lin[~is_old], regrown)
        assert np.array_equal(old[src[is_old]], lin[is_old])     # sources match the old layer
        assert np.array_equal(W.values[src[is_old]], new.values[is_old])
    json.dumps(step.info, allow_nan=False)                       # JSON-able


@given(layers=networks, lam=fractions, zeta=fractions, seed=st.integers(0, 2**32 - 1),
       mode=st.sampled_from(["exact", "sampled", "auto"]))
def test_invariants(layers, lam, zeta, seed, mode):
    scales = np.random.default_rng(seed).uniform(0.5, 3.0, len(layers))
    step = path_weight_step(layers, scales, np.random.default_rng(seed), lam=lam, zeta=zeta,
                            candidates=mode, n_path_samples=500)
    check_step_invariants(layers, step)
    info = step.info
    for l, W in enumerate(layers):
        k = fraction_count(zeta, info["candidates"][l], "ceil")
        assert info["removed"][l] <= k
        assert info["removed"][l] == k or info["skipped_isolation"][l] > 0
    assert info["candidate_mode"] == ("sampled" if mode == "sampled" else "exact")
    assert 0.0 <= info["candidate_fraction"] <= 1.0


def _brute_force_paths(layers):
    """Node tuples and importances (unscaled, multiplied left to right), canonical order."""
    dense = [np.abs(W.to_dense().astype(np.float64)) for W in layers]
    links = [{(int(r), int(c)): k for k, (r, c) in enumerate(zip(W.rows, W.cols))}
             for W in layers]
    out = []

    def walk(prefix, factors):
        l = len(prefix) - 1
        if l == len(layers):
            out.append(([links[i][(prefix[i], prefix[i + 1])] for i in range(l)],
                        functools.reduce(operator.mul, factors)))
            return
        for v in sorted(c for (r, c) in links[l] if r == prefix[-1]):
            walk(prefix + [v], factors + [dense[l][prefix[-1], v]])

    for u in range(layers[0].shape[0]):
        walk([u], [])
    return out


def _naive_removal(layers, lam, zeta):
    """ALGORITHMS §4.2 straight from the definition: weakest paths, candidates, then the
    sequential guarded removal by (S, row, col)."""
    paths = _brute_force_paths(layers)
    n_weak = fraction_count(lam, len(paths), "ceil")
    order = sorted(range(len(paths)), key=lambda i: (paths[i][1], i))[:n_weak]
    scores = P.connection_importance(layers)
    removed = []
    for l, W in enumerate(layers):
        cand = sorted({paths[i][0][l] for i in order}, key=lambda k: (scores[l][k], k))
        k_rm = fraction_count(zeta, len(cand), "ceil")
        out_deg, in_deg = (d.tolist() for d in W.degrees())
        chosen = []
        for k in cand:
            if len(chosen) == k_rm:
                break
            r, c = int(W.rows[k]), int(W.cols[k])
            if out_deg[r] > 1 and in_deg[c] > 1:
                out_deg[r] -= 1
                in_deg[c] -= 1
                chosen.append(k)
        removed.append(np.sort(W.linear()[np.array(chosen, dtype=np.int64)]))
    return removed


@given(layers=networks, lam=fractions, zeta=fractions)
def test_exact_removal_matches_definition(layers, lam, zeta):
    step = path_weight_step(layers, None, np.random.default_rng(0), lam=lam, zeta=zeta,
                            candidates="exact")
    for got, expected in zip(step.removed, _naive_removal(layers, lam, zeta)):
        assert np.array_equal(got, expected)


def _threshold_counts(layers, tau):
    """|{e : log weakest(e) <= log tau}| per layer (with the module's tolerance)."""
    log_tau = np.log(tau)
    bound = log_tau + 1e-12 * max(1.0, abs(log_tau))
    return [int(np.sum(w <= bound)) for w in P.weakest_path_through_links(layers)]


def test_exact_candidates_equal_weakest_path_threshold(global_seed):
    """Without ties: e ∈ C_λ ⟺ (weakest path through e) <= τ_λ (ALGORITHMS §4.2)."""
    for i in range(5):
        layers = random_network([6, 8, 7, 3], 2.0, global_seed * 10 + i)
        step = path_weight_step(layers, None, np.random.default_rng(0), lam=0.05 + 0.1 * i,
                                zeta=0.3, candidates="exact")
        assert step.info["candidates"] == _threshold_counts(layers, step.info["tau"])


def test_sampled_candidates_follow_sampled_quantile(global_seed):
    layers = random_network([20, 30, 30, 5], 3.0, global_seed)
    step = path_weight_step(layers, None, np.random.default_rng(global_seed), lam=0.1,
                            zeta=0.3, candidates="sampled", n_path_samples=2000)
    assert step.info["candidate_mode"] == "sampled" and step.info["n_path_samples"] == 2000
    assert step.info["candidates"] == _threshold_counts(layers, step.info["tau"])
    # the sampled quantile estimates the exact one
    exact = path_weight_step(layers, None, np.random.default_rng(0), lam=0.1, zeta=0.3,
                             candidates="exact")
    assert 0.5 < step.info["tau"] / exact.info["tau"] < 2.0


def test_auto_mode_and_max_paths():
    layers = random_network([20, 30, 30, 5], 3.0, 1)
    n = P.path_count(layers)
    rng = np.random.default_rng(0)
    assert path_weight_step(layers, None, rng, lam=0.2, zeta=0.3,
                            max_paths=n).info["candidate_mode"] == "exact"
    auto = path_weight_step(layers, None, rng, lam=0.2, zeta=0.3, max_paths=n - 1,
                            n_path_samples=300)
    assert auto.info["candidate_mode"] == "sampled" and auto.info["n_paths"] == n
    with pytest.raises(ValueError, match=f"all {n} paths.*max_paths={n - 1}"):
        path_weight_step(layers, None, rng, lam=0.2, zeta=0.3, candidates="exact",
                         max_paths=n - 1)


@pytest.mark.parametrize("mode", ["exact", "sampled"])
@pytest.mark.parametrize("count_rule", ["conserve", "paper"])
def test_rescaling_never_changes_a_decision(global_seed, mode, count_rule):
    rng = np.random.default_rng(global_seed)
    layers = random_network([12, 15, 10, 4], 2.5, global_seed)
    scales = rng.uniform(0.1, 10.0, 3)
    factors = rng.uniform(0.01, 100.0, 3)
    steps = [path_weight_step(layers, s, np.random.default_rng(global_seed), lam=0.3,
                              zeta=0.5, delta=2.0, candidates=mode, n_path_samples=3000,
                              count_rule=count_rule)
             for s in (scales, scales * factors)]
    a, b = steps
    for l in range(3):
        assert np.array_equal(a.layers[l].linear(), b.layers[l].linear())
        assert np.array_equal(a.layers[l].values, b.layers[l].values)
        assert np.array_equal(a.sources[l], b.sources[l])
        assert np.array_equal(a.removed[l], b.removed[l])
    # reported values are in normalised units: they scale with prod(1 / s)
    ratio = 1.0 / np.prod(factors)
    for key in ("c_prim", "c_sec", "tau", "total_importance"):
        np.testing.assert_allclose(b.info[key], a.info[key] * ratio, rtol=1e-12)


def test_c_prim_and_c_sec_definitions(global_seed):
    layers = random_network([8, 9, 6, 3], 2.0, global_seed)
    scales = [2.0, 1.5, 0.7]
    step = path_weight_step(layers, scales, np.random.default_rng(0), lam=0.5, zeta=0.5)
    nodes = P.node_importance(layers, scales)
    np.testing.assert_allclose(step.info["c_prim"], np.concatenate(nodes).mean(), rtol=1e-12)
    S = P.connection_importance(layers, scales)
    removed = np.concatenate([S[l][np.isin(W.linear(), step.removed[l])]
                              for l, W in enumerate(layers)])
    np.testing.assert_allclose(step.info["c_sec"], removed.mean(), rtol=1e-12)
    np.testing.assert_allclose(step.info["total_importance"], nodes[0].sum(), rtol=1e-12)


def test_same_seed_same_result_and_topology_independent_of_init(global_seed):
    layers = random_network([10, 12, 4], 3.0, global_seed)
    run = [path_weight_step(layers, None, np.random.default_rng(global_seed), lam=0.4,
                            zeta=0.4, init=init) for init in (None, None, HeUniform())]
    for l in range(2):
        assert np.array_equal(run[0].layers[l].values, run[1].layers[l].values)
        assert np.array_equal(run[0].layers[l].linear(), run[2].layers[l].linear())
        assert not np.array_equal(run[0].layers[l].values, run[2].layers[l].values)


def test_one_initialiser_per_layer(global_seed):
    layers = random_network([10, 12, 4], 3.0, global_seed)
    both = path_weight_step(layers, None, np.random.default_rng(global_seed), lam=0.5,
                            zeta=0.5, init=[HeUniform(), None])
    first = path_weight_step(layers, None, np.random.default_rng(global_seed), lam=0.5,
                             zeta=0.5, init=HeUniform())
    new0 = both.sources[0] < 0
    assert new0.any()
    assert np.array_equal(both.layers[0].values, first.layers[0].values)   # He for layer 0
    bound = np.sqrt(6.0 / 10)
    assert np.all(np.abs(both.layers[0].values[new0]) <= bound)
    with pytest.raises(ValueError, match="one per layer"):
        path_weight_step(layers, None, np.random.default_rng(0), lam=0.5, zeta=0.5,
                         init=[HeUniform()])
    with pytest.raises(ValueError, match=r"init\[1\] must be a callable"):
        path_weight_step(layers, None, np.random.default_rng(0), lam=0.5, zeta=0.5,
                         init=[HeUniform(), "normal"])


def test_nothing_to_remove():
    layers = random_network([6, 7, 3], 2.0, 3)
    for lam, zeta in ((0.0, 0.5), (0.5, 0.0)):
        step = path_weight_step(layers, None, np.random.default_rng(0), lam=lam, zeta=zeta)
        for W, new, src in zip(layers, step.layers, step.sources):
            assert np.array_equal(new.linear(), W.linear())
            assert np.array_equal(src, np.arange(W.nnz))
        assert step.info["c_sec"] is None and step.info["removed"] == [0, 0]
    assert step.info["tau"] is not None
    assert path_weight_step(layers, None, np.random.default_rng(0), lam=0.0,
                            zeta=0.5).info["tau"] is None


def test_dense_layer_regrows_into_removed_cells():
    layers = random_network([6, 8, 3], 20.0, 0)          # the 8 x 3 layer is dense
    assert layers[1].nnz == 24
    step = path_weight_step(layers, None, np.random.default_rng(0), lam=1.0, zeta=0.5)
    assert step.info["regrow_fallback"][1] and step.info["removed"][1] > 0
    check_step_invariants(layers, step)
    assert step.overlap()[1] == 1.0


def _skewed_network():
    """6 inputs with very different node importance; 200 wide outputs (sources never fill)."""
    rng = np.random.default_rng(5)
    layers = random_network([6, 200, 2], 3.0, 5)
    boost = np.array([0.2, 0.5, 1.0, 2.0, 4.0, 8.0])
    W0 = layers[0]
    values = W0.values * boost[W0.rows] * rng.uniform(0.5, 1.5, W0.nnz)
    return [CooMatrix(W0.rows, W0.cols, values, W0.shape), layers[1]]


def test_regrowth_sources_follow_node_importance():
    """Chi-square of regrown sources (layer 0) against ∝ N(s), over a fixed list of seeds;
    the same statistic rejects uniform sources."""
    layers = _skewed_network()
    expected_p = P.node_importance(layers)[0]
    expected_p = expected_p / expected_p.sum()
    counts = np.zeros(6)
    for seed in range(300):
        step = path_weight_step(layers, None, np.random.default_rng(seed), lam=1.0, zeta=0.1)
        assert not step.info["regrow_fallback"][0]
        counts += np.bincount(step.regrown[0] // 200, minlength=6)
    assert counts.sum() > 5000
    assert_follows(counts, expected_p)


def test_regrowth_targets_uniform_and_new(global_seed):
    layers = _skewed_network()
    free_hits = np.zeros(6 * 200)
    for seed in range(200):
        step = path_weight_step(layers, None, np.random.default_rng(global_seed * 1000 + seed),
                                lam=1.0, zeta=0.1)
        assert np.intersect1d(step.regrown[0], layers[0].linear()).size == 0
        free_hits[step.regrown[0]] += 1
    # per source, targets are uniform over its free outputs (not linked, not just removed;
    # the removal is the same for every seed)
    occupied = np.zeros(6 * 200, dtype=bool)
    occupied[layers[0].linear()] = True
    assert step.removed[0].size > 0 and not free_hits[step.removed[0]].any()
    row = free_hits.reshape(6, 200)[5][~occupied.reshape(6, 200)[5]]
    assert chisquare(row).pvalue > 1e-4


def test_count_rule_paper():
    layers = random_network([10, 12, 4], 2.0, 4)
    big = path_weight_step(layers, None, np.random.default_rng(0), lam=0.5, zeta=0.3,
                           delta=1e9, count_rule="paper")
    # every source with a free target gains exactly one link: n_in per layer
    old_blocked = [W.linear() for W in layers]
    for l, W in enumerate(layers):
        has_room = np.bincount(W.rows, minlength=W.shape[0]) < W.shape[1]
        assert big.info["regrown"][l] == int(has_room.sum())
        assert np.array_equal(np.unique(big.regrown[l] // W.shape[1]), np.flatnonzero(has_room))
        assert np.intersect1d(big.regrown[l], old_blocked[l]).size == 0
        assert big.layers[l].nnz == W.nnz - big.info["removed"][l] + big.info["regrown"][l]
    none = path_weight_step(layers, None, np.random.default_rng(0), lam=0.5, zeta=0.3,
                            delta=0.0, count_rule="paper")
    assert none.info["regrown"] == [0, 0] and sum(none.info["removed"]) > 0
    assert [W.nnz for W in none.layers] == [W.nnz - r for W, r in
                                            zip(layers, none.info["removed"])]


def test_isolated_neuron_before_the_update_does_not_crash():
    W0 = CooMatrix(np.array([0, 0, 1, 1], dtype=np.int64), np.array([0, 1, 1, 2], dtype=np.int64),
                   np.array([0.5, -2.0, 1.5, 0.1]), (3, 4))          # input 2, hidden 3: no link
    W1 = CooMatrix(np.array([0, 1, 1, 2], dtype=np.int64), np.array([0, 0, 1, 1], dtype=np.int64),
                   np.array([1.0, -3.0, 0.25, 0.4]), (4, 2))
    step = path_weight_step([W0, W1], None, np.random.default_rng(0), lam=1.0, zeta=1.0)
    for W, new in zip([W0, W1], step.layers):
        assert new.nnz == W.nnz
        before, after = W.degrees(), new.degrees()
        for b, a in zip(before, after):
            assert np.all(a[b > 0] >= 1)       # nothing connected became isolated


# -- schedule -------------------------------------------------------------------------------
def test_schedule_rules():
    # c_sec < K3 c_prim: grow by K1; λ and ζ clamp at 1
    assert update_schedule(0.2, 0.7, 1.5, 10.0, 0.99) == (0.4, 1.0, 3.0)
    # c_sec > K4 c_prim: shrink by K2
    assert update_schedule(0.2, 0.7, 1.5, 10.0, 5.01) == (0.1, 0.35, 0.75)
    # in between (and at both boundaries): unchanged
    for c_sec in (1.0, 3.0, 5.0):
        assert update_schedule(0.2, 0.7, 1.5, 10.0, c_sec) == (0.2, 0.7, 1.5)
    assert update_schedule(0.2, 0.7, 1.5, 10.0, None) == (0.2, 0.7, 1.5)
    assert update_schedule(0.2, 0.7, 1.5, 10.0, float("nan")) == (0.2, 0.7, 1.5)
    # other constants
    assert update_schedule(0.2, 0.2, 1.0, 1.0, 0.25, K1=3.0, K3=0.3, K4=0.6) == (
        pytest.approx(0.6), pytest.approx(0.6), 3.0)
    assert update_schedule(0.5, 0.5, 1.0, 1.0, 0.25, K2=0.1, K3=0.1, K4=0.2) == (
        pytest.approx(0.05), pytest.approx(0.05), pytest.approx(0.1))


def test_schedule_feeds_from_step():
    layers = random_network([8, 9, 3], 2.0, 2)
    step = path_weight_step(layers, None, np.random.default_rng(0), lam=0.3, zeta=0.3)
    info = step.info
    new = update_schedule(info["lam"], info["zeta"], info["delta"], info["c_prim"],
                          info["c_sec"])
    ratio = info["c_sec"] / info["c_prim"]
    factor = 2.0 if ratio < 0.1 else 0.5 if ratio > 0.5 else 1.0
    assert new == pytest.approx((min(1, 0.3 * factor), min(1, 0.3 * factor), factor))


def test_schedule_bad_inputs():
    for kwargs, name in (({"K1": 0.0}, "K1"), ({"K2": -1.0}, "K2"), ({"K3": 0.6}, "K3")):
        with pytest.raises(ValueError, match=name):
            update_schedule(0.2, 0.2, 1.0, 1.0, 0.5, **kwargs)
    with pytest.raises(ValueError, match="lam"):
        update_schedule(1.5, 0.2, 1.0, 1.0, 0.5)
    with pytest.raises(ValueError, match="c_prim"):
        update_schedule(0.5, 0.2, 1.0, -1.0, 0.5)
    with pytest.raises(ValueError, match="c_sec"):
        update_schedule(0.5, 0.2, 1.0, 1.0, -0.5)


def test_step_bad_inputs():
    layers = random_network([5, 6, 3], 2.0, 0)
    rng = np.random.default_rng(0)
    cases = [({"lam": 1.5}, "lam"), ({"lam": -0.1}, "lam"), ({"zeta": 2.0}, "zeta"),
             ({"delta": -1.0}, "delta"), ({"candidates": "all"}, "candidates"),
             ({"count_rule": "drift"}, "count_rule"), ({"n_path_samples": 0}, "n_path_samples"),
             ({"max_paths": -5}, "max_paths")]
    for extra, name in cases:
        kwargs = {"lam": 0.2, "zeta": 0.3, **extra}
        with pytest.raises(ValueError, match=name):
            path_weight_step(layers, None, rng, **kwargs)
    with pytest.raises(ValueError, match="scales"):
        path_weight_step(layers, [1.0, 0.0], rng, lam=0.2, zeta=0.3)
    broken = CooMatrix(layers[0].rows[::-1].copy(), layers[0].cols[::-1].copy(),
                       layers[0].values.copy(), layers[0].shape)
    with pytest.raises(ValueError, match=r"layers\[0\].*sorted"):
        path_weight_step([broken, layers[1]], None, rng, lam=0.2, zeta=0.3)


# -- shared helpers -------------------------------------------------------------------------
@given(layers=networks, zeta=fractions, seed=st.integers(0, 2**32 - 1))
def test_guarded_smallest_equals_sequential_visit(layers, zeta, seed):
    W = layers[0]
    rng = np.random.default_rng(seed)
    scores = np.round(rng.random(W.nnz), 1)                        # many ties
    cand = np.flatnonzero(rng.random(W.nnz) < 0.8)
    k = fraction_count(zeta, cand.size, "ceil")
    chosen, skipped = guarded_smallest(scores, cand, k, W)
    out_deg, in_deg = (d.tolist() for d in W.degrees())
    expected, n_skip = [], 0
    for i in sorted(cand.tolist(), key=lambda i: (scores[i], i)):
        if len(expected) == k:
            break
        r, c = int(W.rows[i]), int(W.cols[i])
        if out_deg[r] > 1 and in_deg[c] > 1:
            out_deg[r] -= 1
            in_deg[c] -= 1
            expected.append(i)
        else:
            n_skip += 1
    assert chosen.tolist() == sorted(expected)
    assert skipped == n_skip


def test_uniform_subsets_are_uniform(global_seed):
    rng = np.random.default_rng(global_seed)
    sizes = np.array([7, 1, 12, 5])
    counts = np.array([3, 1, 12, 0])
    seen = {}
    for _ in range(4000):
        owner, ranks = uniform_subsets(sizes, counts, rng)
        assert np.array_equal(np.bincount(owner, minlength=4), counts)
        key = tuple(sorted(ranks[owner == 0].tolist()))
        assert len(set(key)) == 3 and max(key) < 7
        assert sorted(ranks[owner == 2].tolist()) == list(range(12))
        seen[key] = seen.get(key, 0) + 1
    assert len(seen) == 35                      # C(7, 3) subsets, each equally likely
    assert chisquare(list(seen.values())).pvalue > 1e-4


def test_source_redraw_matches_sequential_law(global_seed):
    """Sources drawn one at a time, a saturated one redrawn: with caps (1, 10) and equal
    weights, source 0 stays empty only if both draws pick source 1 (probability 1/4)."""
    rng = np.random.default_rng(global_seed)
    empty = sum(_source_counts(np.array([1.0, 1.0]), np.array([1, 10]), 2, rng)[0] == 0
                for _ in range(4000))
    assert abs(empty / 4000 - 0.25) < 4 * np.sqrt(0.25 * 0.75 / 4000)


def test_fraction_count():
    assert fraction_count(0.07, 100, "ceil") == 7          # 0.07 * 100 = 7.000000000000001
    assert fraction_count(0.29, 100, "floor") == 29        # 0.29 * 100 = 28.999999999999996
    assert fraction_count(0.25, 10, "ceil") == 3
    assert fraction_count(0.25, 10, "floor") == 2
    assert fraction_count(0.0, 10, "ceil") == 0 and fraction_count(1.0, 10, "floor") == 10
    assert fraction_count(0.5, 10**30, "ceil") == 5 * 10**29
