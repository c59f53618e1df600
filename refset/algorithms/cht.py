r"""Epitopological sparse meta-deep learning (ESML): one topology update of CHT.

Implements the ESML step of Zhang et al. (ICLR 2024), §3.1 and Appendix D, as restated in
ALGORITHMS §5.3: every sparse layer loses a fraction ζ of its links (the SET sign-split rule),
network percolation removes the hidden neurons left without inputs or outputs (and their
links; the layers are compacted), and each layer regrows as many links as it lost at the
non-links with the highest CH3-L3 scores (:mod:`refset.algorithms.ch3_l3`).  The early stop
freezes a layer whose regrown links are mostly the ones just removed.

The step acts on the list of *sparse* layers of an MLP (a dense output layer is not passed).
Hidden neuron layer ``h`` (``h = 0 .. len(layers) - 2``) is the output side of ``layers[h]``
and the input side of ``layers[h + 1]``.  Inputs (rows of ``layers[0]``) are never removed
from the arrays: an input without links is simply inactive.  The outputs of the last sparse
layer (they feed the dense output layer) are never removed.

Draw order (everything else is deterministic): for each layer ``l = 0, 1, ...`` in turn,
(1) one uniform active row per isolation-guard link, in increasing column order,
(2) the uniform ranks of the shortfall fill (:func:`refset.algorithms.topology.sample_free`),
(3) the new weights in increasing (row, col) order when ``new_weights`` is not ``"zero"``.

Deviations
----------
- Pruning: links whose weight is exactly 0 are removed as well under the ``"sign"`` rule (they
  are neither negative nor positive).  This is what the authors' thresholds do, and it is how
  a link regrown with weight 0 that training never moved (dead input) leaves again.
- Regrowth count: ``k = pruned + percolated`` per layer (ALGORITHMS §5.3.3).  When fewer than
  ``k`` non-links score > 0, ``shortfall="random"`` (default) fills the rest uniformly among
  the free cells of the layer's *active* rows (rows with a link after percolation: a removed
  or inactive input is not revived at random) and ``"drop"`` (the authors' code) lets the
  count shrink.  If the compacted layer has fewer free cells than needed, the excess is
  dropped even with ``"random"`` (reported in ``dropped``).
- Isolation guard: an output of the last sparse layer left without input links (it is never
  removed) gets one link from a uniformly drawn active row before the CH3-L3 links; these
  links count toward ``k``.  The guard also acts on frozen layers (the invariant of
  ALGORITHMS §0 wins over the freeze).
- Frozen (early-stopped) layers are neither pruned nor regrown, but percolation still removes
  their links to removed neurons (compaction deletes the neuron), so their count shrinks by
  ``percolated``.
- Overlap is ``|removed ∩ regrown| / |regrown|`` with both sets in the layer's coordinates
  *before* compaction (removed = pruned and percolated links, regrown mapped back through
  ``kept_neurons``), over all regrown links (CH3-L3, guard and random fill); None when
  nothing was regrown.  Percolated links touch removed neurons and can never be regrown, so
  the value equals ``|pruned ∩ regrown| / |regrown|``.
- A percolation that would remove every neuron of a hidden layer raises ``RuntimeError`` (no
  signal could reach the output).
- The authors' code (:mod:`refset.fidelity`, ``fidelity="authors"``) is reproduced by options:
  ``prune="original"`` (their thresholds, over the masked dense matrix, so exact zeros and
  1–2 more links than ⌊ζ n⌋ per layer go), ``guard=False``, ``budget`` (regrow up to the
  initial count; overlap over that target), ``ties=True`` (every candidate tied with the k-th
  score), ``keep_regrown_state=True`` and ``shortfall="drop"``.  Their percolation keeps dead
  neurons in the arrays with no links; compaction gives the same network.
- New links get weight 0 by default (authors' code: explicit zeros in ``values``, so check
  such layers with ``check(allow_zeros=True)``); ``"swi"`` draws from SWI bound to the new
  layer, ``"init"`` from ``init``.

References
----------
Zhang, Y., Zhao, J., Wu, W., Muscoloni, A., Cannistraci, C. V. (2024). Epitopological learning
and Cannistraci-Hebb network shape intelligence brain-inspired theory for ultra-sparse
advantage in deep learning. ICLR 2024.
"""
import math
from dataclasses import dataclass

