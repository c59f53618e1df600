"""The golden cases: how each one is built from refset itself (``refset oracle regenerate``).

Every builder returns the case's description, the ambiguous choices it pins, its inputs (the
keyword arguments of the adapter function) and its tolerances; the expected output is what
refset's numpy twins compute from those inputs.  Random inputs are drawn from
``numpy.random.default_rng(seed)``; each stochastic function receives its randomness as
``uniforms`` (:mod:`refset.draws`), recorded by running the step once.

Near ties: a case whose outcome could flip under a different summation order is rejected and
the next seed is tried.  While a case is generated, the *margins* of its decisions are
measured — the relative gap at every removal boundary (SET/ESML sign groups, Path-Weight and
Sensitivity scores), at every CH3-L3 top-k boundary and between every weighted draw and the
cumulative weights around it — and the smallest must exceed ``MIN_MARGIN``.  Exact ties are
exercised on purpose only by the hand-made ``*-ties`` cases, which pin the tie-break.
"""
import contextlib

import numpy as np

from .. import draws as _draws_module
from ..algorithms import cht, path_weight, sensitivity, sparse_evolutionary
from ..draws import Draws
from ..algorithms.erdos_renyi import erdos_renyi_layer as _er
from ..fidelity import AUTHORS
from ._format import Layer

__all__ = ["CASES", "MIN_MARGIN", "build"]

MIN_MARGIN = 1e-6
F64 = {"rtol": 1e-12, "atol": 1e-12}
F32 = {"rtol": 2e-5, "atol": 1e-6}
TRAIN = {"rtol": 1e-7, "atol": 1e-9}

PIN_SET = {
    "removal": "sign groups: floor(zeta * n_neg) negatives and floor(zeta * n_pos) positives "
               "closest to zero; floor of the double product; ties by (|w|, row, col)",
    "regrow_removed": "allow_regrow_removed as given (True in the original code)",
    "isolation_guard": "empty rows paired with empty columns in random order first",
    "free_cells": "rank r among the free cells in (row, col) order, ranks by subset()",
    "new_weights": "Normal(0.1): 0.1 * standard_normal, in increasing (row, col) order",
}


# -- margins ------------------------------------------------------------------------------------

class _Margins:
    """Records the relative gaps of the decisions taken inside its ``with`` block."""

    def __init__(self):
        self.values = []
        self.exact_ties = 0

    def gap(self, below, above):
        below, above = float(below), float(above)
        if below == above:          # an exact tie: decided by the pinned tie-break
            self.exact_ties += 1
            return
        scale = max(abs(below), abs(above), 1e-300)
        self.values.append(abs(above - below) / scale)

    def smallest(self):
        return min(self.values) if self.values else float("inf")

    @contextlib.contextmanager
    def watching(self):
        margins = self
        originals = []

        def patch(module, name, wrapper):
            originals.append((module, name, getattr(module, name)))
            setattr(module, name, wrapper(getattr(module, name)))

        def prune_wrapper(f):
            def select_prune(values, zeta, rule="sign", **kw):
                # "original" compares values with thresholds taken from the values themselves:
                # no sum is involved, so no summation order can move its boundary
                groups = ([] if rule == "original" else [np.abs(values)] if rule == "magnitude"
                          else [np.abs(values[values < 0]), values[values > 0]])
                for g in groups:
                    k = int(np.floor(zeta * g.size))
                    if 0 < k < g.size:
                        s = np.sort(g)
                        margins.gap(s[k - 1], s[k])
                return f(values, zeta, rule, **kw)
            return select_prune

        def guarded_wrapper(f):
            def guarded_smallest(scores, candidates, k, layer):
                s = np.sort(scores[np.asarray(candidates, dtype=np.int64)])
                if 0 < k < s.size:
                    margins.gap(s[k - 1], s[k])
                return f(scores, candidates, k, layer)
            return guarded_smallest

        def topk_wrapper(f):
            def ch3_l3_top_k(layer, k, **kw):
                from ..algorithms.ch3_l3 import ch3_l3_scores
                _, scores = ch3_l3_scores(layer, kernels=kw.get("kernels"))
                s = np.sort(scores)[::-1]
                if 0 < k < s.size:
                    margins.gap(s[k], s[k - 1])
                return f(layer, k, **kw)
            return ch3_l3_top_k

        def cdf_wrapper(f):
            def _inverse_cdf(self, weights, size):
                pos = self._pos
                idx = f(self, weights, size)
                if self._replay is not None:       # the reference replays the case's uniforms
                    c = np.cumsum(weights)
                    t = self._replay[pos:self._pos] * c[-1]
                    margins.values.append(float(np.abs(c[None, :] - t[:, None]).min() / c[-1]))
                return idx
            return _inverse_cdf

        patch(sparse_evolutionary, "select_prune", prune_wrapper)
        patch(cht, "select_prune", prune_wrapper)
        patch(path_weight, "guarded_smallest", guarded_wrapper)
        patch(sensitivity, "guarded_smallest", guarded_wrapper)
        patch(cht, "ch3_l3_top_k", topk_wrapper)
        patch(_draws_module.Draws, "_inverse_cdf", cdf_wrapper)
        try:
            yield self
        finally:
            for module, name, original in reversed(originals):
                setattr(module, name, original)


