"""Canonical COO storage of a sparse layer, its validation, and conversions.

A layer with ``n_in`` inputs and ``n_out`` outputs has a weight matrix ``W`` of shape
``(n_in, n_out)`` stored as canonical COO (ALGORITHMS §0): ``rows`` and ``cols`` (int64) sorted
by ``(row, col)``, unique, ``values`` float32 or float64, no explicit zeros.  Dense arrays and
scipy.sparse matrices appear only in conversions, for tests and small examples.

Examples
--------
>>> import numpy as np
>>> W = CooMatrix.from_dense(np.array([[0.0, 1.5], [-2.0, 0.0]]))
>>> W.rows, W.cols, W.values
(array([0, 1]), array([1, 0]), array([ 1.5, -2. ]))
>>> W.nnz, W.density
(2, 0.5)
"""
from dataclasses import dataclass

import numpy as np

__all__ = ["CooMatrix", "check_coo"]

DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def check_coo(rows, cols, values, shape, *, allow_zeros=False, name="W"):
    """Raise ValueError unless the arrays form a canonical COO matrix of ``shape``.

    Checks: 1-D int64 indices of equal length, indices within ``shape``, strictly increasing
    linear index ``row * n_out + col`` (sorted by (row, col), no duplicates), float32/float64
    finite values, and no explicit zeros unless ``allow_zeros``.
    """
    if len(shape) != 2 or min(shape) < 1:
        raise ValueError(f"{name}: shape must be two positive integers, got {shape}")
    n_in, n_out = (int(s) for s in shape)
    for label, a in (("rows", rows), ("cols", cols)):
        if not isinstance(a, np.ndarray) or a.ndim != 1 or a.dtype != np.int64:
            raise ValueError(f"{name}: {label} must be a 1-D int64 array")
    if not isinstance(values, np.ndarray) or values.ndim != 1 or values.dtype not in DTYPES:
        raise ValueError(f"{name}: values must be a 1-D float32 or float64 array")
    if not (rows.shape == cols.shape == values.shape):
        raise ValueError(f"{name}: rows, cols and values must have the same length, got "
                         f"{rows.size}, {cols.size}, {values.size}")
    if rows.size:
        if rows.min() < 0 or rows.max() >= n_in or cols.min() < 0 or cols.max() >= n_out:
            raise ValueError(f"{name}: indices out of range for shape {shape}")
        lin = rows * n_out + cols
        if np.any(np.diff(lin) <= 0):
            raise ValueError(f"{name}: links must be sorted by (row, col) without duplicates")
        if not np.all(np.isfinite(values)):
            raise ValueError(f"{name}: values contain NaN or infinity")
        if not allow_zeros and np.any(values == 0):
            raise ValueError(f"{name}: values contain explicit zeros")


@dataclass(eq=False)
class CooMatrix:
    """A sparse weight matrix in canonical COO form.

    Parameters
    ----------
    rows, cols : ndarray of shape (nnz,), int64
        Link endpoints, sorted by (row, col), unique.
    values : ndarray of shape (nnz,), float32 or float64
        Link weights (updated in place by training; the topology is replaced, never edited).
    shape : tuple (n_in, n_out)
    """

    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    shape: tuple

    def __post_init__(self):
        self.shape = (int(self.shape[0]), int(self.shape[1]))

    # -- constructors -----------------------------------------------------------------
    @classmethod
    def from_linear(cls, linear, values, shape):
        """Build from sorted unique linear indices ``row * n_out + col``."""
        linear = np.asarray(linear, dtype=np.int64)
        rows, cols = np.divmod(linear, np.int64(shape[1]))
        return cls(rows, cols, np.asarray(values), shape)

    @classmethod
    def from_dense(cls, W, dtype=None):
        """Links at the nonzero entries of a dense 2-D array."""
        W = np.asarray(W)
        rows, cols = np.nonzero(W)
        values = W[rows, cols].astype(dtype or (W.dtype if W.dtype in DTYPES else np.float64))
        return cls(rows.astype(np.int64), cols.astype(np.int64), values, W.shape)

    @classmethod
    def from_scipy(cls, S, dtype=None):
        """From any scipy.sparse matrix or array (duplicates summed, zeros dropped)."""
        coo = S.tocsr()
        coo.sum_duplicates()
        coo.eliminate_zeros()
        coo = coo.tocoo()
        order = np.lexsort((coo.col, coo.row))
        values = coo.data[order].astype(dtype or (coo.dtype if coo.dtype in DTYPES else np.float64))
        return cls(coo.row[order].astype(np.int64), coo.col[order].astype(np.int64), values,
                   coo.shape)

    # -- views ------------------------------------------------------------------------
    @property
    def nnz(self):
        return int(self.values.size)

    @property
    def density(self):
        return self.nnz / (self.shape[0] * self.shape[1])

    def linear(self):
        """Sorted linear indices ``row * n_out + col`` (int64)."""
        return self.rows * np.int64(self.shape[1]) + self.cols

    def degrees(self):
        """(out-degree of each input, in-degree of each output) as int64 arrays."""
        return (np.bincount(self.rows, minlength=self.shape[0]),
                np.bincount(self.cols, minlength=self.shape[1]))

    def check(self, *, allow_zeros=False, name="W"):
        """Validate (see :func:`check_coo`) and return self."""
        check_coo(self.rows, self.cols, self.values, self.shape, allow_zeros=allow_zeros,
                  name=name)
        return self

    def copy(self):
        return CooMatrix(self.rows.copy(), self.cols.copy(), self.values.copy(), self.shape)

    def to_dense(self):
        """Dense ndarray of shape ``self.shape``."""
        W = np.zeros(self.shape, dtype=self.values.dtype)
        W[self.rows, self.cols] = self.values
        return W

    def to_scipy(self, format="csr"):
        """scipy.sparse matrix in ``format`` ("csr", "csc" or "coo")."""
        import scipy.sparse as sp

        S = sp.coo_matrix((self.values, (self.rows, self.cols)), shape=self.shape)
        return S.asformat(format)

    def __repr__(self):
        return (f"CooMatrix(shape={self.shape}, nnz={self.nnz}, density={self.density:.4g}, "
                f"dtype={self.values.dtype})")
