r"""Sensitivity evolution: one topology update of a whole network from the epoch's gradients.

Implements §III, Eqs. 10-11 of Naji, Abtahi and Marvasti, *Efficient Sparse Artificial Neural
Networks* (arXiv 2103.07674), as fixed by ALGORITHMS §4.5:

- link sensitivity (Eq. 10, as printed) :math:`S(w) = |(\partial f / \partial w) / w|`, with
  :math:`\partial f / \partial w` the mean of the epoch's mini-batch gradients of the training
  loss (backprop computes them; no extra pass); option ``form="relative"``:
  :math:`S(w) = |\partial f / \partial w \cdot w|`;
- node importance (Eq. 11) :math:`S(n_i) = \sum_j S(w_{ij})` over the outgoing links;
- removal: per layer the :math:`\lfloor\zeta\,\mathrm{nnz}\rfloor` links with the smallest
  :math:`S`, ties by (score, row, col), skipping links whose removal would isolate a neuron;
- regrowth: as Path-Weight (ALGORITHMS §4.3) with :math:`N` replaced by :math:`S(n)`: as many
  links as were removed, sources i.i.d. ∝ :math:`S(n)`, targets uniform among the outputs the
  source is not linked to and did not just lose
  (:mod:`refset.algorithms._importance_regrowth`).

Cost O(nnz) per update, against Path-Weight's enumeration O((μ N̄)^L) (§III).

Removal count: ``⌊ζ nnz⌋`` per layer, with a product within 1e-9 (relative) of an integer
snapped to it (:func:`refset.algorithms._importance_regrowth.fraction_count`: ζ = 0.07,
nnz = 100 removes 7, not 6).

Draw order (``rng``): for each layer, layer 0 first, its regrowth draws (sources, then
targets); then for each layer the new weights, ``init(rng, count, n_in, n_out, dtype)`` in
increasing (row, col) order.

Deviations
----------
- Guard against w → 0 in the quotient form: :math:`|w|` is replaced by
  :math:`\max(|w|, 10^{-6} m)` with :math:`m` the median :math:`|w|` of the layer; when that
  median is 0 (more than half of the weights are exactly 0, e.g. zero-initialised new links)
  :math:`m` is the median of the nonzero :math:`|w|`, and 1 if every weight is 0.
- Node importances (regrowth sources) are those before this update's removal, as in
  Path-Weight.
- The link count is always conserved (the paper's δ count rule belongs to Path-Weight).
- Sensitivities are computed in float64 whatever the layers' dtype.

References
----------
Naji, S. M., Abtahi, A. and Marvasti, F. Efficient Sparse Artificial Neural Networks.
arXiv:2103.07674.
"""
import numpy as np

from .._validation import check_choice, check_float
from ..draws import as_draws
from ._importance_regrowth import (EvolutionStepResult, apply_topology, fraction_count,
                                   guarded_smallest, per_layer_inits, regrow_conserved)
from .paths import _check_network

__all__ = ["link_sensitivity", "sensitivity_step", "EvolutionStepResult"]

_GUARD = 1e-6


def _guard_floor(magnitudes):
    """``1e-6 · median|w|`` with the fallbacks of the module docstring."""
    if magnitudes.size == 0:
        return 0.0
    m = float(np.median(magnitudes))
    if m == 0.0:
        nonzero = magnitudes[magnitudes > 0]
        m = float(np.median(nonzero)) if nonzero.size else 1.0
    return _GUARD * m


def link_sensitivity(values, grad, form="quotient"):
    r"""Sensitivity of every link (Eq. 10).

    Parameters
    ----------
    values : ndarray of shape (nnz,)
        Weights of one layer.
    grad : ndarray of shape (nnz,)
        Mean gradient of the training loss with respect to those weights.
    form : {"quotient", "relative"}, default "quotient"
        ``"quotient"``: :math:`|g| / \max(|w|, 10^{-6}\,\mathrm{median}|w|)` (Eq. 10 as
        printed, guarded); ``"relative"``: :math:`|g\,w|`.

    Returns
    -------
    ndarray of shape (nnz,), float64

    Examples
    --------
    >>> import numpy as np
    >>> link_sensitivity(np.array([0.5, -2.0, 1.0]), np.array([1.0, 1.0, -3.0]))
    array([2. , 0.5, 3. ])
    >>> link_sensitivity(np.array([0.5, -2.0, 1.0]), np.array([1.0, 1.0, -3.0]), "relative")
    array([0.5, 2. , 3. ])
    """
    check_choice("form", form, ("quotient", "relative"))
    w = np.asarray(values, dtype=np.float64)
    g = np.asarray(grad, dtype=np.float64)
    if w.ndim != 1 or g.shape != w.shape:
        raise ValueError(f"grad must have the shape of values {w.shape}, got {g.shape}")
    if not (np.all(np.isfinite(w)) and np.all(np.isfinite(g))):
        raise ValueError("values and grad must be finite")
    if form == "relative":
        return np.abs(g * w)
    magnitude = np.abs(w)
    return np.abs(g) / np.maximum(magnitude, _guard_floor(magnitude))


