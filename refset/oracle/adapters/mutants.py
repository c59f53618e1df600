"""refset with one realistic bug each: adapters that show which oracle cases catch which bug.

Each mutant is refset's numpy reference (``reference.make("numpy")``) with one sub-step
replaced by the version a porting engineer could plausibly write.  Where the sub-step is a
module-level helper of refset (``select_prune``, ``ch3_l3_top_k``, ``SWI``, ...), the mutant
swaps that helper for the duration of each call and restores it in a ``finally``, so every
contract function that goes through the helper (a topology step *and* ``train``) carries
the bug; otherwise the contract function itself is rewritten.  The mutants are meant for the
small oracle cases only (``ch3-no-local-community`` forms the sparse product X Xᵀ X of a whole
layer, ``gradient-all-positions`` makes every cell a link).  Which case catches which mutant:
``tests/test_oracle_mutants.py`` and ``docs/oracle.md``.

=================================  ============================================================
``prune-farthest-negatives``       SET sign rule: the negatives are sorted by value, not by
                                   ``|w|``, so the most negative ones go.
``regrow-removed-when-forbidden``  ``allow_regrow_removed=False`` is accepted and ignored.
``removal-count-off-by-one``       ``ceil(ζ n)`` instead of ``floor(ζ n)`` per sign group.
``gradient-all-positions``         ``sparse_gradient`` returns ``Xᵀ D`` on every cell; training
                                   updates every cell (new links appear).
``swi-fan-out``                    SWI with ``fan_out`` instead of ``fan_in``.
``ch3-no-local-community``         CH3-L3 divided by ``sqrt(d_j d_i)``: plain degrees, no
                                   local-community correction.
``set-no-isolation-guard``         SET without the isolation guard (the authors' code).
``path-weight-uniform-sources``    Path-Weight regrowth draws its sources uniformly, not
                                   ∝ N(s).
``new-links-keep-momentum``        a regrown link inherits the momentum its cell had when it
                                   last held a link (a dense momentum buffer never reset).
=================================  ============================================================

Deviations
----------
- ``removal-count-off-by-one`` uses the ceiling rather than ``⌊ζ n⌋ + 1``: it is the slip a
  port makes when it shares one count helper with Path-Weight (whose count *is* ``⌈ζ n⌉``),
  and it is the subtler bug — it agrees with the floor whenever ``ζ n`` is an integer (the
  hand-made tie case, 6 × 0.5), so it shows which cases can see it.
- A mutant of a sub-step used in several places carries the bug everywhere it is used: the
  SET removal rule also drives the ESML step and the SET and CHT training runs.

Examples
--------
>>> from refset import oracle
>>> from refset.oracle.adapters.mutants import MUTANTS, describe
>>> describe("swi-fan-out").split(":")[0]
'SWI uses fan_out'
>>> [r.status for r in oracle.check(MUTANTS["swi-fan-out"], pattern="L1-swi")]
['fail']
"""
import contextlib
import math
import types

import numpy as np

from ...algorithms.sparse_evolutionary import select_prune as _select_prune
from .._format import Layer
from .reference import FUNCTIONS, make, make_train

__all__ = ["MUTANTS", "describe"]


# -- swapping a helper for the duration of a call -------------------------------------------------

@contextlib.contextmanager
def _swapped(swaps):
    """``swaps``: (owner, name, value) triples; owner a module, class or dict.  Restored after."""
    saved = []
    try:
        for owner, name, value in swaps:
            if isinstance(owner, dict):
                saved.append((owner, name, owner[name]))
                owner[name] = value
            else:
                saved.append((owner, name, getattr(owner, name)))
                setattr(owner, name, value)
        yield
    finally:
        for owner, name, value in reversed(saved):
            if isinstance(owner, dict):
                owner[name] = value
            else:
                setattr(owner, name, value)


def _with(fn, swaps):
    """``fn`` running with the helpers of ``swaps`` swapped."""
    def wrapped(*args, **kwargs):
        with _swapped(swaps):
            return fn(*args, **kwargs)
    wrapped.__name__ = getattr(fn, "__name__", "wrapped")
    return wrapped


def _modules():
    import importlib

    return types.SimpleNamespace(**{
        name: importlib.import_module(f"refset.{path}") for name, path in (
            ("set_mod", "algorithms.sparse_evolutionary"), ("cht", "algorithms.cht"),
            ("pw", "algorithms.path_weight"), ("mlp", "estimator.mlp"),
            ("init", "algorithms.initializers"))})


