r"""Topology-evolution methods as seen by :class:`refset.SparseMLP`.

Each algorithm lives in its own pure module under :mod:`refset.algorithms` (``set_step``,
``path_weight_step``, ``sensitivity_step``, ``esml_step``); this module is the thin glue that
lets the model call them: it names the method, validates its options, keeps its state between
updates (the time-varying schedule of Path-Weight, the early-stop flags of CHT) and turns a
step's result into the model's new layers and the history's fields.

A method is chosen with ``SparseMLP(method=NAME, method_options={...})``:

=================  ========================================================================
``"set"``          Sparse Evolutionary Training (ALGORITHMS §2); uses the model's ``zeta``,
                   ``prune`` and ``allow_regrow_removed``; no options.
``"path-weight"``  Path-Weight (ALGORITHMS §4.1–4.4): ``lam``, ``zeta``, ``delta``, ``candidates``,
                   ``max_paths``, ``n_path_samples``, ``count_rule``, ``time_varying``,
                   ``K1``..``K4``, ``probe_size``.
``"sensitivity"``  Sensitivity (ALGORITHMS §4.5): ``zeta``, ``form``.
``"cht"``          Cannistraci-Hebb training / ESML (ALGORITHMS §5): ``zeta``, ``prune``, ``shortfall``,
                   ``new_weights``, ``early_stop``, ``early_stop_threshold``,
                   ``topology_init``, ``sparsity``.
=================  ========================================================================

An option left out takes its default (:data:`DEFAULTS`); ``zeta=None`` (and CHT's
``prune=None``) means the model's own ``zeta`` (``prune``).

Examples
--------
>>> make_method("sensitivity", {"form": "relative"}).options["form"]
'relative'
>>> make_method("path-weight", {"lam": 2})
Traceback (most recent call last):
...
ValueError: method_options['lam'] must be a finite number in [0, 1], got 2.0
"""
import math

import numpy as np

from .._validation import check_choice, check_float, check_int

__all__ = ["METHODS", "DEFAULTS", "make_method", "Method"]

METHODS = ("set", "path-weight", "sensitivity", "cht")

DEFAULTS = {
    "set": {},
    "path-weight": {
        "lam": 0.1, "zeta": None, "delta": 1.0, "candidates": "auto", "max_paths": 1_000_000,
        "n_path_samples": 100_000, "count_rule": "conserve", "time_varying": False,
        "K1": 2.0, "K2": 0.5, "K3": 0.1, "K4": 0.5, "probe_size": 1024,
    },
    "sensitivity": {"zeta": None, "form": "quotient"},
    "cht": {
        "zeta": None, "prune": None, "shortfall": "random", "new_weights": "zero",
        "early_stop": "layer", "early_stop_threshold": 0.9, "topology_init": "csti",
        "sparsity": 0.99,
    },
}

# Model-level defaults that depend on the method (None in SparseMLP means "the method's").
MODEL_DEFAULTS = {
    "set": {"weight_init": "normal", "dense_output": False, "lr_schedule": "constant"},
    "path-weight": {"weight_init": "normal", "dense_output": False, "lr_schedule": "constant"},
    "sensitivity": {"weight_init": "normal", "dense_output": False, "lr_schedule": "constant"},
    "cht": {"weight_init": "swi", "dense_output": True, "lr_schedule": "linear"},
}


def _opt(name):
    return f"method_options[{name!r}]"


