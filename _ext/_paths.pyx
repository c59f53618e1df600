"""Compiled path kernels for Path-Weight (the fast path of ``refset.kernels.paths``).

Every function here has a numpy twin of the same name and signature in
``refset/kernels/paths.py``; the twin is the specification and the tests compare the two.
"""
from libc.stdint cimport int64_t

ctypedef fused floating:
    float
    double


def path_products(const int64_t[:, ::1] paths, const int64_t[::1] offsets,
                  const floating[::1] a, floating[::1] out):
    """out[p] = prod_l a[offsets[l] + paths[p, l]], multiplied left to right."""
    cdef Py_ssize_t n_paths = paths.shape[0]
    cdef Py_ssize_t n_layers = paths.shape[1]
    cdef Py_ssize_t p, l
    cdef floating prod
    if n_layers == 0:
        raise ValueError("path_products: paths must have at least one column (layer)")
    if out.shape[0] != n_paths or offsets.shape[0] != n_layers:
        raise ValueError("path_products: inconsistent shapes")
    if n_paths == 0:
        return out.base
    with nogil:
        for p in range(n_paths):
            prod = a[offsets[0] + paths[p, 0]]
            for l in range(1, n_layers):
                prod = prod * a[offsets[l] + paths[p, l]]
            out[p] = prod
    return out.base


def segment_search(const double[::1] cum, const int64_t[::1] lo, const int64_t[::1] hi,
                   const double[::1] target, int64_t[::1] out):
    """out[i] = first k in [lo[i], hi[i]) with cum[k] > target[i], else hi[i]."""
    cdef Py_ssize_t m = target.shape[0]
    cdef Py_ssize_t i
    cdef int64_t base, n, half
    cdef double t
    if lo.shape[0] != m or hi.shape[0] != m or out.shape[0] != m:
        raise ValueError("segment_search: inconsistent shapes")
    with nogil:
        for i in range(m):
            base = lo[i]
            n = hi[i] - base
            t = target[i]
            if n <= 0:
                out[i] = base
                continue
            # invariant: the answer lies in [base, base + n]
            while n > 1:
                half = n >> 1
                base = base + half * (cum[base + half] <= t)
                n -= half
            out[i] = base + (cum[base] <= t)
    return out.base