def _train_with(model_class):
    """The contract's ``train`` (as in ``reference.py``) with another model class."""
    return make_train("numpy", model_class)


# -- the buggy sub-steps --------------------------------------------------------------------------

def _prune_farthest_negatives(values, zeta, rule="sign", with_zero=False):
    """select_prune whose sign groups are sorted by value: for the negatives the "smallest"
    values are the most negative ones, the farthest from zero."""
    if rule != "sign":
        return _select_prune(values, zeta, rule, with_zero=with_zero)
    chosen = []
    for idx in (np.flatnonzero(values < 0), np.flatnonzero(values > 0)):
        order = np.argsort(values[idx], kind="stable")          # BUG: by value, not |value|
        chosen.append(idx[order[:math.floor(zeta * idx.size)]])
    return np.sort(np.concatenate(chosen))


def _prune_ceil(values, zeta, rule="sign", with_zero=False):
    """select_prune with ``ceil(zeta * n)`` links per group (the original code's thresholds are
    left alone: they have no count)."""
    if rule == "original":
        return _select_prune(values, zeta, rule, with_zero=with_zero)
    groups = ([np.arange(values.size)] if rule == "magnitude" else
              [np.flatnonzero(values < 0), np.flatnonzero(values > 0)])
    chosen = []
    for idx in groups:
        order = np.lexsort((idx, np.abs(values[idx])))          # (|w|, row, col)
        chosen.append(idx[order[:math.ceil(zeta * idx.size)]])  # BUG: ceil, not floor
    return np.sort(np.concatenate(chosen))


def _swi_fan_out_class():
    from ...algorithms.swi import SWI

    class SwiFanOut(SWI):
        """SWI whose sigma uses the layer's fan_out (a later version of the authors' code)."""

        def for_layer(self, n_in, n_out, nnz):
            bound = SWI.for_layer(self, n_in, n_out, nnz)
            return SwiFanOut(sparsity=bound.sparsity, gain=bound.gain)

        def __call__(self, rng, size, fan_in, fan_out, dtype):
            return SWI.__call__(self, rng, size, fan_out, fan_in, dtype)   # BUG: swapped fans
    return SwiFanOut


def _ch3_plain_degrees(layer):
    """CH3-L3 with ``1 / sqrt(d_j d_i)`` per path: (linear indices, scores) of the candidates."""
    from scipy import sparse

    n_in, n_out = layer.shape
    X = sparse.csr_matrix((np.ones(layer.nnz), (layer.rows, layer.cols)), shape=layer.shape)
    d_in, d_out = np.bincount(layer.rows, minlength=n_in), np.bincount(layer.cols, minlength=n_out)
    inv_out = sparse.diags(1.0 / np.sqrt(np.maximum(d_out, 1)))
    inv_in = sparse.diags(1.0 / np.sqrt(np.maximum(d_in, 1)))
    S = (X @ inv_out @ X.T @ inv_in @ X).tocoo()      # BUG: plain degrees d_j d_i
    linear = S.row.astype(np.int64) * np.int64(n_out) + S.col
    keep = ~np.isin(linear, layer.linear()) & (S.data > 0)
    order = np.argsort(linear[keep])
    return linear[keep][order], S.data[keep][order]


def _ch3_top_k_plain(layer, k, *, exclude=None, kernels=None, return_scores=False):
    """ch3_l3_top_k on the plain-degree scores, same rank order (score desc, row, col)."""
    linear, scores = _ch3_plain_degrees(layer)
    if exclude is not None:
        keep = ~np.isin(linear, np.asarray(exclude, dtype=np.int64))
        linear, scores = linear[keep], scores[keep]
    order = np.lexsort((linear, -scores))[:k]
    return (linear[order], scores[order]) if return_scores else linear[order]


def _densify(model):
    """Every cell of every layer becomes a link (zero weight and momentum where there was none)."""
    from ...sparse import CooMatrix

    for l, W in enumerate(model.layers_):
        n = W.shape[0] * W.shape[1]
        if W.nnz == n:
            continue
        values, velocity = np.zeros(n, W.values.dtype), np.zeros(n, W.values.dtype)
        values[W.linear()] = W.values
        velocity[W.linear()] = model.velocities_[l][0]
        model.layers_[l] = CooMatrix.from_linear(np.arange(n, dtype=np.int64), values, W.shape)
        model.velocities_[l] = (velocity, model.velocities_[l][1])
        model._refresh_caches(l)


