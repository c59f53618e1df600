"""Paths (ALGORITHMS §4.1): enumeration, counts, sampling; the identities against brute force."""
import functools
import operator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chisquare

from refset import CooMatrix, get_kernels
from refset.algorithms import paths as P

from _networks import networks, random_network  # noqa: E402

RTOL = 1e-12



def _corner_network():
    """Breaks the isolation invariant on purpose: an input without links, a hidden neuron
    without out-links (dead end), a hidden neuron without in-links, an output without links,
    and a zero weight."""
    W0 = CooMatrix(np.array([0, 0, 1, 1], dtype=np.int64), np.array([0, 1, 1, 2], dtype=np.int64),
                   np.array([0.5, -2.0, 1.5, 0.0]), (3, 4))        # input 2: no link
    W1 = CooMatrix(np.array([0, 1, 3], dtype=np.int64), np.array([0, 0, 1], dtype=np.int64),
                   np.array([1.0, -3.0, 0.25]), (4, 3))            # hidden 2: dead end;
    return [W0, W1]                                                # hidden 3: no in-link; out 2


def _brute_force(layers, scales):
    """Every path as a node tuple, by recursion over dense matrices, with its importance
    (factors multiplied left to right)."""
    dense = [np.abs(W.to_dense().astype(np.float64)) / s for W, s in zip(layers, scales)]
    masks = [np.zeros(W.shape, dtype=bool) for W in layers]
    for M, W in zip(masks, layers):
        M[W.rows, W.cols] = True
    out = []

    def walk(prefix, factors):
        l = len(prefix) - 1
        if l == len(layers):
            out.append((tuple(prefix), functools.reduce(operator.mul, factors)))
            return
        for v in np.flatnonzero(masks[l][prefix[-1]]):
            walk(prefix + [int(v)], factors + [dense[l][prefix[-1], v]])

    for u in range(layers[0].shape[0]):
        walk([u], [])
    return out


def _link_index(W, u, v):
    return int(np.flatnonzero((W.rows == u) & (W.cols == v))[0])


@given(layers=networks, data=st.data())
def test_enumeration_matches_brute_force(layers, data):
    scales = data.draw(st.lists(st.floats(0.1, 10.0), min_size=len(layers),
                                max_size=len(layers)))
    paths, importance = P.enumerate_paths(layers, scales, kernels=get_kernels("numpy"))
    reference = _brute_force(layers, scales)
    assert P.path_count(layers) == len(reference) == len(paths)
    nodes = P.path_nodes(layers, paths)
    assert [tuple(r) for r in nodes.tolist()] == [r[0] for r in reference]   # canonical order
    assert importance.tolist() == [r[1] for r in reference]                  # same products
    for l, W in enumerate(layers):                  # links are those between the nodes
        assert np.array_equal(W.rows[paths[:, l]], nodes[:, l])
        assert np.array_equal(W.cols[paths[:, l]], nodes[:, l + 1])