def sensitivity_step(layers, mean_gradients, rng, *, zeta, form="quotient", init=None):
    r"""One Sensitivity topology update of every layer (ALGORITHMS §4.5).

    Parameters
    ----------
    layers : list of CooMatrix
        ``layers[l]`` of shape ``(n_l, n_{l+1})``; not modified.  Zero values are allowed.
    mean_gradients : list of ndarray
        ``mean_gradients[l]`` aligned with ``layers[l].values``: the mean of the epoch's
        mini-batch gradients of the training loss.
    rng : numpy.random.Generator
        See the module docstring for the draw order.
    zeta : float in [0, 1]
        Fraction of each layer's links replaced (:math:`\lfloor\zeta\,\mathrm{nnz}\rfloor`).
    form : {"quotient", "relative"}, default "quotient"
        See :func:`sensitivity`.
    init : callable, list of callables, or None
        Initialiser ``init(rng, size, fan_in, fan_out, dtype)`` of new weights, one for every
        layer or a list with one per layer (None: ``Normal(0.1)``).

    Returns
    -------
    EvolutionStepResult
        ``info`` holds ``zeta``, ``form``, ``removed`` and ``regrown`` (counts per layer),
        ``skipped_isolation``, ``regrow_fallback`` (per layer), ``mean_sensitivity`` (per
        layer) and ``mean_sensitivity_removed`` (over all removed links, None if none).

    Examples
    --------
    >>> import numpy as np
    >>> from refset import erdos_renyi_layer
    >>> rng = np.random.default_rng(0)
    >>> layers = [erdos_renyi_layer(8, 6, 2.0, rng), erdos_renyi_layer(6, 3, 2.0, rng)]
    >>> grads = [rng.standard_normal(W.nnz) for W in layers]
    >>> step = sensitivity_step(layers, grads, rng, zeta=0.3)
    >>> step.info["removed"] == [int(0.3 * W.nnz) for W in layers] == step.info["regrown"]
    True
    """
    layers, _ = _check_network(layers)
    for l, W in enumerate(layers):
        W.check(allow_zeros=True, name=f"layers[{l}]")
    zeta = check_float("zeta", zeta, 0.0, 1.0)
    check_choice("form", form, ("quotient", "relative"))
    init = per_layer_inits(init, len(layers))
    rng = as_draws(rng)
    if not isinstance(mean_gradients, (list, tuple)) or len(mean_gradients) != len(layers):
        raise ValueError(f"mean_gradients must be a list of {len(layers)} arrays (one per layer)")
    scores = []
    for l, (W, g) in enumerate(zip(layers, mean_gradients)):
        g = np.asarray(g)
        if g.shape != W.values.shape:
            raise ValueError(f"mean_gradients[{l}] must have shape {W.values.shape} (aligned "
                             f"with layers[{l}].values), got {g.shape}")
        if not np.all(np.isfinite(g)):
            raise ValueError(f"mean_gradients[{l}] contains NaN or infinity")
        scores.append(link_sensitivity(W.values, g, form))

    keep_masks, skipped, removed_scores, regrown, fallback = [], [], [], [], []
    for W, score in zip(layers, scores):
        chosen, n_skip = guarded_smallest(score, np.arange(W.nnz),
                                          fraction_count(zeta, W.nnz, "floor"), W)
        keep = np.ones(W.nnz, dtype=bool)
        keep[chosen] = False
        keep_masks.append(keep)
        skipped.append(int(n_skip))
        removed_scores.append(score[chosen])
    for W, keep, score in zip(layers, keep_masks, scores):
        node = np.bincount(W.rows, weights=score, minlength=W.shape[0])      # Eq. 11
        new, fb = regrow_conserved(W, keep, int(W.nnz - keep.sum()), node, rng)
        regrown.append(new)
        fallback.append(bool(fb))
    new_layers, sources, removed = apply_topology(layers, keep_masks, regrown, rng, init)

    all_removed = np.concatenate(removed_scores)
    info = {
        "zeta": zeta, "form": form,
        "removed": [int(r.size) for r in removed],
        "regrown": [int(r.size) for r in regrown],
        "skipped_isolation": skipped,
        "regrow_fallback": fallback,
        "mean_sensitivity": [float(s.mean()) if s.size else None for s in scores],
        "mean_sensitivity_removed": float(all_removed.mean()) if all_removed.size else None,
    }
    return EvolutionStepResult(new_layers, sources, removed, regrown, info)
