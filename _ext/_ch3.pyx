"""Compiled CH3-L3 kernels (the fast path of ``refset.kernels.ch3``).

Every function here has a numpy twin of the same name and signature in
``refset/kernels/ch3.py``; the twin is the specification.  Both add each score's terms in
the order (j, i) ascending, each term being ``1.0 / sqrt(<double>(a * b))``, so the results
are identical bit for bit.

Method (one thread): for each input ``u`` the scores of row ``u`` accumulate in a dense
buffer over the outputs, walking the middle links (i, j) with ``j`` in N(u) and the end
outputs ``v`` in N(i).  ``C_in[i, u]`` comes from a per-row count over the inputs; the other
factor ``d_j - C_out[j, v]`` is precomputed once per link (i, j) and output v in N(i)
(``sum_i d_i^2`` integers).  Memory: O(n_in + n_out + nnz + sum_i d_i^2) plus the outputs;
no n_in x n_out array.
"""
from libc.math cimport sqrt
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, malloc, qsort
from libc.string cimport memset


cdef int _cmp_i64(const void* a, const void* b) noexcept nogil:
    cdef int64_t x = (<const int64_t*> a)[0]
    cdef int64_t y = (<const int64_t*> b)[0]
    return (x > y) - (x < y)


cdef struct Graph:
    Py_ssize_t n_in
    Py_ssize_t n_out
    const int64_t* cols          # CSR column of each link (the canonical cols)
    int64_t* indptr              # CSR row pointers, n_in + 1
    int64_t* col_indptr          # CSC column pointers, n_out + 1
    int64_t* csc_rows            # CSC row of each entry, rows ascending within a column
    int64_t* csc_link            # CSR position (canonical index) of each CSC entry
    int64_t* boff                # start of link p's block in bfac, nnz + 1
    int32_t* bfac                # d_j - C_out[j, v] for link p = (i, j), v = cols[indptr[i] + t]
    # per-row work buffers
    int64_t* cin                 # n_in
    int32_t* cout                # n_out
    double* score                # n_out
    char* mark                   # n_out
    int64_t* touched             # n_out


cdef void _graph_free(Graph* g) noexcept nogil:
    free(g.indptr)
    free(g.col_indptr)
    free(g.csc_rows)
    free(g.csc_link)
    free(g.boff)
    free(g.bfac)
    free(g.cin)
    free(g.cout)
    free(g.score)
    free(g.mark)
    free(g.touched)


cdef int _graph_build(Graph* g, const int64_t* rows, const int64_t* cols, Py_ssize_t nnz,
                      Py_ssize_t n_in, Py_ssize_t n_out) noexcept nogil:
    """Fill ``g``; returns 0, or -1 when out of memory (``g`` must be freed either way)."""
    cdef Py_ssize_t p, q, t, i, j, v, r0, r1
    cdef int64_t total
    g.n_in = n_in
    g.n_out = n_out
    g.cols = cols
    g.indptr = <int64_t*> malloc((n_in + 1) * sizeof(int64_t))
    g.col_indptr = <int64_t*> malloc((n_out + 1) * sizeof(int64_t))
    g.csc_rows = <int64_t*> malloc((nnz + 1) * sizeof(int64_t))
    g.csc_link = <int64_t*> malloc((nnz + 1) * sizeof(int64_t))
    g.boff = <int64_t*> malloc((nnz + 1) * sizeof(int64_t))
    g.bfac = NULL
    g.cin = <int64_t*> malloc((n_in + 1) * sizeof(int64_t))
    g.cout = <int32_t*> malloc((n_out + 1) * sizeof(int32_t))
    g.score = <double*> malloc((n_out + 1) * sizeof(double))
    g.mark = <char*> malloc((n_out + 1) * sizeof(char))
    g.touched = <int64_t*> malloc((n_out + 1) * sizeof(int64_t))
    if (g.indptr == NULL or g.col_indptr == NULL or g.csc_rows == NULL or g.csc_link == NULL
            or g.boff == NULL or g.cin == NULL or g.cout == NULL or g.score == NULL
            or g.mark == NULL or g.touched == NULL):
        return -1
    memset(g.indptr, 0, (n_in + 1) * sizeof(int64_t))
    memset(g.col_indptr, 0, (n_out + 1) * sizeof(int64_t))
    memset(g.cin, 0, (n_in + 1) * sizeof(int64_t))
    memset(g.cout, 0, (n_out + 1) * sizeof(int32_t))
    memset(g.score, 0, (n_out + 1) * sizeof(double))
    memset(g.mark, 0, (n_out + 1) * sizeof(char))
    # CSR pointers and CSC by a counting sort (stable: rows ascending within each column)
    for p in range(nnz):
        g.indptr[rows[p] + 1] += 1
        g.col_indptr[cols[p] + 1] += 1
    for i in range(n_in):
        g.indptr[i + 1] += g.indptr[i]
    for j in range(n_out):
        g.col_indptr[j + 1] += g.col_indptr[j]
    for j in range(n_out):
        g.touched[j] = g.col_indptr[j]          # fill position of each column
    for p in range(nnz):
        q = g.touched[cols[p]]
        g.csc_rows[q] = rows[p]
        g.csc_link[q] = p
        g.touched[cols[p]] = q + 1
    # per-link blocks of d_j - C_out[j, v]
    g.boff[0] = 0
    for p in range(nnz):
        g.boff[p + 1] = g.boff[p] + (g.indptr[rows[p] + 1] - g.indptr[rows[p]])
    total = g.boff[nnz]
    g.bfac = <int32_t*> malloc((total + 1) * sizeof(int32_t))
    if g.bfac == NULL:
        return -1
    for j in range(n_out):
        for q in range(g.col_indptr[j], g.col_indptr[j + 1]):
            i = g.csc_rows[q]
            for t in range(g.indptr[i], g.indptr[i + 1]):
                g.cout[cols[t]] += 1
        for q in range(g.col_indptr[j], g.col_indptr[j + 1]):
            i = g.csc_rows[q]
            p = g.csc_link[q]
            r0 = g.indptr[i]
            r1 = g.indptr[i + 1]
            for t in range(r0, r1):
                g.bfac[g.boff[p] + t - r0] = <int32_t> (
                    (g.col_indptr[j + 1] - g.col_indptr[j]) - g.cout[cols[t]])
        for q in range(g.col_indptr[j], g.col_indptr[j + 1]):
            i = g.csc_rows[q]
            for t in range(g.indptr[i], g.indptr[i + 1]):
                g.cout[cols[t]] = 0
    return 0


