"""Compiled kernels on the row-compressed form of a layer (the fast path of ``refset.kernels.csr``).

Every function here has a numpy twin of the same name and signature in
``refset/kernels/csr.py``; the twin is the specification and the tests compare the two.

A layer in canonical COO (links sorted by (row, column)) is already in CSR order: these
kernels read the same ``values`` (and velocities) in place, and replace the two int64 index
arrays by a row pointer ``indptr`` (n_in + 1 int64: row i's links are
``indptr[i]:indptr[i + 1]``) and int32 column ``indices``.  Per link and batch that moves
12 bytes of index instead of 16 (and none for the row), and the row's activations are
loaded once per row instead of once per link (PERFORMANCE §2.7).

Column tiles.  The forward pass adds each link's product into the row of ``out`` at the
link's column, in an order no prefetcher can guess.  When ``out`` is larger than twice
``_tile_bytes()`` (8 MiB, a share of the 32 MiB L3; a million-neuron layer's is 42 MB at
B = 32, float32), ``csr_forward`` (and the next product fused into ``csr_backward_update``)
visit the links one tile of columns at a time, the columns whose rows of ``out`` take about
``_tile_bytes()``; a row's links in a tile are a contiguous run, since columns are sorted
within a row.  The rows being summed then stay in cache instead of making a round trip to
DRAM for every link, at the price of one pass over ``X`` per tile.  Every output is still
summed over its links in row order, so tiled and untiled runs give the same bits.
Measured (333,334 x 333,334, ε = 20, one thread, medians): B = 32, float32, 484 -> 329 ms;
B = 100, 980 -> 686 ms.  The backward pass only reads its deltas at random; tiling them
did not pay (the tiles' short runs lose the link-ahead prefetch), so it is not tiled.
"""
from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset

from refset_kernels cimport (_dot, _sgd, floating, refset_pf_len, refset_prefetch32,
                             refset_prefetch_run)


