r"""Numpy twins of the compiled CH3-L3 kernels: the normative closed form (ALGORITHMS §5.4).

Each function here has a Cython twin with the same name and signature in ``_ext/_ch3.pyx``
(compiled to ``refset.kernels._ch3_cy``).  The twins sum every score's terms in the same order, so the
two backends agree *bit for bit* (the tests check it), and the deterministic tie-break of the
top-k selection therefore picks the same links on both.

Conventions
-----------
- One bipartite layer is given by its links ``rows``, ``cols`` (int64) in canonical order
  (sorted by (row, col), unique) and its shape ``n_in, n_out``; weights play no part.
- A candidate (a non-link ``(u, v)``) is reported by its linear index ``u * n_out + v``.
- Outputs are preallocated by the caller; each function returns how many entries it wrote.

Closed form
-----------
With ``N(x)`` the neighbours of ``x``, ``d`` the degrees, ``C_in = X Xᵀ`` and
``C_out = Xᵀ X``, the score of a non-link ``(u, v)`` is

.. math:: \mathrm{CH3\text{-}L3}(u, v) = \sum_{j \in N(u)} \sum_{i \in N(j) \cap N(v)}
          \frac{1}{\sqrt{(d_j - C_{out}[j, v])\,(d_i - C_{in}[i, u])}}

Each term is ``1.0 / sqrt(float(a * b))`` with the integer product formed first, and the terms
of one score are added in the order ``(j, i)`` ascending, starting from 0.0.

Examples
--------
>>> import numpy as np
>>> rows = np.array([0, 0, 1, 1, 2, 2, 2, 3, 3])          # the fixture of ALGORITHMS §5.4
>>> cols = np.array([0, 1, 0, 2, 1, 2, 3, 0, 3])
>>> lin, sc = np.empty(16, np.int64), np.empty(16)
>>> n = ch3_l3_scores(rows, cols, 4, 4, lin, sc)
>>> lin[:n].tolist()
[2, 3, 5, 7, 8, 13, 14]
>>> np.round(sc[:n] ** 2, 12).tolist()                      # sqrt(2) four times, 3, ...
[2.0, 2.0, 2.0, 2.0, 9.0, 2.0, 2.0]
"""
import numpy as np

__all__ = ["ch3_l3_scores", "ch3_l3_top_k"]

# Terms materialised at a time by the twins (rows are processed in blocks of about this work).
_BLOCK_TERMS = 1 << 20


