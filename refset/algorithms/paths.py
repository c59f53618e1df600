r"""Input-to-output paths of a sparse MLP: enumeration and the scalable identities.

Implements ALGORITHMS §4.1 for Path-Weight (Naji, Abtahi and Marvasti, *Efficient Sparse
Artificial Neural Networks*, arXiv 2103.07674, §II, Eqs. 2-4).  A network is a list of
``L`` canonical :class:`~refset.sparse.CooMatrix` layers, ``layers[l]`` of shape
``(n_l, n_{l+1})`` (0-based here), and ``scales`` holds one positive ``s_l`` per layer.  A
*path* takes one link per layer from an input to an output; its importance (Eqs. 2-3) is

.. math:: I(p) = \prod_l a_l(p), \qquad a_l = |w_l| / s_l .

Two ways to get at path quantities:

- **Enumeration** (:func:`enumerate_paths`): every path as a row of link indices, with its
  importance from the path-product kernel.  The textbook reference, for small networks
  (``P`` up to about 10^6).
- **Identities** (linear in the link count, exact up to rounding): with :math:`A^l` the
  normalised weights, forward sums :math:`F^0 = 1, F^{l+1} = (A^l)^\top F^l`, backward sums
  :math:`B^L = 1, B^l = A^l B^{l+1}`; node importance (Eq. 4)
  :math:`N(v) = F(v) B(v) = \sum_{p \ni v} I(p)`; connection importance
  :math:`S(u \to v) = F(u)\, a(u \to v)\, B(v) = \sum_{p \ni e} I(p)`; the weakest and the
  strongest path through each link by min-plus / max-plus passes over :math:`\log a`; path
  counts :math:`c^L = 1, c^l = M^l c^{l+1}` (``M`` the 0/1 mask).  The tests check every
  identity against enumeration.

Conventions
-----------
- Paths are ordered lexicographically by their nodes ``(input, ..., output)``, which is the
  lexicographic order of their link indices (links are canonical, sorted by (row, col)); the
  position in this order is the *canonical path index*.
- Only full paths count: a link from which no output can be reached (or which no input
  reaches) lies on no path.  Such links, possible only in networks that break the isolation
  invariant, get importance 0, weakest ``+inf`` and strongest ``-inf`` (the empty min / max).
- Weakest / strongest paths are returned as **natural logarithms** of importance (no underflow
  in deep networks); a zero weight gives ``log 0 = -inf``.
- All importances are float64 whatever the layers' dtype.

Deviations
----------
- ``sample_paths`` draws one link per layer following the path counts (each path with
  probability exactly 1 / P up to float64 rounding of the counts), which the paper does not
  need: it enumerates.
"""
import numpy as np

from ..kernels.backend import get_kernels
from .._validation import check_int
from ..draws import as_draws
from ..sparse import CooMatrix

__all__ = [
    "path_counts", "path_count", "path_nodes", "enumerate_paths", "sample_paths",
    "normalized_weights", "forward_sums", "backward_sums", "node_importance",
    "connection_importance", "total_importance", "weakest_path_through_links",
    "strongest_path_through_links",
]

_INT64_SAFE = 2.0**62     # float estimate of a count above which int64 could overflow
_FLOAT_EXACT = 2.0**53    # below this every partial sum of integer counts is exact in float64


# -- validation -------------------------------------------------------------------------------
def _check_network(layers, scales=None):
    """Validate a network (and its scales); returns ``(list of layers, scales as float64)``.

    Checks: a non-empty list or tuple of :class:`CooMatrix` whose shapes chain
    (``layers[l].shape[1] == layers[l + 1].shape[0]``), and ``scales`` None (all ones) or one
    finite positive number per layer.
    """
    if isinstance(layers, CooMatrix) or not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError("layers must be a non-empty list of CooMatrix layers")
    for l, W in enumerate(layers):
        if not isinstance(W, CooMatrix):
            raise ValueError(f"layers[{l}] must be a CooMatrix, got {type(W).__name__}")
    for l in range(1, len(layers)):
        if layers[l].shape[0] != layers[l - 1].shape[1]:
            raise ValueError(f"layers[{l}] has {layers[l].shape[0]} inputs but layers[{l - 1}] "
                             f"has {layers[l - 1].shape[1]} outputs")
    n_layers = len(layers)
    if scales is None:
        return list(layers), np.ones(n_layers)
    try:
        s = np.asarray(scales, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"scales must be a sequence of {n_layers} positive numbers, "
                         f"got {scales!r}") from None
    if s.shape != (n_layers,):
        raise ValueError(f"scales must hold one value per layer ({n_layers}), got shape {s.shape}")
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        raise ValueError(f"scales must be finite and positive, got {s.tolist()}")
    return list(layers), s


