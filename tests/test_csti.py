"""CSTI (ALGORITHMS §5.1): |Pearson| top-K per layer, 1x/2x tiling, zero variance, repair."""
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refset.algorithms.csti import csti_layers, csti_topology, feature_correlation, feature_statistics
from refset.algorithms.swi import SWI


def _data(seed, n, M, n_constant):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, M)) @ rng.standard_normal((M, M))     # correlated features
    X[:, rng.choice(M, size=n_constant, replace=False)] = 0.3          # zero variance
    return X


def _brute_force(X, widths, sparsity):
    """Dense oracle: |corrcoef| (symmetrised), tiled, sorted by (-value, row, col)."""
    M = X.shape[1]
    constant = X.max(0) == X.min(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        C = np.nan_to_num(np.abs(np.corrcoef(X.T)))
    np.fill_diagonal(C, 0)
    C = np.maximum(C, C.T)
    C[constant], C[:, constant] = 0, 0
    out = []
    for l, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        T = np.tile(C, (a // M, b // M))
        allowed = np.ones(T.shape, bool)
        if l == 0:
            allowed[constant] = False
        lin = np.flatnonzero(allowed.ravel())
        k = min(round((1 - sparsity) * a * b), lin.size)
        out.append(np.sort(lin[np.lexsort((lin, -T.ravel()[lin]))[:k]]))
    return out


cases = st.tuples(st.integers(0, 2**32 - 1), st.integers(8, 40), st.integers(2, 9),
                  st.integers(0, 2), st.sampled_from([1, 2]), st.integers(1, 3),
                  st.floats(0.0, 0.8), st.integers(1, 5))


@given(case=cases)
def test_topology_matches_brute_force(case):
    seed, n, M, n_const, m, L, sparsity, chunk = case
    n_const = min(n_const, M - 1)
    X = _data(seed, n, M, n_const)
    widths = [M] + [m * M] * L
    try:
        got, constant = csti_topology(X, widths, sparsity=sparsity, chunk_size=chunk)
    except ValueError as exc:               # too few links to cover every active neuron
        assert "needed so that no active neuron is isolated" in str(exc)
        return
    assert np.array_equal(constant, X.max(0) == X.min(0))
    for g, e in zip(got, _brute_force(X, widths, sparsity)):
        assert np.array_equal(g, e)


@given(case=cases, seed=st.integers(0, 2**32 - 1))
def test_layers_invariants(case, seed):
    data_seed, n, M, n_const, m, L, sparsity, chunk = case
    n_const = min(n_const, M - 1)
    X = _data(data_seed, n, M, n_const)
    widths = [M] + [m * M] * L
    constant = X.max(0) == X.min(0)
    try:
        layers = csti_layers(X, widths, sparsity=sparsity, rng=np.random.default_rng(seed),
                             chunk_size=chunk)
    except ValueError:
        return
    assert len(layers) == L
    for l, (W, (a, b)) in enumerate(zip(layers, zip(widths[:-1], widths[1:]))):
        W.check()
        assert W.shape == (a, b)
        allowed = (M - n_const) * b if l == 0 else a * b
        assert W.nnz == min(round((1 - sparsity) * a * b), allowed)         # exact budget
        out_deg, in_deg = W.degrees()
        assert in_deg.min() >= 1                       # every hidden neuron is fed
        if l == 0:
            assert np.all(out_deg[constant] == 0)     # zero-variance inputs: no links
            assert np.all(out_deg[~constant] >= 1)
        else:
            assert out_deg.min() >= 1


def test_block_structure(global_seed):
    """2x: every copy of a cell ranks after the earlier copies, so the blocks are nested."""
    M = 10
    X = _data(global_seed, 60, M, 1)
    topo, _ = csti_topology(X, [M, 2 * M, 2 * M, 2 * M], sparsity=0.7)
    first = np.zeros((M, 2 * M), bool)
    first.ravel()[topo[0]] = True
    assert np.all(first[:, :M] >= first[:, M:])                 # [C C]: left ⊇ right
    assert np.abs(first[:, :M].sum() - first[:, M:].sum()) <= 2  # differ by one tie at most
    assert topo[1].tolist() == topo[2].tolist()
    later = np.zeros((2 * M, 2 * M), bool)
    later.ravel()[topo[1]] = True
    blocks = [later[:M, :M], later[:M, M:], later[M:, :M], later[M:, M:]]
    for a, b in zip(blocks, blocks[1:]):
        assert np.all(a >= b)
    # 1x: every layer selects the same K best entries of C
    topo1, _ = csti_topology(X, [M, M, M, M], sparsity=0.7)
    assert topo1[0].tolist() == topo1[1].tolist() == topo1[2].tolist()


def test_chunk_size_does_not_change_the_topology(global_seed):
    X = _data(global_seed, 300, 40, 3)
    ref, _ = csti_topology(X, [40, 80, 80], sparsity=0.9, chunk_size=256)
    for chunk in (1, 7, 40):
        got, _ = csti_topology(X, [40, 80, 80], sparsity=0.9, chunk_size=chunk)
        assert all(np.array_equal(a, b) for a, b in zip(ref, got))


def test_feature_correlation(global_seed):
    X = _data(global_seed, 50, 12, 2)
    C = feature_correlation(X, chunk_size=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = np.nan_to_num(np.abs(np.corrcoef(X.T)))
    np.fill_diagonal(ref, 0)
    constant = X.max(0) == X.min(0)     # corrcoef sees rounding noise there, not NaN
    ref[constant], ref[:, constant] = 0, 0
    np.testing.assert_allclose(C, ref, rtol=1e-12, atol=1e-12)
    assert np.array_equal(C, C.T)
    mean, std, constant = feature_statistics(X.astype(np.float32), chunk_size=7)
    assert constant.sum() == 2 and np.all(std[constant] == 0)
    np.testing.assert_allclose(mean, X.astype(np.float32).astype(np.float64).mean(0), rtol=1e-12)


def test_weights_after_topology(global_seed):
    X = _data(global_seed, 80, 16, 0)
    a = csti_layers(X, [16, 16, 16], sparsity=0.5, rng=np.random.default_rng(global_seed),
                    dtype=np.float32)
    b = csti_layers(X, [16, 16, 16], sparsity=0.5, rng=np.random.default_rng(global_seed),
                    init=[SWI(), SWI()], dtype=np.float32)
    for Wa, Wb in zip(a, b):
        assert Wa.values.dtype == np.float32
        assert np.array_equal(Wa.linear(), Wb.linear()) and np.array_equal(Wa.values, Wb.values)
    c = csti_layers(X, [16, 16, 16], sparsity=0.5, rng=np.random.default_rng(global_seed),
                    init=lambda rng, n, *_: np.full(n, 0.25))
    assert all(np.all(W.values == 0.25) for W in c)
    assert all(np.array_equal(Wa.linear(), Wc.linear()) for Wa, Wc in zip(a, c))


def test_bad_input():
    rng = np.random.default_rng(0)
    X = _data(0, 30, 6, 1)
    for kwargs, match in (
            ({"widths": [5, 5]}, "widths\\[0\\]"), ({"widths": [6, 6, 12]}, "1x"),
            ({"widths": [6]}, "at least one"), ({"sparsity": 1.0}, "sparsity"),
            ({"sparsity": 0.99}, "needed so that no active neuron"),
            ({"chunk_size": 0}, "chunk_size"), ({"dtype": np.int32}, "dtype"),
            ({"rng": 3}, "Generator"), ({"init": [None]}, "one entry per")):
        args = dict({"widths": [6, 6, 6], "sparsity": 0.5, "rng": rng}, **kwargs)
        with pytest.raises(ValueError, match=match):
            csti_layers(X, **args)
    with pytest.raises(ValueError, match="nonzero variance"):
        csti_layers(np.ones((5, 3)), [3, 3], sparsity=0.0, rng=rng)
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        csti_layers(bad, [6, 6], sparsity=0.5, rng=rng)
    with pytest.raises(ValueError, match="2-D"):
        csti_layers(X[0], [6, 6], sparsity=0.5, rng=rng)
