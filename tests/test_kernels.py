"""COO kernels against dense numpy, on both backends and both dtypes."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from _tolerances import ATOL, RTOL
from refset import CooMatrix, erdos_renyi_layer


def _layer(rng, n_in, n_out, eps, dtype):
    W = erdos_renyi_layer(n_in, n_out, eps, rng, dtype=np.dtype(dtype))
    return W, W.to_dense()


@pytest.mark.parametrize("n_in,n_out,B", [(50, 40, 1), (97, 64, 7), (300, 200, 32), (10, 3, 128),
                                        (300, 200, 128)])
@pytest.mark.parametrize("order", ["canonical", "destination", "shuffled"])
def test_kernels_match_dense(kernels, dtype, global_seed, n_in, n_out, B, order):
    rng = np.random.default_rng(global_seed)
    W, dense = _layer(rng, n_in, n_out, 3.0, dtype)
    X = rng.standard_normal((n_in, B)).astype(dtype)
    D = rng.standard_normal((n_out, B)).astype(dtype)
    rows, cols, vals = W.rows, W.cols, W.values
    if order == "destination":
        p = np.lexsort((rows, cols))
    elif order == "shuffled":
        p = rng.permutation(W.nnz)
    else:
        p = np.arange(W.nnz)
    r, c, v = rows[p], cols[p], vals[p]
    tol = dict(rtol=RTOL[dtype], atol=ATOL[dtype] * np.sqrt(n_in + n_out))

    out = np.full((n_out, B), np.nan, dtype=dtype)      # garbage must be overwritten
    assert kernels.coo_forward(X, r, c, v, out) is out
    assert_allclose(out, dense.T @ X, **tol)

    back = np.full((n_in, B), np.nan, dtype=dtype)
    kernels.coo_backward(D, r, c, v, back)
    assert_allclose(back, dense @ D, **tol)

    g = np.full(W.nnz, np.nan, dtype=dtype)
    kernels.coo_gradient(X, D, r, c, g)
    assert_allclose(g, (X @ D.T)[r, c], **tol)           # only on existing links


def test_threads_give_same_result(kernels, dtype, global_seed):
    rng = np.random.default_rng(global_seed)
    W, dense = _layer(rng, 400, 300, 20.0, dtype)         # > 4096 links: threaded path
    X = rng.standard_normal((400, 5)).astype(dtype)
    D = rng.standard_normal((300, 5)).astype(dtype)
    p = np.lexsort((W.rows, W.cols))
    for threads in (1, 2):
        out = kernels.coo_forward(X, W.rows[p], W.cols[p], W.values[p],
                                  np.empty((300, 5), dtype), threads)
        assert_allclose(out, dense.T @ X, rtol=RTOL[dtype], atol=ATOL[dtype] * 30)
        back = kernels.coo_backward(D, W.rows, W.cols, W.values, np.empty((400, 5), dtype), threads)
        assert_allclose(back, dense @ D, rtol=RTOL[dtype], atol=ATOL[dtype] * 30)
        g = kernels.coo_gradient(X, D, W.rows, W.cols, np.empty(W.nnz, dtype), threads)
        assert_allclose(g, (X @ D.T)[W.rows, W.cols], rtol=RTOL[dtype], atol=ATOL[dtype] * 30)


@pytest.mark.parametrize("n_in,n_out,B,eps", [(120, 90, 16, 5.0), (120, 90, 128, 5.0),
                                            (2200, 2100, 128, 20.0)])
def test_backends_agree(dtype, global_seed, n_in, n_out, B, eps):
    """The compiled kernels reproduce their numpy twins (the specification) on canonical and
    destination-sorted links, and the fused update.  B = 128 takes the compiled
    fixed-width accumulator path; 2200 x 128 activations are more than 1 MiB, which switches
    software prefetching on (links in cache tiles: the next test)."""
    from refset import get_kernels
    from refset.kernels import backend as _backend

    if not _backend.compiled_available():
        pytest.skip("compiled extension not built")
    cy, ref = get_kernels("cython"), get_kernels("numpy")
    rng = np.random.default_rng(global_seed)
    W, _ = _layer(rng, n_in, n_out, eps, dtype)
    X = rng.standard_normal((n_in, B)).astype(dtype)
    D = rng.standard_normal((n_out, B)).astype(dtype)
    by_col = np.lexsort((W.rows, W.cols))
    for p in (np.arange(W.nnz), by_col):
        args = (W.rows[p], W.cols[p], W.values[p])
        for name, inp, n in (("coo_forward", X, n_out), ("coo_backward", D, n_in)):
            a = getattr(cy, name)(inp, *args, np.empty((n, B), dtype))
            b = getattr(ref, name)(inp, *args, np.empty((n, B), dtype))
            assert_allclose(a, b, rtol=RTOL[dtype], atol=ATOL[dtype])
    a = cy.coo_gradient(X, D, W.rows, W.cols, np.empty(W.nnz, dtype))
    b = ref.coo_gradient(X, D, W.rows, W.cols, np.empty(W.nnz, dtype))
    assert_allclose(a, b, rtol=RTOL[dtype], atol=ATOL[dtype])
    fused = []
    for kern in (cy, ref):
        w, v, out = W.values.copy(), np.full(W.nnz, 0.5, dtype), np.empty((n_in, B), dtype)
        kern.coo_backward_update(X, D, W.rows, W.cols, w, v, out, 0.01, 0.9, 1e-3, True)
        fused.append((w, v, out))
    for x, y in zip(*fused):
        assert_allclose(x, y, rtol=RTOL[dtype], atol=ATOL[dtype])
    for coupled in (True, False):
        states = [(W.values.copy(), np.full(W.nnz, 0.5, dtype)) for _ in range(2)]
        for kern, (w, v) in zip((cy, ref), states):
            kern.sgd_update(w, v, a, 0.01, 0.9, 1e-3, coupled)
        assert_allclose(states[0][0], states[1][0], rtol=RTOL[dtype], atol=ATOL[dtype])
        assert_allclose(states[0][1], states[1][1], rtol=RTOL[dtype], atol=ATOL[dtype])


def test_tiled_order_matches_twin_on_any_thread_count(dtype, global_seed):
    """Links in cache tiles (sorted by column within segments, refset.estimator.mlp.forward_order):
    the compiled forward sums each tile's run separately, so it matches the twin to
    rounding, and two threads reproduce one thread bit for bit."""
    from refset import get_kernels
    from refset.kernels import backend as _backend
    from refset.estimator.mlp import forward_order

    if not _backend.compiled_available():
        pytest.skip("compiled extension not built")
    cy, ref = get_kernels("cython"), get_kernels("numpy")
    rng = np.random.default_rng(global_seed)
    W, dense = _layer(rng, 2200, 2100, 20.0, dtype)
    X = rng.standard_normal((2200, 128)).astype(dtype)
    tile_rows, p = forward_order(W, 128, np.dtype(dtype).itemsize)
    assert tile_rows < 2200                               # really tiled
    r, c, v = W.rows[p], W.cols[p], W.values[p]
    one = cy.coo_forward(X, r, c, v, np.empty((2100, 128), dtype), 1)
    two = cy.coo_forward(X, r, c, v, np.empty((2100, 128), dtype), 2)
    assert_array_equal(one, two)
    assert_allclose(one, ref.coo_forward(X, r, c, v, np.empty((2100, 128), dtype)),
                    rtol=RTOL[dtype], atol=ATOL[dtype] * 50)
    assert_allclose(one, dense.T @ X, rtol=RTOL[dtype], atol=ATOL[dtype] * 50)


def test_empty_layer_and_empty_batch(kernels, dtype):
    e = np.empty(0, np.int64)
    out = kernels.coo_forward(np.ones((3, 2), dtype), e, e, np.empty(0, dtype), np.ones((4, 2), dtype))
    assert np.all(out == 0)
    W = CooMatrix(np.array([0, 2]), np.array([1, 0]), np.array([1.0, 2.0], dtype), (3, 2))
    g = kernels.coo_gradient(np.ones((3, 0), dtype), np.ones((2, 0), dtype), W.rows, W.cols,
                             np.ones(2, dtype))
    assert np.all(g == 0)


@pytest.mark.parametrize("coupled", [True, False])
def test_sgd_update_matches_formula(kernels, dtype, coupled, global_seed):
    rng = np.random.default_rng(global_seed)
    w0, v0, g = (rng.standard_normal(1000).astype(dtype) for _ in range(3))
    w, v = w0.copy(), v0.copy()
    kernels.sgd_update(w, v, g, 0.01, 0.9, 2e-4, coupled)
    w0, v0, g = (a.astype(np.float64) for a in (w0, v0, g))
    if coupled:
        v_ref = 0.9 * v0 - 0.01 * (g + 2e-4 * w0)
        w_ref = w0 + v_ref
    else:
        v_ref = 0.9 * v0 - 0.01 * g
        w_ref = w0 + v_ref - 2e-4 * w0
    assert_allclose(v, v_ref, rtol=RTOL[dtype], atol=ATOL[dtype])
    assert_allclose(w, w_ref, rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("B", [1, 2, 3, 16, 33])
@pytest.mark.parametrize("order", ["canonical", "shuffled"])
@pytest.mark.parametrize("threads", [1, 2])
def test_backward_update_is_backward_gradient_update(kernels, dtype, global_seed, B, order, threads):
    """The fused kernel equals the three kernels it replaces (all paths: B = 2 registers,
    generic B, unsorted links, threads, no propagation)."""
    rng = np.random.default_rng(global_seed)
    W, dense = _layer(rng, 300, 200, 10.0, dtype)            # > 4096 links: threaded path
    p = np.arange(W.nnz) if order == "canonical" else rng.permutation(W.nnz)
    rows, cols = W.rows[p], W.cols[p]
    X = rng.standard_normal((300, B)).astype(dtype)
    D = rng.standard_normal((200, B)).astype(dtype)
    v0 = rng.standard_normal(W.nnz).astype(dtype)
    tol = dict(rtol=RTOL[dtype], atol=ATOL[dtype] * 30)
    for coupled in (True, False):
        w, v = W.values[p].copy(), v0.copy()
        out = np.full((300, B), np.nan, dtype)
        assert kernels.coo_backward_update(X, D, rows, cols, w, v, out, 0.01, 0.9, 1e-3,
                                           coupled, threads) is out
        assert_allclose(out, dense @ D, **tol)               # the weights before the update
        g = (X @ D.T)[rows, cols]
        v_ref = 0.9 * v0 - 0.01 * (g + (1e-3 * W.values[p] if coupled else 0))
        w_ref = W.values[p] + v_ref - (0 if coupled else 1e-3 * W.values[p])
        assert_allclose(v, v_ref, **tol)
        assert_allclose(w, w_ref, **tol)
        w2, v2 = W.values[p].copy(), v0.copy()
        assert kernels.coo_backward_update(X, D, rows, cols, w2, v2, None, 0.01, 0.9, 1e-3,
                                           coupled, threads) is None
        assert_array_equal(w2, w)
        assert_array_equal(v2, v)


def test_fused_training_equals_unfused(dtype, global_seed):
    """SparseMLP's fused backward + update reproduces backward, then update."""
    from refset import SparseMLP, get_kernels

    rng = np.random.default_rng(global_seed)
    X = rng.standard_normal((40, 30)).astype(dtype)
    y = np.arange(40) % 3
    for backend in ("numpy", "cython"):
        if backend == "cython" and not __import__("refset").kernels.compiled_available():
            continue
        kernels = get_kernels(backend)
        a = SparseMLP((20, 20), epsilon=3, epochs=1, dtype=dtype, seed=global_seed).fit(X, y)
        b = SparseMLP((20, 20), epsilon=3, epochs=1, dtype=dtype, seed=global_seed).fit(X, y)
        A = np.ascontiguousarray(X[:2].T)
        Y = a._one_hot(y[:2], X.dtype)
        acts, masks = a._forward(A, kernels)
        _, delta = a._loss_delta(acts[-1], Y)
        a._backward_update(acts, masks, delta, kernels, 0.05)
        b._sgd_update(b._backward(acts, masks, delta, kernels), kernels, 0.05)
        # numpy: the twin is the composition, so bit for bit; compiled: the same operations
        # in one loop, where the C compiler may contract a multiply-add differently
        same = assert_array_equal if backend == "numpy" else (
            lambda x, y: assert_allclose(x, y, rtol=RTOL[dtype], atol=ATOL[dtype]))
        for la, lb, (va, _), (vb, _) in zip(a.layers_, b.layers_, a.velocities_, b.velocities_):
            same(la.values, lb.values)
            same(va, vb)
        for ba, bb in zip(a.biases_, b.biases_):
            same(ba, bb)


@pytest.mark.parametrize("B", [2, 16, 128])
def test_coo_forward_reads_weights_through_perm(kernels, dtype, global_seed, B):
    """``coo_forward(..., perm)`` reads link k's weight as ``values[perm[k]]``: the same result
    as gathering the values first (bit for bit), on links in column or tiled order."""
    from refset.estimator.layout import tiled_order

    rng = np.random.default_rng(global_seed)
    W, _ = _layer(rng, 300, 200, 8.0, dtype)
    X = rng.standard_normal((300, B)).astype(dtype)
    for tile_rows in (300, 70):
        perm = tiled_order(W, tile_rows)
        rows, cols = W.rows[perm], W.cols[perm]
        a = kernels.coo_forward(X, rows, cols, W.values, np.empty((200, B), dtype), 1, perm)
        b = kernels.coo_forward(X, rows, cols, W.values[perm], np.empty((200, B), dtype), 1)
        assert a.tobytes() == b.tobytes()
    with pytest.raises(ValueError, match="inconsistent"):
        kernels.coo_forward(X, rows, cols, W.values, np.empty((200, B), dtype), 1, perm[:-1])