# -- counts -----------------------------------------------------------------------------------
def _float_counts(layers, direction, normalise=False):
    """Path counts in float64 (optionally rescaled per layer to a maximum of 1)."""
    if direction == "backward":
        c = np.ones(layers[-1].shape[1])
        out = [c]
        for W in reversed(layers):
            c = np.bincount(W.rows, weights=c[W.cols], minlength=W.shape[0])
            if normalise and c.max() > 0:
                c = c / c.max()
            out.append(c)
        return out[::-1]
    c = np.ones(layers[0].shape[0])
    out = [c]
    for W in layers:
        c = np.bincount(W.cols, weights=c[W.rows], minlength=W.shape[1])
        if normalise and c.max() > 0:
            c = c / c.max()
        out.append(c)
    return out


def path_counts(layers, direction="backward"):
    """Number of partial paths at every neuron, exact.

    Parameters
    ----------
    layers : list of CooMatrix
    direction : {"backward", "forward"}, default "backward"
        ``"backward"``: :math:`c(v)` = number of paths from ``v`` to any output
        (:math:`c^L = 1`, :math:`c^l = M^l c^{l+1}`, ALGORITHMS §4.1).  ``"forward"``: number
        of paths from any input to ``v``.  Paths through ``v``: forward times backward.

    Returns
    -------
    list of ndarray
        One array per neuron layer (inputs ... outputs), int64 while every count fits
        comfortably, otherwise of dtype object holding exact Python ints.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W0 = CooMatrix.from_dense(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> W1 = CooMatrix.from_dense(np.array([[1.0], [0.5]]))
    >>> [c.tolist() for c in path_counts([W0, W1])]
    [[2, 1], [1, 1], [1]]
    """
    if direction not in ("backward", "forward"):
        raise ValueError(f"direction must be 'backward' or 'forward', got {direction!r}")
    layers, _ = _check_network(layers)
    estimate = _float_counts(layers, direction)
    biggest = max(float(c.max()) if c.size else 0.0 for c in estimate)
    if biggest < _FLOAT_EXACT:
        return [np.rint(c).astype(np.int64) for c in estimate]
    dtype = np.int64 if biggest < _INT64_SAFE else object
    ordered = layers[::-1] if direction == "backward" else layers
    first = layers[-1].shape[1] if direction == "backward" else layers[0].shape[0]
    c = np.ones(first, dtype=dtype)
    out = [c]
    for W in ordered:
        dst, src, n_dst = ((W.rows, W.cols, W.shape[0]) if direction == "backward"
                           else (W.cols, W.rows, W.shape[1]))
        nxt = np.zeros(n_dst, dtype=dtype)
        np.add.at(nxt, dst, c[src])
        c = nxt
        out.append(c)
    return out[::-1] if direction == "backward" else out


def path_count(layers):
    """Total number ``P`` of input-to-output paths, as an exact Python int.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W0 = CooMatrix.from_dense(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> W1 = CooMatrix.from_dense(np.array([[1.0], [0.5]]))
    >>> path_count([W0, W1])
    3
    """
    return int(sum(int(x) for x in path_counts(layers)[0]))


# -- enumeration ------------------------------------------------------------------------------
def normalized_weights(layers, scales=None):
    """Per layer the normalised weights ``|w| / s_l`` (float64, aligned with ``values``).

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W = CooMatrix.from_dense(np.array([[-2.0, 4.0]]))
    >>> normalized_weights([W], [2.0])[0]
    array([1., 2.])
    """
    layers, s = _check_network(layers, scales)
    return [np.abs(W.values.astype(np.float64)) / s_l for W, s_l in zip(layers, s)]


def path_nodes(layers, paths):
    """Neuron of every path in every neuron layer, shape ``(P, L + 1)``.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W0 = CooMatrix.from_dense(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> W1 = CooMatrix.from_dense(np.array([[1.0], [0.5]]))
    >>> path_nodes([W0, W1], np.array([[2, 1]])).tolist()      # link 2 of W0 is (1, 1)
    [[1, 1, 0]]
    """
    layers, _ = _check_network(layers)
    paths = np.asarray(paths, dtype=np.int64)
    nodes = [W.rows[paths[:, l]] for l, W in enumerate(layers)]
    nodes.append(layers[-1].cols[paths[:, -1]])
    return np.stack(nodes, axis=1)


