"""Compiled COO kernels for truly sparse layers (the fast path of ``refset.kernels.coo``).

Every function here has a numpy twin of the same name and signature in
``refset/kernels/coo.py``; the twin is the specification and the tests compare the two.

Layout (PERFORMANCE §2): activations and deltas are stored feature-major, shape
``(n_features, batch)``, so each link streams one contiguous batch vector.  The forward pass
wants links sorted by destination ``cols``, the backward pass by destination ``rows``; any
order gives the same result up to floating-point summation order.  ``coo_forward`` and
``coo_backward`` sum each run of links with one destination in an accumulator, so they also
take links sorted by destination within consecutive *segments*, e.g. ordered by (source
tile, destination, source): a destination's links from one segment form one run.  Ordering
links in cache-sized tiles of source rows this way keeps the source rows in use in L2
(PERFORMANCE §2.5; SparseMLP does it for large layers).  With ``threads > 1`` each thread
owns a range of destinations in every segment (two threads never write the same output
row) and sums its runs in the same order as one thread would; links that do not come in
runs make the kernel fall back to one thread.
"""
from cython.parallel cimport prange
from libc.stdint cimport int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset

from refset_kernels cimport _dot, _sgd, floating, refset_pf_len, refset_prefetch


cdef extern from *:
    """
    #ifdef _OPENMP
    #define REFSET_HAVE_OPENMP 1
    #else
    #define REFSET_HAVE_OPENMP 0
    #endif
    """
    int REFSET_HAVE_OPENMP

cdef inline void _prefetch(const floating* base, const int64_t* idx, Py_ssize_t k,
                           Py_ssize_t k1, Py_ssize_t pf, int write) noexcept nogil:
    """Prefetch ``pf`` elements (0: nothing) of row ``idx[k + 8]`` of the array at ``base``."""
    refset_prefetch(base, idx, k, k1, pf * <Py_ssize_t> sizeof(floating), write)


cdef inline floating _dot2(const floating* x, const floating* d) noexcept nogil:
    """_dot for n = 2, unrolled; the same sum (0 + x0 d0) + x1 d1 as the plain loop."""
    return x[0] * d[0] + x[1] * d[1]


HAVE_OPENMP = bool(REFSET_HAVE_OPENMP)