import numpy as np

from ..kernels.backend import get_kernels
from .._validation import check_choice, check_float
from ..draws import as_draws
from .swi import SWI
from ..sparse import CooMatrix
from .topology import sample_free
from .ch3_l3 import ch3_l3_top_k
from .sparse_evolutionary import select_prune

__all__ = ["EsmlStepResult", "EarlyStop", "esml_step", "percolate", "early_stop_update"]


@dataclass
class EsmlStepResult:
    """Outcome of :func:`esml_step`; every list has one entry per sparse layer unless noted.

    Attributes
    ----------
    layers : list of CooMatrix
        The new layers: compacted, canonical (new links may hold explicit zeros).
    sources : list of ndarray of int64
        For each link of each new layer, its index in the old layer, or -1 if regrown (its
        optimizer state must start at 0).
    kept_neurons : list of ndarray of int64, length len(layers) - 1
        Per hidden neuron layer, the surviving old neuron indices, sorted.
    removed_neurons : list of ndarray of int64, length len(layers) - 1
        Per hidden neuron layer, the removed old neuron indices, sorted.
    pruned, percolated, regrown : list of int
        Links removed by the weight rule, removed by percolation, and regrown.
    shortfall : list of int
        Links CH3-L3 could not supply (no more candidates with a score > 0): filled at random
        (``shortfall="random"``) or dropped (``"drop"``).
    guarded : list of int
        Regrown links that reconnect an output of the last layer (included in ``regrown``).
    dropped : list of int
        Links not replaced: ``nnz_old - nnz_new = pruned + percolated - regrown``.
    overlap : list of float or None
        ``|removed ∩ regrown| / |regrown|`` in pre-compaction coordinates; None when nothing
        was regrown.
    """

    layers: list
    sources: list
    kept_neurons: list
    removed_neurons: list
    pruned: list
    percolated: list
    regrown: list
    shortfall: list
    guarded: list
    dropped: list
    overlap: list


# -- percolation -------------------------------------------------------------------------------
def _percolation_masks(rows, cols, shapes):
    """Alive-link masks after the backward and forward sweeps, and the kept hidden neurons."""
    n = len(rows)
    alive = [np.ones(r.size, dtype=bool) for r in rows]
    for h in range(n - 2, -1, -1):           # backward: out-degree 0 loses its in-links
        out_deg = np.bincount(rows[h + 1][alive[h + 1]], minlength=shapes[h + 1][0])
        alive[h] &= out_deg[cols[h]] > 0
    for h in range(n - 1):                   # forward: in-degree 0 loses its out-links
        in_deg = np.bincount(cols[h][alive[h]], minlength=shapes[h][1])
        alive[h + 1] &= in_deg[rows[h + 1]] > 0
    kept = []
    for h in range(n - 1):
        in_deg = np.bincount(cols[h][alive[h]], minlength=shapes[h][1])
        k = np.flatnonzero(in_deg > 0).astype(np.int64)
        if k.size == 0:
            raise RuntimeError(f"percolation removed every neuron of hidden layer {h} (the "
                               f"output of sparse layer {h}): no signal can reach the output. "
                               "Lower zeta; or, if most weights are exactly 0 (the quirk "
                               "masked_csti_weights: links still at 0 all go at an update), "
                               "use it within fidelity='authors', whose other quirks let its "
                               "network survive the first update as the authors' code does")
        kept.append(k)
    return alive, kept


def _compact(rows, cols, shape, row_kept, col_kept):
    """New (rows, cols, shape) after keeping the given old rows/cols (None: all kept)."""
    n_in = shape[0] if row_kept is None else row_kept.size
    n_out = shape[1] if col_kept is None else col_kept.size
    if row_kept is not None:
        rows = np.searchsorted(row_kept, rows).astype(np.int64)
    if col_kept is not None:
        cols = np.searchsorted(col_kept, cols).astype(np.int64)
    return rows, cols, (int(n_in), int(n_out))


