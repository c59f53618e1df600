r"""Correlated sparse topological initialisation (CSTI) of CHT (ALGORITHMS §5.1).

Implements CSTI of Zhang et al. (ICLR 2024), §3.2 and Figure A4: the links of every sparse
layer are the largest entries of the absolute Pearson correlation matrix of the input features
(computed on training samples), tiled to the layer's shape.  Hidden activations are never
correlated: every layer reuses the input correlation.

For features ``a`` and ``b`` over ``n`` samples,

.. math:: C_{ab} = \left| \frac{\sum_s (x_{sa} - \mu_a)(x_{sb} - \mu_b)}
                              {n\,\sigma_a \sigma_b} \right|, \qquad C_{aa} = 0,

and ``C_ab = 0`` when feature ``a`` or ``b`` has zero variance (NaN in the authors' code, set
to 0 there too).  Width 1× (hidden = M): every layer uses ``C``.  Width 2× (hidden = 2M):
the first layer uses ``[C C]`` (input i feeds hidden j and j + M), later layers use
``[[C, C], [C, C]]``.

Memory stays bounded for wide inputs: ``C`` is computed one block of ``chunk_size`` rows at a
time (``chunk_size × M`` floats, plus a ``chunk_size × M`` slice of centred samples), only
its upper triangle (so ``C_ab`` and ``C_ba`` are the same float and tie exactly), and each
block is merged into a running top-K buffer per layer type.  ``C`` itself is never stored.

Draw order: for each layer in turn, the isolation repair
(:func:`refset.algorithms.topology.repair_isolation`), then its weights.

Deviations
----------
- Exactly ``K = round((1 - S) n_in n_out)`` links per layer (Python ``round``), ties broken by
  (row, col); the authors keep every entry reaching the K-th value (ties can add links).  If
  fewer than ``K`` entries are > 0, the rest are the first cells of value 0 in (row, col)
  order.
- Zero-variance features (constant over the samples) are detected exactly (max == min) and
  their inputs get no links (they are inactive).  Every other input, and every hidden neuron,
  must have a link in and out: isolated ones are repaired as in ALGORITHMS §1 (a link whose
  removal isolates nothing moves to the isolated neuron; see
  :func:`refset.algorithms.topology.repair_isolation`), which is random.  The authors' code leaves
  such neurons isolated.  ``K`` is capped at the number of allowed cells.
- The CHT authors' code (:mod:`refset.fidelity`) is reproduced by options: ``budget`` (the
  count of a random Bernoulli(1 − S) mask), ``ties=True`` (every correlation tied with the
  K-th is kept; a zero threshold still fills with zero cells in (row, col) order, where the
  authors' ``>=`` would take every cell), ``repair=False``, ``masked_weights=True`` (each
  link keeps its weight with probability 1 − S, independently).
- The correlation is summed over samples in chunks of ``chunk_size``, so its last bits (and
  hence the order of nearly equal entries) may depend on ``chunk_size``.

References
----------
Zhang, Y., Zhao, J., Wu, W., Muscoloni, A., Cannistraci, C. V. (2024). Epitopological learning
and Cannistraci-Hebb network shape intelligence brain-inspired theory for ultra-sparse
advantage in deep learning. ICLR 2024.
"""
import numpy as np

from .._validation import check_choice, check_float, check_int
from ..draws import as_draws
from .swi import SWI
from ..sparse import DTYPES, CooMatrix
from .topology import repair_isolation

__all__ = ["csti_layers", "csti_topology", "check_widths", "feature_correlation",
           "feature_statistics"]


def _check_X(X):
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must be a 2-D array (n_samples, n_features) with at least one "
                         f"sample and one feature, got shape {X.shape}")
    if not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)
            or X.dtype == bool):
        raise ValueError(f"X must be a real numeric array, got dtype {X.dtype}")
    return X


