r"""CH3-L3 link prediction on one bipartite sparse layer (ALGORITHMS §5.4).

Implements the Cannistraci-Hebb rule of Zhang et al. (ICLR 2024), *Epitopological learning
and Cannistraci-Hebb network shape intelligence brain-inspired theory for ultra-sparse
advantage in deep learning*, §3.1: a missing link (u, v) of a layer (u an input, v an output)
is scored by the length-3 paths u – j – i – v that join it, each path weighted down by the
links of its two intermediate nodes that leave the local community.

.. math:: \mathrm{CH3\text{-}L3}(u, v) = \sum_{z_1, z_2 \in l_3(u, v)}
          \frac{1}{\sqrt{(1 + d^e_{z_1})(1 + d^e_{z_2})}}

where :math:`d^e_z` counts the links of an intermediate node ``z`` that go neither to another
intermediate of a u–v path (the local community) nor to u or v.  With ``C_in = X Xᵀ`` and
``C_out = Xᵀ X`` this equals the closed form of :mod:`refset.kernels.ch3`,
:math:`1 + d^e_j = d_j - C_{out}[j, v]` and :math:`1 + d^e_i = d_i - C_{in}[i, u]`.

Three implementations:

- :func:`ch3_l3_reference` enumerates the paths and local communities from the definition
  (pure Python, dense result: small layers only; it is the test oracle);
- :func:`ch3_l3_scores` returns every candidate's score, sparse, from the closed-form kernel;
- :func:`ch3_l3_top_k` streams the scores into a bounded heap and returns the ``k`` best
  non-links, never forming an n_in × n_out array (memory O(n_in + n_out + k + Σ_i d_i²)).

Deviations
----------
- Ties are broken deterministically by (score descending, row, col).  The authors' code keeps
  every candidate whose score reaches the k-th score (so ties can add more than k links).
- Sub-ranking by shortest paths and Spearman correlation (Zhang et al., Appendix J) is not
  implemented; the paper did not use it.
- Both kernel backends add a score's terms in the same order, so they agree bit for bit and
  rank ties identically.  The tie-break applies to *computed* scores that are equal: two
  scores that are equal mathematically but summed from different terms can differ in the last
  bits (e.g. 4 + 5√2 as 11.071067811865479 and …477) and are then ranked by those bits.  A
  port that sums in another order may rank such pairs the other way; the oracle's cases are
  drawn so that no top-k boundary is that close (found by the independent PyTorch port).

References
----------
Zhang, Y., Zhao, J., Wu, W., Muscoloni, A., Cannistraci, C. V. (2024). Epitopological learning
and Cannistraci-Hebb network shape intelligence brain-inspired theory for ultra-sparse
advantage in deep learning. ICLR 2024.
"""
import numpy as np

from ..kernels.backend import get_kernels
from .._validation import check_int
from ..sparse import CooMatrix

__all__ = ["ch3_l3_reference", "ch3_l3_scores", "ch3_l3_top_k", "ch3_l3_capacity"]


def _layer_arrays(layer):
    if not isinstance(layer, CooMatrix):
        raise ValueError(f"layer must be a CooMatrix, got {type(layer).__name__}")
    layer.check(allow_zeros=True, name="layer")
    return (np.ascontiguousarray(layer.rows, dtype=np.int64),
            np.ascontiguousarray(layer.cols, dtype=np.int64), *layer.shape)


def ch3_l3_reference(layer):
    """CH3-L3 scores from the definition: enumerate paths and local communities (slow).

    Parameters
    ----------
    layer : CooMatrix
        Only the topology is used.

    Returns
    -------
    ndarray of shape (n_in, n_out), float64
        Score of every non-link; 0 on the links and where no length-3 path exists.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> X = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 1], [1, 0, 0, 1]], float)
    >>> S = ch3_l3_reference(CooMatrix.from_dense(X))
    >>> np.round(S ** 2, 12)
    array([[0., 0., 2., 2.],
           [0., 2., 0., 2.],
           [9., 0., 0., 0.],
           [0., 2., 2., 0.]])
    """
    rows, cols, n_in, n_out = _layer_arrays(layer)
    n_of_in = [set() for _ in range(n_in)]          # N(i): outputs of input i
    n_of_out = [set() for _ in range(n_out)]        # N(j): inputs of output j
    for r, c in zip(rows.tolist(), cols.tolist()):
        n_of_in[r].add(c)
        n_of_out[c].add(r)
    S = np.zeros((n_in, n_out))
    for u in range(n_in):
        for v in range(n_out):
            if v in n_of_in[u]:
                continue
            paths = [(j, i) for j in sorted(n_of_in[u]) for i in sorted(n_of_out[j])
                     if i != u and v in n_of_in[i]]
            if not paths:
                continue
            community_j = {j for j, _ in paths}      # intermediate outputs
            community_i = {i for _, i in paths}      # intermediate inputs
            total = 0.0
            for j, i in paths:
                de_j = len(n_of_out[j] - community_i - {u})   # j's links leaving the community
                de_i = len(n_of_in[i] - community_j - {v})
                total += 1.0 / np.sqrt((1 + de_j) * (1 + de_i))
            S[u, v] = total
    return S


