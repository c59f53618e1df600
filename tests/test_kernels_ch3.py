"""CH3-L3 kernels (ALGORITHMS §5.4): closed form on both backends, bit-exact parity."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refset import get_kernels
from refset.kernels import backend as _backend

# the fixture of ALGORITHMS §5.4: in0 -> {o0, o1}, in1 -> {o0, o2}, in2 -> {o1, o2, o3},
# in3 -> {o0, o3}
FIX_ROWS = np.array([0, 0, 1, 1, 2, 2, 2, 3, 3], dtype=np.int64)
FIX_COLS = np.array([0, 1, 0, 2, 1, 2, 3, 0, 3], dtype=np.int64)
R2 = np.sqrt(2.0)
FIX_SCORES = np.array([[0, 0, R2, R2], [0, R2, 0, R2], [3, 0, 0, 0], [0, R2, R2, 0]])


def _random_layer(rng, n_in, n_out, density):
    lin = np.flatnonzero(rng.random(n_in * n_out) < density).astype(np.int64)
    return lin // n_out, lin % n_out


def _scores(kernels, rows, cols, n_in, n_out):
    cap = n_in * n_out
    lin, sc = np.full(cap, -7, np.int64), np.full(cap, np.nan)
    n = kernels.ch3_l3_scores(rows, cols, n_in, n_out, lin, sc)
    return lin[:n], sc[:n]


def test_fixture(kernels):
    lin, sc = _scores(kernels, FIX_ROWS, FIX_COLS, 4, 4)
    dense = np.zeros(16)
    dense[lin] = sc
    np.testing.assert_allclose(dense.reshape(4, 4), FIX_SCORES, rtol=1e-15, atol=0)
    assert np.all(np.diff(lin) > 0) and np.all(sc > 0)


def test_matches_dense_closed_form(kernels, global_seed):
    """Against the closed form evaluated with dense matrices (X Xᵀ, Xᵀ X)."""
    rng = np.random.default_rng(global_seed)
    for n_in, n_out, density in ((13, 9, 0.3), (20, 31, 0.15), (7, 7, 0.6), (40, 25, 0.05)):
        rows, cols = _random_layer(rng, n_in, n_out, density)
        X = np.zeros((n_in, n_out))
        X[rows, cols] = 1
        d_in, d_out, C_in, C_out = X.sum(1), X.sum(0), X @ X.T, X.T @ X
        S = np.zeros((n_in, n_out))
        for u, v in zip(*np.nonzero(X == 0)):
            for j in np.flatnonzero(X[u]):
                for i in np.flatnonzero(X[:, j] * X[:, v]):
                    S[u, v] += 1 / np.sqrt((d_out[j] - C_out[j, v]) * (d_in[i] - C_in[i, u]))
        lin, sc = _scores(kernels, rows, cols, n_in, n_out)
        got = np.zeros(n_in * n_out)
        got[lin] = sc
        np.testing.assert_allclose(got.reshape(n_in, n_out), S, rtol=1e-12, atol=1e-12)
        assert np.array_equal(lin, np.flatnonzero(S.ravel() > 0))


def test_top_k_rank_order_and_exclude(kernels, global_seed):
    rng = np.random.default_rng(global_seed)
    rows, cols = _random_layer(rng, 30, 40, 0.08)
    lin, sc = _scores(kernels, rows, cols, 30, 40)
    exclude = np.sort(rng.choice(lin, size=lin.size // 5, replace=False))
    ok = ~np.isin(lin, exclude)
    rank = np.lexsort((lin[ok], -sc[ok]))
    for k in (0, 1, 7, lin.size // 3, ok.sum(), ok.sum() + 5):
        out_l, out_s = np.full(k, -1, np.int64), np.full(k, np.nan)
        n = kernels.ch3_l3_top_k(rows, cols, 30, 40, exclude, out_l, out_s)
        assert n == min(k, ok.sum())
        assert np.array_equal(out_l[:n], lin[ok][rank[:n]])
        assert np.array_equal(out_s[:n], sc[ok][rank[:n]])


def test_ties_broken_by_row_then_col(kernels):
    # the fixture: 3 at (2, 0), then six ties at sqrt(2): rows first, then columns
    out_l, out_s = np.empty(5, np.int64), np.empty(5)
    n = kernels.ch3_l3_top_k(FIX_ROWS, FIX_COLS, 4, 4, np.empty(0, np.int64), out_l, out_s)
    assert n == 5 and out_l.tolist() == [8, 2, 3, 5, 7]


def test_empty_and_complete_layers(kernels):
    e = np.empty(0, np.int64)
    assert kernels.ch3_l3_scores(e, e, 3, 4, np.empty(5, np.int64), np.empty(5)) == 0
    assert kernels.ch3_l3_top_k(e, e, 3, 4, e, np.empty(5, np.int64), np.empty(5)) == 0
    rows, cols = np.divmod(np.arange(12, dtype=np.int64), 4)      # dense: no non-link
    assert kernels.ch3_l3_scores(rows, cols, 3, 4, np.empty(1, np.int64), np.empty(1)) == 0


def test_too_small_output_is_an_error(kernels):
    with pytest.raises(ValueError, match="too small"):
        kernels.ch3_l3_scores(FIX_ROWS, FIX_COLS, 4, 4, np.empty(3, np.int64), np.empty(3))


@given(seed=st.integers(0, 2**32 - 1), n_in=st.integers(1, 60), n_out=st.integers(1, 60),
       density=st.floats(0.0, 0.6))
def test_backends_bit_identical(seed, n_in, n_out, density):
    """Same scores to the last bit, hence the same top-k under ties."""
    if not _backend.compiled_available():
        pytest.skip("compiled extension not built")
    cy, tw = get_kernels("cython"), get_kernels("numpy")
    rng = np.random.default_rng(seed)
    rows, cols = _random_layer(rng, n_in, n_out, density)
    a, b = _scores(cy, rows, cols, n_in, n_out), _scores(tw, rows, cols, n_in, n_out)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    k = int(rng.integers(0, n_in * n_out + 1))
    exclude = np.flatnonzero(rng.random(n_in * n_out) < 0.1).astype(np.int64)
    outs = []
    for kern in (cy, tw):
        out_l, out_s = np.empty(k, np.int64), np.empty(k)
        n = kern.ch3_l3_top_k(rows, cols, n_in, n_out, exclude, out_l, out_s)
        outs.append((out_l[:n], out_s[:n]))
    assert np.array_equal(outs[0][0], outs[1][0]) and np.array_equal(outs[0][1], outs[1][1])


def test_backends_identical_on_a_large_layer(global_seed):
    """A layer large enough for the twin's row blocks (several blocks of terms)."""
    if not _backend.compiled_available():
        pytest.skip("compiled extension not built")
    import refset.kernels.ch3 as twin

    rng = np.random.default_rng(global_seed)
    rows, cols = _random_layer(rng, 300, 500, 0.04)
    saved = twin._BLOCK_TERMS
    twin._BLOCK_TERMS = 20_000                  # force many blocks
    try:
        a = _scores(get_kernels("cython"), rows, cols, 300, 500)
        b = _scores(get_kernels("numpy"), rows, cols, 300, 500)
        k = 2000
        tops = []
        for kern in (get_kernels("cython"), get_kernels("numpy")):
            out_l, out_s = np.empty(k, np.int64), np.empty(k)
            kern.ch3_l3_top_k(rows, cols, 300, 500, np.empty(0, np.int64), out_l, out_s)
            tops.append(out_l)
    finally:
        twin._BLOCK_TERMS = saved
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert np.array_equal(tops[0], tops[1])
