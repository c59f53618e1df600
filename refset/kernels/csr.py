r"""Numpy twins of the compiled row-compressed kernels: the normative specification.

Each function here has a Cython twin with the same name and signature in ``_ext/_csr.pyx``
(compiled to ``refset.kernels._csr_cy``), held to the same results by the tests.

A layer in canonical COO (links sorted by (row, column), ALGORITHMS §0) is already in CSR
order.  These kernels take the same ``values`` (and velocities) and, instead of the int64
``rows`` and ``cols``, a row pointer and 32-bit column indices (:func:`csr_index`): row
``i``'s links are ``indptr[i]:indptr[i + 1]``.  That is fewer bytes per link and batch
(PERFORMANCE §2.7), which is what the small-batch training pass is limited by; the
canonical COO stays the layer's public form, and the model derives this index from it.

Each kernel is defined as its COO counterpart (:mod:`refset.kernels.coo`) on the same
links; the compiled twins may sum in another order (documented there), so results agree to
rounding (float64 to rtol 1e-12, float32 to 1e-5).

Deviations
----------
Choices of these kernels that their COO counterparts do not make (PERFORMANCE §2.7):

- ``csr_backward_update`` returns the next delta *through ReLU'*, :math:`(W D) \odot [X >
  0]`, not :math:`W D`: it is the training step of a ReLU network, and the model would
  multiply by the derivative next anyway.  Entries are set to 0, not multiplied by 0, so an
  infinite or NaN product where ``X`` is 0 gives 0 (the model had diverged before).
- The compiled twin skips rows whose activations are all zero (no delta is read, the links
  get only their SGD step with gradient 0).  Against the numpy twin this can change only the
  sign of a zero, or hide a non-finite weight in such a row.
- At B = 2 the compiled ``csr_backward_update`` sums each row's share of :math:`W D` in eight
  interleaved partial sums (``_ext/refset_kernels.h``) instead of link by link: the last
  bits differ from ``coo_backward_update``, the same in every build and on any thread count.

Examples
--------
>>> import numpy as np
>>> rows, cols = np.array([0, 1]), np.array([1, 0])
>>> indptr, indices = csr_index(rows, cols, n_in=2, n_out=2)
>>> indptr, indices
(array([0, 1, 2]), array([1, 0], dtype=int32))
>>> X = np.array([[1.0], [10.0]])          # two inputs, batch of one
>>> csr_forward(X, indptr, indices, np.array([2.0, 3.0]), np.empty((2, 1)))[:, 0]
array([30.,  2.])
"""
import numpy as np

from .coo import coo_backward_update, coo_forward

__all__ = ["csr_forward", "csr_backward_update", "csr_index", "csr_rows"]

#: The largest column count whose indices fit the kernels' int32 ``indices``.
MAX_COLUMNS = 2**31 - 1


def csr_index(rows, cols, n_in, n_out):
    """The row pointer and int32 column indices of canonical COO links.

    Parameters
    ----------
    rows, cols : ndarray of shape (nnz,), int
        Links sorted by (row, column), as in :class:`refset.SparseLayer`.
    n_in, n_out : int
        The layer's shape.

    Returns
    -------
    indptr : ndarray of shape (n_in + 1,), int64
    indices : ndarray of shape (nnz,), int32

    Raises
    ------
    ValueError
        If ``n_out`` does not fit in 32 bits or the rows are not sorted.
    """
    if n_out > MAX_COLUMNS:
        raise ValueError(f"n_out must be at most {MAX_COLUMNS} for 32-bit column indices, "
                         f"got {n_out}")
    rows = np.asarray(rows)
    if rows.size > 1 and np.any(rows[1:] < rows[:-1]):
        raise ValueError("rows must be sorted (canonical COO)")
    indptr = np.searchsorted(rows, np.arange(n_in + 1, dtype=np.int64)).astype(np.int64)
    return indptr, np.asarray(cols).astype(np.int32)


def csr_rows(indptr):
    """The row of every link, ``rows``, from a row pointer (the inverse of :func:`csr_index`)."""
    indptr = np.asarray(indptr, dtype=np.int64)
    return np.repeat(np.arange(indptr.size - 1, dtype=np.int64), np.diff(indptr))


