r"""Sparse Evolutionary Training (SET): one topology update of one sparse layer.

Implements the SET procedure of Mocanu et al., Nat. Commun. 9, 2383 (2018), as restated by
Cavallaro et al. (2020) §2 and ALGORITHMS §2: after every epoch but the last, each sparse layer
loses a fraction ζ of its links (the negatives and the positives closest to zero) and regrows
as many at random empty positions.  Walk-through: tutorials/01_erdos_renyi_and_set.py.

The step is a pure function of ``(layer, zeta, rng)`` (plus keyword options), so another
implementation can replay it draw for draw from recorded uniforms (:mod:`refset.draws`).
Draw order: ``permutation`` of the isolated rows (increasing order before the shuffle),
``permutation`` of the isolated columns, one ``integers`` per unpaired isolated neuron (its
partner among the allowed cells of its line, in increasing order), ``subset`` of the ranks
of the remaining positions among the free cells (:func:`refset.algorithms.topology.sample_free`), then
the new weights in increasing (row, col) order.

Deviations
----------
- Regrowth samples among free positions directly (no rejection sampling, which the authors'
  code uses and which stalls in nearly dense layers such as a 3000 × 5 output layer).
- Isolation guard: if pruning empties a row or column, the first regrown links reconnect it
  (isolated rows paired with isolated columns in random order, any rest joined to a uniform
  partner).  The authors' code allows isolated neurons.  The guard takes precedence over
  ``allow_regrow_removed=False``: pairing may restore a just-removed link when nothing else
  can reconnect both ends with the available count.
- ``allow_regrow_removed=False`` in a layer with fewer free cells than links to regrow draws
  all of its regrowth among every unoccupied cell, just-removed ones included, so that the
  count is still conserved.
- ``prune="sign"`` (default) is the papers' rule, ⌊ζ n⌋ per sign.  The original code removes
  more: ``prune="original"`` reproduces its two thresholds exactly (ALGORITHMS §7; measured on
  20,000 random 300 × 200 weight sets: 1–3 links more per layer than ``"sign"``, every value
  tied at a threshold, and always the value closest to zero).  ``prune="magnitude"`` (the
  ⌊ζ nnz⌋ smallest :math:`|w|`) is what most later libraries do.
- ``guard=False`` (the original code, :mod:`refset.fidelity` quirk ``no_isolation_guard``)
  regrows every link uniformly among the free cells and lets neurons stay isolated.
- With the guard, a layer that already has an isolated neuron is refused (``ValueError``
  naming the rows and columns) rather than repaired: the guard spends this step's removed
  links on neurons this step isolated, and the papers are silent on older ones.  Layers refset
  builds never have one (Erdős–Rényi repairs at initialisation).
- Counts are ``math.floor(zeta * n)`` evaluated in double precision (so ζ = 0.29, n = 100
  gives 28, as the product is 28.999…).  Ties are broken by (:math:`|w|`, row, col).
"""
import math
from dataclasses import dataclass

import numpy as np

from .._validation import check_choice, check_float
from ..draws import as_draws
from .initializers import Normal
from ..sparse import CooMatrix
from .topology import isolated, sample_free

__all__ = ["SetStepResult", "original_thresholds", "select_prune", "set_step"]


@dataclass
class SetStepResult:
    """Outcome of :func:`set_step`.

    Attributes
    ----------
    layer : CooMatrix
        The new layer (canonical order).
    source : ndarray of int64, shape (nnz,)
        For each link of the new layer, its index in the old layer, or -1 if it was regrown
        (its optimizer state must start at 0).
    removed, regrown : ndarray of int64
        Sorted linear indices ``row * n_out + col`` of the removed and regrown links.
    """

    layer: CooMatrix
    source: np.ndarray
    removed: np.ndarray
    regrown: np.ndarray

    @property
    def overlap(self):
        """``|removed ∩ regrown| / |regrown|`` (NaN when nothing was regrown)."""
        if self.regrown.size == 0:
            return float("nan")
        at = np.minimum(np.searchsorted(self.removed, self.regrown), max(self.removed.size - 1, 0))
        both = np.count_nonzero(self.removed[at] == self.regrown) if self.removed.size else 0
        return both / self.regrown.size