def feature_statistics(X, *, chunk_size=256):
    """Mean, standard deviation and zero-variance flag of every feature, in sample chunks.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    chunk_size : int, default 256
        Samples converted to float64 at a time.

    Returns
    -------
    mean, std : ndarray of shape (n_features,), float64
    constant : ndarray of shape (n_features,), bool
        True where the feature takes one value (max == min, exactly); its std is set to 0.

    Examples
    --------
    >>> import numpy as np
    >>> m, s, c = feature_statistics(np.array([[0.1, 1.0], [0.1, 3.0], [0.1, 5.0]]))
    >>> c.tolist(), round(float(s[1]), 6)
    ([True, False], 1.632993)
    """
    X = _check_X(X)
    chunk_size = check_int("chunk_size", chunk_size, 1)
    n, M = X.shape
    total = np.zeros(M)
    lo = np.full(M, np.inf)
    hi = np.full(M, -np.inf)
    for s in range(0, n, chunk_size):
        block = X[s:s + chunk_size].astype(np.float64)
        if not np.all(np.isfinite(block)):
            raise ValueError("X contains NaN or infinity")
        total += block.sum(axis=0)
        np.minimum(lo, block.min(axis=0), out=lo)
        np.maximum(hi, block.max(axis=0), out=hi)
    mean = total / n
    sq = np.zeros(M)
    for s in range(0, n, chunk_size):
        sq += ((X[s:s + chunk_size].astype(np.float64) - mean) ** 2).sum(axis=0)
    constant = lo == hi
    std = np.where(constant, 0.0, np.sqrt(sq / n))
    return mean, std, constant


def _correlation_blocks(X, mean, std, constant, chunk_size):
    """Yield ``(a0, R)``: ``R[ii, jj] = C[a0 + ii, a0 + jj]`` for a block of rows, cols >= a0."""
    n, M = X.shape
    inv = np.where(constant, 0.0, 1.0 / np.where(constant, 1.0, std * np.sqrt(n)))
    for a0 in range(0, M, chunk_size):
        a1 = min(a0 + chunk_size, M)
        G = np.zeros((a1 - a0, M - a0))
        for s in range(0, n, chunk_size):
            Z = X[s:s + chunk_size, a0:].astype(np.float64) - mean[a0:]
            G += Z[:, :a1 - a0].T @ Z
        G *= inv[a0:a1, None]
        G *= inv[None, a0:]
        np.abs(G, out=G)
        yield a0, G


def feature_correlation(X, *, chunk_size=256):
    """The dense absolute Pearson correlation matrix CSTI ranks (small M only: M × M floats).

    Zero-variance features have 0 correlation with everything, and the diagonal is 0.

    Parameters
    ----------
    X : array-like of shape (n_samples, M)
    chunk_size : int, default 256

    Returns
    -------
    ndarray of shape (M, M), float64, symmetric

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0, 5.0], [2.0, 4.0, 5.0], [3.0, 7.0, 5.0]])
    >>> feature_correlation(X).round(4)
    array([[0.    , 0.9934, 0.    ],
           [0.9934, 0.    , 0.    ],
           [0.    , 0.    , 0.    ]])
    """
    X = _check_X(X)
    mean, std, constant = feature_statistics(X, chunk_size=chunk_size)
    M = X.shape[1]
    C = np.zeros((M, M))
    for a0, R in _correlation_blocks(X, mean, std, constant, chunk_size):
        ii, jj = np.nonzero(np.arange(R.shape[1])[None, :] > np.arange(R.shape[0])[:, None])
        C[a0 + ii, a0 + jj] = R[ii, jj]
        C[a0 + jj, a0 + ii] = R[ii, jj]
    return C