def enumerate_paths(layers, scales=None, *, max_paths=1_000_000, kernels=None):
    r"""Every input-to-output path and its importance (the textbook reference).

    Parameters
    ----------
    layers : list of CooMatrix
        ``layers[l]`` of shape ``(n_l, n_{l+1})``.
    scales : sequence of L positive floats or None
        ``s_l`` (None: all 1).
    max_paths : int, default 1_000_000
        Refuse (ValueError) to enumerate more paths than this.
    kernels : namespace or None
        Kernel backend for the products (None: the active one, :func:`refset.get_kernels`).

    Returns
    -------
    paths : ndarray of shape (P, L), int64
        Link index (canonical order of each layer) of every path, rows in canonical path
        order: lexicographic by ``(input, ..., output)``.
    importance : ndarray of shape (P,), float64
        :math:`I(p) = \prod_l |w_l(p)| / s_l` (Eqs. 2-3), from the path-product kernel.

    Raises
    ------
    ValueError
        If the network has more than ``max_paths`` paths; use the identities
        (:func:`node_importance`, :func:`connection_importance`,
        :func:`weakest_path_through_links`) instead.

    Notes
    -----
    Enumeration expands partial paths layer by layer (a vectorised depth-first order), then
    multiplies the factors with ``path_products`` (compiled twin in ``_ext/_paths.pyx``).

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W0 = CooMatrix.from_dense(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> W1 = CooMatrix.from_dense(np.array([[1.0], [0.5]]))
    >>> paths, importance = enumerate_paths([W0, W1])
    >>> paths.tolist(), importance.tolist()
    ([[0, 0], [1, 1], [2, 1]], [1.0, 1.0, 1.5])
    """
    layers, s = _check_network(layers, scales)
    max_paths = check_int("max_paths", max_paths, 0)
    n_paths = path_count(layers)
    if n_paths > max_paths:
        raise ValueError(
            f"the network has {n_paths} input-to-output paths, more than max_paths={max_paths}; "
            "path enumeration is the reference for small networks only: use the scalable "
            "identities node_importance, connection_importance and weakest_path_through_links "
            "(refset.algorithms.paths), or raise max_paths")
    paths = _enumerate(layers, n_paths)
    a = np.concatenate(normalized_weights(layers, s))
    offsets = np.cumsum([0] + [W.nnz for W in layers[:-1]]).astype(np.int64)
    kernels = get_kernels() if kernels is None else kernels
    importance = kernels.path_products(paths, offsets, a, np.empty(n_paths))
    return paths, importance


def _enumerate(layers, n_paths):
    """All full paths as a C-contiguous (P, L) int64 array, in canonical order."""
    n_layers = len(layers)
    counts = _float_counts(layers, "backward")
    if n_paths == 0:
        return np.empty((0, n_layers), dtype=np.int64)
    W = layers[0]
    columns = [np.flatnonzero(counts[1][W.cols] > 0)]      # links of layer 0 on a full path
    end = W.cols[columns[0]]
    for l in range(1, n_layers):
        W = layers[l]
        valid = np.flatnonzero(counts[l + 1][W.cols] > 0)
        ptr = np.searchsorted(W.rows[valid], np.arange(W.shape[0] + 1))
        first, n_out = ptr[end], ptr[end + 1] - ptr[end]
        parent = np.repeat(np.arange(end.size), n_out)
        within = np.arange(parent.size) - np.repeat(np.cumsum(n_out) - n_out, n_out)
        link = valid[first[parent] + within]
        columns = [c[parent] for c in columns] + [link]
        end = W.cols[link]
    paths = np.empty((columns[0].size, n_layers), dtype=np.int64)
    for l, c in enumerate(columns):
        paths[:, l] = c
    return paths


