"""CH3-L3 (ALGORITHMS §5.4): the definition, the closed form, properties, top-k selection."""
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from refset import CooMatrix, get_kernels
from refset.kernels import backend as _backend
from refset.algorithms.ch3_l3 import (ch3_l3_capacity, ch3_l3_reference, ch3_l3_scores,
                                      ch3_l3_top_k)

R2 = np.sqrt(2.0)
FIXTURE = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 1], [1, 0, 0, 1]], dtype=float)
FIXTURE_SCORES = np.array([[0, 0, R2, R2], [0, R2, 0, R2], [3, 0, 0, 0], [0, R2, R2, 0]])


def _mask(seed, n_in, n_out, density):
    rng = np.random.default_rng(seed)
    return (rng.random((n_in, n_out)) < density).astype(float)


def _dense(layer, kernels=None):
    lin, s = ch3_l3_scores(layer, kernels=kernels)
    out = np.zeros(layer.shape[0] * layer.shape[1])
    out[lin] = s
    return out.reshape(layer.shape)


# hypothesis cannot share the function-scoped ``kernels`` fixture: parametrise by name instead
BACKENDS = ["numpy", pytest.param("cython", marks=pytest.mark.skipif(
    not _backend.compiled_available() and os.environ.get("REFSET_REQUIRE_EXT") != "1",
    reason="compiled extension not built"))]

masks = st.builds(_mask, st.integers(0, 2**32 - 1), st.integers(1, 11), st.integers(1, 11),
                  st.floats(0.0, 0.7))


def test_fixture_reference_and_kernels(kernels):
    W = CooMatrix.from_dense(FIXTURE)
    np.testing.assert_allclose(ch3_l3_reference(W), FIXTURE_SCORES, rtol=1e-15, atol=0)
    np.testing.assert_allclose(_dense(W, kernels), FIXTURE_SCORES, rtol=1e-15, atol=0)


@given(X=masks)
@pytest.mark.parametrize("backend", BACKENDS)
def test_reference_equals_closed_form(X, backend):
    kernels = get_kernels(backend)
    W = CooMatrix.from_dense(X)
    np.testing.assert_allclose(_dense(W, kernels), ch3_l3_reference(W), rtol=1e-12, atol=1e-12)


@given(X=masks)
def test_bounds_and_support(X):
    """0 <= S <= X Xᵀ X on non-links, with the same support; 0 on links."""
    S = ch3_l3_reference(CooMatrix.from_dense(X))
    P = X @ X.T @ X
    non_link = X == 0
    assert np.all(S[~non_link] == 0)
    assert np.all(S >= 0) and np.all(S[non_link] <= P[non_link] + 1e-12)
    assert np.array_equal(S[non_link] > 0, P[non_link] > 0)


@given(X=masks, seed=st.integers(0, 2**32 - 1))
@pytest.mark.parametrize("backend", BACKENDS)
def test_transpose_and_permutation_equivariance(X, seed, backend):
    kernels = get_kernels(backend)
    S = _dense(CooMatrix.from_dense(X), kernels)
    np.testing.assert_allclose(_dense(CooMatrix.from_dense(X.T), kernels), S.T, rtol=1e-12,
                               atol=1e-12)
    rng = np.random.default_rng(seed)
    p, q = rng.permutation(X.shape[0]), rng.permutation(X.shape[1])
    np.testing.assert_allclose(_dense(CooMatrix.from_dense(X[p][:, q]), kernels), S[p][:, q],
                               rtol=1e-12, atol=1e-12)


@given(X=masks, k=st.integers(0, 130), seed=st.integers(0, 2**32 - 1))
@pytest.mark.parametrize("backend", BACKENDS)
def test_top_k_is_the_sorted_prefix(X, k, seed, backend):
    kernels = get_kernels(backend)
    W = CooMatrix.from_dense(X)
    lin, s = ch3_l3_scores(W, kernels=kernels)
    exclude = np.random.default_rng(seed).choice(max(X.size, 1), size=X.size // 4, replace=False)
    ok = ~np.isin(lin, exclude)
    expected = lin[ok][np.lexsort((lin[ok], -s[ok]))][:k]
    got = ch3_l3_top_k(W, k, exclude=exclude, kernels=kernels)
    assert np.array_equal(got, expected)
    got_l, got_s = ch3_l3_top_k(W, k, exclude=exclude, kernels=kernels, return_scores=True)
    assert np.array_equal(got_l, expected) and np.all(np.diff(got_s) <= 0)


@given(X=masks)
def test_capacity_bounds_the_candidates(X):
    W = CooMatrix.from_dense(X)
    S = ch3_l3_reference(W)
    assert np.all(np.count_nonzero(S, axis=1) <= ch3_l3_capacity(W))


def test_weights_do_not_matter(kernels, global_seed):
    rng = np.random.default_rng(global_seed)
    X = _mask(global_seed, 25, 30, 0.1)
    W = CooMatrix.from_dense(X)
    V = CooMatrix(W.rows, W.cols, rng.standard_normal(W.nnz), W.shape)
    assert np.array_equal(ch3_l3_top_k(W, 40, kernels=kernels),
                          ch3_l3_top_k(V, 40, kernels=kernels))


def test_bad_input():
    W = CooMatrix.from_dense(FIXTURE)
    for k in (-1, 2.5, True):
        with pytest.raises(ValueError, match="k must"):
            ch3_l3_top_k(W, k)
    with pytest.raises(ValueError, match="CooMatrix"):
        ch3_l3_scores(FIXTURE)
    broken = CooMatrix(np.array([1, 0]), np.array([0, 0]), np.array([1.0, 1.0]), (2, 2))
    with pytest.raises(ValueError, match="sorted"):
        ch3_l3_top_k(broken, 1)