# -- helpers ------------------------------------------------------------------------------------

def _layer(n_in, n_out, eps, rng):
    return Layer.from_coo(_er(n_in, n_out, eps, rng))


def _network(widths, eps, rng):
    return [_layer(a, b, eps, rng) for a, b in zip(widths[:-1], widths[1:])]


def _record(run, seed):
    """Uniforms consumed by ``run(draws)`` for a recording stream seeded with ``seed``."""
    rec = Draws(np.random.default_rng(seed), record=True)
    run(rec)
    return rec.recorded()


# -- L0: kernels --------------------------------------------------------------------------------

def _kernel_case(kind, dtype, batch, shape, eps):
    def build(seed):
        rng = np.random.default_rng(seed)
        L = _layer(*shape, eps, rng)
        L = Layer(L.rows, L.cols, L.values.astype(dtype), L.shape)
        X = rng.standard_normal((batch, shape[0])).astype(dtype)
        D = rng.standard_normal((batch, shape[1])).astype(dtype)
        inputs = {"sparse_forward": {"X": X, "layer": L},
                  "sparse_backward": {"D": D, "layer": L},
                  "sparse_gradient": {"X": X, "D": D, "layer": L}}[kind]
        what = {"sparse_forward": "Y = X W (batch-major rows; W from the layer's links)",
                "sparse_backward": "Y = D Wᵀ",
                "sparse_gradient": "the layer with values (Xᵀ D)[rows, cols]: gradients on "
                                   "the existing links only, none elsewhere"}[kind]
        return {"description": f"{what}; {shape[0]} x {shape[1]}, {L.rows.size} links, "
                               f"batch {batch}, {np.dtype(dtype).name}",
                "spec": "ALGORITHMS §3 (the sparse products of training)",
                "pins": {"dtype": f"inputs and outputs {np.dtype(dtype).name}"},
                "inputs": inputs, "tolerance": F64 if dtype == np.float64 else F32}
    return build


def _path_products(seed):
    rng = np.random.default_rng(seed)
    layers = _network((6, 8, 8, 3), 2.0, rng)
    n = 40
    paths = np.stack([rng.integers(0, L.rows.size, n) for L in layers], axis=1)
    return {"description": "product of |w| along 40 given paths (one link index per layer, "
                           "links in (row, col) order)",
            "spec": "ALGORITHMS §4.1 (path importance)", "pins": {},
            "inputs": {"layers": layers, "paths": paths.astype(np.int64)}, "tolerance": F64}


def _ch3(seed):
    rng = np.random.default_rng(seed)
    L = _layer(14, 18, 1.5, rng)
    return {"description": "CH3-L3 score of every non-link (dense n_in x n_out array; 0 on links "
                           "and on non-links without a length-3 path)",
            "spec": "ALGORITHMS §5.4", "pins": {"links": "topology only; weights ignored"},
            "inputs": {"layer": L}, "tolerance": F64}


