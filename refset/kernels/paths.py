"""Numpy twins of the compiled path kernels: the normative specification.

Each function here has a Cython twin with the same name and signature in ``_ext/_paths.pyx``
(compiled to ``refset.kernels._paths_cy``); the tests check that both agree (float64 to rtol 1e-12,
float32 to 1e-5).

Conventions
-----------
- A network of ``L`` sparse layers is flattened for the kernels: the per-link factors of all
  layers are concatenated into one vector ``a`` (layer ``l`` occupies
  ``a[offsets[l] : offsets[l] + nnz_l]``, links in canonical order), and a path is one row of
  ``paths``, shape ``(P, L)``, holding one *link index* per layer (an index into that layer's
  canonical link order).
- Outputs are preallocated by the caller and overwritten; each function also returns ``out``.

Examples
--------
>>> import numpy as np
>>> a = np.array([2.0, 3.0, 0.5, 10.0])      # layer 0: links 0, 1; layer 1: links 0, 1
>>> offsets = np.array([0, 2])
>>> paths = np.array([[0, 0], [1, 1]])
>>> path_products(paths, offsets, a, np.empty(2))
array([ 1., 30.])
"""
import numpy as np

__all__ = ["path_products", "segment_search"]


def path_products(paths, offsets, a, out):
    r"""Product of the per-link factors along each path.

    Parameters
    ----------
    paths : ndarray of shape (P, L), int64
        Link index of every path in every layer.
    offsets : ndarray of shape (L,), int64
        Start of layer ``l``'s factors in ``a``.
    a : ndarray of shape (sum of nnz,), float32 or float64
        Concatenated per-link factors, e.g. the normalised weights :math:`|w| / s_l`.
    out : ndarray of shape (P,), same dtype as ``a``
        Overwritten with :math:`\prod_l a[\mathrm{offsets}_l + \mathrm{paths}_{p l}]`,
        multiplied left to right (layer 0 first), in the dtype of ``a``.

    Returns
    -------
    out : ndarray of shape (P,)

    Notes
    -----
    Compiled twin in ``_ext/_paths.pyx`` (one pass over the paths, no temporaries); this
    numpy version is normative.

    Examples
    --------
    >>> import numpy as np
    >>> path_products(np.array([[1, 0]]), np.array([0, 2]), np.array([2.0, 3.0, 0.5]),
    ...               np.empty(1))
    array([1.5])
    """
    n_layers = paths.shape[1]
    if n_layers == 0:
        raise ValueError("path_products: paths must have at least one column (layer)")
    out[...] = a[offsets[0] + paths[:, 0]]
    for l in range(1, n_layers):
        out *= a[offsets[l] + paths[:, l]]
    return out


def segment_search(cum, lo, hi, target, out):
    r"""Inverse-CDF lookup restricted to segments: the first ``k`` in ``[lo_i, hi_i)`` with
    ``cum[k] > target_i``, or ``hi_i`` if there is none.

    Parameters
    ----------
    cum : ndarray of shape (n,), float64
        Non-decreasing (a cumulative sum of non-negative weights).
    lo, hi : ndarray of shape (m,), int64
        Segment bounds, ``0 <= lo_i <= hi_i <= n``.
    target : ndarray of shape (m,), float64
        Values with ``target_i >= cum[lo_i - 1]`` (or any value when ``lo_i = 0``).
    out : ndarray of shape (m,), int64
        Overwritten with the indices.

    Returns
    -------
    out : ndarray of shape (m,), int64

    Notes
    -----
    Compiled twin in ``_ext/_paths.pyx`` (a branch-free binary search inside each segment,
    much faster than a global search with random keys); this global ``searchsorted`` clamped
    to the segment is normative and gives the same integers.

    Examples
    --------
    >>> import numpy as np
    >>> cum = np.array([1.0, 1.0, 3.0, 4.0, 6.0])
    >>> segment_search(cum, np.array([0, 2]), np.array([2, 5]), np.array([0.5, 3.5]),
    ...                np.empty(2, dtype=np.int64))
    array([0, 3])
    """
    out[...] = np.clip(np.searchsorted(cum, target, side="right"), lo, hi)
    return out