cdef Py_ssize_t _row(Graph* g, Py_ssize_t u) noexcept nogil:
    """Accumulate row ``u``'s scores into g.score; returns how many outputs it touched.

    The caller has set ``g.mark[v]`` for the outputs that are not candidates (the links of
    ``u`` and any excluded cells).  Touched outputs are listed in ``g.touched``.
    """
    cdef Py_ssize_t p, q, t, i, j, v, r0, nt = 0
    cdef int64_t a, b, dj
    cdef const int64_t* cols = g.cols
    cdef const int32_t* bf
    for p in range(g.indptr[u], g.indptr[u + 1]):
        j = cols[p]
        for q in range(g.col_indptr[j], g.col_indptr[j + 1]):
            g.cin[g.csc_rows[q]] += 1
    for p in range(g.indptr[u], g.indptr[u + 1]):
        j = cols[p]
        for q in range(g.col_indptr[j], g.col_indptr[j + 1]):
            i = g.csc_rows[q]
            if i == u:
                continue
            a = (g.indptr[i + 1] - g.indptr[i]) - g.cin[i]
            r0 = g.indptr[i]
            bf = g.bfac + g.boff[g.csc_link[q]] - r0
            for t in range(r0, g.indptr[i + 1]):
                v = cols[t]
                if g.mark[v]:
                    continue
                b = bf[t]
                if g.score[v] == 0.0:
                    g.touched[nt] = v
                    nt += 1
                g.score[v] += 1.0 / sqrt(<double> (a * b))
    for p in range(g.indptr[u], g.indptr[u + 1]):
        j = cols[p]
        for q in range(g.col_indptr[j], g.col_indptr[j + 1]):
            g.cin[g.csc_rows[q]] = 0
    return nt


cdef inline bint _worse(double s1, int64_t l1, double s2, int64_t l2) noexcept nogil:
    """Candidate 1 ranks below candidate 2 (score descending, then linear index ascending)."""
    return s1 < s2 or (s1 == s2 and l1 > l2)


cdef void _sift_down(double* hs, int64_t* hl, Py_ssize_t n, Py_ssize_t at) noexcept nogil:
    """Restore the heap (root = worst candidate) below position ``at``."""
    cdef Py_ssize_t c
    cdef double s = hs[at]
    cdef int64_t l = hl[at]
    while True:
        c = 2 * at + 1
        if c >= n:
            break
        if c + 1 < n and _worse(hs[c + 1], hl[c + 1], hs[c], hl[c]):
            c += 1
        if not _worse(hs[c], hl[c], s, l):
            break
        hs[at] = hs[c]
        hl[at] = hl[c]
        at = c
    hs[at] = s
    hl[at] = l


cdef void _sift_up(double* hs, int64_t* hl, Py_ssize_t at) noexcept nogil:
    cdef Py_ssize_t parent
    cdef double s = hs[at]
    cdef int64_t l = hl[at]
    while at > 0:
        parent = (at - 1) // 2
        if not _worse(s, l, hs[parent], hl[parent]):
            break
        hs[at] = hs[parent]
        hl[at] = hl[parent]
        at = parent
    hs[at] = s
    hl[at] = l


def _check(rows, cols, n_in, n_out):
    if rows.shape[0] != cols.shape[0]:
        raise ValueError("ch3_l3: rows and cols must have the same length")
    if n_in < 1 or n_out < 1:
        raise ValueError("ch3_l3: n_in and n_out must be positive")