def _ch3_fixture(seed):
    X = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 1], [1, 0, 0, 1]], float)
    r, c = np.nonzero(X)
    return {"description": "CH3-L3 on the 4 x 4 fixture of ALGORITHMS §5.4 (hand-made; scores "
                           "3 and ties of sqrt(2))",
            "spec": "ALGORITHMS §5.4", "pins": {"links": "topology only"},
            "inputs": {"layer": Layer(r.astype(np.int64), c.astype(np.int64), X[r, c], (4, 4))},
            "tolerance": F64}


def _importance(seed):
    rng = np.random.default_rng(seed)
    layers = _network((7, 9, 9, 4), 2.0, rng)
    return {"description": "Path-Weight node importance N(v) per neuron layer and connection "
                           "importance S(e) per link (eqs. 2-4), s_l = 1",
            "spec": "ALGORITHMS §4.1", "pins": {"weights": "|w|, unnormalised (s_l = 1)"},
            "inputs": {"layers": layers}, "tolerance": F64}


# -- L1: one step -------------------------------------------------------------------------------

def _er_case(mode, eps=1.2):
    def build(seed):
        args = (20, 15, eps)
        u = _record(lambda d: _er(*args, d, mode=mode), seed)
        return {"description": f"Erdős–Rényi layer 20 x 15, eps {eps}, mode {mode!r}: the "
                               "topology (subset of cells, isolation repair) and Normal(0.1) "
                               "weights",
                "spec": "ALGORITHMS §1",
                "pins": {"count": "round(eps (n_in + n_out)) links" if mode == "exact" else
                         "binomial(n_in n_out, p) by its quantile",
                         "cells": "subset(n_in n_out, M), sorted linear indices",
                         "repair": "each empty row (increasing), then each empty column, takes "
                                   "a link drawn by integers() among the links whose row (column) "
                                   "keeps another, listed in their order before the repair (a "
                                   "moved link keeps its place; no re-sorting between moves)",
                         "weights": "0.1 * standard_normal in (row, col) order"},
                "inputs": {"n_in": 20, "n_out": 15, "epsilon": eps, "uniforms": u, "mode": mode},
                "tolerance": F64}
    return build


def _swi(seed):
    n_in, n_out, nnz = 30, 12, 50
    u = np.random.default_rng(seed).random(nnz)
    return {"description": "SWI weights of a 30 x 12 layer with 50 links",
            "spec": "ALGORITHMS §5.2",
            "pins": {"sigma": "sqrt(2) / sqrt((1 - S) fan_in), S = 1 - nnz / (n_in n_out), "
                              "fan_in = n_in", "draws": "standard_normal, one per weight"},
            "inputs": {"n_in": n_in, "n_out": n_out, "nnz": nnz, "uniforms": u},
            "tolerance": F64}


def _set_case(prune, allow, shape=(16, 12), eps=2.0, zeta=0.3, what=""):
    def build(seed):
        rng = np.random.default_rng(seed)
        L = _layer(*shape, eps, rng)
        u = _record(lambda d: sparse_evolutionary.set_step(
            L.to_coo(), zeta, d, prune=prune, allow_regrow_removed=allow), seed + 1)
        pins = dict(PIN_SET)
        if prune == "magnitude":
            pins["removal"] = ("the floor(zeta * nnz) smallest |w| (both signs together); floor "
                               "of the double product; ties by (|w|, row, col)")
        return {"description": f"one SET step, prune {prune!r}, "
                               f"allow_regrow_removed={allow}, zeta {zeta}{what}",
                "spec": "ALGORITHMS §2", "pins": pins,
                "inputs": {"layer": L, "zeta": zeta, "uniforms": u, "prune": prune,
                           "allow_regrow_removed": allow}, "tolerance": F64}
    return build