cdef bint _is_sorted(const int64_t* a, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t k
    for k in range(1, n):
        if a[k] < a[k - 1]:
            return False
    return True


cdef void _scatter_rows(const floating* src, const int64_t* dst_idx, const int64_t* src_idx,
                        const floating* val, const int64_t* perm, Py_ssize_t k0, Py_ssize_t k1,
                        Py_ssize_t B,
                        floating* out, bint runs, Py_ssize_t pf_src,
                        Py_ssize_t pf_dst) noexcept nogil:
    """out[dst_idx[k], :] += val[k] * src[src_idx[k], :] for k in [k0, k1).

    When links come in runs of one destination (``runs``: sorted by destination, or sorted
    within segments) each run is summed in a local buffer that stays in registers or L1 and
    added to its output row once: the row is then read and written once per run instead of
    once per link (for B = 128 that halves the bytes moved).  Each row gets ``((0 + run 1) +
    run 2) + ...``, each run summed in link order; with one run per destination that is
    bit-identical to the plain loop.
    """
    cdef Py_ssize_t k, b, cur
    cdef floating v
    cdef floating* o
    cdef const floating* s
    cdef floating* acc = NULL
    if B == 2:
        for k in range(k0, k1):
            v = val[k] if perm == NULL else val[perm[k]]
            o = out + dst_idx[k] * 2
            s = src + src_idx[k] * 2
            o[0] += v * s[0]
            o[1] += v * s[1]
        return
    if runs and B == 128 and k1 > k0:
        _scatter_runs_128(src, dst_idx, src_idx, val, perm, k0, k1, out, pf_src)
        return
    if runs and B > 2 and k1 > k0:
        acc = <floating*> malloc(B * sizeof(floating))
    if acc != NULL:
        cur = dst_idx[k0]
        memset(acc, 0, B * sizeof(floating))
        for k in range(k0, k1):
            if dst_idx[k] != cur:
                o = out + cur * B
                for b in range(B):
                    o[b] += acc[b]
                memset(acc, 0, B * sizeof(floating))
                cur = dst_idx[k]
            _prefetch(src, src_idx, k, k1, pf_src, 0)
            v = val[k] if perm == NULL else val[perm[k]]
            s = src + src_idx[k] * B
            for b in range(B):
                acc[b] += v * s[b]
        o = out + cur * B
        for b in range(B):
            o[b] += acc[b]
        free(acc)
        return
    for k in range(k0, k1):
        _prefetch(src, src_idx, k, k1, pf_src, 0)
        _prefetch(out, dst_idx, k, k1, pf_dst, 1)
        v = val[k] if perm == NULL else val[perm[k]]
        o = out + dst_idx[k] * B
        s = src + src_idx[k] * B
        for b in range(B):
            o[b] += v * s[b]


cdef void _scatter_runs_128(const floating* src, const int64_t* dst_idx,
                            const int64_t* src_idx, const floating* val, const int64_t* perm,
                            Py_ssize_t k0,
                            Py_ssize_t k1, floating* out, Py_ssize_t pf_src) noexcept nogil:
    """The runs path of :func:`_scatter_rows` for B = 128 (MNIST's batch and the
    benchmark's): a fixed-size accumulator the compiler can keep in vector registers.  Same
    sums in the same order as the general path (bit-identical)."""
    cdef floating acc[128]
    cdef Py_ssize_t k, b, cur
    cdef floating v
    cdef floating* o
    cdef const floating* s
    cur = dst_idx[k0]
    for b in range(128):
        acc[b] = 0
    for k in range(k0, k1):
        if dst_idx[k] != cur:
            o = out + cur * 128
            for b in range(128):
                o[b] += acc[b]
                acc[b] = 0
            cur = dst_idx[k]
        _prefetch(src, src_idx, k, k1, pf_src, 0)
        v = val[k] if perm == NULL else val[perm[k]]
        s = src + src_idx[k] * 128
        for b in range(128):
            acc[b] += v * s[b]
    o = out + cur * 128
    for b in range(128):
        o[b] += acc[b]


cdef void _run_bounds(const int64_t* dst_idx, Py_ssize_t nnz, int threads,
                      Py_ssize_t* bounds) noexcept nogil:
    """Split sorted links into ``threads`` chunks [bounds[t], bounds[t+1]); each boundary moves
    forward to the start of a destination run, so no two chunks share an output row."""
    cdef Py_ssize_t t, k
    bounds[0] = 0
    bounds[threads] = nnz
    for t in range(1, threads):
        k = (nnz * t) // threads
        if k < bounds[t - 1]:
            k = bounds[t - 1]
        while 0 < k < nnz and dst_idx[k] == dst_idx[k - 1]:
            k += 1
        bounds[t] = k


cdef Py_ssize_t _lower_bound(const int64_t* a, Py_ssize_t lo, Py_ssize_t hi,
                             int64_t x) noexcept nogil:
    """The first position in the sorted ``a[lo:hi]`` whose value is >= ``x``."""
    cdef Py_ssize_t mid
    while lo < hi:
        mid = lo + (hi - lo) // 2
        if a[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef void _spmm(const floating* src, const int64_t* dst_idx, const int64_t* src_idx,
                const floating* val, const int64_t* perm, Py_ssize_t nnz, Py_ssize_t B, floating* out,
                Py_ssize_t n_dst, Py_ssize_t n_src, int threads) noexcept nogil:
    """Shared body of coo_forward and coo_backward (destination-ordered scatter)."""
    cdef Py_ssize_t t, k, s, n_runs = 1, n_seg = 1, lo, hi
    cdef Py_ssize_t* seg
    cdef bint runs
    cdef Py_ssize_t pf_src = refset_pf_len(n_src, B, sizeof(floating))
    cdef Py_ssize_t pf_dst = refset_pf_len(n_dst, B, sizeof(floating))
    # runs of one destination (at least two links per run on average) and sorted segments;
    # a look at the first links settles the common unsorted case (the canonical forward)
    # without a pass over all of them, and B = 2 on one thread needs neither
    runs = False
    if B != 2 or threads > 1:
        lo = min(nnz, 4096)
        for k in range(1, lo):
            n_runs += dst_idx[k] != dst_idx[k - 1]
        if 2 * n_runs <= lo:
            n_runs = 1
            for k in range(1, nnz):
                n_runs += dst_idx[k] != dst_idx[k - 1]
                n_seg += dst_idx[k] < dst_idx[k - 1]
            runs = 2 * n_runs <= nnz
    memset(out, 0, n_dst * B * sizeof(floating))
    if threads > 1 and nnz > 4096 and runs and 64 * n_seg <= nnz:
        seg = <Py_ssize_t*> malloc((n_seg + 1) * sizeof(Py_ssize_t))
        if seg != NULL:
            s = 0
            seg[0] = 0
            for k in range(1, nnz):
                if dst_idx[k] < dst_idx[k - 1]:
                    s += 1
                    seg[s] = k
            seg[n_seg] = nnz
            # thread t owns destinations [n_dst t / threads, n_dst (t + 1) / threads) in
            # every segment, visited in segment order: each row's runs are summed in the
            # same order as on one thread
            for t in prange(threads, num_threads=threads, schedule="static", chunksize=1):
                for s in range(n_seg):
                    lo = _lower_bound(dst_idx, seg[s], seg[s + 1], (n_dst * t) // threads)
                    hi = _lower_bound(dst_idx, lo, seg[s + 1], (n_dst * (t + 1)) // threads)
                    _scatter_rows(src, dst_idx, src_idx, val, perm, lo, hi, B, out, True, pf_src,
                                  pf_dst)
            free(seg)
            return
    _scatter_rows(src, dst_idx, src_idx, val, perm, 0, nnz, B, out, runs, pf_src,
                  pf_dst)


def coo_forward(const floating[:, ::1] X, const int64_t[::1] rows, const int64_t[::1] cols,
                const floating[::1] values, floating[:, ::1] out, int threads=1, perm=None):
    """out = Wᵀ X for feature-major X of shape (n_in, B); out has shape (n_out, B).

    ``perm`` (int64, one per link): link k's weight is ``values[perm[k]]``, read in place
    instead of gathered into a new array first (links in another order than ``values``)."""
    cdef Py_ssize_t nnz = rows.shape[0]
    cdef Py_ssize_t B = X.shape[1]
    cdef const int64_t[::1] pv
    cdef const int64_t* p = NULL
    if out.shape[1] != B or cols.shape[0] != nnz:
        raise ValueError("coo_forward: inconsistent shapes")
    if perm is None:
        if values.shape[0] != nnz:
            raise ValueError("coo_forward: inconsistent shapes")
    else:
        pv = perm
        if pv.shape[0] != nnz or values.shape[0] != nnz:
            raise ValueError("coo_forward: inconsistent shapes of perm and values")
        if nnz > 0:
            p = &pv[0]
    if nnz == 0 or B == 0:
        out[:, :] = 0
        return out.base
    with nogil:
        _spmm(&X[0, 0], &cols[0], &rows[0], &values[0], p, nnz, B, &out[0, 0], out.shape[0],
              X.shape[0], threads)
    return out.base


def coo_backward(const floating[:, ::1] D, const int64_t[::1] rows, const int64_t[::1] cols,
                 const floating[::1] values, floating[:, ::1] out, int threads=1):
    """out = W D for feature-major D of shape (n_out, B); out has shape (n_in, B)."""
    cdef Py_ssize_t nnz = values.shape[0]
    cdef Py_ssize_t B = D.shape[1]
    if out.shape[1] != B or rows.shape[0] != nnz or cols.shape[0] != nnz:
        raise ValueError("coo_backward: inconsistent shapes")
    if nnz == 0 or B == 0:
        out[:, :] = 0
        return out.base
    with nogil:
        _spmm(&D[0, 0], &rows[0], &cols[0], &values[0], NULL, nnz, B, &out[0, 0], out.shape[0],
              D.shape[0], threads)
    return out.base


def coo_gradient(const floating[:, ::1] X, const floating[:, ::1] D, const int64_t[::1] rows,
                 const int64_t[::1] cols, floating[::1] out, int threads=1):
    """SDDMM: out[k] = sum_b X[rows[k], b] * D[cols[k], b], on existing links only."""
    cdef Py_ssize_t nnz = out.shape[0]
    cdef Py_ssize_t B = X.shape[1]
    cdef Py_ssize_t k
    cdef const floating* xbase
    cdef const floating* dbase
    cdef Py_ssize_t pf_x = refset_pf_len(X.shape[0], B, sizeof(floating))
    cdef Py_ssize_t pf_d = refset_pf_len(D.shape[0], B, sizeof(floating))
    if D.shape[1] != B or rows.shape[0] != nnz or cols.shape[0] != nnz:
        raise ValueError("coo_gradient: inconsistent shapes")
    if nnz == 0:
        return out.base
    if B == 0:
        out[:] = 0
        return out.base
    xbase = &X[0, 0]
    dbase = &D[0, 0]
    with nogil:
        if threads > 1 and nnz > 4096:
            for k in prange(nnz, num_threads=threads, schedule="static"):
                out[k] = _dot(xbase + rows[k] * B, dbase + cols[k] * B, B)
        elif B == 2:                 # the reference configurations' batch: unrolled
            for k in range(nnz):
                out[k] = _dot2(xbase + rows[k] * 2, dbase + cols[k] * 2)
        else:
            for k in range(nnz):
                _prefetch(dbase, &cols[0], k, nnz, pf_d, 0)
                out[k] = _dot(xbase + rows[k] * B, dbase + cols[k] * B, B)
    return out.base


def sgd_update(floating[::1] values, floating[::1] velocity, const floating[::1] grad,
               double learning_rate, double momentum, double weight_decay, bint coupled,
               int threads=1):
    """One fused pass of SGD with momentum and weight decay over a layer's links (in place)."""
    cdef Py_ssize_t k, n = values.shape[0]
    cdef floating lr = learning_rate, mu = momentum, lam = weight_decay
    if velocity.shape[0] != n or grad.shape[0] != n:
        raise ValueError("sgd_update: inconsistent shapes")
    with nogil:
        for k in range(n):
            _sgd(&values[k], &velocity[k], grad[k], lr, mu, lam, coupled)


cdef void _backward_update_range(const floating* X, const floating* D, const int64_t* rows,
                                 const int64_t* cols, floating* values, floating* velocity,
                                 floating* out, Py_ssize_t k0, Py_ssize_t k1, Py_ssize_t B,
                                 floating lr, floating mu, floating lam, bint coupled,
                                 Py_ssize_t pf_x, Py_ssize_t pf_d) noexcept nogil:
    """Links [k0, k1): propagate with the old weight, then gradient, then the SGD step.

    ``pf_x`` / ``pf_d``: prefetch lengths of the rows of X (and ``out``) and of D."""
    cdef Py_ssize_t k, b, r, cur
    cdef floating w, g, a0, a1
    cdef floating* o
    cdef const floating* d
    cdef const floating* x
    if B == 2 and out != NULL and k1 > k0:
        # the reference configurations' batch: sum a run of links of one row in registers
        # (for row-sorted links this is bit-identical to adding into ``out`` link by link)
        cur = rows[k0]
        a0 = 0
        a1 = 0
        for k in range(k0, k1):
            r = rows[k]
            if r != cur:
                out[cur * 2] += a0
                out[cur * 2 + 1] += a1
                a0 = 0
                a1 = 0
                cur = r
            w = values[k]
            d = D + cols[k] * 2
            a0 += w * d[0]
            a1 += w * d[1]
            _sgd(&values[k], &velocity[k], _dot2(X + r * 2, d), lr, mu, lam, coupled)
        out[cur * 2] += a0
        out[cur * 2 + 1] += a1
        return
    for k in range(k0, k1):
        _prefetch(D, cols, k, k1, pf_d, 0)
        w = values[k]
        d = D + cols[k] * B
        x = X + rows[k] * B
        if out != NULL:
            o = out + rows[k] * B
            if B == 2:
                o[0] += w * d[0]
                o[1] += w * d[1]
            else:
                for b in range(B):
                    o[b] += w * d[b]
        g = _dot2(x, d) if B == 2 else _dot(x, d, B)
        _sgd(&values[k], &velocity[k], g, lr, mu, lam, coupled)


def coo_backward_update(const floating[:, ::1] X, const floating[:, ::1] D,
                        const int64_t[::1] rows, const int64_t[::1] cols,
                        floating[::1] values, floating[::1] velocity, floating[:, ::1] out,
                        double learning_rate, double momentum, double weight_decay,
                        bint coupled, int threads=1):
    """Fused ``coo_backward`` (with the old weights) + ``coo_gradient`` + ``sgd_update``.

    One pass over the links instead of three.  ``out`` (shape (n_in, B)) receives W D
    computed with the weights *before* the update; pass None to skip the propagation (first
    layer).  Returns ``out``.
    """
    cdef Py_ssize_t nnz = values.shape[0]
    cdef Py_ssize_t B = X.shape[1]
    cdef Py_ssize_t t, k
    cdef Py_ssize_t* bounds
    cdef floating lr = learning_rate, mu = momentum, lam = weight_decay
    cdef floating* o = NULL
    cdef Py_ssize_t pf_x = refset_pf_len(X.shape[0], B, sizeof(floating))
    cdef Py_ssize_t pf_d = refset_pf_len(D.shape[0], B, sizeof(floating))
    if D.shape[1] != B or rows.shape[0] != nnz or cols.shape[0] != nnz \
            or velocity.shape[0] != nnz:
        raise ValueError("coo_backward_update: inconsistent shapes")
    if out is not None:
        if out.shape[1] != B or out.shape[0] != X.shape[0]:
            raise ValueError("coo_backward_update: inconsistent shapes")
        out[:, :] = 0
        if nnz == 0 or B == 0:
            return out.base
        o = &out[0, 0]
    if nnz == 0:
        return None
    bounds = NULL
    with nogil:
        if threads > 1 and nnz > 4096 and _is_sorted(&rows[0], nnz):
            bounds = <Py_ssize_t*> malloc((threads + 1) * sizeof(Py_ssize_t))
        if bounds != NULL:
            _run_bounds(&rows[0], nnz, threads, bounds)
            for t in prange(threads, num_threads=threads, schedule="static", chunksize=1):
                _backward_update_range(&X[0, 0], &D[0, 0], &rows[0], &cols[0], &values[0],
                                       &velocity[0], o, bounds[t], bounds[t + 1], B, lr,
                                       mu, lam, coupled, pf_x, pf_d)
            free(bounds)
        else:
            _backward_update_range(&X[0, 0], &D[0, 0], &rows[0], &cols[0], &values[0],
                                   &velocity[0], o, 0, nnz, B, lr, mu, lam, coupled,
                                   pf_x, pf_d)
    return None if out is None else out.base