def _check_layers(layers):
    if isinstance(layers, CooMatrix) or not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError("layers must be a non-empty list of CooMatrix (the sparse layers)")
    for l, W in enumerate(layers):
        if not isinstance(W, CooMatrix):
            raise ValueError(f"layers[{l}] must be a CooMatrix, got {type(W).__name__}")
        W.check(allow_zeros=True, name=f"layers[{l}]")
        if l and layers[l - 1].shape[1] != W.shape[0]:
            raise ValueError(f"layers[{l - 1}] has {layers[l - 1].shape[1]} outputs but "
                             f"layers[{l}] has {W.shape[0]} inputs")


def percolate(layers):
    """Remove hidden neurons without input or output links, then compact (ALGORITHMS §5.3.2).

    Backward sweep (last hidden layer to the first: a neuron with out-degree 0 loses its
    in-links), then forward sweep (first hidden layer to the last: a neuron with in-degree 0
    loses its out-links).  Afterwards every hidden neuron has both, or neither and is removed;
    a second call changes nothing.  Inputs and the outputs of the last layer are never removed.

    Parameters
    ----------
    layers : list of CooMatrix
        Consecutive sparse layers (``layers[l].shape[1] == layers[l + 1].shape[0]``).

    Returns
    -------
    layers : list of CooMatrix
        Compacted copies (links and values of the survivors, canonical order).
    kept_neurons : list of ndarray of int64, length len(layers) - 1
        Surviving old indices of each hidden neuron layer, sorted.
    percolated : list of int
        Links removed in each layer.

    Raises
    ------
    RuntimeError
        If a hidden layer would lose every neuron.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import CooMatrix
    >>> W1 = CooMatrix.from_dense(np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 3.0]]))
    >>> W2 = CooMatrix.from_dense(np.array([[4.0], [0.0], [5.0]]))   # hidden 1 has no output
    >>> new, kept, gone = percolate([W1, W2])
    >>> kept[0].tolist(), gone, new[0].shape
    ([0, 2], [1, 0], (2, 2))
    """
    _check_layers(layers)
    rows = [W.rows for W in layers]
    cols = [W.cols for W in layers]
    shapes = [W.shape for W in layers]
    alive, kept = _percolation_masks(rows, cols, shapes)
    out = []
    for l, W in enumerate(layers):
        r, c, shape = _compact(W.rows[alive[l]], W.cols[alive[l]], W.shape,
                               kept[l - 1] if l else None, kept[l] if l < len(layers) - 1 else None)
        out.append(CooMatrix(r, c, W.values[alive[l]].copy(), shape))
    return out, kept, [int(a.size - np.count_nonzero(a)) for a in alive]


# -- regrowth ----------------------------------------------------------------------------------
def _prune_mask(values, zeta, rule, dense=False):
    """Boolean mask of the links removed by the weight rule (exact zeros too, for "sign").

    ``"original"``: the authors' thresholds computed over the whole masked dense matrix, whose
    non-links are zeros (``with_zero`` unless the layer is ``dense``)."""
    drop = np.zeros(values.size, dtype=bool)
    drop[select_prune(values, zeta, rule, with_zero=not dense)] = True
    if rule == "sign":
        drop |= values == 0
    return drop


def _guard(rows, cols, shape, active_rows, rng):
    """One link (linear index) per empty column, each from a uniform active row."""
    in_deg = np.bincount(cols, minlength=shape[1])
    empty = np.flatnonzero(in_deg == 0).astype(np.int64)
    if empty.size == 0:
        return empty
    pick = active_rows[as_draws(rng).integers(active_rows.size, size=empty.size)]
    return pick * np.int64(shape[1]) + empty


def _fill_random(occupied, active_rows, shape, count, rng):
    """Up to ``count`` uniform free cells within ``active_rows`` (linear indices)."""
    n_out = np.int64(shape[1])
    rank_of_row = np.full(shape[0], -1, dtype=np.int64)
    rank_of_row[active_rows] = np.arange(active_rows.size)
    r, c = np.divmod(occupied, n_out)
    occ = np.sort(rank_of_row[r] * n_out + c)           # every occupied row is active
    n_free = active_rows.size * int(n_out) - occ.size
    take = min(count, n_free)
    cells = sample_free(occ, active_rows.size * int(n_out), take, rng)
    rr, cc = np.divmod(cells, n_out)
    return active_rows[rr] * n_out + cc