def _set_guard(seed):
    """A sparse layer where pruning empties rows: the guard reconnects them."""
    for s in range(seed, seed + 500):
        rng = np.random.default_rng(s)
        L = _layer(10, 8, 0.95, rng)
        W = L.to_coo()
        drop = sparse_evolutionary.select_prune(W.values, 0.5)
        keep = np.setdiff1d(np.arange(W.nnz), drop)
        if (np.unique(W.rows[keep]).size < 10) and (np.unique(W.cols[keep]).size < 8):
            break
    u = _record(lambda d: sparse_evolutionary.set_step(W, 0.5, d), seed + 1)
    return {"description": "one SET step (zeta 0.5) where pruning empties rows and columns: the "
                           "isolation guard reconnects them first",
            "spec": "ALGORITHMS §2 and §0", "pins": dict(PIN_SET),
            "inputs": {"layer": L, "zeta": 0.5, "uniforms": u, "prune": "sign",
                       "allow_regrow_removed": True}, "tolerance": F64, "seed_used": s}


def _set_ties(seed):
    """Hand-made: equal |w| on both sides of the removal boundary."""
    dense = np.array([[-0.5, 0.2, 0.0, -0.5],
                      [0.2, -0.5, 0.2, 0.0],
                      [0.0, 0.2, -0.5, 0.2],
                      [-0.5, 0.0, 0.2, -0.5]])
    r, c = np.nonzero(dense)
    L = Layer(r.astype(np.int64), c.astype(np.int64), dense[r, c], (4, 4))
    u = _record(lambda d: sparse_evolutionary.set_step(L.to_coo(), 0.5, d), seed)
    return {"description": "hand-made ties: six weights -0.5 and six 0.2; zeta 0.5 removes three "
                           "of each, the first ones in (row, col) order",
            "spec": "ALGORITHMS §2", "pins": dict(PIN_SET),
            "inputs": {"layer": L, "zeta": 0.5, "uniforms": u, "prune": "sign",
                       "allow_regrow_removed": True}, "tolerance": F64, "ties": True}


def _pw_case(candidates, count_rule):
    def build(seed):
        rng = np.random.default_rng(seed)
        layers = _network((8, 10, 10, 4), 1.5, rng)
        scales = [1.0, 1.0, 1.0]
        opts = {"lam": 0.3, "zeta": 0.4, "delta": 1.0, "candidates": candidates,
                "n_path_samples": 400, "count_rule": count_rule}
        u = _record(lambda d: path_weight.path_weight_step(
            [L.to_coo() for L in layers], scales, d, **opts), seed + 1)
        return {"description": f"one Path-Weight step, candidates {candidates!r}, count rule "
                               f"{count_rule!r}, lam 0.3, zeta 0.4",
                "spec": "ALGORITHMS §4.1-4.3",
                "pins": {"candidates": "exact: paths with I(p) among the ceil(lam P) smallest; "
                                       "sampled: tau = the ceil(lam n)-th smallest of n sampled "
                                       "path importances (random(n) per layer)",
                         "removal": "per layer ceil(zeta |C ∩ layer|) by S(e), then (row, col); "
                                    "a link whose removal empties a row or column is skipped",
                         "regrowth": "sources by choice(p = N(s)) with room, excess redrawn; "
                                     "targets subsets() of the free outputs; just-removed cells "
                                     "are not free" if count_rule == "conserve" else
                                     "each source grows one link w.p. min(1, delta N(s)/max N)",
                         "new_weights": "Normal(0.1), layer by layer after all topologies"},
                "inputs": {"layers": layers, "scales": scales, "uniforms": u, **opts},
                "tolerance": F64}
    return build