def select_prune(values, zeta, rule="sign", *, with_zero=False):
    """Indices of the links to remove, in increasing order.

    Parameters
    ----------
    values : ndarray of shape (nnz,)
        Weights in canonical (row, col) order.
    zeta : float in [0, 1]
    rule : {"sign", "magnitude", "original"}
        ``"sign"``: the ⌊ζ n_neg⌋ negatives and the ⌊ζ n_pos⌋ positives closest to zero.
        ``"magnitude"``: the ⌊ζ nnz⌋ smallest :math:`|w|`.
        ``"original"``: the original code's thresholds (:func:`original_thresholds`): every
        link with ``t_neg <= w <= t_pos`` goes.
    with_zero : bool, default False
        For ``"original"``: compute the thresholds as if the values included one more 0 (the
        CHT authors' code sorts the whole masked dense matrix, whose non-links are zeros).

    Examples
    --------
    >>> import numpy as np
    >>> select_prune(np.array([-3.0, -0.1, 0.2, 5.0, -1.0, 0.4]), 0.5)
    array([1, 2])
    >>> v = np.array([-0.5, -0.4, -0.3, -0.2, -0.1, 0.15, 0.25, 0.35, 0.45, 0.55])
    >>> v[select_prune(v, 0.3, "original")].tolist(), v[select_prune(v, 0.3)].tolist()
    ([-0.3, -0.2, -0.1, 0.15, 0.25], [-0.1, 0.15])
    """
    if rule == "original":
        if values.size == 0:
            return np.empty(0, dtype=np.int64)
        t_neg, t_pos = original_thresholds(values, zeta, with_zero=with_zero)
        return np.flatnonzero((values >= t_neg) & (values <= t_pos)).astype(np.int64)
    if rule == "magnitude":
        groups = [np.arange(values.size)]
    else:
        groups = [np.flatnonzero(values < 0), np.flatnonzero(values > 0)]
    chosen = []
    for idx in groups:
        chosen.append(idx[_smallest(np.abs(values[idx]), math.floor(zeta * idx.size))])
    return np.sort(np.concatenate(chosen))


def original_thresholds(values, zeta, *, with_zero=False):
    """The two thresholds of the original SET code's removal (ALGORITHMS §7).

    With ``v`` the values sorted ascending and ``n`` their count: ``f`` is the first index of
    the smallest ``|v|``, ``L = n - (first index of the smallest |v| in reversed v)``,
    ``t_neg = v[int((1 - zeta) f)]`` and ``t_pos = v[int(min(n - 1, L + zeta (n - L)))]``,
    in the values' own precision.  The code keeps exactly the links with ``w > t_pos`` or
    ``w < t_neg``.

    Examples
    --------
    >>> import numpy as np
    >>> v = np.array([-0.5, -0.4, -0.3, -0.2, -0.1, 0.15, 0.25, 0.35, 0.45, 0.55])
    >>> [float(t) for t in original_thresholds(v, 0.3)]
    [-0.3, 0.25]
    """
    v = np.sort(values)
    if with_zero:
        v = np.sort(np.append(v, v.dtype.type(0)))
    n = v.size
    a = np.abs(v)
    first = int(np.argmin(a))
    last = n - int(np.argmin(a[::-1]))
    t_neg = v[int((1 - zeta) * first)]
    t_pos = v[int(min(n - 1, last + zeta * (n - last)))]
    return t_neg, t_pos


def _smallest(scores, k):
    """Indices of the ``k`` smallest scores, ties broken by index; O(n) via argpartition.

    Equal to ``np.argsort(scores, kind="stable")[:k]`` as a set.
    """
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    if k >= scores.size:
        return np.arange(scores.size)
    threshold = scores[np.argpartition(scores, k - 1)[k - 1]]
    below = np.flatnonzero(scores < threshold)
    ties = np.flatnonzero(scores == threshold)[: k - below.size]
    return np.concatenate([below, ties])


def _merge_sorted(kept, new):
    """Positions of ``kept`` and ``new`` (both sorted, disjoint) in their sorted union."""
    at_new = np.searchsorted(kept, new) + np.arange(new.size)
    is_new = np.zeros(kept.size + new.size, dtype=bool)
    is_new[at_new] = True
    return np.flatnonzero(~is_new), at_new


def _pick(cells, removed, forbid_removed, rng):
    """One cell drawn uniformly, avoiding ``removed`` when asked and possible."""
    if forbid_removed:
        allowed = cells[~np.isin(cells, removed)]
        cells = allowed if allowed.size else cells
    return cells[as_draws(rng).integers(cells.size)][None]


def _guard_links(kept, removed, shape, rng, forbid_removed):
    """Links (linear indices) that reconnect every empty row and column, at most one each."""
    n_in, n_out = shape
    rows, cols = np.divmod(kept, np.int64(n_out))
    iso_rows, iso_cols = isolated(rows, cols, shape)
    if iso_rows.size == 0 and iso_cols.size == 0:
        return np.empty(0, dtype=np.int64)
    rng = as_draws(rng)
    iso_rows = rng.permutation(iso_rows)
    iso_cols = rng.permutation(iso_cols)
    n_pairs = min(iso_rows.size, iso_cols.size)
    links = [iso_rows[:n_pairs] * np.int64(n_out) + iso_cols[:n_pairs]]
    # the unpaired rest (rows or columns, never both): every cell of an empty line is free
    for r in iso_rows[n_pairs:]:
        links.append(_pick(r * np.int64(n_out) + np.arange(n_out), removed, forbid_removed, rng))
    for c in iso_cols[n_pairs:]:
        links.append(_pick(np.arange(n_in) * np.int64(n_out) + c, removed, forbid_removed, rng))
    return np.concatenate(links)