def _check_identities(layers, scales):
    paths, importance = P.enumerate_paths(layers, scales)
    nodes = P.path_nodes(layers, paths)
    total = importance.sum()
    N = P.node_importance(layers, scales)
    F, B = P.forward_sums(layers, scales), P.backward_sums(layers, scales)
    n_paths_fwd, n_paths_bwd = P.path_counts(layers, "forward"), P.path_counts(layers)
    for l in range(len(layers) + 1):
        n = N[l].size
        expected = np.bincount(nodes[:, l], weights=importance, minlength=n)
        np.testing.assert_allclose(N[l], expected, rtol=RTOL, atol=1e-300)
        np.testing.assert_allclose(N[l], F[l] * B[l], rtol=RTOL)
        np.testing.assert_allclose(N[l].sum(), total, rtol=RTOL)
        through = np.bincount(nodes[:, l], minlength=n)
        assert np.array_equal(n_paths_fwd[l] * n_paths_bwd[l], through)
    S = P.connection_importance(layers, scales)
    weakest = P.weakest_path_through_links(layers, scales)
    strongest = P.strongest_path_through_links(layers, scales)
    for l, W in enumerate(layers):
        expected = np.bincount(paths[:, l], weights=importance, minlength=W.nnz)
        np.testing.assert_allclose(S[l], expected, rtol=RTOL, atol=1e-300)
        np.testing.assert_allclose(S[l].sum(), total, rtol=RTOL)
        lo = np.full(W.nnz, np.inf)
        hi = np.full(W.nnz, -np.inf)
        np.minimum.at(lo, paths[:, l], importance)
        np.maximum.at(hi, paths[:, l], importance)
        on_path = np.isfinite(lo)
        assert np.array_equal(np.isinf(weakest[l]) & (weakest[l] > 0), ~on_path)
        assert np.all(strongest[l][~on_path] == -np.inf)
        np.testing.assert_allclose(np.exp(weakest[l][on_path]), lo[on_path], rtol=1e-12)
        np.testing.assert_allclose(np.exp(strongest[l][on_path]), hi[on_path], rtol=1e-12)
    np.testing.assert_allclose(P.total_importance(layers, scales), total, rtol=RTOL)
    assert P.path_count(layers) == len(paths)


@given(layers=networks, scale_seed=st.integers(0, 2**32 - 1))
def test_identities_equal_enumeration(layers, scale_seed):
    scales = np.random.default_rng(scale_seed).uniform(0.2, 5.0, len(layers))
    _check_identities(layers, scales)


def test_identities_on_corner_cases():
    layers = _corner_network()
    _check_identities(layers, [1.0, 2.0])
    paths, importance = P.enumerate_paths(layers)
    # paths: in0-h0-o0, in0-h1-o0, in1-h1-o0 (h1-o0 weight 3); the dead end h2 carries none
    assert P.path_nodes(layers, paths).tolist() == [[0, 0, 0], [0, 1, 0], [1, 1, 0]]
    np.testing.assert_allclose(importance, [0.5, 6.0, 4.5])
    weakest = P.weakest_path_through_links(layers)
    assert weakest[0][3] == np.inf and weakest[1][2] == np.inf      # links on no path
    counts = P.path_counts(layers)
    assert [c.tolist() for c in counts] == [[2, 1, 0], [1, 1, 0, 1], [1, 1, 1]]


def test_zero_weight_gives_minus_infinity():
    W0 = CooMatrix.from_dense(np.array([[1.0, 2.0]]))
    W1 = CooMatrix(np.array([0, 1], dtype=np.int64), np.array([0, 0], dtype=np.int64),
                   np.array([0.0, 1.0]), (2, 1))
    weakest = P.weakest_path_through_links([W0, W1])
    strongest = P.strongest_path_through_links([W0, W1])
    assert weakest[0][0] == -np.inf and weakest[1][0] == -np.inf
    assert strongest[0][0] == -np.inf and np.isclose(strongest[1][1], np.log(2.0))


def test_scales_multiply_every_path_equally(global_seed):
    layers = random_network([5, 6, 4, 3], 2.0, global_seed)
    scales = np.array([2.0, 0.5, 4.0])
    factor = 1.0 / np.prod(scales)
    for fn in (P.node_importance, P.connection_importance):
        for a, b in zip(fn(layers, scales), fn(layers)):
            np.testing.assert_allclose(a, b * factor, rtol=RTOL)
    for a, b in zip(P.weakest_path_through_links(layers, scales),
                    P.weakest_path_through_links(layers)):
        np.testing.assert_allclose(a, b + np.log(factor), rtol=RTOL, atol=1e-12)