class _TopK:
    """Running selection of the K best (value descending, linear index ascending)."""

    def __init__(self, k, ties=False):
        self.k = k
        self.ties = ties
        self.vals = np.empty(0)
        self.lins = np.empty(0, dtype=np.int64)
        self.threshold = -np.inf        # once full: nothing below the K-th value can enter

    def add(self, vals, lins):
        keep = vals >= self.threshold
        self.vals = np.concatenate([self.vals, vals[keep]])
        self.lins = np.concatenate([self.lins, lins[keep]])
        if self.vals.size > 2 * self.k:
            self._reduce()

    def _reduce(self):
        if self.vals.size <= self.k or self.k == 0:
            if self.k == 0:
                self.vals, self.lins = self.vals[:0], self.lins[:0]
            return
        kth = -np.partition(-self.vals, self.k - 1)[self.k - 1]
        above = self.vals > kth
        tie = np.flatnonzero(self.vals == kth)
        if not self.ties:
            tie = tie[np.argsort(self.lins[tie], kind="stable")[: self.k - int(above.sum())]]
        sel = np.concatenate([np.flatnonzero(above), tie])
        self.vals, self.lins = self.vals[sel], self.lins[sel]
        self.threshold = kth

    def result(self):
        """Selected linear indices, sorted."""
        self._reduce()
        return np.sort(self.lins)


def _fill_zero_cells(chosen, allowed_rows, n_out, count):
    """The first ``count`` cells of the allowed rows, in (row, col) order, not in ``chosen``."""
    out, need = [], count
    for r in allowed_rows:
        if need == 0:
            break
        cells = r * np.int64(n_out) + np.arange(n_out, dtype=np.int64)
        cells = cells[~np.isin(cells, chosen, assume_unique=True)][:need]
        out.append(cells)
        need -= cells.size
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


def csti_topology(X, widths, *, sparsity=0.99, chunk_size=256, budgets=None, ties=False):
    """The links CSTI selects, before the isolation repair (deterministic).

    Parameters
    ----------
    X, widths, sparsity, chunk_size
        As in :func:`csti_layers`.
    budgets : list of int or None
        Link count of each layer (None: ``round((1 - S) n_in n_out)``).
    ties : bool, default False
        Keep every entry tied with the K-th value (the authors' ``>= threshold``), so a layer
        may get more than K links.

    Returns
    -------
    linear : list of ndarray of int64
        Per sparse layer, the ``K`` selected linear indices ``row * n_out + col``, sorted.
    constant : ndarray of shape (M,), bool
        The zero-variance features (their inputs get no links).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0, 2.0, 0.0], [2.0, 4.1, 1.0], [3.0, 5.9, 0.0], [4.0, 8.0, 1.0]])
    >>> feature_correlation(X).round(3)
    array([[0.   , 1.   , 0.447],
           [1.   , 0.   , 0.474],
           [0.447, 0.474, 0.   ]])
    >>> lin, _ = csti_topology(X, (3, 6), sparsity=0.5)    # K = 9 cells of [C C]: 4 + 4 + 1
    >>> lin[0].tolist()                                     # the 0.447 tie goes to (0, 2)
    [1, 2, 4, 6, 8, 9, 11, 13, 16]
    """
    X = _check_X(X)
    n, M = X.shape
    shapes, m = check_widths(widths, M)
    sparsity = check_float("sparsity", sparsity, 0.0, 1.0, high_open=True)
    chunk_size = check_int("chunk_size", chunk_size, 1)
    mean, std, constant = feature_statistics(X, chunk_size=chunk_size)
    valid_rows = np.flatnonzero(~constant).astype(np.int64)
    if valid_rows.size == 0:
        raise ValueError("X has no feature with nonzero variance: CSTI has nothing to correlate")
    # layer kinds: 0 = first layer (M x mM), 1 = later layers (mM x mM); one K per kind
    allowed = [valid_rows.size * m * M, (m * M) ** 2]
    if budgets is None:
        budgets = [round((1 - sparsity) * a * b) for a, b in shapes]
    elif len(budgets) != len(shapes):
        raise ValueError(f"budgets must have one entry per sparse layer ({len(shapes)}), "
                         f"got {len(budgets)}")
    budgets = [min(int(k), allowed[min(l, 1)]) for l, k in enumerate(budgets)]
    for l, ((a, b), k) in enumerate(zip(shapes, budgets)):
        needed = max(valid_rows.size if l == 0 else a, b)
        if k < needed and not ties:
            raise ValueError(f"sparsity={sparsity:g} leaves layer {l} ({a} x {b}) {k} links, "
                             f"but {needed} are needed so that no active neuron is isolated")
    kinds = [0] + [1] * (len(shapes) - 1)
    keys = list(zip(kinds, budgets))              # layers of one kind and budget share a selection
    selectors = {key: _TopK(key[1], ties) for key in dict.fromkeys(keys)}

    width = m * M
    copies = np.arange(m, dtype=np.int64) * M
    for a0, R in _correlation_blocks(X, mean, std, constant, chunk_size):
        ii, jj = np.nonzero(R > 0)
        upper = jj > ii
        i, j, v = a0 + ii[upper], a0 + jj[upper], R[ii[upper], jj[upper]]
        i, j, v = np.concatenate([i, j]), np.concatenate([j, i]), np.concatenate([v, v])
        for (t, _), sel in selectors.items():
            keep = v >= sel.threshold
            if np.count_nonzero(keep) > sel.k:   # a tile of the K best has a value >= this
                keep &= v >= -np.partition(-v[keep], sel.k - 1)[sel.k - 1]
            ti, tj, tv = i[keep], j[keep], v[keep]
            row_copies = copies if t == 1 else copies[:1]
            r = (ti[:, None, None] + row_copies[None, :, None]).repeat(m, axis=2)
            c = (tj[:, None, None] + copies[None, None, :]).repeat(row_copies.size, axis=1)
            vals = np.broadcast_to(tv[:, None, None], r.shape)
            sel.add(vals.ravel(), (r * np.int64(width) + c).ravel())

    out = []
    for l, ((n_in, n_out), kind) in enumerate(zip(shapes, kinds)):
        chosen = selectors[keys[l]].result()
        k = budgets[l]
        if chosen.size < k:                 # fewer positive entries than links: zeros, in order
            rows_ok = valid_rows if kind == 0 else np.arange(n_in, dtype=np.int64)
            chosen = np.sort(np.concatenate([chosen, _fill_zero_cells(chosen, rows_ok, n_out,
                                                                      k - chosen.size)]))
        out.append(chosen)
    return out, constant


