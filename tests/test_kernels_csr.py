"""Row-compressed (CSR) kernels: against the COO kernels and dense numpy, on both backends."""
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from _tolerances import ATOL, RTOL
from refset import erdos_renyi_layer
from refset.kernels.csr import MAX_COLUMNS, csr_index, csr_rows

SHAPES = [(50, 40, 1), (97, 64, 2), (300, 200, 2), (20, 300, 2), (300, 7, 2), (120, 90, 3),
          (10, 3, 16), (300, 200, 33), (2200, 2100, 32), (300, 200, 128), (40, 30, 32)]


def _case(rng, n_in, n_out, B, dtype, eps=8.0, zero_rows=0.3):
    """A layer, its CSR index, and activations with some all-zero rows (as after a ReLU)."""
    W = erdos_renyi_layer(n_in, n_out, min(eps, n_in * n_out / (n_in + n_out)), rng,
                          dtype=np.dtype(dtype))
    indptr, indices = csr_index(W.rows, W.cols, n_in, n_out)
    X = rng.standard_normal((n_in, B)).astype(dtype)
    X[X < -1] = 0                                   # some zeros in rows that are not all zero
    X[rng.random(n_in) < zero_rows] = 0
    D = rng.standard_normal((n_out, B)).astype(dtype)
    return W, indptr, indices, X, D


def test_csr_index_round_trip(global_seed):
    rng = np.random.default_rng(global_seed)
    W = erdos_renyi_layer(40, 30, 5, rng)
    indptr, indices = csr_index(W.rows, W.cols, 40, 30)
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    assert_array_equal(csr_rows(indptr), W.rows)
    assert_array_equal(indices, W.cols)
    with pytest.raises(ValueError, match="sorted"):
        csr_index(W.rows[::-1], W.cols[::-1], 40, 30)
    with pytest.raises(ValueError, match="n_out"):
        csr_index(W.rows, W.cols, 40, MAX_COLUMNS + 1)