def ch3_l3_scores(const int64_t[::1] rows, const int64_t[::1] cols, Py_ssize_t n_in,
                  Py_ssize_t n_out, int64_t[::1] out_linear, double[::1] out_scores):
    """CH3-L3 scores of every non-link with a length-3 path; returns the count written."""
    cdef Graph g
    cdef Py_ssize_t nnz = rows.shape[0], cap = out_linear.shape[0]
    cdef Py_ssize_t u, p, t, v, nt, n = 0
    cdef int status = 0, overflow = 0
    _check(rows, cols, n_in, n_out)
    if out_scores.shape[0] != cap:
        raise ValueError("ch3_l3_scores: out_linear and out_scores must have the same length")
    if nnz == 0:
        return 0
    memset(&g, 0, sizeof(Graph))
    with nogil:
        status = _graph_build(&g, &rows[0], &cols[0], nnz, n_in, n_out)
        if status == 0:
            for u in range(n_in):
                if g.indptr[u] == g.indptr[u + 1]:
                    continue
                for p in range(g.indptr[u], g.indptr[u + 1]):
                    g.mark[cols[p]] = 1
                nt = _row(&g, u)
                for p in range(g.indptr[u], g.indptr[u + 1]):
                    g.mark[cols[p]] = 0
                if n + nt > cap:
                    overflow = 1
                    break
                if nt * 16 > n_out:          # many: a scan of the row is sorted already
                    for v in range(n_out):
                        if g.score[v] != 0.0:
                            out_linear[n] = u * n_out + v
                            out_scores[n] = g.score[v]
                            g.score[v] = 0.0
                            n += 1
                else:
                    qsort(g.touched, nt, sizeof(int64_t), _cmp_i64)
                    for t in range(nt):
                        v = g.touched[t]
                        out_linear[n] = u * n_out + v
                        out_scores[n] = g.score[v]
                        g.score[v] = 0.0
                        n += 1
        _graph_free(&g)
    if status != 0:
        raise MemoryError("ch3_l3_scores: out of memory")
    if overflow:
        raise ValueError("ch3_l3_scores: out_linear is too small for the candidates")
    return n


def ch3_l3_top_k(const int64_t[::1] rows, const int64_t[::1] cols, Py_ssize_t n_in,
                 Py_ssize_t n_out, const int64_t[::1] exclude, int64_t[::1] out_linear,
                 double[::1] out_scores):
    """The len(out_linear) best non-links in rank order; returns the count written."""
    cdef Graph g
    cdef Py_ssize_t nnz = rows.shape[0], k = out_linear.shape[0], n_ex = exclude.shape[0]
    cdef Py_ssize_t u, p, t, v, nt, n = 0, e = 0, e0, e1
    cdef int status = 0
    cdef double s
    cdef int64_t lin, row_base
    cdef double* hs
    cdef int64_t* hl
    _check(rows, cols, n_in, n_out)
    if out_scores.shape[0] != k:
        raise ValueError("ch3_l3_top_k: out_linear and out_scores must have the same length")
    if nnz == 0 or k == 0:
        return 0
    hs = &out_scores[0]
    hl = &out_linear[0]
    memset(&g, 0, sizeof(Graph))
    with nogil:
        status = _graph_build(&g, &rows[0], &cols[0], nnz, n_in, n_out)
        if status == 0:
            for u in range(n_in):
                if g.indptr[u] == g.indptr[u + 1]:
                    continue
                row_base = u * n_out
                while e < n_ex and exclude[e] < row_base:
                    e += 1
                e0 = e
                while e < n_ex and exclude[e] < row_base + n_out:
                    g.mark[exclude[e] - row_base] = 1
                    e += 1
                e1 = e
                for p in range(g.indptr[u], g.indptr[u + 1]):
                    g.mark[cols[p]] = 1
                nt = _row(&g, u)
                for p in range(g.indptr[u], g.indptr[u + 1]):
                    g.mark[cols[p]] = 0
                for t in range(e0, e1):
                    g.mark[exclude[t] - row_base] = 0
                for t in range(nt):
                    v = g.touched[t]
                    s = g.score[v]
                    g.score[v] = 0.0
                    lin = row_base + v
                    if n < k:
                        hs[n] = s
                        hl[n] = lin
                        _sift_up(hs, hl, n)
                        n += 1
                    elif _worse(hs[0], hl[0], s, lin):
                        hs[0] = s
                        hl[0] = lin
                        _sift_down(hs, hl, n, 0)
            # heap sort: the worst goes last, so the array ends in rank order (best first)
            t = n
            while t > 1:
                t -= 1
                s = hs[0]
                lin = hl[0]
                hs[0] = hs[t]
                hl[0] = hl[t]
                hs[t] = s
                hl[t] = lin
                _sift_down(hs, hl, t, 0)
        _graph_free(&g)
    if status != 0:
        raise MemoryError("ch3_l3_top_k: out of memory")
    return n