def sample_paths(layers, n, rng, *, kernels=None):
    """Draw ``n`` paths independently and uniformly among all input-to-output paths.

    Layer 0's link is drawn with probability proportional to the number of paths through it
    (:math:`c^1` of its output), every later link among the out-links of the current neuron
    proportionally to :math:`c^{l+1}` of its output; the product of these conditionals is
    ``1 / P`` for every path.

    Parameters
    ----------
    layers : list of CooMatrix
    n : int
        Number of paths (with replacement).
    rng : numpy.random.Generator
        Draw order: ``random(n)`` once per layer, layer 0 first (:mod:`refset.draws`).
    kernels : namespace or None
        Kernel backend for the inverse-CDF lookups (``segment_search``; None: the active one).

    Returns
    -------
    ndarray of shape (n, L), int64
        Link indices, as in :func:`enumerate_paths`.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W0 = CooMatrix.from_dense(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> W1 = CooMatrix.from_dense(np.array([[1.0], [0.5]]))
    >>> sample_paths([W0, W1], 4, np.random.default_rng(0)).shape
    (4, 2)
    """
    layers, _ = _check_network(layers)
    n = check_int("n", n, 0)
    kernels = get_kernels() if kernels is None else kernels
    counts = _float_counts(layers, "backward", normalise=True)
    if counts[0].sum() == 0:
        raise ValueError("the network has no input-to-output path to sample")
    rng = as_draws(rng)
    paths = np.empty((n, len(layers)), dtype=np.int64)
    end = None
    for l, W in enumerate(layers):
        w = counts[l + 1][W.cols]
        cum = np.cumsum(w)
        # index of the last positive-weight link at or before each position (clamp target)
        last_pos = np.maximum.accumulate(np.where(w > 0, np.arange(w.size), -1))
        u = rng.random(n)
        if l == 0:
            lo = np.zeros(n, dtype=np.int64)
            hi = np.full(n, W.nnz, dtype=np.int64)
        else:
            ptr = np.searchsorted(W.rows, np.arange(W.shape[0] + 1)).astype(np.int64)
            lo, hi = ptr[end], ptr[end + 1]
        base = np.where(lo > 0, cum[np.maximum(lo - 1, 0)], 0.0)
        span = cum[hi - 1] - base
        k = kernels.segment_search(cum, lo, hi, base + u * span, np.empty(n, dtype=np.int64))
        k = np.where(k >= hi, last_pos[hi - 1], k)      # u * span rounded up to the end
        paths[:, l] = k
        end = W.cols[k]
    return paths


# -- identities -------------------------------------------------------------------------------
def forward_sums(layers, scales=None):
    r"""Forward sums :math:`F^0 = 1`, :math:`F^{l+1} = (A^l)^\top F^l`.

    :math:`F(v)` is the sum of the importances of the partial paths from any input to ``v``.

    Returns
    -------
    list of ndarray, float64
        One array per neuron layer, inputs first.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W0 = CooMatrix.from_dense(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> W1 = CooMatrix.from_dense(np.array([[1.0], [0.5]]))
    >>> [f.tolist() for f in forward_sums([W0, W1])]
    [[1.0, 1.0], [1.0, 5.0], [3.5]]
    """
    layers, s = _check_network(layers, scales)
    return _forward_sums(layers, normalized_weights(layers, s))


def _forward_sums(layers, a):
    F = [np.ones(layers[0].shape[0])]
    for W, a_l in zip(layers, a):
        F.append(np.bincount(W.cols, weights=F[-1][W.rows] * a_l, minlength=W.shape[1]))
    return F


def backward_sums(layers, scales=None):
    r"""Backward sums :math:`B^L = 1`, :math:`B^l = A^l B^{l+1}`.

    :math:`B(v)` is the sum of the importances of the partial paths from ``v`` to any output.

    Returns
    -------
    list of ndarray, float64
        One array per neuron layer, inputs first.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W0 = CooMatrix.from_dense(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> W1 = CooMatrix.from_dense(np.array([[1.0], [0.5]]))
    >>> [b.tolist() for b in backward_sums([W0, W1])]
    [[2.0, 1.5], [1.0, 0.5], [1.0]]
    """
    layers, s = _check_network(layers, scales)
    return _backward_sums(layers, normalized_weights(layers, s))


def _backward_sums(layers, a):
    B = [np.ones(layers[-1].shape[1])]
    for W, a_l in zip(reversed(layers), reversed(a)):
        B.append(np.bincount(W.rows, weights=a_l * B[-1][W.cols], minlength=W.shape[0]))
    return B[::-1]


def _importances(layers, a):
    """(node importance per neuron layer, connection importance per layer) from factors."""
    F, B = _forward_sums(layers, a), _backward_sums(layers, a)
    nodes = [f * b for f, b in zip(F, B)]
    links = [F[l][W.rows] * a_l * B[l + 1][W.cols] for l, (W, a_l) in enumerate(zip(layers, a))]
    return nodes, links


def node_importance(layers, scales=None):
    r"""Node importance (Eq. 4): :math:`N(v) = F(v) B(v) = \sum_{p \ni v} I(p)`.

    Every neuron layer sums to the total importance ``T`` of all paths.

    Returns
    -------
    list of ndarray, float64
        One array per neuron layer (inputs, hidden layers, outputs).

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W0 = CooMatrix.from_dense(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> W1 = CooMatrix.from_dense(np.array([[1.0], [0.5]]))
    >>> [n.tolist() for n in node_importance([W0, W1])]
    [[2.0, 1.5], [1.0, 2.5], [3.5]]
    """
    layers, s = _check_network(layers, scales)
    a = normalized_weights(layers, s)
    F, B = _forward_sums(layers, a), _backward_sums(layers, a)
    return [f * b for f, b in zip(F, B)]


