"""SET evolution (ALGORITHMS §2): counts, conservation, no duplicates, no isolation."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refset import CooMatrix, erdos_renyi_layer, set_step
from refset.algorithms import select_prune


def _layer(n_in, n_out, eps, seed):
    return erdos_renyi_layer(n_in, n_out, eps, np.random.default_rng(seed))


layers = st.builds(lambda n_in, n_out, eps, seed: _layer(n_in, n_out, eps, seed),
                   st.integers(2, 40), st.integers(2, 40), st.floats(1.0, 25.0), st.integers(0, 2**32 - 1))


@given(W=layers, zeta=st.floats(0, 1), seed=st.integers(0, 2**32 - 1),
       prune=st.sampled_from(["sign", "magnitude"]), allow=st.booleans())
def test_set_step_invariants(W, zeta, seed, prune, allow):
    step = set_step(W, zeta, np.random.default_rng(seed), prune=prune, allow_regrow_removed=allow)
    new = step.layer.check()
    n_neg, n_pos = int(np.sum(W.values < 0)), int(np.sum(W.values > 0))
    expected = (math.floor(zeta * n_neg) + math.floor(zeta * n_pos) if prune == "sign"
                else math.floor(zeta * W.nnz))
    assert step.removed.size == expected == step.regrown.size
    assert new.nnz == W.nnz                                        # conserved
    out_deg, in_deg = new.degrees()
    assert out_deg.min() >= 1 and in_deg.min() >= 1               # no isolated neuron
    old, lin = W.linear(), new.linear()
    assert np.array_equal(np.setdiff1d(old, step.removed), np.setdiff1d(lin, step.regrown))
    assert np.intersect1d(step.regrown, np.setdiff1d(old, step.removed)).size == 0
    # source maps kept links to their old values; regrown links are marked -1
    kept = step.source >= 0
    assert np.array_equal(W.values[step.source[kept]], new.values[kept])
    assert np.array_equal(np.sort(lin[~kept]), step.regrown)
    if 0 < step.regrown.size:
        assert 0 <= step.overlap <= 1


def test_prune_removes_closest_to_zero_per_sign():
    values = np.array([-3.0, -0.1, 0.2, 5.0, -1.0, 0.4, -0.05, 2.0])
    drop = select_prune(values, 0.5, "sign")     # 4 negatives -> 2, 4 positives -> 2
    assert sorted(values[drop].tolist()) == [-0.1, -0.05, 0.2, 0.4]
    drop = select_prune(values, 0.25, "magnitude")
    assert sorted(values[drop].tolist()) == [-0.1, -0.05]


def test_prune_ties_by_row_col():
    values = np.array([0.5, 0.5, 0.5, 0.5])
    assert select_prune(values, 0.5, "sign").tolist() == [0, 1]


def test_zeta_zero_is_static():
    W = _layer(30, 20, 3.0, 0)
    step = set_step(W, 0.0, np.random.default_rng(1))
    assert np.array_equal(step.layer.linear(), W.linear())
    assert np.array_equal(step.source, np.arange(W.nnz))
    assert np.isnan(step.overlap)


def test_forbid_regrow_removed():
    W = _layer(50, 40, 5.0, 3)
    step = set_step(W, 0.3, np.random.default_rng(4), allow_regrow_removed=False)
    assert np.intersect1d(step.removed, step.regrown).size == 0


def test_dense_layer_regrows_into_removed_positions():
    W = _layer(30, 3, 20.0, 0)                   # dense: the only free cells are the removed ones
    step = set_step(W, 0.3, np.random.default_rng(0))
    assert step.layer.nnz == 90 and step.overlap == 1.0


def test_isolation_guard_reconnects():
    # a layer where pruning must isolate neurons: a perfect matching plus one extra link
    W = CooMatrix(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2]),
                  np.array([0.01, 0.02, 5.0, 0.03]), (3, 3))
    step = set_step(W, 1.0, np.random.default_rng(0), prune="magnitude")
    out_deg, in_deg = step.layer.degrees()
    assert out_deg.min() >= 1 and in_deg.min() >= 1 and step.layer.nnz == 4


def test_regrowth_uniform(global_seed):
    """Regrown positions are uniform over the free cells (chi-square)."""
    W = _layer(8, 6, 2.0, 11)
    rng = np.random.default_rng(global_seed)
    counts = np.zeros(48)
    for _ in range(3000):
        counts[set_step(W, 0.3, rng).regrown] += 1
    removed = set_step(W, 0.3, np.random.default_rng(0)).removed       # deterministic given values
    kept = np.setdiff1d(W.linear(), removed)
    free = np.setdiff1d(np.arange(48), kept)
    assert np.all(counts[kept] == 0)
    expected = counts.sum() / free.size
    dof = free.size - 1
    assert np.sum((counts[free] - expected) ** 2 / expected) < dof + 5 * np.sqrt(2 * dof)


def test_bad_zeta():
    W = _layer(10, 10, 2.0, 0)
    for zeta in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="zeta"):
            set_step(W, zeta, np.random.default_rng(0))


@given(scores=st.lists(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5]), min_size=0, max_size=40),
       k=st.integers(0, 45))
def test_selection_equals_stable_sort(scores, k):
    """The O(n) selection picks exactly what a stable sort on (score, index) picks."""
    from refset.algorithms.sparse_evolutionary import _smallest

    scores = np.array(scores)
    expected = np.sort(np.argsort(scores, kind="stable")[:k])
    assert np.array_equal(np.sort(_smallest(scores, k)), expected)