def test_path_count_is_exact_beyond_int64():
    # 40 layers of 3 x 3 dense: 3 * 3^40 paths (> 2^63)
    W = CooMatrix.from_dense(np.ones((3, 3)))
    assert P.path_count([W] * 40) == 3**41
    counts = P.path_counts([W] * 40)
    assert counts[0].dtype == object and int(counts[0][0]) == 3**40
    forward = P.path_counts([W] * 40, "forward")
    assert int(forward[-1][0]) == 3**40


def test_path_count_int64_range():
    W = CooMatrix.from_dense(np.ones((4, 4)))
    counts = P.path_counts([W] * 28)          # 4^28 = 2^56: beyond float64's exact integers
    assert counts[0].dtype == np.int64 and int(counts[0][0]) == 4**28


def test_enumerate_refuses_large_networks():
    layers = random_network([20, 30, 30, 5], 3.0, 0)
    n = P.path_count(layers)
    with pytest.raises(ValueError, match=rf"{n} input-to-output paths.*node_importance"):
        P.enumerate_paths(layers, max_paths=n - 1)
    assert P.enumerate_paths(layers, max_paths=n)[0].shape == (n, 3)


def test_sample_paths_uniform(global_seed):
    layers = random_network([4, 5, 3, 2], 1.5, 7)
    paths, _ = P.enumerate_paths(layers)
    index = {tuple(r): i for i, r in enumerate(paths.tolist())}
    sample = P.sample_paths(layers, 20000, np.random.default_rng(global_seed))
    counts = np.bincount([index[tuple(r)] for r in sample.tolist()], minlength=len(paths))
    assert counts.sum() == 20000
    assert chisquare(counts).pvalue > 1e-4


def test_sample_paths_skips_dead_ends(global_seed):
    layers = _corner_network()
    sample = P.sample_paths(layers, 3000, np.random.default_rng(global_seed))
    nodes = P.path_nodes(layers, sample)
    valid = {(0, 0, 0), (0, 1, 0), (1, 1, 0)}
    assert {tuple(r) for r in nodes.tolist()} == valid
    assert chisquare(np.unique(nodes, axis=0, return_counts=True)[1]).pvalue > 1e-4


def test_sample_paths_same_on_both_backends(global_seed):
    from refset.kernels.backend import compiled_available

    if not compiled_available():
        pytest.skip("compiled extension not built")
    layers = random_network([30, 40, 40, 5], 5.0, global_seed)
    a, b = (P.sample_paths(layers, 5000, np.random.default_rng(global_seed),
                           kernels=get_kernels(name)) for name in ("numpy", "cython"))
    assert np.array_equal(a, b)


def test_bad_inputs():
    layers = random_network([3, 4, 2], 2.0, 0)
    with pytest.raises(ValueError, match="non-empty list"):
        P.node_importance([])
    with pytest.raises(ValueError, match="non-empty list"):
        P.node_importance(layers[0])
    with pytest.raises(ValueError, match=r"layers\[1\] has 3 inputs but layers\[0\] has 4"):
        P.node_importance([layers[0], layers[0]])
    with pytest.raises(ValueError, match="scales must hold one value per layer"):
        P.node_importance(layers, [1.0])
    for bad in ([1.0, 0.0], [1.0, -2.0], [1.0, np.inf], [1.0, np.nan]):
        with pytest.raises(ValueError, match="scales must be finite and positive"):
            P.connection_importance(layers, bad)
    with pytest.raises(ValueError, match="max_paths"):
        P.enumerate_paths(layers, max_paths=-1)
    with pytest.raises(ValueError, match="direction"):
        P.path_counts(layers, "sideways")
    with pytest.raises(ValueError, match="n must be"):
        P.sample_paths(layers, -1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="no input-to-output path"):
        W = CooMatrix(np.array([0], dtype=np.int64), np.array([0], dtype=np.int64),
                      np.array([1.0]), (1, 2))
        V = CooMatrix(np.array([1], dtype=np.int64), np.array([0], dtype=np.int64),
                      np.array([1.0]), (2, 1))
        P.sample_paths([W, V], 3, np.random.default_rng(0))