def check_widths(widths, M):
    """The layer shapes of ``widths`` and the multiple m (1 or 2) of CSTI's hidden widths.

    ``widths`` is the input width ``M`` followed by the hidden widths, all ``M`` (1x) or all
    ``2 M`` (2x); anything else is a ``ValueError``.

    Examples
    --------
    >>> check_widths([4, 8, 8], 4)
    ([(4, 8), (8, 8)], 2)
    """
    widths = [check_int(f"widths[{i}]", w, 1) for i, w in enumerate(widths)]
    if len(widths) < 2:
        raise ValueError(f"widths must list the input width and at least one layer width, "
                         f"got {widths}")
    if widths[0] != M:
        raise ValueError(f"widths[0] must be the number of features of X ({M}), got {widths[0]}")
    hidden = widths[1:]
    if all(h == M for h in hidden):
        m = 1
    elif all(h == 2 * M for h in hidden):
        m = 2
    else:
        raise ValueError(f"CSTI needs every hidden width equal to n_features ({M}, 1x) or to "
                         f"2 n_features ({2 * M}, 2x), got {hidden}")
    return list(zip(widths[:-1], widths[1:])), m


def csti_layers(X, widths, *, sparsity=0.99, rng, init=None, dtype=np.float64, chunk_size=256,
                budget="exact", ties=False, repair=True, masked_weights=False):
    """CSTI topology and weights for the sparse layers of an MLP (ALGORITHMS §5.1).

    Parameters
    ----------
    X : array-like of shape (n_samples, M)
        Training samples (the features are correlated over them); not copied whole.
    widths : sequence of int
        ``(M, h_1, ..., h_L)``: the input width then the output width of each sparse layer.
        The hidden widths must all be ``M`` (1×) or all ``2 M`` (2×).
    sparsity : float in [0, 1), default 0.99
        S; each layer gets ``K = round((1 - S) n_in n_out)`` links.
    rng : numpy.random.Generator
        For the isolation repair and the weights.
    init : callable, list of callables or None
        Weight initialiser(s) ``init(rng, size, fan_in, fan_out, dtype)``; None (and an unbound
        :class:`refset.algorithms.swi.SWI`) is SWI bound to each layer's density.
    dtype : float32 or float64, default float64
    chunk_size : int, default 256
        Rows of the correlation matrix (and samples) handled at a time.
    budget : "exact", "bernoulli" or list of int, default "exact"
        ``K = round((1 - S) n_in n_out)``; or (the CHT authors' code; quirk ``tie_inclusive``)
        the link count of a random Bernoulli(1 - S) mask, drawn by ``binomial`` per layer
        before anything else; or the counts themselves.
    ties : bool, default False
        Keep every correlation tied with the K-th value (quirk ``tie_inclusive``).
    repair : bool, default True
        Repair isolated neurons (False: the authors' code, quirk ``no_isolation_guard``).
    masked_weights : bool, default False
        The authors' initialisation (quirk ``masked_csti_weights``): each link keeps its
        drawn weight with probability ``1 - S`` (the random mask the dense weights were
        multiplied by had a link there) and is 0 otherwise; one ``random()`` per link after
        the layer's weights, kept where ``u >= S``.

    Returns
    -------
    list of CooMatrix
        One per sparse layer, canonical (with ``masked_weights``, with explicit zeros).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 12)); X[:, 3] = 1.0       # feature 3 is constant
    >>> layers = csti_layers(X, (12, 12, 12), sparsity=0.8, rng=rng)
    >>> [W.nnz for W in layers], round((1 - 0.8) * 144)
    ([29, 29], 29)
    >>> int(np.bincount(layers[0].rows, minlength=12)[3])        # no links from input 3
    0
    """
    X = _check_X(X)
    shapes, _ = check_widths(widths, X.shape[1])
    rng = as_draws(rng)
    if np.dtype(dtype) not in DTYPES:
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    inits = list(init) if isinstance(init, (list, tuple)) else [init] * len(shapes)
    if len(inits) != len(shapes):
        raise ValueError(f"init must have one entry per sparse layer ({len(shapes)}), "
                         f"got {len(inits)}")
    budgets = None
    if isinstance(budget, str):
        check_choice("budget", budget, ("exact", "bernoulli"))
        if budget == "bernoulli":
            budgets = [int(rng.binomial(a * b, 1 - sparsity)) for a, b in shapes]
    else:
        budgets = [check_int(f"budget[{l}]", b, 0) for l, b in enumerate(budget)]
    topology, constant = csti_topology(X, widths, sparsity=sparsity, chunk_size=chunk_size,
                                       budgets=budgets, ties=ties)
    valid_rows = np.flatnonzero(~constant).astype(np.int64)
    layers = []
    for l, ((n_in, n_out), chosen) in enumerate(zip(shapes, topology)):
        linear = (_repair(chosen, (n_in, n_out), valid_rows if l == 0 else None, rng) if repair
                  else chosen)
        init_l = SWI() if inits[l] is None else inits[l]
        if getattr(init_l, "sparsity", 0) is None and hasattr(init_l, "for_layer"):
            init_l = init_l.for_layer(n_in, n_out, linear.size)
        values = np.asarray(init_l(rng, linear.size, n_in, n_out, np.dtype(dtype)), dtype=dtype)
        if masked_weights:
            values[np.asarray(rng.random(linear.size)) < sparsity] = 0
        layers.append(CooMatrix.from_linear(linear, values, (n_in, n_out)))
    return layers


def _repair(linear, shape, rows_ok, rng):
    """Isolation repair restricted to the allowed rows (None: all rows)."""
    if rows_ok is None or rows_ok.size == shape[0]:
        return repair_isolation(linear, shape, rng)
    n_out = np.int64(shape[1])
    r, c = np.divmod(linear, n_out)
    rank = np.searchsorted(rows_ok, r)                  # every chosen row is allowed
    sub = repair_isolation(rank * n_out + c, (rows_ok.size, shape[1]), rng)
    sr, sc = np.divmod(sub, n_out)
    return rows_ok[sr] * n_out + sc