cdef extern from "refset_kernels.h":
    void refset_bu2_row_f(float x0, float x1, const float* D, const int32_t* idx, float* w,
                          float* v, Py_ssize_t n, Py_ssize_t n_ahead, float* o, float lr,
                          float mu, float lam, int coupled) noexcept nogil
    void refset_bu2_row_d(double x0, double x1, const double* D, const int32_t* idx,
                          double* w, double* v, Py_ssize_t n, Py_ssize_t n_ahead, double* o,
                          double lr, double mu, double lam, int coupled) noexcept nogil
    void refset_sgd_zero_row_f(float* w, float* v, Py_ssize_t n, float lr, float mu,
                               float lam, int coupled) noexcept nogil
    void refset_sgd_zero_row_d(double* w, double* v, Py_ssize_t n, double lr, double mu,
                               double lam, int coupled) noexcept nogil
    int refset_bu_row_fixed_f(Py_ssize_t B, const float* x, const float* D, const int32_t* idx,
                              float* w, float* v, Py_ssize_t n, Py_ssize_t n_ahead, float* o,
                              float lr, float mu, float lam, int coupled,
                              Py_ssize_t pf_bytes) noexcept nogil
    int refset_bu_row_fixed_d(Py_ssize_t B, const double* x, const double* D,
                              const int32_t* idx, double* w, double* v, Py_ssize_t n,
                              Py_ssize_t n_ahead, double* o, double lr, double mu, double lam,
                              int coupled, Py_ssize_t pf_bytes) noexcept nogil
    void refset_fwd2_row_f(float x0, float x1, const int32_t* idx, const float* w,
                           Py_ssize_t n, float* out) noexcept nogil
    void refset_fwd2_row_d(double x0, double x1, const int32_t* idx, const double* w,
                           Py_ssize_t n, double* out) noexcept nogil
    const Py_ssize_t REFSET_FULL2_MAX
    void refset_sgd_zero_rows_f(const int64_t* rows, Py_ssize_t n, const int64_t* indptr,
                                float* w, float* v, float lr, float mu, float lam,
                                int coupled) noexcept nogil
    void refset_sgd_zero_rows_d(const int64_t* rows, Py_ssize_t n, const int64_t* indptr,
                                double* w, double* v, double lr, double mu, double lam,
                                int coupled) noexcept nogil
    void refset_fwd2_rows_f(const float* X, const int64_t* rows, Py_ssize_t n,
                            const int64_t* indptr, const int32_t* indices, const float* w,
                            float* out) noexcept nogil
    void refset_fwd2_rows_d(const double* X, const int64_t* rows, Py_ssize_t n,
                            const int64_t* indptr, const int32_t* indices, const double* w,
                            double* out) noexcept nogil
    void refset_bu2_rows_f(const float* X, const float* D, const int64_t* rows, Py_ssize_t n,
                           const int64_t* indptr, const int32_t* indices, Py_ssize_t k_end,
                           float* w, float* v, float* out, float lr, float mu, float lam,
                           int coupled) noexcept nogil
    void refset_bu2_rows_d(const double* X, const double* D, const int64_t* rows,
                           Py_ssize_t n, const int64_t* indptr, const int32_t* indices,
                           Py_ssize_t k_end, double* w, double* v, double* out, double lr,
                           double mu, double lam, int coupled) noexcept nogil
    void refset_bu2_rows_next_f(const float* X, const float* D, Py_ssize_t i0, Py_ssize_t i1,
                                const int64_t* indptr, const int32_t* indices,
                                Py_ssize_t k_end, float* w, float* v, float* out, float lr,
                                float mu, float lam, int coupled, const float* X_next,
                                float* out_next) noexcept nogil
    void refset_bu2_rows_next_d(const double* X, const double* D, Py_ssize_t i0,
                                Py_ssize_t i1, const int64_t* indptr, const int32_t* indices,
                                Py_ssize_t k_end, double* w, double* v, double* out,
                                double lr, double mu, double lam, int coupled,
                                const double* X_next, double* out_next) noexcept nogil
    void refset_fwd2_full_f(const float* X, const int64_t* rows, Py_ssize_t n, const float* w,
                            Py_ssize_t n_out, float* out) noexcept nogil
    void refset_fwd2_full_d(const double* X, const int64_t* rows, Py_ssize_t n,
                            const double* w, Py_ssize_t n_out, double* out) noexcept nogil
    int refset_bu2_full_rows_d(const double* X, const double* D, const int64_t* rows,
                               Py_ssize_t n, double* w, double* v, Py_ssize_t n_out,
                               double* out, double lr, double mu, double lam,
                               int coupled) noexcept nogil


cdef inline void _bu2_row(floating x0, floating x1, const floating* D, const int32_t* idx,
                          floating* w, floating* v, Py_ssize_t n, Py_ssize_t n_ahead,
                          floating* o, floating lr, floating mu, floating lam,
                          bint coupled) noexcept nogil:
    if floating is float:
        refset_bu2_row_f(x0, x1, D, idx, w, v, n, n_ahead, o, lr, mu, lam, coupled)
    else:
        refset_bu2_row_d(x0, x1, D, idx, w, v, n, n_ahead, o, lr, mu, lam, coupled)


cdef inline bint _bu_row_fixed(Py_ssize_t B, const floating* x, const floating* D,
                               const int32_t* idx, floating* w, floating* v, Py_ssize_t n,
                               Py_ssize_t n_ahead, floating* o, floating lr, floating mu,
                               floating lam, bint coupled, Py_ssize_t pf) noexcept nogil:
    """The row at a batch width with a fixed-size version (refset_kernels.h); False if none."""
    if floating is float:
        return refset_bu_row_fixed_f(B, x, D, idx, w, v, n, n_ahead, o, lr, mu, lam, coupled, pf)
    else:
        return refset_bu_row_fixed_d(B, x, D, idx, w, v, n, n_ahead, o, lr, mu, lam, coupled, pf)


