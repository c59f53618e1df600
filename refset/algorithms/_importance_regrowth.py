"""Removal with an isolation guard and regrowth from important sources (Path-Weight, Sensitivity).

Shared by :mod:`refset.algorithms.path_weight` and :mod:`refset.algorithms.sensitivity`
(ALGORITHMS §4.2-4.3, §4.5).  Both methods score every link, remove the lowest-scoring
candidates of each layer without isolating a neuron, and regrow links whose *source* (an input
neuron of the layer) is drawn with probability proportional to a node importance and whose
*target* is uniform among the outputs the source is not yet linked to.

Rules (normative for both methods)
----------------------------------
- **Removal** (:func:`guarded_smallest`): candidates in order of (score, row, col); each is
  removed unless its removal would leave its row or its column without a link (in a layer
  that is exactly "no isolated neuron", ALGORITHMS §0); stop after ``k`` removals or when the
  candidates run out (then fewer are removed, and as many are regrown).
- **Regrowth, count conserved** (:func:`regrow_conserved`): as many links as were removed.
  Sources i.i.d. with probability proportional to ``weights`` over the sources that still
  have a free target; a source drawn more often than it has free targets gives the excess
  draws back, which are redrawn among the sources that still have room (the same law as
  drawing sources one at a time and redrawing a saturated one).  Each source then receives
  its draws as a uniform random subset of its free targets.  A target is free when the
  source is not linked to it and the link was not removed in this update.  If the layer has
  fewer free cells than links to regrow (a nearly dense layer, e.g. a dense output layer),
  the just-removed cells become eligible again for that layer (``regrow_fallback``).  If
  every source with room has weight 0, the sources with room are drawn uniformly.
- **Regrowth, count_rule "paper"** (:func:`regrow_paper`): every source independently gains
  one link with probability ``min(1, delta * w(s) / max w)``; the link count drifts.
- New weights come from the initialiser after every layer's topology is fixed, layer by
  layer, in increasing (row, col) order; their optimizer state must start at 0.

Counts ``⌈ζ n⌉`` and ``⌊ζ n⌋`` are computed by :func:`fraction_count`, which snaps a product
within 1e-9 (relative) of an integer to that integer, so that ζ = 0.07 and n = 100 gives 7 for
both roundings instead of following the double product's last bit.
"""
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from ..draws import as_draws
from .initializers import Normal
from ..sparse import CooMatrix

__all__ = ["EvolutionStepResult", "fraction_count", "guarded_smallest", "uniform_subsets",
           "regrow_conserved", "regrow_paper", "per_layer_inits", "apply_topology"]


@dataclass
class EvolutionStepResult:
    """Outcome of one Path-Weight or Sensitivity update of a whole network.

    Attributes
    ----------
    layers : list of CooMatrix
        The new layers (canonical order; the inputs are not modified).
    sources : list of ndarray of int64
        Per layer, for each link of the new layer its index in the old layer, or -1 for a new
        link (whose momentum must start at 0).
    removed, regrown : list of ndarray of int64
        Per layer, sorted linear indices ``row * n_out + col`` of the removed and new links.
    info : dict
        JSON-able scalars and lists describing the update (see the step functions).
    """

    layers: list
    sources: list
    removed: list
    regrown: list
    info: dict = field(default_factory=dict)

    def overlap(self):
        """Per layer ``|removed ∩ regrown| / |regrown|`` (None when nothing was regrown).

        Examples
        --------
        >>> import numpy as np
        >>> r = EvolutionStepResult([], [], [np.array([1, 5])], [np.array([5, 7])])
        >>> r.overlap()
        [0.5]
        """
        out = []
        for rem, new in zip(self.removed, self.regrown):
            out.append(None if new.size == 0 else np.intersect1d(rem, new).size / new.size)
        return out


def fraction_count(fraction, n, rounding):
    """``⌈fraction · n⌉`` or ``⌊fraction · n⌋``, snapping near-integers (see module docstring).

    Examples
    --------
    >>> fraction_count(0.07, 100, "ceil"), 0.07 * 100
    (7, 7.000000000000001)
    >>> fraction_count(0.29, 100, "floor"), fraction_count(0.25, 10, "ceil")
    (29, 3)
    """
    if abs(n) > 2**53:              # beyond float64 integers: the exact product of the double
        x = Fraction(float(fraction)) * n
        return int(math.ceil(x) if rounding == "ceil" else math.floor(x))
    x = float(fraction) * n
    nearest = round(x)
    if abs(x - nearest) <= 1e-9 * max(1.0, abs(x)):
        return int(nearest)
    return int(math.ceil(x) if rounding == "ceil" else math.floor(x))