def connection_importance(layers, scales=None):
    r"""Connection importance :math:`S(u \to v) = F(u)\,a(u \to v)\,B(v) = \sum_{p \ni e} I(p)`.

    Every layer sums to the total importance ``T``.

    Returns
    -------
    list of ndarray, float64
        Per layer, aligned with that layer's ``values``.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W0 = CooMatrix.from_dense(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> W1 = CooMatrix.from_dense(np.array([[1.0], [0.5]]))
    >>> [s.tolist() for s in connection_importance([W0, W1])]
    [[1.0, 1.0, 1.5], [1.0, 2.5]]
    """
    layers, s = _check_network(layers, scales)
    return _importances(layers, normalized_weights(layers, s))[1]


def total_importance(layers, scales=None):
    r"""Total path importance :math:`T = \sum_p I(p)` (a float).

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W0 = CooMatrix.from_dense(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> W1 = CooMatrix.from_dense(np.array([[1.0], [0.5]]))
    >>> total_importance([W0, W1])
    3.5
    """
    return float(forward_sums(layers, scales)[-1].sum())


def _log_weights(a):
    with np.errstate(divide="ignore"):
        return [np.log(a_l) for a_l in a]


def _reach(layers, direction):
    """Per neuron layer, whether a partial path reaches the neuron from the inputs (forward)
    or leads from it to the outputs (backward)."""
    return [c > 0 for c in _float_counts(layers, direction, normalise=True)]


def _extreme_through_links(layers, log_a, op):
    """Min-plus (op = np.minimum) or max-plus (np.maximum) log importance through each link."""
    empty = np.inf if op is np.minimum else -np.inf
    fwd_reach, bwd_reach = _reach(layers, "forward"), _reach(layers, "backward")
    with np.errstate(invalid="ignore"):
        f = [np.zeros(layers[0].shape[0])]
        for l, (W, la) in enumerate(zip(layers, log_a)):
            g = np.full(W.shape[1], empty)
            op.at(g, W.cols, np.where(fwd_reach[l][W.rows], f[-1][W.rows] + la, empty))
            f.append(g)
        b = [np.zeros(layers[-1].shape[1])]
        for l in range(len(layers) - 1, -1, -1):
            W, la = layers[l], log_a[l]
            g = np.full(W.shape[0], empty)
            op.at(g, W.rows, np.where(bwd_reach[l + 1][W.cols], la + b[-1][W.cols], empty))
            b.append(g)
        b = b[::-1]
        out = []
        for l, (W, la) in enumerate(zip(layers, log_a)):
            on_path = fwd_reach[l][W.rows] & bwd_reach[l + 1][W.cols]
            out.append(np.where(on_path, f[l][W.rows] + la + b[l + 1][W.cols], empty))
    return out


def weakest_path_through_links(layers, scales=None):
    r"""Log importance of the weakest path through each link (min-plus over :math:`\log a`).

    Returns
    -------
    list of ndarray, float64
        Per layer, aligned with ``values``: :math:`\min_{p \ni e} \log I(p)`; ``-inf`` when a
        path through the link has a zero weight, ``+inf`` for a link on no path.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W0 = CooMatrix.from_dense(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> W1 = CooMatrix.from_dense(np.array([[1.0], [0.5]]))
    >>> [np.exp(w).round(12).tolist() for w in weakest_path_through_links([W0, W1])]
    [[1.0, 1.0, 1.5], [1.0, 1.0]]
    """
    layers, s = _check_network(layers, scales)
    return _extreme_through_links(layers, _log_weights(normalized_weights(layers, s)),
                                  np.minimum)


def strongest_path_through_links(layers, scales=None):
    r"""Log importance of the strongest path through each link (max-plus over :math:`\log a`).

    Returns
    -------
    list of ndarray, float64
        Per layer, aligned with ``values``: :math:`\max_{p \ni e} \log I(p)`; ``-inf`` for a
        link on no path or whose paths all have a zero weight.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W0 = CooMatrix.from_dense(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> W1 = CooMatrix.from_dense(np.array([[1.0], [0.5]]))
    >>> [np.exp(w).round(12).tolist() for w in strongest_path_through_links([W0, W1])]
    [[1.0, 1.0, 1.5], [1.0, 1.5]]
    """
    layers, s = _check_network(layers, scales)
    return _extreme_through_links(layers, _log_weights(normalized_weights(layers, s)),
                                  np.maximum)