def _model_classes():
    from ...estimator.mlp import SparseMLP

    class UnmaskedGradientMLP(SparseMLP):
        """Training where the SGD step updates every cell: a dense-masked port whose update
        forgets the mask.  Cells without a link start at weight 0, so this is the same as
        making every cell a link before each epoch."""

        def _epoch(self, X, y_idx, val, kernels):
            _densify(self)                                # BUG: the mask is not applied
            return super()._epoch(X, y_idx, val, kernels)

    class StaleMomentumMLP(SparseMLP):
        """A dense momentum buffer that is never reset: a regrown link starts with the
        momentum its cell had when it last held a link (0 if it never did)."""

        def _replace_layer(self, l, layer, source):
            old = self.layers_[l]
            buffers = self.__dict__.setdefault("_buffers", {})
            if old.shape != layer.shape or l not in buffers:
                buffers[l] = np.zeros(old.shape[0] * old.shape[1], old.values.dtype)
            buffers[l][old.linear()] = self.velocities_[l][0]
            super()._replace_layer(l, layer, source)
            if layer.shape == old.shape:
                new = source < 0
                self.velocities_[l][0][new] = buffers[l][layer.linear()[new]]   # BUG
            else:                                          # CHT compaction: forget the buffer
                del buffers[l]
    return UnmaskedGradientMLP, StaleMomentumMLP


# -- the mutants ----------------------------------------------------------------------------------

_DESCRIPTIONS = {
    "prune-farthest-negatives":
        "SET sign rule prunes the most negative weights: the negatives are sorted by value "
        "(ascending), not by |w|, so the ⌊ζ n_neg⌋ farthest from zero go.  Affects set_step, "
        "esml_step (same rule) and train (SET and CHT).",
    "regrow-removed-when-forbidden":
        "allow_regrow_removed=False is accepted but ignored: just-removed cells stay free for "
        "regrowth.  Affects set_step and train.",
    "removal-count-off-by-one":
        "Removal count ceil(ζ n) instead of floor(ζ n) in each sign group (or of nnz for "
        "magnitude): one link too many whenever ζ n is not an integer.  Affects set_step, "
        "esml_step and train (SET and CHT).",
    "gradient-all-positions":
        "sparse_gradient returns Xᵀ D on every (i, j) as a full layer, and the training step "
        "updates every cell, so new links appear: a dense-masked port that forgets the mask.  "
        "Affects sparse_gradient and train.",
    "swi-fan-out":
        "SWI uses fan_out: σ = gain / sqrt((1 - S) fan_out), the later version of the authors' "
        "code, not the paper's fan_in.  Affects swi_weights, esml_step (new_weights='swi') and "
        "train (CHT's initialisation).",
    "ch3-no-local-community":
        "CH3-L3 without the local-community correction: each path counts 1 / sqrt(d_j d_i) "
        "with the plain degrees instead of the degrees minus the local-community links.  "
        "Affects ch3_l3_scores, esml_step (its top-k regrowth) and train (CHT).",
    "set-no-isolation-guard":
        "SET without the isolation guard (as in the authors' code): a neuron that pruning "
        "leaves without links stays isolated unless regrowth happens to reconnect it.  "
        "Affects set_step and train (SET).",
    "path-weight-uniform-sources":
        "Path-Weight's conserved-count regrowth draws its sources uniformly among the sources "
        "with room instead of ∝ N(s).  Affects path_weight_step (count_rule 'conserve') and "
        "train (Path-Weight).",
    "new-links-keep-momentum":
        "A regrown link starts with the momentum its cell had when it last held a link (a "
        "dense momentum buffer that is neither masked nor reset), not 0.  Affects train.",
}