def _check_not_isolated(layer):
    iso_rows, iso_cols = isolated(layer.rows, layer.cols, layer.shape)
    if iso_rows.size or iso_cols.size:
        where = "; ".join(f"{kind} {', '.join(map(str, idx[:5]))}{' ...' if idx.size > 5 else ''}"
                          for kind, idx in (("inputs (rows)", iso_rows),
                                            ("outputs (columns)", iso_cols)) if idx.size)
        raise ValueError(
            f"layer has isolated neurons before the update ({where}): set_step with "
            "guard=True needs every row and column linked (ALGORITHMS §0); repair the layer "
            "first (refset.algorithms.topology.repair_isolation) or pass guard=False")


def set_step(layer, zeta, rng, *, prune="sign", allow_regrow_removed=True, init=None,
             guard=True):
    """One SET topology update of one layer (ALGORITHMS §2).

    Parameters
    ----------
    layer : CooMatrix
        The layer before the update (not modified).
    zeta : float in [0, 1]
        Revise fraction; 0 keeps the topology (static sparse training).
    rng : numpy.random.Generator or refset.draws.Draws
        The source of every random choice; see the module docstring for the draw order.
    prune : {"sign", "magnitude", "original"}, default "sign"
        The papers' rule, the smallest :math:`|w|`, or the original code's thresholds
        (:func:`select_prune`).
    allow_regrow_removed : bool, default True
        Whether just-removed positions may be drawn again (True in the original code).
    init : callable or None
        Initialiser ``init(rng, size, fan_in, fan_out, dtype)`` for new weights; None gives
        ``Normal(0.1)``.
    guard : bool, default True
        Reconnect neurons that pruning left isolated (False: the original code, which
        allows isolated neurons; draws nothing for the guard).  With the guard, ``layer``
        must have no isolated neuron to begin with (ALGORITHMS §0): the guard spends removed
        links on neurons this step isolated, and cannot pay for older ones.

    Returns
    -------
    SetStepResult

    Raises
    ------
    ValueError
        If ``guard`` is true and a row or column of ``layer`` has no link (repair it first
        with :func:`refset.algorithms.topology.repair_isolation`, or pass ``guard=False``).

    Examples
    --------
    >>> import numpy as np
    >>> from refset.algorithms.erdos_renyi import erdos_renyi_layer
    >>> rng = np.random.default_rng(0)
    >>> W = erdos_renyi_layer(20, 10, 2.0, rng)
    >>> step = set_step(W, 0.3, rng)
    >>> step.layer.nnz == W.nnz, step.removed.size == step.regrown.size
    (True, True)
    """
    zeta = check_float("zeta", zeta, 0.0, 1.0)
    check_choice("prune", prune, ("sign", "magnitude", "original"))
    if guard:
        _check_not_isolated(layer)
    rng = as_draws(rng)
    n_in, n_out = layer.shape
    old = layer.linear()
    drop = select_prune(layer.values, zeta, prune)
    if drop.size == 0:
        return SetStepResult(layer.copy(), np.arange(layer.nnz, dtype=np.int64),
                             np.empty(0, np.int64), np.empty(0, np.int64))
    keep_mask = np.ones(layer.nnz, dtype=bool)
    keep_mask[drop] = False
    kept, removed = old[keep_mask], old[drop]
    k = removed.size

    guard_links = (_guard_links(kept, removed, layer.shape, rng, not allow_regrow_removed)
                   if guard else np.empty(0, dtype=np.int64))
    occupied = np.union1d(kept, guard_links) if guard_links.size else kept
    n_total = n_in * n_out
    rest = k - guard_links.size
    blocked = np.union1d(occupied, removed) if not allow_regrow_removed else occupied
    if n_total - blocked.size < rest:             # too few other cells: removed ones too
        blocked = occupied
    free = sample_free(blocked, n_total, rest, rng)
    regrown = np.sort(np.concatenate([guard_links, free]))
    new_values = (Normal() if init is None else init)(rng, k, n_in, n_out, layer.values.dtype)

    at_kept, at_new = _merge_sorted(kept, regrown)
    linear = np.empty(layer.nnz, dtype=np.int64)
    linear[at_kept], linear[at_new] = kept, regrown
    values = np.empty_like(layer.values)
    values[at_kept], values[at_new] = layer.values[keep_mask], new_values
    source = np.full(layer.nnz, -1, dtype=np.int64)
    source[at_kept] = np.flatnonzero(keep_mask)
    new_layer = CooMatrix.from_linear(linear, values, layer.shape)
    return SetStepResult(new_layer, source, removed, regrown)
