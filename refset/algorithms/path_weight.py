r"""Path-Weight evolution: one topology update of a whole network, and its time-varying schedule.

Implements Algorithm 1 and Eqs. 2-9 of Naji, Abtahi and Marvasti, *Efficient Sparse Artificial
Neural Networks* (arXiv 2103.07674, §II), as fixed by ALGORITHMS §4.1-4.4:

1. Path importance :math:`I(p) = \prod_l |w_l(p)| / s_l` (Eqs. 2-3).
2. Candidates :math:`C_\lambda`: links on at least one of the :math:`\lceil\lambda P\rceil`
   weakest paths (``candidates="exact"``, by enumeration, ties by canonical path index), or
   at scale the links whose weakest path has :math:`\log I \le \log\tau_\lambda`, with
   :math:`\tau_\lambda` the λ-quantile of seeded uniform path samples (``"sampled"``).
3. Removal: in each layer the :math:`\lceil\zeta\,|C_\lambda \cap \text{layer}|\rceil`
   candidates with the smallest connection importance :math:`S(e) = \sum_{p \ni e} I(p)`,
   ties by (score, row, col), skipping links whose removal would isolate a neuron.
4. Regrowth (Eqs. 4-6): as many links as the layer lost, sources drawn i.i.d. with
   probability ∝ node importance :math:`N(s)` of the layer's input neurons (Eq. 6 normalised
   within the layer), targets uniform among the outputs the source is not linked to and did
   not just lose (:mod:`refset.algorithms._importance_regrowth`).
5. Schedule (Eqs. 7-9, :func:`update_schedule`): λ, ζ and δ are multiplied by K1 or K2
   depending on :math:`C_{sec} / C_{prim}`.

Draw order (``rng``): with ``candidates="sampled"``, the path samples
(:func:`refset.algorithms.paths.sample_paths`: ``rng.random(n_path_samples)`` per layer);
then for each layer, layer 0 first, its regrowth draws (sources, then targets); then for each
layer the new weights, ``init(rng, count, n_in, n_out, dtype)`` in increasing (row, col)
order.  The topology therefore never depends on the initialiser.  ``candidates="exact"`` uses
no random numbers before regrowth.

Deviations
----------
- Node importances (sources of regrowth, :math:`C_{prim}`) are those of the network *before*
  this update's removal: Algorithm 1 sums the path importances computed at line 9, and one
  importance pass serves removal, regrowth and the schedule.
- The link count is conserved (ALGORITHMS §4.3); δ is only logged and scheduled.
  ``count_rule="paper"`` reproduces the paper's drifting count: every source independently
  gains one link with probability :math:`\min(1, \delta N(s) / \max N)`.
- Decisions are computed from the unnormalised products :math:`\prod_l |w_l|`: each
  :math:`s_l` multiplies every full path by the same factor, so in exact arithmetic nothing
  changes, and computing without it makes the decisions bit-identical under any rescaling
  of the scales (no rounding-dependent flips of ties).  Reported values (``c_prim``,
  ``c_sec``, ``tau``, ``total_importance``) are in normalised units (with the :math:`s_l`).
- ``"sampled"`` compares in log space with a relative tolerance of 1e-12 (the min-plus sum
  and the sampled path product round differently), and :math:`\tau_\lambda` is the
  :math:`\lceil\lambda n\rceil`-th smallest of ``n`` sampled importances.
- :math:`C_{sec}` is the mean connection importance :math:`S(e)` of the removed links
  (ALGORITHMS §4.4, not the paper's literal Eq. 8, which averages node importances over a set
  of connections); when nothing was removed it is ``None`` and the schedule is unchanged.
- The paper removes "a fraction ζ of the connections with the smallest normalised weights"
  in the weakest paths; ALGORITHMS §4.2 ranks them by :math:`S(e)`, which is implemented.
- A neuron isolated before the update (the invariant forbids it) stays isolated: its node
  importance is 0, so it is never a source.

References
----------
Naji, S. M., Abtahi, A. and Marvasti, F. Efficient Sparse Artificial Neural Networks.
arXiv:2103.07674.
"""
import numpy as np