cdef inline void _forward_row(const floating* x, Py_ssize_t B, const int32_t* idx,
                              const floating* w, Py_ssize_t n, floating* out, Py_ssize_t pf,
                              Py_ssize_t n_ahead) noexcept nogil:
    """out[idx[p]] += w[p] x for p in [0, n), in order, whatever x is (callers skip the rows
    whose activations are all zero beforehand: _active_rows).

    ``n_ahead``: how many links of the layer start at ``idx`` (at least ``n``), so that
    the prefetch runs eight links ahead across row ends too."""
    cdef Py_ssize_t p, b
    cdef floating v
    cdef floating* o
    if B == 2:
        if floating is float:
            refset_fwd2_row_f(x[0], x[1], idx, w, n, out)
        else:
            refset_fwd2_row_d(x[0], x[1], idx, w, n, out)
        return
    for p in range(n):
        refset_prefetch32(out, idx, p, n_ahead, pf, 1)
        v = w[p]
        o = out + <Py_ssize_t> idx[p] * B
        for b in range(B):
            o[b] += v * x[b]


cdef inline bint _full_narrow(Py_ssize_t B, Py_ssize_t n_in, Py_ssize_t n_cols,
                              Py_ssize_t nnz) noexcept nogil:
    """Whether the full narrow layer paths of refset_kernels.h apply: B = 2 and every one of
    the n_in rows links to all n_cols <= REFSET_FULL2_MAX columns (columns are distinct within
    a row, so nnz = n_in n_cols says every row is full)."""
    return B == 2 and n_cols <= REFSET_FULL2_MAX and nnz == n_in * n_cols


cdef inline bint _wide(Py_ssize_t B, Py_ssize_t itemsize) noexcept nogil:
    """Whether a row of B activations fills a cache line (64 bytes) or more."""
    return B * itemsize >= 64


cdef inline bint _row_active(const floating* x, Py_ssize_t B) noexcept nogil:
    """Whether any of the row's B activations is not zero, without a branch per element:
    sixteen at a time, with a branch after each sixteen (a row of ReLU outputs is rarely zero
    in its first sixteen, so it predicts well and a wide row is seldom read to its end)."""
    cdef Py_ssize_t b, c
    cdef int nz
    if B == 2:
        return (x[0] != 0) | (x[1] != 0)
    for c in range(0, B, 16):
        nz = 0
        for b in range(c, min(c + 16, B)):
            nz |= x[b] != 0
        if nz:
            return True
    return False


cdef Py_ssize_t _active_rows(const floating* X, Py_ssize_t B, Py_ssize_t n_rows,
                             int64_t* rows) noexcept nogil:
    """Write the rows of X (n_rows x B) with an activation that is not zero, in order, to
    ``rows``; return how many.

    Why a list first: about a quarter of a hidden layer's rows are all zero after ReLU, at
    places that change from batch to batch.  Testing each row as the product visits it costs
    a mispredicted branch for many of them, which at B = 2 (40 links of a few cycles per row)
    is about as much as the skipped work saves.  Here every row is written and the count
    advances by 0 or 1, so this loop has no data-dependent branch, and the loop over the
    list has none either.  Measured (COIL20, 3000 x 3000, B = 2, float64, one thread, the
    real activations of 480 batches, interleaved): 99 -> 88 µs a product; on the first
    layer, whose inputs have no zero rows, 53 -> 57 µs.

    Rows of a cache line or more (_wide) are all listed, and the product tests them as it
    reaches them: testing them here read the activations once more (3312 x 3000, B = 128,
    float64: 4 % of the product), a wide row is rarely zero (so the test predicts well), and
    its work dwarfs a mispredicted branch.
    """
    cdef Py_ssize_t i, n = 0
    if _wide(B, sizeof(floating)):
        for i in range(n_rows):
            rows[i] = i
        return n_rows
    for i in range(n_rows):
        rows[n] = i
        n += _row_active(X + i * B, B)
    return n


cdef Py_ssize_t _TILE_BYTES = 8 << 20


def _tile_bytes(n=None):
    """The column-tile size in bytes (module docstring); with ``n``, set it and return the
    previous size.  A tuning and testing hook: results never depend on it."""
    global _TILE_BYTES
    old = _TILE_BYTES
    if n is not None:
        if n < 1:
            raise ValueError(f"n must be a positive number of bytes, got {n}")
        _TILE_BYTES = n
    return old