def _new_values(rng, size, shape, nnz, dtype, mode, init):
    if size == 0 or mode == "zero":
        return np.zeros(size, dtype=dtype)
    if mode == "swi" or init is None:
        init = SWI()
    if getattr(init, "sparsity", 0) is None and hasattr(init, "for_layer"):
        init = init.for_layer(shape[0], shape[1], max(nnz, 1))
    return np.asarray(init(rng, size, shape[0], shape[1], dtype), dtype=dtype)


def _overlap(removed_old, regrown_old, target=None):
    """|removed ∩ regrown| / |regrown| (or / ``target``, the authors' denominator)."""
    if target is None and regrown_old.size == 0 or target is not None and target <= 0:
        return None
    denominator = regrown_old.size if target is None else target
    return float(np.intersect1d(removed_old, regrown_old, assume_unique=True).size
                 / denominator)


def _top_k_with_ties(layer, k, kernels):
    """Every non-link scoring at least the ``k``-th best positive CH3-L3 score (the authors'
    ``scores >= threshold``): the top ``k`` plus all further candidates tied with the last."""
    if k <= 0:
        return np.empty(0, dtype=np.int64)
    best, scores = ch3_l3_top_k(layer, k, kernels=kernels, return_scores=True)
    if best.size < k:                       # shortfall: every positive candidate is taken
        return best
    more = k
    while True:                             # widen until the last score falls below the k-th
        more = 2 * more
        wide, wide_scores = ch3_l3_top_k(layer, more, kernels=kernels, return_scores=True)
        if wide.size < more or wide_scores[-1] < scores[-1]:
            return wide[wide_scores >= scores[-1]]


def _per_layer(value, n, name):
    if value is None or callable(value):
        return [value] * n
    value = list(value)
    if len(value) != n:
        raise ValueError(f"{name} must have one entry per sparse layer ({n}), got {len(value)}")
    return value