from ..kernels.backend import get_kernels
from .._validation import check_choice, check_float, check_int
from ..draws import as_draws
from ._importance_regrowth import (EvolutionStepResult, apply_topology, fraction_count,
                                   guarded_smallest, per_layer_inits, regrow_conserved,
                                   regrow_paper)
from .paths import (_check_network, _enumerate, _extreme_through_links, _importances,
                    _log_weights, path_count, sample_paths)

__all__ = ["path_weight_step", "update_schedule", "EvolutionStepResult"]

_LOG_RTOL = 1e-12


def _offsets(layers):
    return np.cumsum([0] + [W.nnz for W in layers[:-1]]).astype(np.int64)


def _exact_candidates(layers, a, lam, n_paths, kernels):
    """Candidate masks from enumeration; returns (masks, tau without scales or None)."""
    masks = [np.zeros(W.nnz, dtype=bool) for W in layers]
    n_weak = fraction_count(lam, n_paths, "ceil")
    if n_weak == 0:
        return masks, None
    paths = _enumerate(layers, n_paths)
    importance = kernels.path_products(paths, _offsets(layers), np.concatenate(a),
                                       np.empty(n_paths))
    weakest = np.argsort(importance, kind="stable")[:n_weak]      # ties by path index
    for l, mask in enumerate(masks):
        mask[paths[weakest, l]] = True
    return masks, float(importance[weakest[-1]])


def _sampled_candidates(layers, a, lam, n_samples, rng, kernels):
    """Candidate masks from the sampled λ-quantile; returns (masks, tau without scales)."""
    paths = sample_paths(layers, n_samples, rng, kernels=kernels)
    n_weak = fraction_count(lam, n_samples, "ceil")
    if n_weak == 0:
        return [np.zeros(W.nnz, dtype=bool) for W in layers], None
    importance = kernels.path_products(paths, _offsets(layers), np.concatenate(a),
                                       np.empty(n_samples))
    tau = float(np.partition(importance, n_weak - 1)[n_weak - 1])
    with np.errstate(divide="ignore"):
        log_tau = np.log(tau)
    bound = log_tau + _LOG_RTOL * max(1.0, abs(log_tau)) if np.isfinite(log_tau) else log_tau
    weakest = _extreme_through_links(layers, _log_weights(a), np.minimum)
    return [w <= bound for w in weakest], tau