def _smallest(scores, index, k):
    """Positions of the ``k`` smallest ``(scores, index)`` pairs (``index`` increasing), O(n)."""
    if k >= scores.size:
        return np.arange(scores.size)
    threshold = scores[np.argpartition(scores, k - 1)[k - 1]]
    below = np.flatnonzero(scores < threshold)
    ties = np.flatnonzero(scores == threshold)
    return np.concatenate([below, ties[np.argsort(index[ties], kind="stable")][: k - below.size]])


def _rank_within(keys):
    """1-based rank of each element among the equal keys before it (in array order)."""
    if keys.size == 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    group_start = np.repeat(starts, np.diff(np.r_[starts, keys.size]))
    rank = np.empty(keys.size, dtype=np.int64)
    rank[order] = np.arange(keys.size) - group_start + 1
    return rank


def guarded_smallest(scores, candidates, k, layer):
    """The ``k`` lowest-scoring candidates whose removal isolates no neuron.

    Parameters
    ----------
    scores : ndarray of shape (nnz,)
        Score of every link of ``layer`` (canonical order).
    candidates : ndarray of int64
        Link indices eligible for removal.
    k : int
        Links to remove.
    layer : CooMatrix

    Returns
    -------
    chosen : ndarray of int64
        Sorted link indices to remove (``min(k, ...)`` of them).
    skipped : int
        Candidates passed over because removing them would empty a row or a column.

    Notes
    -----
    Candidates are visited in order of (score, row, col) (stable; link indices are in (row,
    col) order); a candidate is skipped when its row or its column has one link left.  The
    ``k`` smallest are first selected in O(n) and checked at once (the common case: removing
    all of them isolates nothing, so none is skipped); otherwise the sorted visit takes the
    prefix up to the first skip at once and continues one candidate at a time.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W = CooMatrix.from_dense(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> guarded_smallest(np.array([0.1, 0.2, 0.3]), np.arange(3), 2, W)   # 0 and 2 would isolate
    (array([1]), 2)
    """
    candidates = np.asarray(candidates, dtype=np.int64)
    k = min(int(k), candidates.size)
    if k <= 0:
        return np.empty(0, dtype=np.int64), 0
    row_deg, col_deg = layer.degrees()
    # fast path: the k smallest as a set (ties by index); if removing all of them isolates
    # nothing, no candidate is ever skipped and the visit order does not matter
    head = np.sort(candidates[_smallest(scores[candidates], candidates, k)])
    if (np.all(np.bincount(layer.rows[head], minlength=row_deg.size) < row_deg + (row_deg == 0))
            and np.all(np.bincount(layer.cols[head], minlength=col_deg.size)
                       < col_deg + (col_deg == 0))):
        return head, 0
    order = candidates[np.lexsort((candidates, scores[candidates]))]
    head = order[:k]
    r, c = layer.rows[head], layer.cols[head]
    bad = (row_deg[r] - _rank_within(r) < 1) | (col_deg[c] - _rank_within(c) < 1)
    first = int(np.argmax(bad))
    taken = [head[:first]]
    row_deg = row_deg - np.bincount(r[:first], minlength=row_deg.size)
    col_deg = col_deg - np.bincount(c[:first], minlength=col_deg.size)
    # sequential visit from the first candidate that would isolate a neuron
    rest = order[first:]
    rd, cd = row_deg.tolist(), col_deg.tolist()
    need = k - first
    picked, skipped = [], 0
    for i, (ri, ci) in enumerate(zip(layer.rows[rest].tolist(), layer.cols[rest].tolist())):
        if rd[ri] > 1 and cd[ci] > 1:
            rd[ri] -= 1
            cd[ci] -= 1
            picked.append(i)
            if len(picked) == need:
                break
        else:
            skipped += 1
    taken.append(rest[np.array(picked, dtype=np.int64)])
    return np.sort(np.concatenate(taken)), skipped