def ch3_l3_capacity(layer):
    """Upper bound on the number of candidates (non-links with a score > 0), per row.

    ``min(n_out - d_u, Σ_{j ∈ N(u)} Σ_{i ∈ N(j), i ≠ u} (d_i - 1))`` for every input ``u``:
    the buffer size :func:`ch3_l3_scores` allocates.

    Returns
    -------
    ndarray of shape (n_in,), int64

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> X = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 1], [1, 0, 0, 1]], float)
    >>> ch3_l3_capacity(CooMatrix.from_dense(X)).tolist()
    [2, 2, 1, 2]
    """
    rows, cols, n_in, n_out = _layer_arrays(layer)
    d_in = np.bincount(rows, minlength=n_in)
    t = np.bincount(cols, weights=(d_in - 1)[rows].astype(np.float64), minlength=n_out)
    work = np.bincount(rows, weights=t[cols], minlength=n_in) - d_in * (d_in - 1.0)
    return np.maximum(0, np.minimum(n_out - d_in, work)).astype(np.int64)


def ch3_l3_scores(layer, *, kernels=None):
    """CH3-L3 scores of all non-links that have at least one length-3 path.

    Parameters
    ----------
    layer : CooMatrix
        Only the topology is used.
    kernels : namespace or None
        A kernel backend (:func:`refset.get_kernels`); None is the active one.

    Returns
    -------
    linear : ndarray of int64, sorted
        Linear indices ``row * n_out + col`` of the candidates.
    scores : ndarray of float64
        Their scores, all > 0.

    Notes
    -----
    The result holds every candidate, which for a layer whose length-3 paths reach most cells
    approaches n_in × n_out entries; :func:`ch3_l3_top_k` needs no such buffer.  The kernel
    (``kernels.ch3_l3_scores``) has a numpy twin in :mod:`refset.kernels.ch3`, the
    normative closed form.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> X = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 1], [1, 0, 0, 1]], float)
    >>> lin, s = ch3_l3_scores(CooMatrix.from_dense(X))
    >>> lin.tolist(), np.round(s ** 2, 12).tolist()
    ([2, 3, 5, 7, 8, 13, 14], [2.0, 2.0, 2.0, 2.0, 9.0, 2.0, 2.0])
    """
    rows, cols, n_in, n_out = _layer_arrays(layer)
    kernels = get_kernels() if kernels is None else kernels
    cap = int(ch3_l3_capacity(layer).sum())
    out_linear = np.empty(cap, dtype=np.int64)
    out_scores = np.empty(cap, dtype=np.float64)
    n = kernels.ch3_l3_scores(rows, cols, n_in, n_out, out_linear, out_scores)
    if n < cap:
        return out_linear[:n].copy(), out_scores[:n].copy()
    return out_linear, out_scores


def ch3_l3_top_k(layer, k, *, exclude=None, kernels=None, return_scores=False):
    """The ``k`` non-links with the highest CH3-L3 scores.

    Parameters
    ----------
    layer : CooMatrix
        Only the topology is used.
    k : int >= 0
        How many links to predict.
    exclude : array-like of int or None
        Linear indices ``row * n_out + col`` that must not be returned.
    kernels : namespace or None
        A kernel backend (:func:`refset.get_kernels`); None is the active one.
    return_scores : bool, default False
        Also return the chosen links' scores.

    Returns
    -------
    linear : ndarray of int64
        At most ``k`` linear indices in rank order: score descending, then row, then column
        ascending.  Only non-links with a score > 0 qualify, so fewer than ``k`` come back
        when fewer exist.
    scores : ndarray of float64
        Only with ``return_scores=True``.

    Notes
    -----
    Streams each row's scores into a heap of size ``k``: memory O(n_in + n_out + k + Σ_i d_i²),
    no n_in × n_out array.  The kernel (``kernels.ch3_l3_top_k``) has a numpy twin in
    :mod:`refset.kernels.ch3`, which is normative.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> X = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 1], [1, 0, 0, 1]], float)
    >>> W = CooMatrix.from_dense(X)
    >>> ch3_l3_top_k(W, 3).tolist()          # (2, 0) scores 3, then ties of sqrt(2) by (row, col)
    [8, 2, 3]
    >>> ch3_l3_top_k(W, 2, exclude=[8]).tolist()
    [2, 3]
    """
    rows, cols, n_in, n_out = _layer_arrays(layer)
    k = check_int("k", k, 0)
    if exclude is None:
        exclude = np.empty(0, dtype=np.int64)
    else:
        exclude = np.unique(np.asarray(exclude, dtype=np.int64))
    kernels = get_kernels() if kernels is None else kernels
    k_eff = min(k, n_in * n_out - rows.size)
    out_linear = np.empty(k_eff, dtype=np.int64)
    out_scores = np.empty(k_eff, dtype=np.float64)
    n = kernels.ch3_l3_top_k(rows, cols, n_in, n_out, exclude, out_linear, out_scores)
    if return_scores:
        return out_linear[:n], out_scores[:n]
    return out_linear[:n]