def path_weight_step(layers, scales, rng, *, lam, zeta, delta=1.0, candidates="auto",
                     max_paths=1_000_000, n_path_samples=100_000, count_rule="conserve",
                     init=None, kernels=None):
    r"""One Path-Weight topology update of every layer (ALGORITHMS §4.1-4.3).

    Parameters
    ----------
    layers : list of CooMatrix
        ``layers[l]`` of shape ``(n_l, n_{l+1})``; not modified.  Zero values are allowed.
    scales : sequence of L positive floats or None
        :math:`s_l`, the mean norm of layer ``l``'s input on a probe batch (None: all 1).
    rng : numpy.random.Generator
        See the module docstring for the draw order.
    lam : float in [0, 1]
        λ, fraction of weakest paths whose links are removal candidates.
    zeta : float in [0, 1]
        ζ, fraction of each layer's candidates to remove.
    delta : float >= 0, default 1
        δ of Eq. 6: logged (conserved count) or used by ``count_rule="paper"``.
    candidates : {"auto", "exact", "sampled"}, default "auto"
        ``"exact"`` enumerates the paths (ValueError above ``max_paths``); ``"sampled"`` uses
        the λ-quantile of ``n_path_samples`` uniform paths; ``"auto"`` is exact when the path
        count is at most ``max_paths``.
    max_paths : int, default 1_000_000
    n_path_samples : int, default 100_000
    count_rule : {"conserve", "paper"}, default "conserve"
        Regrow exactly as many links as were removed, or the paper's per-source draws.
    init : callable, list of callables, or None
        Initialiser ``init(rng, size, fan_in, fan_out, dtype)`` of new weights, one for every
        layer or a list with one per layer (None: ``Normal(0.1)``).
    kernels : namespace or None
        Kernel backend for path products (None: the active one).

    Returns
    -------
    EvolutionStepResult
        ``info`` holds: ``lam``, ``zeta``, ``delta`` (the values used), ``c_prim`` (mean node
        importance over all neurons), ``c_sec`` (mean :math:`S(e)` of the removed links, or
        None), ``tau`` (importance of the λ-quantile path, or None when λ selects no path),
        ``candidate_mode`` ("exact" or "sampled"), ``n_paths`` (exact int),
        ``n_path_samples`` (0 when exact), ``candidates`` (per layer :math:`|C_\lambda \cap
        l|`), ``candidate_fraction`` (:math:`|C_\lambda|` / nnz, whole network),
        ``candidate_fraction_per_layer``, ``removed`` and ``regrown`` (counts per layer),
        ``skipped_isolation`` (per layer), ``regrow_fallback`` (per layer, bool),
        ``total_importance`` (:math:`T`), ``count_rule``.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import erdos_renyi_layer
    >>> rng = np.random.default_rng(0)
    >>> layers = [erdos_renyi_layer(8, 6, 2.0, rng), erdos_renyi_layer(6, 3, 2.0, rng)]
    >>> step = path_weight_step(layers, [1.0, 1.0], rng, lam=0.3, zeta=0.5)
    >>> [W.nnz for W in step.layers] == [W.nnz for W in layers]
    True
    >>> step.info["candidate_mode"], step.info["removed"] == step.info["regrown"]
    ('exact', True)
    """
    layers, s = _check_network(layers, scales)
    for l, W in enumerate(layers):
        W.check(allow_zeros=True, name=f"layers[{l}]")
    lam = check_float("lam", lam, 0.0, 1.0)
    zeta = check_float("zeta", zeta, 0.0, 1.0)
    delta = check_float("delta", delta, 0.0, None)
    check_choice("candidates", candidates, ("auto", "exact", "sampled"))
    check_choice("count_rule", count_rule, ("conserve", "paper"))
    max_paths = check_int("max_paths", max_paths, 0)
    n_path_samples = check_int("n_path_samples", n_path_samples, 1)
    init = per_layer_inits(init, len(layers))
    kernels = get_kernels() if kernels is None else kernels
    rng = as_draws(rng)

    factor = float(np.prod(1.0 / s))          # scales enter reported values only
    a = [np.abs(W.values.astype(np.float64)) for W in layers]
    nodes, links = _importances(layers, a)
    n_paths = path_count(layers)
    mode = candidates if candidates != "auto" else (
        "exact" if n_paths <= max_paths else "sampled")
    if mode == "exact":
        if n_paths > max_paths:
            raise ValueError(
                f"candidates='exact' needs all {n_paths} paths, more than max_paths={max_paths}; "
                "use candidates='sampled' (or 'auto'), or raise max_paths")
        masks, tau = _exact_candidates(layers, a, lam, n_paths, kernels)
    elif n_paths == 0:
        masks, tau = [np.zeros(W.nnz, dtype=bool) for W in layers], None
    else:
        masks, tau = _sampled_candidates(layers, a, lam, n_path_samples, rng, kernels)

    keep_masks, skipped, removed_scores = [], [], []
    for W, mask, score in zip(layers, masks, links):
        cand = np.flatnonzero(mask)
        chosen, n_skip = guarded_smallest(score, cand, fraction_count(zeta, cand.size, "ceil"), W)
        keep = np.ones(W.nnz, dtype=bool)
        keep[chosen] = False
        keep_masks.append(keep)
        skipped.append(int(n_skip))
        removed_scores.append(score[chosen])

    regrown, fallback = [], []
    for W, keep, weights in zip(layers, keep_masks, nodes[:-1]):
        if count_rule == "conserve":
            new, fb = regrow_conserved(W, keep, int(W.nnz - keep.sum()), weights, rng)
        else:
            new, fb = regrow_paper(W, keep, weights, delta, rng), False
        regrown.append(new)
        fallback.append(bool(fb))
    new_layers, sources, removed = apply_topology(layers, keep_masks, regrown, rng, init)

    all_removed = np.concatenate(removed_scores)
    n_cand = [int(m.sum()) for m in masks]
    nnz = [W.nnz for W in layers]
    info = {
        "lam": lam, "zeta": zeta, "delta": delta,
        "c_prim": float(np.concatenate(nodes).mean() * factor),
        "c_sec": float(all_removed.mean() * factor) if all_removed.size else None,
        "tau": None if tau is None else tau * factor,
        "candidate_mode": mode,
        "n_paths": n_paths,
        "n_path_samples": n_path_samples if mode == "sampled" else 0,
        "candidates": n_cand,
        "candidate_fraction": sum(n_cand) / max(sum(nnz), 1),
        "candidate_fraction_per_layer": [c / max(n, 1) for c, n in zip(n_cand, nnz)],
        "removed": [int(r.size) for r in removed],
        "regrown": [int(r.size) for r in regrown],
        "skipped_isolation": skipped,
        "regrow_fallback": fallback,
        "total_importance": float(nodes[0].sum() * factor),
        "count_rule": count_rule,
    }
    return EvolutionStepResult(new_layers, sources, removed, regrown, info)