def _expand(starts, lengths):
    """For segments ``[starts[e], starts[e] + lengths[e])``: (owner e, position) of each element."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    owner = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    first = np.cumsum(lengths) - lengths
    pos = np.arange(total, dtype=np.int64) - first[owner] + np.asarray(starts, np.int64)[owner]
    return owner, pos


class _Graph:
    """CSR and CSC views of one canonical layer, degrees and the C_out pair counts."""

    def __init__(self, rows, cols, n_in, n_out):
        self.rows, self.cols = rows, cols
        self.n_in, self.n_out = int(n_in), int(n_out)
        self.d_in = np.bincount(rows, minlength=self.n_in).astype(np.int64)
        self.d_out = np.bincount(cols, minlength=self.n_out).astype(np.int64)
        self.indptr = np.concatenate([[0], np.cumsum(self.d_in)]).astype(np.int64)
        order = np.argsort(cols, kind="stable")            # CSC, rows ascending in each column
        self.csc_rows = rows[order]
        self.col_indptr = np.concatenate([[0], np.cumsum(self.d_out)]).astype(np.int64)
        self.linear = rows * np.int64(self.n_out) + cols
        # C_out[j, v] for every pair of outputs sharing an input: ordered pairs of N(i) x N(i)
        owner, pos = _expand(self.indptr[rows], self.d_in[rows])
        keys = cols[owner] * np.int64(self.n_out) + cols[pos]
        self.cout_keys, self.cout_counts = np.unique(keys, return_counts=True)

    def row_blocks(self):
        """Row ranges ``[u0, u1)`` whose expansion holds about ``_BLOCK_TERMS`` terms each."""
        t = np.bincount(self.cols, weights=self.d_in[self.rows].astype(np.float64),
                        minlength=self.n_out)
        work = np.bincount(self.rows, weights=t[self.cols], minlength=self.n_in)
        block = (np.cumsum(work) - work) // _BLOCK_TERMS         # by the work before the row
        bounds = np.concatenate([[0], np.flatnonzero(np.diff(block)) + 1, [self.n_in]])
        return zip(bounds[:-1].tolist(), bounds[1:].tolist())

    def block_scores(self, u0, u1):
        """(linear indices ascending, scores) of the candidates in rows ``[u0, u1)``."""
        p = np.arange(self.indptr[u0], self.indptr[u1], dtype=np.int64)   # links (u, j)
        # step 1: middle inputs i in N(j), in the order (u, j, i)
        own1, q = _expand(self.col_indptr[self.cols[p]], self.d_out[self.cols[p]])
        U1, J1, I1 = self.rows[p][own1], self.cols[p][own1], self.csc_rows[q]
        # C_in[i, u] = number of outputs j shared by u and i = occurrences of (u, i) here
        _, inv, counts = np.unique((U1 - u0) * np.int64(self.n_in) + I1, return_inverse=True,
                                   return_counts=True)
        A1 = self.d_in[I1] - counts[inv.ravel()]
        keep = I1 != U1
        U1, J1, I1, A1 = U1[keep], J1[keep], I1[keep], A1[keep]
        # step 2: end outputs v in N(i), in the order (u, j, i, v)
        own2, r = _expand(self.indptr[I1], self.d_in[I1])
        U, J, A, V = U1[own2], J1[own2], A1[own2], self.cols[r]
        target = U * np.int64(self.n_out) + V
        at = np.minimum(np.searchsorted(self.linear, target), self.linear.size - 1)
        keep = self.linear[at] != target                   # non-links only (drops v == j too)
        U, J, A, V, target = U[keep], J[keep], A[keep], V[keep], target[keep]
        at = np.searchsorted(self.cout_keys, J * np.int64(self.n_out) + V)
        B = self.d_out[J] - self.cout_counts[at]
        terms = 1.0 / np.sqrt((A * B).astype(np.float64))
        lin, inv = np.unique(target, return_inverse=True)
        return lin, np.bincount(inv.ravel(), weights=terms, minlength=lin.size)


def _best(lin, scores, k):
    """The ``k`` best candidates in rank order: score descending, then linear index ascending."""
    if k < lin.size:
        kth = np.partition(scores, lin.size - k)[lin.size - k]       # k-th largest score
        keep = scores >= kth
        lin, scores = lin[keep], scores[keep]
    order = np.lexsort((lin, -scores))[:k]
    return lin[order], scores[order]


def ch3_l3_scores(rows, cols, n_in, n_out, out_linear, out_scores):
    r"""CH3-L3 scores of every non-link with at least one length-3 path.

    Parameters
    ----------
    rows, cols : ndarray of shape (nnz,), int64
        The layer's links, canonical order (sorted by (row, col), unique).
    n_in, n_out : int
        The layer's shape.
    out_linear : ndarray of shape (capacity,), int64
        Receives the candidates' linear indices ``u * n_out + v``, ascending.
    out_scores : ndarray of shape (capacity,), float64
        Receives their scores (all > 0).

    Returns
    -------
    int
        Number of candidates written (the first entries of the outputs).

    Raises
    ------
    ValueError
        If the outputs are shorter than the number of candidates.  A sufficient capacity is
        ``sum_u min(n_out - d_u, sum_{j in N(u)} sum_{i in N(j), i != u} (d_i - 1))``.

    Notes
    -----
    Compiled twin in ``_ext/_ch3.pyx`` (one pass per input with dense row buffers, no
    temporaries of the size of the work); this numpy version is normative.
    """
    if rows.size == 0:
        return 0
    g = _Graph(rows, cols, n_in, n_out)
    n = 0
    for u0, u1 in g.row_blocks():
        lin, sc = g.block_scores(u0, u1)
        if n + lin.size > out_linear.shape[0]:
            raise ValueError("ch3_l3_scores: out_linear is too small for the candidates")
        out_linear[n:n + lin.size] = lin
        out_scores[n:n + lin.size] = sc
        n += lin.size
    return n


def ch3_l3_top_k(rows, cols, n_in, n_out, exclude, out_linear, out_scores):
    r"""The ``k = len(out_linear)`` non-links with the highest CH3-L3 scores.

    Parameters
    ----------
    rows, cols : ndarray of shape (nnz,), int64
        The layer's links, canonical order.
    n_in, n_out : int
        The layer's shape.
    exclude : ndarray of int64, sorted, unique
        Linear indices that must not be returned (may be empty).
    out_linear : ndarray of shape (k,), int64
        Receives the chosen linear indices in rank order: score descending, then linear index
        (row, then column) ascending.
    out_scores : ndarray of shape (k,), float64
        Receives their scores.

    Returns
    -------
    int
        Number written: ``k``, or fewer when fewer non-links have a score > 0.

    Notes
    -----
    Compiled twin in ``_ext/_ch3.pyx`` (streams the scores row by row into a bounded heap:
    memory O(n_in + n_out + k + sum_i d_i^2)); this numpy version is normative.
    """
    k = out_linear.shape[0]
    if k == 0 or rows.size == 0:
        return 0
    g = _Graph(rows, cols, n_in, n_out)
    best_lin, best_sc = np.empty(0, np.int64), np.empty(0, np.float64)
    for u0, u1 in g.row_blocks():
        lin, sc = g.block_scores(u0, u1)
        if exclude.size:
            at = np.minimum(np.searchsorted(exclude, lin), exclude.size - 1)
            keep = exclude[at] != lin
            lin, sc = lin[keep], sc[keep]
        best_lin, best_sc = _best(np.concatenate([best_lin, lin]),
                                  np.concatenate([best_sc, sc]), k)
    n = best_lin.size
    out_linear[:n] = best_lin
    out_scores[:n] = best_sc
    return n