def esml_step(layers, rng, *, zeta=0.3, prune="sign", shortfall="random", new_weights="zero",
              init=None, frozen=None, kernels=None, guard=True, budget=None, ties=False,
              keep_regrown_state=False):
    """One ESML topology update of the sparse layers of an MLP (ALGORITHMS §5.3).

    Parameters
    ----------
    layers : list of CooMatrix
        The sparse layers before the update (not modified), consecutive shapes.
    rng : numpy.random.Generator
    zeta : float in [0, 1], default 0.3
        Fraction removed by the weight rule.
    prune : {"sign", "magnitude"}, default "sign"
        SET sign-split rule (plus exact zeros) or the ⌊ζ nnz⌋ smallest :math:`|w|`.
    shortfall : {"random", "drop"}, default "random"
        What to do when fewer than ``k`` non-links have a CH3-L3 score > 0.
    new_weights : {"zero", "swi", "init"}, default "zero"
        Weights of regrown links: 0 (authors' code), SWI bound to the new layer, or ``init``.
    init : callable, list of callables or None
        Initialiser(s) ``init(rng, size, fan_in, fan_out, dtype)`` for ``new_weights="init"``
        (None: SWI).  An unbound :class:`refset.algorithms.swi.SWI` is bound to the new layer.
    frozen : list of bool or None
        Early-stopped layers: not pruned, not regrown (percolation still applies).
    kernels : namespace or None
        Kernel backend for CH3-L3 (:func:`refset.get_kernels`); None is the active one.
    guard : bool, default True
        Reconnect outputs of the last layer left without inputs (False: the authors' code,
        quirk ``no_isolation_guard`` of :mod:`refset.fidelity`).
    budget : list of int or None
        The authors' regrowth count (quirk ``regrow_to_budget``): layer ``l`` regrows up to
        ``budget[l]`` links in all (``budget[l] - kept``, at least 0) instead of the number it
        lost, and its overlap is divided by that target count.  None: ``k = pruned +
        percolated``.
    ties : bool, default False
        Regrow every candidate tied with the ``k``-th CH3-L3 score (quirk ``tie_inclusive``):
        the count may exceed ``k``.
    keep_regrown_state : bool, default False
        A link removed and regrown in this update keeps its old weight and its optimizer
        state: its ``sources`` entry is its old index (quirk ``regrown_keep_state``).

    Returns
    -------
    EsmlStepResult

    Examples
    --------
    >>> import numpy as np
    >>> from refset import erdos_renyi_layer
    >>> rng = np.random.default_rng(0)
    >>> layers = [erdos_renyi_layer(30, 20, 3.0, rng), erdos_renyi_layer(20, 10, 3.0, rng)]
    >>> step = esml_step(layers, rng)
    >>> [W.nnz for W in step.layers] == [W.nnz for W in layers]
    True
    >>> step.pruned == [int(0.3 * (W.values < 0).sum()) + int(0.3 * (W.values > 0).sum())
    ...                 for W in layers]
    True
    """
    _check_layers(layers)
    rng = as_draws(rng)
    zeta = check_float("zeta", zeta, 0.0, 1.0)
    check_choice("prune", prune, ("sign", "magnitude", "original"))
    check_choice("shortfall", shortfall, ("random", "drop"))
    check_choice("new_weights", new_weights, ("zero", "swi", "init"))
    n = len(layers)
    frozen = [False] * n if frozen is None else [bool(f) for f in _per_layer(frozen, n, "frozen")]
    inits = _per_layer(init, n, "init")
    kernels = get_kernels() if kernels is None else kernels

    # 1. prune (per layer); keep[l] are the old link indices that survive the weight rule
    budget = None if budget is None else [int(b) for b in _per_layer(budget, n, "budget")]
    pruned_mask = [np.zeros(W.nnz, dtype=bool) if frozen[l]
                   else _prune_mask(W.values, zeta, prune, dense=W.nnz == W.shape[0] * W.shape[1])
                   for l, W in enumerate(layers)]
    keep = [np.flatnonzero(~m) for m in pruned_mask]
    # 2. percolation on the pruned layers, then compaction
    rows = [W.rows[k] for W, k in zip(layers, keep)]
    cols = [W.cols[k] for W, k in zip(layers, keep)]
    alive, kept_neurons = _percolation_masks(rows, cols, [W.shape for W in layers])
    removed_neurons = [np.setdiff1d(np.arange(layers[h].shape[1]), kept_neurons[h])
                       for h in range(n - 1)]

    result = EsmlStepResult([], [], kept_neurons, removed_neurons,
                            [], [], [], [], [], [], [])
    for l, W in enumerate(layers):
        row_kept = kept_neurons[l - 1] if l else None
        col_kept = kept_neurons[l] if l < n - 1 else None
        src = keep[l][alive[l]]                         # old indices of the surviving links
        r, c, shape = _compact(W.rows[src], W.cols[src], W.shape, row_kept, col_kept)
        n_pruned = int(np.count_nonzero(pruned_mask[l]))
        n_perc = int(keep[l].size - src.size)
        if frozen[l]:
            k = 0
        elif budget is not None:
            k = max(budget[l] - src.size, 0)
        else:
            k = n_pruned + n_perc
        # 3. regrowth: guard, CH3-L3 top-k, shortfall
        active_rows = np.flatnonzero(np.bincount(r, minlength=shape[0]) > 0).astype(np.int64)
        if active_rows.size == 0:
            active_rows = np.arange(shape[0], dtype=np.int64)
        guard_links = (_guard(r, c, shape, active_rows, rng) if l == n - 1 and guard
                       else np.empty(0, dtype=np.int64))
        current = CooMatrix(r, c, W.values[src], shape)
        wanted = max(k - guard_links.size, 0)
        best = (_top_k_with_ties(current, wanted, kernels) if ties
                else ch3_l3_top_k(current, wanted, kernels=kernels))
        short = max(wanted - best.size, 0)
        fill = np.empty(0, dtype=np.int64)
        if short and shortfall == "random":
            occupied = np.concatenate([current.linear(), guard_links, best])
            fill = _fill_random(occupied, active_rows, shape, short, rng)
        new = np.sort(np.concatenate([guard_links, best, fill]))
        old_lin = current.linear()
        nr, nc = np.divmod(new, np.int64(shape[1]))   # the new links in old coordinates
        regrown_old = ((nr if row_kept is None else row_kept[nr]) * np.int64(W.shape[1])
                       + (nc if col_kept is None else col_kept[nc]))
        # merge kept and regrown links (disjoint, both sorted)
        linear = np.concatenate([old_lin, new])
        order = np.argsort(linear, kind="stable")
        new_values = _new_values(rng, new.size, shape, linear.size, W.values.dtype, new_weights,
                                 inits[l])
        new_source = np.full(new.size, -1, dtype=np.int64)
        if keep_regrown_state:                       # removed now, regrown now: old state back
            at = np.searchsorted(W.linear(), regrown_old)
            hit = at < W.nnz
            hit[hit] = W.linear()[at[hit]] == regrown_old[hit]
            new_source[hit] = at[hit]
            new_values[hit] = W.values[at[hit]]
        values = np.concatenate([W.values[src], new_values])
        source = np.concatenate([src, new_source])
        result.layers.append(CooMatrix.from_linear(linear[order], values[order], shape))
        result.sources.append(source[order])
        # overlap in old coordinates
        removed_old = np.setdiff1d(W.linear(), W.linear()[src], assume_unique=True)
        result.pruned.append(n_pruned)
        result.percolated.append(n_perc)
        result.regrown.append(int(new.size))
        result.shortfall.append(int(short))
        result.guarded.append(int(guard_links.size))
        result.dropped.append(int(n_pruned + n_perc - new.size))
        result.overlap.append(_overlap(removed_old, regrown_old,
                                       None if budget is None or frozen[l] else k))
    return result