def update_schedule(lam, zeta, delta, c_prim, c_sec, *, K1=2.0, K2=0.5, K3=0.1, K4=0.5):
    r"""The time-varying rule (Eqs. 7-9): the next λ, ζ, δ.

    For :math:`\rho \in \{\lambda, \zeta, \delta\}`: :math:`\rho \leftarrow K_1 \rho` if
    :math:`C_{sec} < K_3 C_{prim}`; :math:`\rho \leftarrow K_2 \rho` if
    :math:`C_{sec} > K_4 C_{prim}`; otherwise unchanged.  λ and ζ are clamped to [0, 1].

    Parameters
    ----------
    lam, zeta : float in [0, 1]
    delta : float >= 0
    c_prim : float >= 0
        Mean node importance over all neurons (``info["c_prim"]``).
    c_sec : float >= 0, None or NaN
        Mean importance of the removed links (``info["c_sec"]``); None or NaN (nothing was
        removed) leaves everything unchanged.
    K1, K2 : float > 0
        Growth and shrink factors (paper: 2 and 0.5).
    K3, K4 : float >= 0, K3 <= K4
        Thresholds relative to :math:`C_{prim}` (paper: 0.1 and 0.5).

    Returns
    -------
    (lam, zeta, delta) : tuple of float

    Examples
    --------
    >>> update_schedule(0.2, 0.3, 1.0, c_prim=10.0, c_sec=0.5)     # 0.5 < 0.1 * 10: grow
    (0.4, 0.6, 2.0)
    >>> update_schedule(0.2, 0.3, 1.0, c_prim=10.0, c_sec=6.0)     # 6 > 0.5 * 10: shrink
    (0.1, 0.15, 0.5)
    >>> update_schedule(0.2, 0.3, 1.0, c_prim=10.0, c_sec=None)
    (0.2, 0.3, 1.0)
    """
    lam = check_float("lam", lam, 0.0, 1.0)
    zeta = check_float("zeta", zeta, 0.0, 1.0)
    delta = check_float("delta", delta, 0.0, None)
    K1 = check_float("K1", K1, 0.0, None, low_open=True)
    K2 = check_float("K2", K2, 0.0, None, low_open=True)
    K3 = check_float("K3", K3, 0.0, None)
    K4 = check_float("K4", K4, 0.0, None)
    if K3 > K4:
        raise ValueError(f"K3 must be at most K4, got K3={K3}, K4={K4}")
    c_prim = check_float("c_prim", c_prim, 0.0, None)
    if c_sec is None or (isinstance(c_sec, float) and np.isnan(c_sec)):
        return lam, zeta, delta
    c_sec = check_float("c_sec", c_sec, 0.0, None)
    if c_sec < K3 * c_prim:
        factor = K1
    elif c_sec > K4 * c_prim:
        factor = K2
    else:
        return lam, zeta, delta
    return min(1.0, lam * factor), min(1.0, zeta * factor), delta * factor