def _blocked(layer, keep_mask, allow_removed):
    """Sorted linear indices a new link may not take, and the free targets per source."""
    old = layer.linear()
    blocked = old[keep_mask] if allow_removed else old
    n_in, n_out = layer.shape
    caps = n_out - np.bincount(blocked // np.int64(n_out), minlength=n_in)
    return blocked, caps


def _to_linear(blocked, shape, src, ranks):
    """Sorted linear indices of the ``ranks``-th free target (0-based) of each source ``src``."""
    n_in, n_out = shape
    row_start = np.arange(n_in, dtype=np.int64) * np.int64(n_out)
    free_before_row = row_start - np.searchsorted(blocked, row_start)
    global_rank = np.sort(free_before_row[src] + ranks)      # sorted keys: fast searches
    before = blocked - np.arange(blocked.size, dtype=np.int64)
    return global_rank + np.searchsorted(before, global_rank, side="right")


def _source_counts(weights, caps, k, rng):
    """How many new links each source gets: i.i.d. draws ∝ weights, excess redrawn."""
    rng = as_draws(rng)
    n = weights.size
    counts = np.zeros(n, dtype=np.int64)
    need = int(k)
    while need > 0:
        room = counts < caps
        w = np.where(room, weights, 0.0)
        if np.isinf(w).any():
            w = np.isinf(w).astype(np.float64)
        total = w.sum()
        if not total > 0:
            w = room.astype(np.float64)
            total = w.sum()
        draws = rng.choice(n, size=need, p=w)
        counts += np.bincount(draws, minlength=n)
        excess = np.maximum(counts - caps, 0)
        counts -= excess
        need = int(excess.sum())
    return counts


def uniform_subsets(sizes, counts, rng):
    """For each ``i``, a uniform random subset of ``counts[i]`` distinct ranks in ``[0, sizes[i])``.

    The ``subsets`` transform of :mod:`refset.draws` (rounds of draws that skip values a group
    already has; a group needing more than half of its range draws what it leaves out).

    Parameters
    ----------
    sizes, counts : ndarray of int64, ``0 <= counts <= sizes``
    rng : numpy.random.Generator or refset.draws.Draws

    Returns
    -------
    owner, ranks : ndarray of int64
        ``ranks[j]`` belongs to subset ``owner[j]``; ``sum(counts)`` entries, sorted by
        (owner, rank).

    Examples
    --------
    >>> import numpy as np
    >>> owner, ranks = uniform_subsets(np.array([5, 3]), np.array([2, 3]),
    ...                                np.random.default_rng(0))
    >>> sorted(ranks[owner == 1].tolist()), int(np.sum(owner == 0))
    ([0, 1, 2], 2)
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    counts = np.asarray(counts, dtype=np.int64)
    if np.any(counts < 0) or np.any(counts > sizes):
        raise ValueError("counts must be in [0, sizes]")
    return as_draws(rng).subsets(sizes, counts)


def regrow_conserved(layer, keep_mask, k, weights, rng):
    """Positions of ``k`` new links, sources ∝ ``weights`` (module docstring, Rules).

    Parameters
    ----------
    layer : CooMatrix
        The layer before removal.
    keep_mask : ndarray of bool, shape (nnz,)
        False for the links removed in this update.
    k : int
        Links to regrow.
    weights : ndarray of shape (n_in,), float64, non-negative
        Source weights (node importance).
    rng : numpy.random.Generator or refset.draws.Draws
        Draw order: the source draws (``choice`` with ``p = weights`` over the sources with
        room, repeated for the excess draws), then the targets of all sources at once
        (``subsets`` of their free targets, sources in increasing order; :mod:`refset.draws`).

    Returns
    -------
    regrown : ndarray of int64
        Sorted linear indices of the new links.
    fallback : bool
        True when the just-removed cells had to be allowed (too few free cells otherwise).

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W = CooMatrix.from_dense(np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 4.0]]))
    >>> keep = np.array([True, True, False, True])            # remove (1, 1)
    >>> regrow_conserved(W, keep, 1, np.array([1.0, 0.0]), np.random.default_rng(0))
    (array([2]), False)
    """
    n_in, n_out = layer.shape
    rng = as_draws(rng)
    k = int(k)
    if k == 0:
        return np.empty(0, dtype=np.int64), False
    blocked, caps = _blocked(layer, keep_mask, allow_removed=False)
    fallback = int(caps.sum()) < k
    if fallback:
        blocked, caps = _blocked(layer, keep_mask, allow_removed=True)
        if int(caps.sum()) < k:
            raise ValueError(f"cannot regrow {k} links in a {n_in} x {n_out} layer with "
                             f"{int(keep_mask.sum())} kept links")
    counts = _source_counts(np.asarray(weights, dtype=np.float64), caps, k, rng)
    sources = np.flatnonzero(counts)
    owner, ranks = uniform_subsets(caps[sources], counts[sources], rng)
    return _to_linear(blocked, layer.shape, sources[owner], ranks), fallback


def regrow_paper(layer, keep_mask, weights, delta, rng):
    """New links by the paper's count rule: source ``s`` gains one link w.p. min(1, δ w(s) / max w).

    Parameters
    ----------
    layer, keep_mask, weights :
        As in :func:`regrow_conserved`.
    delta : float >= 0
    rng : numpy.random.Generator or refset.draws.Draws
        Draw order: ``random(n_in)`` (one Bernoulli draw per source), then one ``integers``
        per growing source, in increasing order (its target among its free ones).

    Returns
    -------
    regrown : ndarray of int64
        Sorted linear indices; a source without a free target (just-removed cells are not
        free) gains nothing.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W = CooMatrix.from_dense(np.array([[1.0, 2.0, 0.0], [0.0, 3.0, 4.0]]))
    >>> keep = np.ones(4, dtype=bool)
    >>> regrow_paper(W, keep, np.array([1.0, 0.0]), 1.0, np.random.default_rng(0))
    array([2])
    """
    n_in, n_out = layer.shape
    rng = as_draws(rng)
    weights = np.asarray(weights, dtype=np.float64)
    blocked, caps = _blocked(layer, keep_mask, allow_removed=False)
    top = weights.max() if weights.size else 0.0
    p = np.minimum(1.0, delta * weights / top) if top > 0 else np.zeros(n_in)
    grow = (rng.random(n_in) < p) & (caps > 0)
    src = np.flatnonzero(grow)
    if src.size == 0:
        return np.empty(0, dtype=np.int64)
    ranks = rng.integers(0, caps[src])
    return _to_linear(blocked, layer.shape, src, ranks.astype(np.int64))


def per_layer_inits(init, n_layers):
    """One initialiser per layer from None (``Normal(0.1)``), a callable, or a list of them.

    Examples
    --------
    >>> per_layer_inits(None, 2)
    [Normal(std=0.1), Normal(std=0.1)]
    """
    if init is None or callable(init):
        return [Normal() if init is None else init] * n_layers
    if not isinstance(init, (list, tuple)) or len(init) != n_layers:
        raise ValueError(f"init must be None, a callable or a list of {n_layers} of them "
                         f"(one per layer), got {init!r}")
    for l, f in enumerate(init):
        if f is not None and not callable(f):
            raise ValueError(f"init[{l}] must be a callable or None, got {f!r}")
    return [Normal() if f is None else f for f in init]


def apply_topology(layers, keep_masks, regrown, rng, init):
    """Build the new layers: kept links keep their values, new links get fresh weights.

    New weights are drawn layer by layer (layer 0 first), ``init(rng, count, n_in, n_out,
    dtype)`` in increasing (row, col) order, after every layer's topology is fixed; ``init``
    is None, one initialiser for every layer, or a list with one per layer
    (:func:`per_layer_inits`).

    Returns
    -------
    new_layers, sources, removed : lists, one entry per layer (see EvolutionStepResult)

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W = CooMatrix.from_dense(np.array([[1.0, 2.0], [0.0, 3.0]]))
    >>> new, src, rem = apply_topology([W], [np.array([True, False, True])], [np.array([2])],
    ...                                np.random.default_rng(0), None)
    >>> new[0].linear().tolist(), src[0].tolist(), rem[0].tolist()
    ([0, 2, 3], [0, -1, 2], [1])
    """
    inits = per_layer_inits(init, len(layers))
    rng = as_draws(rng)
    new_layers, sources, removed = [], [], []
    for W, keep, new, init in zip(layers, keep_masks, regrown, inits):
        old = W.linear()
        kept = old[keep]
        n_in, n_out = W.shape
        values_new = (init(rng, new.size, n_in, n_out, W.values.dtype) if new.size
                      else np.empty(0, dtype=W.values.dtype))
        at_new = np.searchsorted(kept, new) + np.arange(new.size)
        is_new = np.zeros(kept.size + new.size, dtype=bool)
        is_new[at_new] = True
        at_kept = np.flatnonzero(~is_new)
        linear = np.empty(kept.size + new.size, dtype=np.int64)
        linear[at_kept], linear[at_new] = kept, new
        values = np.empty(linear.size, dtype=W.values.dtype)
        values[at_kept], values[at_new] = W.values[keep], values_new
        source = np.full(linear.size, -1, dtype=np.int64)
        source[at_kept] = np.flatnonzero(keep)
        new_layers.append(CooMatrix.from_linear(linear, values, W.shape))
        sources.append(source)
        removed.append(old[~keep])
    return new_layers, sources, removed