def _check_options(method, options):
    """Validated options of ``method``: defaults filled in, unknown keys refused."""
    if options is None:
        options = {}
    if not isinstance(options, dict):
        raise ValueError(f"method_options must be a dict or None, got {options!r}")
    allowed = DEFAULTS[method]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        valid = ", ".join(allowed) if allowed else "none"
        raise ValueError(f"method_options: unknown option(s) {', '.join(unknown)} for method "
                         f"{method!r} (valid: {valid})")
    out = dict(allowed, **options)
    if out.get("zeta") is not None:
        out["zeta"] = check_float(_opt("zeta"), out["zeta"], 0.0, 1.0)
    if method == "path-weight":
        out["lam"] = check_float(_opt("lam"), out["lam"], 0.0, 1.0)
        out["delta"] = check_float(_opt("delta"), out["delta"], 0.0, None, low_open=True)
        check_choice(_opt("candidates"), out["candidates"], ("auto", "exact", "sampled"))
        out["max_paths"] = check_int(_opt("max_paths"), out["max_paths"], 1)
        out["n_path_samples"] = check_int(_opt("n_path_samples"), out["n_path_samples"], 1)
        check_choice(_opt("count_rule"), out["count_rule"], ("conserve", "paper"))
        check_choice(_opt("time_varying"), out["time_varying"], (True, False))
        for k in ("K1", "K2", "K3", "K4"):
            out[k] = check_float(_opt(k), out[k], 0.0, None, low_open=True)
        if not (out["K2"] < 1 < out["K1"] and out["K3"] < out["K4"]):
            raise ValueError("method_options: the schedule needs K2 < 1 < K1 and K3 < K4 "
                             f"(Naji et al. eq. 9), got K1={out['K1']}, K2={out['K2']}, "
                             f"K3={out['K3']}, K4={out['K4']}")
        out["probe_size"] = check_int(_opt("probe_size"), out["probe_size"], 1)
    elif method == "sensitivity":
        check_choice(_opt("form"), out["form"], ("quotient", "relative"))
    elif method == "cht":
        check_choice(_opt("prune"), out["prune"], (None, "sign", "magnitude", "original"))
        check_choice(_opt("shortfall"), out["shortfall"], ("random", "drop"))
        check_choice(_opt("new_weights"), out["new_weights"], ("zero", "swi"))
        check_choice(_opt("early_stop"), out["early_stop"], ("layer", "all", "never"))
        out["early_stop_threshold"] = check_float(_opt("early_stop_threshold"),
                                                  out["early_stop_threshold"], 0.0, 1.0)
        check_choice(_opt("topology_init"), out["topology_init"], ("csti", "erdos_renyi"))
        out["sparsity"] = check_float(_opt("sparsity"), out["sparsity"], 0.0, 1.0, high_open=True)
    return out


class Method:
    """A validated method: its name, its options and what it needs from the training loop.

    Attributes
    ----------
    name : str
    options : dict
        All options, defaults filled in.
    needs_gradients : bool
        The model must accumulate the epoch's mean gradient (Sensitivity).
    """

    def __init__(self, name, options=None):
        self.name = check_choice("method", name, METHODS)
        self.options = _check_options(name, options)
        self.needs_gradients = name == "sensitivity"

    def __repr__(self):
        return f"Method({self.name!r}, {self.options!r})"

    def model_default(self, key):
        return MODEL_DEFAULTS[self.name][key]

    def zeta(self, model):
        z = self.options.get("zeta")
        return model.zeta if z is None else z

    def initial_state(self, model):
        """JSON-able state carried from one update to the next (saved in checkpoints)."""
        if self.name == "path-weight":
            o = self.options
            return {"lam": o["lam"], "zeta": self.zeta(model), "delta": o["delta"]}
        if self.name == "cht":
            n = model._n_sparse()
            return {"passed": [False] * n, "frozen": [False] * n}
        return {}


def make_method(name, options=None):
    """Validate ``name`` and ``options``; returns a :class:`Method`.

    Raises
    ------
    ValueError
        Unknown method, unknown option or an option out of range (the message names it).
    """
    return Method(name, options)


def linear_decay(lr0, epoch, epochs, final_fraction=0.01, over=0.9):
    """Learning rate of ``epoch`` (0-based) under CHT's linear decay (ALGORITHMS §5.5).

    Decays linearly from ``lr0`` to ``final_fraction * lr0`` over the first ``over`` of the
    epochs, then stays there.

    Examples
    --------
    >>> [round(linear_decay(1.0, e, 10), 3) for e in (0, 9)]
    [1.0, 0.01]
    """
    span = max(over * epochs, 1.0)
    t = min(1.0, epoch / span)
    return lr0 * (1.0 - (1.0 - final_fraction) * t)


def area_across_epochs(accuracies):
    """AAE of ALGORITHMS §5.5: area under the accuracy curve / (E − 1) (trapezoid).

    One epoch gives its accuracy.  Compare only runs of equal length.

    Examples
    --------
    >>> area_across_epochs([0.5, 0.7, 0.9])
    0.7
    """
    a = np.asarray(accuracies, dtype=float)
    if a.size == 0:
        return math.nan
    if a.size == 1:
        return float(a[0])
    return float(round(np.sum((a[1:] + a[:-1]) / 2.0) / (a.size - 1), 15))