def _sens_case(form):
    def build(seed):
        rng = np.random.default_rng(seed)
        layers = _network((8, 10, 10, 4), 1.5, rng)
        grads = [rng.standard_normal(L.rows.size) * 0.01 for L in layers]
        opts = {"zeta": 0.3, "form": form}
        u = _record(lambda d: sensitivity.sensitivity_step(
            [L.to_coo() for L in layers], grads, d, **opts), seed + 1)
        return {"description": f"one Sensitivity step, form {form!r}, zeta 0.3",
                "spec": "ALGORITHMS §4.5",
                "pins": {"removal": "per layer floor(zeta nnz) lowest sensitivities, (row, col) "
                                    "tie-break, isolation guard",
                         "regrowth": "sources by choice(p = sum of the source's sensitivities), "
                                     "targets subsets() of the free outputs",
                         "new_weights": "Normal(0.1)"},
                "inputs": {"layers": layers, "mean_gradients": grads, "uniforms": u, **opts},
                "tolerance": F64}
    return build


def _esml_case(new_weights, shortfall, eps=1.2, widths=(10, 12, 12, 12)):
    def build(seed):
        rng = np.random.default_rng(seed)
        layers = _network(widths, eps, rng)
        opts = {"zeta": 0.3, "prune": "sign", "shortfall": shortfall, "new_weights": new_weights}
        u = _record(lambda d: cht.esml_step([L.to_coo() for L in layers], d, **opts), seed + 1)
        return {"description": f"one ESML step (CHT) on {len(widths) - 1} sparse layers "
                               f"{'x'.join(map(str, widths))}, eps {eps}: sign removal, "
                               f"percolation, CH3-L3 regrowth, shortfall {shortfall!r}, new "
                               f"weights {new_weights!r}",
                "spec": "ALGORITHMS §5.3-5.4",
                "pins": {"removal": "SET sign rule; exact zeros removed too",
                         "percolation": "backward then forward sweeps; hidden layers compacted",
                         "regrowth": "k = pruned + percolated; top-k CH3-L3 by (score desc, row, "
                                     "col); just-removed links are candidates",
                         "shortfall": shortfall, "new_weights": new_weights,
                         "optimizer_state": "new links start at 0 (training only)"},
                "inputs": {"layers": layers, "uniforms": u, **opts}, "tolerance": F64}
    return build


# -- the authors'-code mode (ALGORITHMS §7, refset.fidelity) -----------------------------------

PIN_ORIGINAL_PRUNE = (
    "the original SET code's thresholds: v = sorted values, f = first index of min |v|, "
    "L = n - (first index of min |v| in reversed v), t_neg = v[int((1 - zeta) f)], "
    "t_pos = v[int(min(n - 1, L + zeta (n - L)))]; removed: t_neg <= w <= t_pos (so ties at "
    "either threshold and exact zeros go)")


def _prune_case(rule, kind, zeta=0.3, with_zero=False):
    def build(seed):
        rng = np.random.default_rng(seed)
        if kind == "ties":        # hand-made: ties at both thresholds and exact zeros
            values = np.array([-0.5, -0.4, -0.3, -0.3, -0.2, -0.1, 0.0, 0.0, 0.15, 0.25,
                               0.25, 0.35, 0.45, 0.55, -0.3, 0.25, 0.6, -0.6])
        else:
            values = np.round(rng.standard_normal(300), 3)   # rounded: many ties, a few zeros
        pin = {"sign": "floor(zeta * n_neg) negatives and floor(zeta * n_pos) positives closest "
                       "to zero, ties by index", "original": PIN_ORIGINAL_PRUNE}[rule]
        if with_zero:
            pin += ("; with_zero: computed as if one more 0 were among the values (the CHT "
                    "authors sort the whole masked dense matrix)")
        what = {"ties": "18 hand-made values with ties at both thresholds and two zeros",
                "random": "300 normal values rounded to 3 decimals (ties, zeros)"}[kind]
        return {"description": f"SET removal alone, rule {rule!r}{' with_zero' * with_zero}, "
                               f"zeta {zeta}: {what}; returns the removed indices",
                "spec": "ALGORITHMS §2.1 and §7", "pins": {"removal": pin},
                "inputs": {"values": values, "zeta": zeta, "rule": rule, "with_zero": with_zero},
                "tolerance": F64, "ties": True}
    return build