cdef inline Py_ssize_t _tile_cols(Py_ssize_t n_cols, Py_ssize_t B, Py_ssize_t elem) noexcept nogil:
    """Columns per tile for a randomly visited (n_cols, B) array: n_cols (one tile) unless
    the array is larger than two tiles and its rows are at least a cache line (the B = 2
    training pass never tiles)."""
    cdef Py_ssize_t row = B * elem
    if row < 64 or n_cols * row <= 2 * _TILE_BYTES:
        return n_cols
    return max(1, _TILE_BYTES // row)


def _tile_columns(Py_ssize_t n_cols, Py_ssize_t B, Py_ssize_t itemsize):
    """Columns per tile of an (n_cols, B) array of ``itemsize``-byte elements (n_cols: not
    tiled), as the kernels choose them; for tests and benchmarks."""
    return _tile_cols(n_cols, B, itemsize)


cdef inline Py_ssize_t _tile_end(const int32_t* indices, Py_ssize_t k, Py_ssize_t k1,
                                 Py_ssize_t c1) noexcept nogil:
    """The end of the run of links from ``k`` (before ``k1``) whose columns are below ``c1``."""
    while k < k1 and indices[k] < c1:
        k += 1
    return k


cdef void _forward(const floating* X, Py_ssize_t B, const int64_t* indptr,
                   const int32_t* indices, const floating* values, Py_ssize_t n_in,
                   floating* out, Py_ssize_t n_cols, Py_ssize_t tile, Py_ssize_t pf,
                   int64_t* rows) noexcept nogil:
    """The product of csr_forward into a zeroed ``out``, over the rows whose activations are
    not all zero, in order: untiled when ``tile`` >= ``n_cols``, otherwise one column tile
    at a time.  ``rows``: scratch for n_in entries, 2 n_in when tiled (the second half holds
    each row's cursor).  Each output's sum is taken over its links in row order either way."""
    cdef Py_ssize_t a, i, k, k0, c1 = 0
    cdef Py_ssize_t n = _active_rows(X, B, n_in, rows)
    cdef int64_t* cur = rows + n_in
    cdef bint test = _wide(B, sizeof(floating))      # rows not tested by _active_rows
    if _full_narrow(B, n_in, n_cols, indptr[n_in]):
        if floating is float:
            refset_fwd2_full_f(X, rows, n, values, n_cols, out)
        else:
            refset_fwd2_full_d(X, rows, n, values, n_cols, out)
        return
    if tile >= n_cols and B == 2:         # one C loop over the rows (refset_fwd2_rows)
        if floating is float:
            refset_fwd2_rows_f(X, rows, n, indptr, indices, values, out)
        else:
            refset_fwd2_rows_d(X, rows, n, indptr, indices, values, out)
        return
    if tile >= n_cols:
        for a in range(n):
            i = rows[a]
            if test and not _row_active(X + i * B, B):
                continue
            _forward_row(X + i * B, B, indices + indptr[i], values + indptr[i],
                         indptr[i + 1] - indptr[i], out, pf, indptr[n_in] - indptr[i])
        return
    for a in range(n):
        cur[a] = indptr[rows[a]]
    while c1 < n_cols:
        c1 = min(c1 + tile, n_cols)
        for a in range(n):
            i = rows[a]
            k0 = cur[a]
            if pf and a + 1 < n:
                refset_prefetch_run(out, indices, cur[a + 1], indptr[rows[a + 1] + 1], c1, pf, 1)
            k = _tile_end(indices, k0, indptr[i + 1], c1)
            if k > k0:
                if not test or _row_active(X + i * B, B):
                    _forward_row(X + i * B, B, indices + k0, values + k0, k - k0, out, pf,
                                 k - k0)
                cur[a] = k


cdef int64_t* _row_scratch(Py_ssize_t n_in, bint tiled) except NULL:
    """Scratch for _forward (free it with free())."""
    cdef int64_t* rows = <int64_t*> malloc(max(1, (2 if tiled else 1) * n_in) * sizeof(int64_t))
    if rows == NULL:
        raise MemoryError(f"no memory for the row list of a layer with {n_in} rows")
    return rows


cdef void _check(str name, Py_ssize_t n_rows, const int64_t[::1] indptr, Py_ssize_t nnz,
                 Py_ssize_t n_cols, Py_ssize_t n_idx) except *:
    if indptr.shape[0] != n_rows + 1 or n_idx != nnz:
        raise ValueError(f"{name}: inconsistent shapes")
    if indptr[0] != 0 or indptr[n_rows] != nnz:
        raise ValueError(f"{name}: indptr must run from 0 to nnz = {nnz}")


def csr_forward(const floating[:, ::1] X, const int64_t[::1] indptr,
                const int32_t[::1] indices, const floating[::1] values, floating[:, ::1] out,
                int threads=1):
    """out = Wᵀ X for feature-major X of shape (n_in, B); out has shape (n_out, B).

    Row by row, each link adds ``values[k] X[i]`` into its output row: every output's sum is
    taken over its links in row order, the same sums as ``coo_forward`` on canonical links.
    A row whose activations are all zero adds nothing and is skipped (ReLU silences about
    half of a hidden layer): its products are zeros, and adding a zero to a sum that
    started at +0 never changes it (IEEE 754, round to nearest), so the result is the same
    for finite weights.  Scatters into the outputs, so it runs on one thread whatever
    ``threads`` says (SparseMLP reads the links by column on two threads).  At B = 2 a full
    layer of at most 32 columns (a dense output layer) keeps its sums in local arrays, in
    registers with AVX-512 (``refset_fwd2_full``): the same sums in the same order.
    """
    cdef Py_ssize_t n_in = X.shape[0], B = X.shape[1], n_out = out.shape[0]
    cdef Py_ssize_t nnz = values.shape[0]
    cdef Py_ssize_t pf, tile
    cdef int64_t* rows
    if out.shape[1] != B:
        raise ValueError("csr_forward: inconsistent shapes")
    _check("csr_forward", n_in, indptr, nnz, n_out, indices.shape[0])
    if nnz == 0 or B == 0:
        out[:, :] = 0
        return out.base
    pf = refset_pf_len(n_out, B, sizeof(floating)) * <Py_ssize_t> sizeof(floating)
    tile = _tile_cols(n_out, B, sizeof(floating))
    rows = _row_scratch(n_in, tile < n_out)
    with nogil:
        memset(&out[0, 0], 0, n_out * B * sizeof(floating))
        _forward(&X[0, 0], B, &indptr[0], &indices[0], &values[0], n_in, &out[0, 0], n_out,
                 tile, pf, rows)
        free(rows)
    return out.base


cdef inline void _backward_update_row(const floating* x, const floating* D,
                                     const int32_t* idx, floating* w, floating* v,
                                     Py_ssize_t n, Py_ssize_t n_ahead, floating* o,
                                     Py_ssize_t B, floating lr, floating mu, floating lam,
                                     bint coupled, Py_ssize_t pf) noexcept nogil:
    """One row whose activations ``x`` are not all zero: propagate with the old weights into
    ``o`` (or not, when NULL) through ReLU', then gradient, then the SGD step, link by link.
    ``n_ahead``: links of the layer from the row's first on (the prefetch looks across
    rows)."""
    cdef Py_ssize_t p, b
    cdef floating wk, g
    cdef const floating* d
    if B == 2:
        _bu2_row(x[0], x[1], D, idx, w, v, n, n_ahead, o, lr, mu, lam, coupled)
    elif not _bu_row_fixed(B, x, D, idx, w, v, n, n_ahead, o, lr, mu, lam, coupled, pf):
        for p in range(n):                 # B other than 2, 32, 128
            refset_prefetch32(D, idx, p, n_ahead, pf, 0)
            wk = w[p]
            d = D + <Py_ssize_t> idx[p] * B
            if o != NULL:
                for b in range(B):
                    o[b] += wk * d[b]
            g = _dot(x, d, B)
            _sgd(&w[p], &v[p], g, lr, mu, lam, coupled)
    if o != NULL:                      # through ReLU': 0 where the activation is not > 0
        for b in range(B):
            o[b] = o[b] if x[b] > 0 else 0


cdef inline void _sgd_zero_row(floating* w, floating* v, Py_ssize_t n, floating lr,
                               floating mu, floating lam, bint coupled) noexcept nogil:
    """The SGD step of a row whose activations are all zero (all its gradients are 0)."""
    if floating is float:
        refset_sgd_zero_row_f(w, v, n, lr, mu, lam, coupled)
    else:
        refset_sgd_zero_row_d(w, v, n, lr, mu, lam, coupled)


cdef void _backward_update_rows(const floating* X, const floating* D, const int64_t* indptr,
                                const int32_t* indices, floating* values,
                                floating* velocity, floating* out, Py_ssize_t i0,
                                Py_ssize_t i1, Py_ssize_t B, floating lr, floating mu,
                                floating lam, bint coupled, Py_ssize_t pf,
                                const floating* X_next, floating* out_next, Py_ssize_t B_next,
                                Py_ssize_t pf_next, int64_t* rows,
                                Py_ssize_t full_cols) noexcept nogil:
    """Rows [i0, i1): propagate with the old weights (through ReLU'), then gradient, then the
    SGD step; then, when ``X_next`` is not NULL, the row's share of the next batch's forward
    product with the new weights.

    A row whose activations are all zero has zero gradients and a zero row in ``out``: only
    its SGD step runs.  Without ``X_next`` the rows are sorted first, as in _active_rows and
    for the same reason, into those with activations (``rows[0:a]``, in order) and those
    without (``rows[a:n]``), and each kind is done in one loop: rows are independent, so
    their order changes no result.  With ``X_next`` the next product's sums must run in row
    order, so the rows are taken in order and each is tested as it comes.  ``rows``: scratch
    for the layer's rows (this range uses ``rows[i0:i1]``).  Measured as for _active_rows,
    3000 x 3000 and 3000 x 20: 145 -> 138 and 84 -> 66 µs a call.

    ``full_cols``: n_out when the layer is full and narrow at B = 2 (every row links to all
    n_out <= REFSET_FULL2_MAX columns), else 0: the rows with activations then go through
    refset_bu2_full_rows_d, which keeps the deltas in registers (same bits).

    At B = 2 the rows with activations (and, with ``X_next`` at B' = 2, the whole range) go
    to one C loop, refset_bu2_rows / refset_bu2_rows_next, instead of a call of
    _backward_update_row a row (see refset_kernels.h for what that measured)."""
    cdef Py_ssize_t i, q, q0, k0, k1, a = 0, z = 0, n = i1 - i0
    cdef const floating* x
    cdef int nz
    cdef Py_ssize_t k_end = indptr[i1]     # prefetches look ahead across rows up to here
    if X_next == NULL:
        rows += i0                         # threads take disjoint ranges of the scratch
        for i in range(i0, i1):            # no data-dependent branch: see _active_rows
            nz = _row_active(X + i * B, B)
            rows[a] = i
            rows[n - 1 - z] = i
            a += nz
            z += 1 - nz
        q0 = 0                             # the first active row left to do
        if floating is double:
            if full_cols and refset_bu2_full_rows_d(X, D, rows, a, values, velocity, full_cols,
                                                    out, lr, mu, lam, coupled):
                q0 = a                     # all done (0 from a build without AVX-512)
        if B == 2:                         # one C loop over the rows (refset_bu2_rows)
            if floating is float:
                refset_bu2_rows_f(X, D, rows + q0, a - q0, indptr, indices, k_end, values,
                                  velocity, out, lr, mu, lam, coupled)
            else:
                refset_bu2_rows_d(X, D, rows + q0, a - q0, indptr, indices, k_end, values,
                                  velocity, out, lr, mu, lam, coupled)
        else:
            for q in range(q0, a):
                i = rows[q]
                k0 = indptr[i]
                _backward_update_row(X + i * B, D, indices + k0, values + k0, velocity + k0,
                                     indptr[i + 1] - k0, k_end - k0,
                                     out + i * B if out != NULL else NULL, B, lr, mu, lam,
                                     coupled, pf)
        if floating is float:              # the rows without activations: the SGD step
            refset_sgd_zero_rows_f(rows + a, n - a, indptr, values, velocity, lr, mu, lam,
                                   coupled)
        else:
            refset_sgd_zero_rows_d(rows + a, n - a, indptr, values, velocity, lr, mu, lam,
                                   coupled)
        return
    if B == 2 and B_next == 2:             # one C loop over the rows (refset_bu2_rows_next)
        if floating is float:
            refset_bu2_rows_next_f(X, D, i0, i1, indptr, indices, k_end, values, velocity, out,
                                   lr, mu, lam, coupled, X_next, out_next)
        else:
            refset_bu2_rows_next_d(X, D, i0, i1, indptr, indices, k_end, values, velocity, out,
                                   lr, mu, lam, coupled, X_next, out_next)
        return
    for i in range(i0, i1):
        k0 = indptr[i]
        k1 = indptr[i + 1]
        x = X + i * B
        if _row_active(x, B):
            _backward_update_row(x, D, indices + k0, values + k0, velocity + k0, k1 - k0,
                                 k_end - k0, out + i * B if out != NULL else NULL, B, lr, mu,
                                 lam, coupled, pf)
        else:
            _sgd_zero_row(values + k0, velocity + k0, k1 - k0, lr, mu, lam, coupled)
        if _row_active(X_next + i * B_next, B_next):
            _forward_row(X_next + i * B_next, B_next, indices + k0, values + k0, k1 - k0,
                         out_next, pf_next, k_end - k0)


def csr_backward_update(const floating[:, ::1] X, const floating[:, ::1] D,
                        const int64_t[::1] indptr, const int32_t[::1] indices,
                        floating[::1] values, floating[::1] velocity, floating[:, ::1] out,
                        double learning_rate, double momentum, double weight_decay,
                        bint coupled, int threads=1, X_next=None, out_next=None):
    """Fused ``W D`` (with the old weights) + gradient on the links + SGD step, row by row.

    ``out`` (shape (n_in, B)) receives the delta of the layer's input through a ReLU: W D,
    computed with the weights *before* the update, where the activation ``X`` is > 0, and 0
    elsewhere (ReLU' = 0; ``X`` is the previous layer's ReLU output).  A row whose
    activations are all zero is all 0, its gradients are 0, and its links need only the SGD
    step and none of the deltas.  Pass None to skip the propagation (first layer).  At B = 2
    each row's sum is taken in eight interleaved partial sums (``refset_kernels.h``);
    otherwise link by link in row order, as ``coo_backward_update`` on canonical links.
    With ``threads > 1`` each thread takes a range of rows with about the same number of
    links; a row's sums never depend on the thread count.

    ``X_next`` (n_in, B') and ``out_next`` (n_out, B'), given together, fuse the next
    batch's forward product of this layer: ``out_next`` receives ``csr_forward(X_next, ...)``
    with the updated weights, the same sums in the same order, while each row's links are
    still in cache (SparseMLP does it for the first layer, whose next input is the data).
    Returns ``out``.
    """
    cdef Py_ssize_t n_in = X.shape[0], B = X.shape[1], nnz = values.shape[0]
    cdef Py_ssize_t t, i
    cdef Py_ssize_t* bounds = NULL
    cdef floating lr = learning_rate, mu = momentum, lam = weight_decay
    cdef floating* o = NULL
    cdef Py_ssize_t pf = (refset_pf_len(D.shape[0], B, sizeof(floating))
                          * <Py_ssize_t> sizeof(floating))
    cdef const floating[:, ::1] xn
    cdef floating[:, ::1] on
    cdef const floating* xn_ptr = NULL
    cdef floating* on_ptr = NULL
    cdef Py_ssize_t B_next = 0, pf_next = 0
    cdef Py_ssize_t n_cols = D.shape[0], tile_next = D.shape[0]
    cdef int64_t* rows = NULL
    cdef Py_ssize_t full = 0
    if D.shape[1] != B or velocity.shape[0] != nnz:
        raise ValueError("csr_backward_update: inconsistent shapes")
    _check("csr_backward_update", n_in, indptr, nnz, D.shape[0], indices.shape[0])
    if (X_next is None) != (out_next is None):
        raise ValueError("csr_backward_update: give both X_next and out_next, or neither")
    if X_next is not None:
        xn = X_next
        on = out_next
        B_next = xn.shape[1]
        if xn.shape[0] != n_in or on.shape[0] != D.shape[0] or on.shape[1] != B_next:
            raise ValueError("csr_backward_update: inconsistent shapes of X_next, out_next")
        on[:, :] = 0
        if B_next > 0 and nnz > 0:
            xn_ptr = &xn[0, 0]
            on_ptr = &on[0, 0]
            pf_next = refset_pf_len(on.shape[0], B_next, sizeof(floating)) \
                * <Py_ssize_t> sizeof(floating)
    if out is not None:
        if out.shape[1] != B or out.shape[0] != n_in:
            raise ValueError("csr_backward_update: inconsistent shapes")
        o = &out[0, 0] if B > 0 and nnz > 0 else NULL
        out[:, :] = 0
    if nnz == 0:
        return None if out is None else out.base
    if xn_ptr != NULL:
        tile_next = _tile_cols(n_cols, B_next, sizeof(floating))
    if _full_narrow(B, n_in, n_cols, nnz):
        full = n_cols                      # see _backward_update_rows
    rows = _row_scratch(n_in, xn_ptr != NULL and tile_next < n_cols)
    with nogil:
        if B == 0:                 # no samples: every gradient is 0, only the SGD step
            _sgd_zero_row(&values[0], &velocity[0], nnz, lr, mu, lam, coupled)
        elif threads > 1 and nnz > 4096:
            bounds = <Py_ssize_t*> malloc((threads + 1) * sizeof(Py_ssize_t))
        if bounds != NULL:
            # thread t takes the rows whose links start in [nnz t / T, nnz (t + 1) / T)
            bounds[0] = 0
            bounds[threads] = n_in
            i = 0
            for t in range(1, threads):
                while i < n_in and indptr[i] < (nnz * t) // threads:
                    i += 1
                bounds[t] = i
            for t in prange(threads, num_threads=threads, schedule="static", chunksize=1):
                _backward_update_rows(&X[0, 0], &D[0, 0], &indptr[0], &indices[0],
                                      &values[0], &velocity[0], o, bounds[t], bounds[t + 1],
                                      B, lr, mu, lam, coupled, pf, NULL, NULL, 0, 0, rows,
                                      full)
            free(bounds)
        elif B > 0 and tile_next >= n_cols:    # one thread: the next product row by row, fused
            _backward_update_rows(&X[0, 0], &D[0, 0], &indptr[0], &indices[0], &values[0],
                                  &velocity[0], o, 0, n_in, B, lr, mu, lam, coupled, pf,
                                  xn_ptr, on_ptr, B_next, pf_next, rows, full)
            xn_ptr = NULL
        elif B > 0:
            _backward_update_rows(&X[0, 0], &D[0, 0], &indptr[0], &indices[0], &values[0],
                                  &velocity[0], o, 0, n_in, B, lr, mu, lam, coupled, pf,
                                  NULL, NULL, 0, 0, rows, full)
        # the next product not fused yet: after the threads (it scatters, so on one), in
        # column tiles (a separate pass over the links costs less than untiled scatters),
        # or with no samples in this batch
        if xn_ptr != NULL:
            _forward(xn_ptr, B_next, &indptr[0], &indices[0], &values[0], n_in, on_ptr,
                     n_cols, tile_next, pf_next, rows)
        free(rows)
    return None if out is None else out.base