# -- early stop --------------------------------------------------------------------------------
@dataclass(frozen=True)
class EarlyStop:
    """State of the early stop after an update (see :func:`early_stop_update`).

    Attributes
    ----------
    passed : list of bool
        Layers whose overlap has exceeded the threshold at some update (sticky).
    frozen : list of bool
        Layers whose topology stops evolving (pass to :func:`esml_step`).
    """

    passed: list
    frozen: list


def early_stop_update(passed, overlaps, *, threshold=0.9, mode="layer"):
    """Update the early-stop flags after an ESML step (ALGORITHMS §5.3.4).

    Parameters
    ----------
    passed : list of bool
        Each layer's flag from the previous call (all False at the start).
    overlaps : list of float or None
        This step's overlap per layer (None: nothing regrown, never passes).
    threshold : float in [0, 1], default 0.9
        A layer passes when its overlap *exceeds* the threshold.
    mode : {"layer", "all", "never"}, default "layer"
        ``"layer"``: a layer freezes as soon as it passes.  ``"all"`` (authors' code): every
        layer keeps evolving until all have passed, then all freeze.  ``"never"``: no freeze.

    Returns
    -------
    EarlyStop
        New ``passed`` flags and the ``frozen`` flags to use from now on.

    Examples
    --------
    >>> early_stop_update([False, False], [0.95, 0.5]).frozen
    [True, False]
    >>> state = early_stop_update([False, False], [0.95, 0.5], mode="all")
    >>> state.passed, state.frozen
    ([True, False], [False, False])
    >>> early_stop_update(state.passed, [0.2, 0.97], mode="all").frozen
    [True, True]
    """
    threshold = check_float("threshold", threshold, 0.0, 1.0)
    check_choice("mode", mode, ("layer", "all", "never"))
    passed, overlaps = list(passed), list(overlaps)
    if len(passed) != len(overlaps):
        raise ValueError(f"overlaps must have one entry per layer ({len(passed)}), "
                         f"got {len(overlaps)}")
    new = [bool(p) or (o is not None and not math.isnan(o) and o > threshold)
           for p, o in zip(passed, overlaps)]
    if mode == "layer":
        frozen = list(new)
    elif mode == "all":
        frozen = [all(new)] * len(new)
    else:
        frozen = [False] * len(new)
    return EarlyStop(new, frozen)