def _er_replacement(seed):
    args = (20, 15, 1.2)
    u = _record(lambda d: _er(*args, d, mode="replacement"), seed)
    return {"description": "Erdős–Rényi layer 20 x 15, eps 1.2, mode 'replacement' (the original "
                           "SET code): 42 cells drawn with replacement, duplicates collapse, no "
                           "isolation repair",
            "spec": "ALGORITHMS §1 and §7",
            "pins": {"count": "round(eps (n_in + n_out)) draws of integers(n_in n_out)",
                     "cells": "the distinct drawn cells, sorted linear indices",
                     "repair": "none (isolated neurons stay)",
                     "weights": "0.1 * standard_normal per distinct cell, in (row, col) order"},
            "inputs": {"n_in": 20, "n_out": 15, "epsilon": 1.2, "uniforms": u,
                       "mode": "replacement"}, "tolerance": F64}


def _set_original(seed):
    """The original code's SET step where its removal isolates neurons: no guard."""
    for s in range(seed, seed + 500):
        L = _layer(10, 8, 0.95, np.random.default_rng(s))
        W = L.to_coo()
        drop = sparse_evolutionary.select_prune(W.values, 0.5, "original")
        keep = np.setdiff1d(np.arange(W.nnz), drop)
        if np.unique(W.rows[keep]).size < 10 and np.unique(W.cols[keep]).size < 8:
            break
    u = _record(lambda d: sparse_evolutionary.set_step(W, 0.5, d, prune="original",
                                                        guard=False), seed + 1)
    pins = dict(PIN_SET, removal=PIN_ORIGINAL_PRUNE,
                isolation_guard="none: every new cell by rank among the free cells")
    return {"description": "one SET step of the original code (zeta 0.5): threshold removal that "
                           "empties rows and columns, no isolation guard",
            "spec": "ALGORITHMS §2 and §7", "pins": pins,
            "inputs": {"layer": L, "zeta": 0.5, "uniforms": u, "prune": "original",
                       "allow_regrow_removed": True, "guard": False},
            "tolerance": F64, "seed_used": s}


def _esml_authors(seed):
    rng = np.random.default_rng(seed)
    layers = _network((10, 12, 12, 12), 1.5, rng)
    budget = [L.rows.size + 2 for L in layers]          # the authors' n_params: a random count
    opts = {"zeta": 0.3, "prune": "original", "shortfall": "drop", "new_weights": "zero",
            "guard": False, "budget": budget, "ties": True, "keep_regrown_state": True}
    u = _record(lambda d: cht.esml_step([L.to_coo() for L in layers], d, **opts), seed + 1)
    return {"description": "one ESML step of the CHT authors' code on 10x12x12x12, eps 1.5: "
                           "threshold removal over the masked dense matrix, percolation, "
                           "regrowth up to the budget with every candidate tied at the k-th "
                           "score, removed-and-regrown links keep their weights, no guard",
            "spec": "ALGORITHMS §5.3 and §7",
            "pins": {"removal": PIN_ORIGINAL_PRUNE + ", with one extra 0 among the values",
                     "percolation": "backward then forward sweeps; hidden layers compacted",
                     "regrowth": "k = budget - kept (>= 0); every non-link whose CH3-L3 score "
                                 "is >= the k-th best positive score; fewer than k: all positive "
                                 "ones (shortfall dropped)",
                     "new_weights": "0, except a link removed and regrown in this step: its old "
                                    "weight", "guard": "none"},
            "inputs": {"layers": layers, "uniforms": u, **opts}, "tolerance": F64, "ties": True}


# -- L2: short training runs --------------------------------------------------------------------