def _build():
    m = _modules()
    base = make("numpy")
    unmasked_mlp, stale_mlp = _model_classes()
    swi_fan_out = _swi_fan_out_class()

    def ns(name, **replaced):
        funcs = {f: getattr(base, f) for f in FUNCTIONS}
        funcs.update(replaced)
        out = types.SimpleNamespace(**funcs)
        out.__name__ = out.NAME = f"mutant {name}"
        out.__doc__ = _DESCRIPTIONS[name]
        out.changed = tuple(sorted(replaced))
        return out

    def through(swaps, *names):
        return {f: _with(getattr(base, f), swaps) for f in names}

    def ignore_forbid(set_step):
        def set_step_ignoring(*args, **kwargs):
            kwargs.pop("allow_regrow_removed", None)           # BUG: the option is dropped
            return set_step(*args, **kwargs)
        return set_step_ignoring

    def sparse_gradient_dense(X, D, layer):
        n_in, n_out = layer.shape
        G = X.T @ D                                            # BUG: no mask
        rows, cols = np.divmod(np.arange(n_in * n_out, dtype=np.int64), np.int64(n_out))
        return Layer(rows, cols, G.ravel(), (n_in, n_out))

    def swi_weights(n_in, n_out, nnz, uniforms):
        from ...draws import Draws

        return swi_fan_out().for_layer(n_in, n_out, nnz)(Draws.replay(uniforms), nnz, n_in,
                                                         n_out, np.float64)

    def ch3_l3_scores(layer):
        W = Layer(*layer).to_coo()
        linear, scores = _ch3_plain_degrees(W)
        dense = np.zeros(W.shape[0] * W.shape[1])
        dense[linear] = scores
        return dense.reshape(W.shape)

    def uniform_sources(regrow_conserved):
        def regrow(layer, keep_mask, k, weights, rng):
            return regrow_conserved(layer, keep_mask, k, np.ones_like(weights), rng)   # BUG
        return regrow

    def prune_swaps(select_prune):
        return [(m.set_mod, "select_prune", select_prune), (m.cht, "select_prune", select_prune)]

    def no_guard(kept, removed, shape, rng, forbid_removed):
        return np.empty(0, dtype=np.int64)                     # BUG: no isolation guard

    swi_swaps = [(m.cht, "SWI", swi_fan_out), (m.init.INITIALIZERS, "swi", swi_fan_out)]
    ch3_swaps = [(m.cht, "ch3_l3_top_k", _ch3_top_k_plain)]
    guard_swaps = [(m.set_mod, "_guard_links", no_guard)]
    forbid_swaps = [(m.mlp, "set_step", ignore_forbid(m.set_mod.set_step))]
    pw_swaps = [(m.pw, "regrow_conserved", uniform_sources(m.pw.regrow_conserved))]

    return {
        "prune-farthest-negatives": ns(
            "prune-farthest-negatives",
            **through(prune_swaps(_prune_farthest_negatives), "set_step", "esml_step", "train")),
        "regrow-removed-when-forbidden": ns(
            "regrow-removed-when-forbidden", set_step=ignore_forbid(base.set_step),
            **through(forbid_swaps, "train")),
        "removal-count-off-by-one": ns(
            "removal-count-off-by-one",
            **through(prune_swaps(_prune_ceil), "set_step", "esml_step", "train")),
        "gradient-all-positions": ns(
            "gradient-all-positions", sparse_gradient=sparse_gradient_dense,
            train=_train_with(unmasked_mlp)),
        "swi-fan-out": ns("swi-fan-out", swi_weights=swi_weights,
                          **through(swi_swaps, "esml_step", "train")),
        "ch3-no-local-community": ns("ch3-no-local-community", ch3_l3_scores=ch3_l3_scores,
                                     **through(ch3_swaps, "esml_step", "train")),
        "set-no-isolation-guard": ns("set-no-isolation-guard",
                                     **through(guard_swaps, "set_step", "train")),
        "path-weight-uniform-sources": ns("path-weight-uniform-sources",
                                          **through(pw_swaps, "path_weight_step", "train")),
        "new-links-keep-momentum": ns("new-links-keep-momentum", train=_train_with(stale_mlp)),
    }


MUTANTS = _build()


def describe(name):
    """What mutant ``name`` gets wrong, and which contract functions carry the bug.

    Examples
    --------
    >>> describe("removal-count-off-by-one").startswith("Removal count ceil")
    True
    """
    if name not in _DESCRIPTIONS:
        raise ValueError(f"name must be one of {', '.join(sorted(_DESCRIPTIONS))}, got {name!r}")
    return _DESCRIPTIONS[name]