@pytest.mark.parametrize("n_in,n_out,B", SHAPES)
def test_csr_forward_equals_dense_and_canonical_coo(kernels, dtype, global_seed, n_in, n_out,
                                                   B):
    """Wᵀ X; on the compiled backend bit-identical to coo_forward on canonical links (each
    output summed in row order), which is what lets one and two threads agree."""
    rng = np.random.default_rng(global_seed)
    W, indptr, indices, X, _ = _case(rng, n_in, n_out, B, dtype)
    out = kernels.csr_forward(X, indptr, indices, W.values, np.full((n_out, B), np.nan, dtype))
    assert_allclose(out, W.to_dense().T @ X, rtol=RTOL[dtype], atol=ATOL[dtype])
    coo = kernels.coo_forward(X, W.rows, W.cols, W.values, np.empty((n_out, B), dtype))
    if kernels.name == "cython":
        assert_array_equal(out, coo)
    else:
        assert_allclose(out, coo, rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("n_in,n_out,B", SHAPES)
@pytest.mark.parametrize("coupled", [True, False])
@pytest.mark.parametrize("threads", [1, 2])
def test_csr_backward_update(kernels, dtype, global_seed, n_in, n_out, B, coupled, threads):
    """The fused step: W D with the old weights through ReLU' (0 where X is not > 0), one SGD
    step with the gradient on the links, and the next batch's forward product if asked."""
    rng = np.random.default_rng(global_seed)
    W, indptr, indices, X, D = _case(rng, n_in, n_out, B, dtype)
    X_next = rng.standard_normal((n_in, B + 1)).astype(dtype)
    X_next[rng.random(n_in) < 0.3] = 0
    w, v = W.values.copy(), rng.standard_normal(W.nnz).astype(dtype)
    v0 = v.copy()
    out = np.full((n_in, B), np.nan, dtype)
    out_next = np.full((n_out, B + 1), np.nan, dtype)
    kernels.csr_backward_update(X, D, indptr, indices, w, v, out, 0.05, 0.9, 1e-3, coupled,
                                threads, X_next=X_next, out_next=out_next)
    dense = W.to_dense()
    expect = dense @ D
    expect[~(X > 0)] = 0
    assert_allclose(out, expect, rtol=RTOL[dtype], atol=ATOL[dtype])
    g = np.einsum("kb,kb->k", X[W.rows], D[W.cols])
    lr, mu, lam = (np.dtype(dtype).type(x) for x in (0.05, 0.9, 1e-3))
    if coupled:
        v_exp = mu * v0 - lr * (g + lam * W.values)
        w_exp = W.values + v_exp
    else:
        v_exp = mu * v0 - lr * g
        w_exp = W.values + (v_exp - lam * W.values)
    assert_allclose(v, v_exp, rtol=RTOL[dtype], atol=ATOL[dtype])
    assert_allclose(w, w_exp, rtol=RTOL[dtype], atol=ATOL[dtype])
    new = dense.copy()
    new[W.rows, W.cols] = w
    assert_allclose(out_next, new.T @ X_next, rtol=RTOL[dtype], atol=ATOL[dtype])


@pytest.mark.parametrize("B", [2, 5, 32])
def test_csr_backward_update_fused_forward_is_the_forward(kernels, dtype, global_seed, B):
    """The fused next-batch product is csr_forward on the updated weights, bit for bit."""
    rng = np.random.default_rng(global_seed)
    W, indptr, indices, X, D = _case(rng, 300, 200, B, dtype)
    X_next = rng.standard_normal((300, B)).astype(dtype)
    X_next[rng.random(300) < 0.3] = 0
    states = []
    for fused in (True, False):
        w, v = W.values.copy(), np.zeros(W.nnz, dtype)
        out_next = np.empty((200, B), dtype)
        extra = {"X_next": X_next, "out_next": out_next} if fused else {}
        kernels.csr_backward_update(X, D, indptr, indices, w, v, None, 0.05, 0.9, 1e-3, False,
                                    **extra)
        if not fused:
            kernels.csr_forward(X_next, indptr, indices, w, out_next)
        states.append((w, v, out_next))
    for a, b in zip(*states):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("B", [2, 9])
def test_csr_backward_update_threads_agree_bitwise(dtype, global_seed, B):
    """Each thread takes whole rows, so one and two threads give the same bits."""
    from refset import get_kernels
    from refset.kernels import backend as _backend

    if not _backend.compiled_available():
        pytest.skip("compiled extension not built")
    cy = get_kernels("cython")
    rng = np.random.default_rng(global_seed)
    W, indptr, indices, X, D = _case(rng, 3000, 2000, B, dtype, eps=10.0)
    states = []
    for threads in (1, 2):
        w, v, out = W.values.copy(), np.zeros(W.nnz, dtype), np.empty((3000, B), dtype)
        cy.csr_backward_update(X, D, indptr, indices, w, v, out, 0.05, 0.9, 1e-3, True, threads)
        states.append((w, v, out))
    for a, b in zip(*states):
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("consecutive", [False, True])
def test_b2_lanes_are_the_specified_order(dtype, global_seed, consecutive):
    """At B = 2 the compiled propagation sums each row in eight interleaved partial sums,
    ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7)) (refset_kernels.h), and every link takes
    the SGD step of REFSET_SGD: check both exactly on rows of every length 0..25, where the
    tail lanes matter, with columns at random or consecutive (the rows of a dense layer)."""
    from refset import get_kernels
    from refset.kernels import backend as _backend

    if not _backend.compiled_available():
        pytest.skip("compiled extension not built")
    cy = get_kernels("cython")
    rng = np.random.default_rng(global_seed)
    n_out = 40
    lengths = np.arange(26)
    rows = np.repeat(np.arange(lengths.size), lengths)
    if consecutive:
        starts = [rng.integers(0, n_out - n + 1) for n in lengths]
        cols = np.concatenate([s + np.arange(n) for s, n in zip(starts, lengths)])
    else:
        cols = np.concatenate([np.sort(rng.choice(n_out, n, replace=False)) for n in lengths])
    indptr, indices = csr_index(rows, cols, lengths.size, n_out)
    T = np.dtype(dtype).type
    w = (rng.standard_normal(rows.size) * 10.0 ** rng.integers(-3, 4, rows.size)).astype(dtype)
    v = rng.standard_normal(rows.size).astype(dtype)
    X = np.abs(rng.standard_normal((lengths.size, 2))).astype(dtype) + 0.5   # all > 0
    D = rng.standard_normal((n_out, 2)).astype(dtype)
    out = np.empty((lengths.size, 2), dtype)
    lr, mu, lam = T(0.05), T(0.9), T(1e-3)
    w1, v1 = w.copy(), v.copy()
    cy.csr_backward_update(X, D, indptr, indices, w1, v1, out, lr, mu, lam, False)
    sequential_differs = 0
    for i, n in enumerate(lengths):
        k0 = indptr[i]
        for b in range(2):
            lane, seq = [T(0)] * 8, T(0)
            for p in range(n):
                term = T(w[k0 + p] * D[indices[k0 + p], b])
                lane[p % 8] = T(lane[p % 8] + term)
                seq = T(seq + term)
            expect = T(T(T(lane[0] + lane[4]) + T(lane[1] + lane[5]))
                       + T(T(lane[2] + lane[6]) + T(lane[3] + lane[7])))
            assert out[i, b] == expect, (n, b)
            sequential_differs += bool(seq != expect)
        for k in range(k0, k0 + n):             # original style: v = mu v - lr g, w += v - lam w
            d = D[indices[k]]
            g = T(T(X[i, 0] * d[0]) + T(X[i, 1] * d[1]))
            vk = T(T(mu * v[k]) - T(lr * g))
            assert v1[k] == vk and w1[k] == T(w[k] + T(vk - T(lam * w[k]))), (n, k - k0)
    assert sequential_differs > 0          # the order is visible in these sums


@pytest.fixture
def small_tiles():
    """The compiled CSR module with 4 KiB column tiles, so that small layers are tiled."""
    from refset.kernels import backend as _backend

    if not _backend.compiled_available():
        pytest.skip("compiled extension not built")
    from refset.kernels import _csr_cy

    yield _csr_cy
    _csr_cy._tile_bytes(8 << 20)


@pytest.mark.parametrize("B", [2, 16, 32, 37])
def test_column_tiles_change_no_bit(small_tiles, dtype, global_seed, B):
    """csr_forward and the fused next product give the same bits in column tiles (a
    few columns each; B = 2 rows are narrower than a cache line and never tiled) as in one
    pass, on one thread and two; and the tiled forward matches the numpy twin to rounding."""
    from refset import get_kernels

    cy, twin = small_tiles, get_kernels("numpy")
    rng = np.random.default_rng(global_seed)
    W, indptr, indices, X, D = _case(rng, 400, 700, B, dtype, eps=12.0)
    X_next = X[rng.permutation(400)]
    cy._tile_bytes(4096)
    tiled = cy._tile_columns(700, B, np.dtype(dtype).itemsize) < 700
    assert tiled == (B > 2)
    states = []
    for tile_bytes in (8 << 20, 4096):
        cy._tile_bytes(tile_bytes)
        for threads in (1, 2):
            out = cy.csr_forward(X, indptr, indices, W.values, np.empty((700, B), dtype))
            w, v = W.values.copy(), np.zeros(W.nnz, dtype)
            prev, out_next = np.empty((400, B), dtype), np.empty((700, B), dtype)
            cy.csr_backward_update(X, D, indptr, indices, w, v, prev, 0.05, 0.9, 1e-3, True,
                                   threads, X_next=X_next, out_next=out_next)
            states.append([a.tobytes() for a in (out, w, v, prev, out_next)])
    assert all(state == states[0] for state in states[1:])
    assert_allclose(out, twin.csr_forward(X, indptr, indices, W.values, np.empty((700, B), dtype)),
                    rtol=RTOL[dtype], atol=ATOL[dtype])


def test_tile_bytes_refuses_nonpositive(small_tiles):
    with pytest.raises(ValueError, match="positive"):
        small_tiles._tile_bytes(0)


def test_shape_errors(kernels):
    W = erdos_renyi_layer(10, 8, 2, np.random.default_rng(0))
    indptr, indices = csr_index(W.rows, W.cols, 10, 8)
    X, D = np.zeros((10, 2)), np.zeros((8, 2))
    with pytest.raises(ValueError, match="inconsistent"):
        kernels.csr_forward(X, indptr[:-1], indices, W.values, np.empty((8, 2)))
    with pytest.raises(ValueError, match="X_next"):
        kernels.csr_backward_update(X, D, indptr, indices, W.values.copy(),
                                    np.zeros(W.nnz), None, 0.1, 0.9, 0.0, True, 1,
                                    X_next=X)


def test_empty_layer_and_empty_batch(kernels, dtype):
    indptr, indices = np.zeros(6, np.int64), np.zeros(0, np.int32)
    empty = np.zeros(0, dtype)
    out = kernels.csr_forward(np.ones((5, 2), dtype), indptr, indices, empty,
                              np.full((4, 2), np.nan, dtype))
    assert_array_equal(out, 0)
    W = erdos_renyi_layer(5, 4, 2, np.random.default_rng(0), dtype=np.dtype(dtype))
    indptr, indices = csr_index(W.rows, W.cols, 5, 4)
    w, v = W.values.copy(), np.ones(W.nnz, dtype)
    out = kernels.csr_backward_update(np.zeros((5, 0), dtype), np.zeros((4, 0), dtype), indptr,
                                      indices, w, v, np.empty((5, 0), dtype), 0.1, 0.5, 0.0,
                                      True)
    assert out.shape == (5, 0)
    assert_allclose(v, 0.5)                         # gradient 0: only the momentum step
    assert_allclose(w, W.values + 0.5)


@pytest.mark.parametrize("n_out", [1, 7, 8, 13, 20, 32, 33])
@pytest.mark.parametrize("coupled", [True, False])
@pytest.mark.parametrize("threads", [1, 2])
def test_full_narrow_layer_at_b2_is_exact(dtype, global_seed, n_out, coupled, threads):
    """A full layer of at most 32 columns (a dense output layer) takes its own compiled paths
    at B = 2 (refset_fwd2_full, refset_bu2_full_rows_d: sums or deltas kept in registers or
    local arrays); they give the bits of the specification: each output summed over the rows
    in order, the propagation in the eight lanes of refset_kernels.h, ReLU', and REFSET_SGD
    on every link.
    33 columns is past the limit and takes the general path, to the same bits."""
    from refset import get_kernels
    from refset.kernels import backend as _backend

    if not _backend.compiled_available():
        pytest.skip("compiled extension not built")
    cy = get_kernels("cython")
    rng = np.random.default_rng(global_seed)
    T = np.dtype(dtype).type
    n_in = 600 if threads == 2 else 45        # two threads split the rows past 4096 links
    rows = np.repeat(np.arange(n_in), n_out)
    cols = np.tile(np.arange(n_out), n_in)
    indptr, indices = csr_index(rows, cols, n_in, n_out)
    w = (rng.standard_normal(rows.size) * 10.0 ** rng.integers(-3, 4, rows.size)).astype(dtype)
    v = rng.standard_normal(rows.size).astype(dtype)
    X = rng.standard_normal((n_in, 2)).astype(dtype)
    X[X < -0.5] = 0
    X[rng.random(n_in) < 0.3] = 0                  # all-zero rows, as after a ReLU
    D = rng.standard_normal((n_out, 2)).astype(dtype)
    out_f = cy.csr_forward(X, indptr, indices, w, np.full((n_out, 2), np.nan, dtype), threads)
    out = np.full((n_in, 2), np.nan, dtype)
    w1, v1 = w.copy(), v.copy()
    lr, mu, lam = T(0.05), T(0.9), T(1e-3)
    cy.csr_backward_update(X, D, indptr, indices, w1, v1, out, lr, mu, lam, coupled, threads)
    W = w.reshape(n_in, n_out)
    for c in range(n_out):                         # forward: row order from +0
        for b in range(2):
            s = T(0)
            for i in range(n_in):
                s = T(s + T(W[i, c] * X[i, b]))
            assert out_f[c, b] == s, (c, b)
    for i in range(n_in):
        for b in range(2):
            lane = [T(0)] * 8
            for p in range(n_out):
                lane[p % 8] = T(lane[p % 8] + T(W[i, p] * D[p, b]))
            s = T(T(T(lane[0] + lane[4]) + T(lane[1] + lane[5]))
                  + T(T(lane[2] + lane[6]) + T(lane[3] + lane[7])))
            assert out[i, b] == (s if X[i, b] > 0 else 0), (i, b)
    g = (X[:, :1] * D[:, 0] + X[:, 1:] * D[:, 1]).ravel()   # x0 d0 + x1 d1 per link
    if coupled:
        v_exp = mu * v - lr * (g + lam * w)
        w_exp = w + v_exp
    else:
        v_exp = mu * v - lr * g
        w_exp = w + (v_exp - lam * w)
    assert v1.tobytes() == v_exp.astype(dtype).tobytes()
    assert w1.tobytes() == w_exp.astype(dtype).tobytes()