def _train_case(method, extra=None, epochs=3):
    def build(seed):
        from ..datasets import make_synthetic

        X, y = make_synthetic(n_samples=60, n_features=8, n_informative=4, n_redundant=2,
                              n_classes=3, seed=seed)
        params = {"hidden_layer_sizes": [10, 10], "epsilon": 2.0, "zeta": 0.3, "epochs": epochs,
                  "batch_size": 16, "learning_rate": 0.05, "momentum": 0.9,
                  "weight_decay": 2e-4, "method": method, "dtype": "float64"}
        if method == "cht":
            params.update({"hidden_layer_sizes": [8, 8], "method_options": {"sparsity": 0.6}})
        params.update(extra or {})
        authors = params.get("fidelity", "paper") != "paper"

        def run(d):
            from ..estimator import SparseMLP
            p = dict(params, hidden_layer_sizes=tuple(params["hidden_layer_sizes"]))
            SparseMLP(**p, backend="numpy", seed=d).fit(X, y)
        u = _record(run, seed + 1)
        fid = params.get("fidelity")
        fid_text = ("" if not authors else ", fidelity authors" if fid == "authors"
                    else ", the authors' quirks but float32")
        pins_authors = {} if not authors else {
            "fidelity": "refset.fidelity quirks: " + ", ".join(
                AUTHORS[method] if fid == "authors" else fid),
            "authors_init": "SET: integers() cells with replacement, one weight per distinct "
                            "cell. CHT: one binomial(n_in n_out, 1 - S) budget per layer, CSTI "
                            "with ties at the budget's threshold, weights drawn then one random() "
                            "per link (kept where u >= S, else 0); then sparse biases "
                            "sigma * standard_normal (sigma the layer's SWI sigma); output "
                            "weights and biases uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))"}
        return {"description": f"{epochs} epochs of a tiny MLP, method {method!r}{fid_text}"
                               f"{', loss mse' if params.get('loss') == 'mse' else ''}, "
                               "batch 16: topology, weights, biases and training loss after "
                               "every epoch",
                "spec": "ALGORITHMS §3 and the method's section",
                "pins": {"batch_order": "permutation(n) at the start of each epoch",
                         "dropout": "per hidden layer, after ReLU: random((n_units, batch)) in "
                                    "unit-major (C) order, kept where u < 1 - p, scaled by "
                                    "1 / (1 - p); layers in forward order, batch by batch",
                         "draw_order": "initialisation (every layer's topology then weights, "
                                       "layer by layer), then per epoch: permutation, dropout "
                                       "masks of each batch, then the topology update",
                         "updates": "after every epoch but the last",
                         "optimizer_state": "new links start with zero momentum; kept links "
                                            "keep theirs",
                         "weight_decay": "coupled (added to the gradient)", **pins_authors},
                "inputs": {"X": X, "y": y, "params": params, "uniforms": u},
                "tolerance": TRAIN}
    return build


# -- the registry -------------------------------------------------------------------------------

CASES = {}


def _add(name, level, function, builder):
    CASES[name] = (level, function, builder)


for _kind in ("sparse_forward", "sparse_backward", "sparse_gradient"):
    for _dt, _tag in ((np.float64, "f64"), (np.float32, "f32")):
        for _b in (1, 5):
            _add(f"L0-{_kind.split('_')[1]}-{_tag}-b{_b}", 0, _kind,
                 _kernel_case(_kind, _dt, _b, (12, 9), 2.0))
_add("L0-path-products", 0, "path_products", _path_products)
_add("L0-ch3-l3", 0, "ch3_l3_scores", _ch3)
_add("L0-ch3-l3-fixture-ties", 0, "ch3_l3_scores", _ch3_fixture)
_add("L0-path-importance", 0, "path_importance", _importance)
_add("L1-er-exact", 1, "erdos_renyi_layer", _er_case("exact"))
_add("L1-er-bernoulli", 1, "erdos_renyi_layer", _er_case("bernoulli"))
_add("L1-er-many-repairs", 1, "erdos_renyi_layer", _er_case("exact", 0.6))
_add("L1-swi", 1, "swi_weights", _swi)
_add("L1-set-sign", 1, "set_step", _set_case("sign", True))
_add("L1-set-sign-forbid-removed", 1, "set_step", _set_case("sign", False))
_add("L1-set-magnitude", 1, "set_step", _set_case("magnitude", True))
_add("L1-set-forbid-removed-fallback", 1, "set_step", _set_case(
    "sign", False, (6, 5), 2.6, 0.5, "; 6 x 5 layer with 28 links: too few other free cells, "
    "so just-removed ones become eligible"))