def _check(name, n_rows, indptr, indices, nnz):
    if indptr.shape != (n_rows + 1,) or indices.shape != (nnz,):
        raise ValueError(f"{name}: inconsistent shapes")
    if indptr[0] != 0 or indptr[-1] != nnz:
        raise ValueError(f"{name}: indptr must run from 0 to nnz = {nnz}")


def csr_forward(X, indptr, indices, values, out, threads=1):
    r"""Forward product of a sparse layer, ``out = Wᵀ X``, from its row-compressed links.

    Parameters
    ----------
    X : ndarray of shape (n_in, B)
        Input activations, feature-major.
    indptr : ndarray of shape (n_in + 1,), int64
        Row pointer: row ``i``'s links are ``indptr[i]:indptr[i + 1]``.
    indices : ndarray of shape (nnz,), int32
        Column of every link.
    values : ndarray of shape (nnz,), same dtype as ``X``
        Link weights.
    out : ndarray of shape (n_out, B)
        Overwritten with :math:`\mathrm{out}_{jb} = \sum_{k:\,c_k = j} w_k X_{r_k b}`.
    threads : int, default 1
        Ignored here (the compiled twin runs on one thread).

    Returns
    -------
    out : ndarray of shape (n_out, B)
    """
    _check("csr_forward", X.shape[0], indptr, indices, values.shape[0])
    return coo_forward(X, csr_rows(indptr), indices, values, out)


def csr_backward_update(X, D, indptr, indices, values, velocity, out, learning_rate, momentum,
                        weight_decay, coupled, threads=1, X_next=None, out_next=None):
    r"""One layer's backward step fused, from its row-compressed links.

    Defined as :func:`refset.kernels.coo.coo_backward_update` on the same links: ``out``
    (shape (n_in, B), or None for the first layer) receives ``W D`` with the weights before
    the update, and ``values`` and ``velocity`` take one SGD step with the gradient
    :math:`g_k = \sum_b X_{r_k b} D_{c_k b}` -- except that ``out`` is the delta of the
    layer's input through a ReLU, the next step of backpropagation: 0 wherever ``X`` (the
    previous layer's ReLU output) is not > 0.  A row whose activations are all zero is thus
    all 0 and has zero gradients, so the compiled twin gives its links only the SGD step and
    reads none of the deltas for them.

    ``X_next`` and ``out_next``, given together, also compute the next batch's forward
    product with the updated weights, ``csr_forward(X_next, indptr, indices, values,
    out_next)``: the compiled twin does it row by row while the row's links are in cache
    (the first layer of a network, whose next input is known, saves one pass over its links).

    Parameters
    ----------
    X : ndarray of shape (n_in, B)
    D : ndarray of shape (n_out, B)
    indptr, indices
        As in :func:`csr_forward`.
    values, velocity : ndarray of shape (nnz,)
        Updated in place.
    out : ndarray of shape (n_in, B) or None
        Overwritten with :math:`(W D) \odot [X > 0]`, the weights before the update.
    learning_rate, momentum, weight_decay, coupled
        As in :func:`refset.kernels.coo.sgd_update`.
    threads : int, default 1
        Ignored here (compiled kernels only).
    X_next : ndarray of shape (n_in, B'), optional
        The next batch's input activations.
    out_next : ndarray of shape (n_out, B'), optional
        Overwritten with ``Wᵀ X_next`` (updated weights); required with ``X_next``.

    Returns
    -------
    out : ndarray or None

    Examples
    --------
    >>> import numpy as np
    >>> X, D = np.array([[1.0], [2.0]]), np.array([[3.0]])
    >>> indptr, indices = np.array([0, 1, 2]), np.array([0, 0], dtype=np.int32)
    >>> w, v = np.array([0.5, -1.0]), np.zeros(2)
    >>> csr_backward_update(X, D, indptr, indices, w, v, np.empty((2, 1)), 0.1, 0.0, 0.0,
    ...                     True)[:, 0]
    array([ 1.5, -3. ])
    >>> w
    array([ 0.2, -1.6])
    """
    _check("csr_backward_update", X.shape[0], indptr, indices, values.shape[0])
    if (X_next is None) != (out_next is None):
        raise ValueError("csr_backward_update: give both X_next and out_next, or neither")
    coo_backward_update(X, D, csr_rows(indptr), indices, values, velocity, out, learning_rate,
                        momentum, weight_decay, coupled)
    if out is not None:
        out[~(X > 0)] = 0
    if X_next is not None:
        csr_forward(X_next, indptr, indices, values, out_next)
    return out