_add("L1-set-isolation-guard", 1, "set_step", _set_guard)
_add("L1-set-ties", 1, "set_step", _set_ties)
_add("L1-path-weight-exact", 1, "path_weight_step", _pw_case("exact", "conserve"))
_add("L1-path-weight-sampled", 1, "path_weight_step", _pw_case("sampled", "conserve"))
_add("L1-path-weight-paper-count", 1, "path_weight_step", _pw_case("exact", "paper"))
_add("L1-sensitivity-quotient", 1, "sensitivity_step", _sens_case("quotient"))
_add("L1-sensitivity-relative", 1, "sensitivity_step", _sens_case("relative"))
_add("L1-esml-zero", 1, "esml_step", _esml_case("zero", "random"))
_add("L1-esml-swi-drop", 1, "esml_step", _esml_case("swi", "drop"))
# denser: the top-k cut falls among many CH3-L3 candidates (the sparse ones regrow nearly all)
_add("L1-esml-ch3-cut", 1, "esml_step", _esml_case("zero", "random", 3.0, (16, 20, 20)))
_add("L2-train-set", 2, "train", _train_case("set"))
_add("L2-train-set-dropout", 2, "train", _train_case("set", {"dropout": 0.2}))
_add("L2-train-path-weight", 2, "train", _train_case("path-weight"))
_add("L2-train-sensitivity", 2, "train", _train_case("sensitivity"))
_add("L2-train-cht", 2, "train", _train_case("cht"))
_add("L1-set-prune-sign", 1, "set_prune", _prune_case("sign", "random"))
_add("L1-set-prune-original", 1, "set_prune", _prune_case("original", "random"))
_add("L1-set-prune-original-ties", 1, "set_prune", _prune_case("original", "ties"))
_add("L1-cht-prune-original", 1, "set_prune", _prune_case("original", "random", with_zero=True))
_add("L1-er-replacement", 1, "erdos_renyi_layer", _er_replacement)
_add("L1-set-original", 1, "set_step", _set_original)
_add("L1-esml-authors", 1, "esml_step", _esml_authors)
_add("L2-train-set-authors", 2, "train", _train_case("set", {"fidelity": "authors",
                                                             "loss": "mse"}))
# every quirk of the CHT authors' code but float32 (the oracle's tolerances are float64's)
_add("L2-train-cht-authors", 2, "train", _train_case("cht", {"fidelity": [
    q for q in AUTHORS["cht"] if q not in ("float32", "global_normalisation")]}))


def build(name, reference, first_seed=0, max_tries=50):
    """Build case ``name``: the case document (JSON-able except inputs), inputs and expected.

    Seeds ``first_seed, first_seed + 1, ...`` are tried until the smallest decision margin is
    at least :data:`MIN_MARGIN` and no decision boundary is an exact tie (hand-made tie cases
    are exempt: they pin the tie-break).
    """
    level, function, builder = CASES[name]
    for seed in range(first_seed, first_seed + max_tries):
        case = builder(seed)
        margins = _Margins()
        with margins.watching():
            expected = getattr(reference, function)(**case["inputs"])
        if case.get("ties") or (margins.smallest() >= MIN_MARGIN and not margins.exact_ties):
            break
    else:
        raise RuntimeError(f"{name}: no seed in {max_tries} gave decision margins >= {MIN_MARGIN} "
                       "without exact ties")
    smallest = margins.smallest()
    doc = {"name": name, "level": level, "function": function,
           "description": case["description"], "spec": case["spec"], "pins": case["pins"],
           "tolerance": case["tolerance"], "seed": case.get("seed_used", seed),
           "min_relative_margin": None if case.get("ties") or smallest == float("inf")
           else float(f"{smallest:.3g}"),
           "exact_ties_at_boundaries": margins.exact_ties,
           "hand_made_ties": bool(case.get("ties", False))}
    return doc, case["inputs"], expected
