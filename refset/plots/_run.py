"""Reading one run for its figures: history, config, final model, initial layers and titles.

A run is given as a run directory of ``refset train`` or of a sweep (``config.json``,
``history.json``, ``model.npz``), one of those files, a fitted :class:`refset.SparseMLP` or its
epoch records.  :class:`_Run` holds what could be read; what is missing is None.

The initial network (the topology trained in epoch 1) is not stored: :meth:`_Run.initial_layers`
rebuilds it with the model's own initialisation from the parameters ``model.npz`` holds (those
of ``config.json``), ``SparseMLP(**params)._initialize(n_features, n_classes,
draws_from_seed(seed), X)``, which is what :meth:`refset.SparseMLP.fit` calls before the first
epoch, with the same seed stream, so the layers are the run's bit for bit.  Erdős–Rényi layers
need only the numbers of features and classes (read from ``model.npz``); CHT's CSTI layers need
the training data too (:func:`refset.estimator.run.load_run_data` of ``config["data"]``).  When
that is impossible (no ``model.npz``, no integer seed, no ``config.json`` or data that cannot be
loaded for CSTI), it returns None and the reason, which the figure states.
"""
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._sweep import _read_history, _read_json

_SYMBOL = {"lam": "λ", "zeta": "ζ", "delta": "δ"}


class _Run:
    """What the figures of one run read; built by :func:`_history_run` or :func:`_model_run`."""

    def __init__(self, name, *, history=None, config=None, params=None, model=None,
                 run_dir=None):
        self.name = name
        self.history = history
        self.config = config if isinstance(config, Mapping) else None
        if params is None and self.config is not None and isinstance(
                self.config.get("model"), Mapping):
            params = dict(self.config["model"])
        self.params = params
        self._model = model
        self.run_dir = run_dir
        self._initial = None

    # -- the final model ---------------------------------------------------------------------
    @property
    def model(self):
        """The final model (``model.npz`` of the run directory), or None."""
        if self._model is None and self.run_dir is not None:
            file = self.run_dir / "model.npz"
            if file.is_file():
                from ..estimator.mlp import SparseMLP

                self._model = SparseMLP.load(file)
        return self._model

    def widths(self):
        """Neurons per neuron layer (inputs, hidden..., outputs) as built, or None."""
        model = self.model
        if model is None:
            return None
        hidden = [int(n) for n in np.atleast_1d(model.hidden_layer_sizes)]
        return [int(model.n_features_in_), *hidden, int(len(model.classes_))]

    # -- the method and its schedule ---------------------------------------------------------
    @property
    def method(self):
        """The method's name: from the parameters, else guessed from the history's fields."""
        if self.params and self.params.get("method"):
            return self.params["method"]
        for rec in self.history or ():
            if "lam" in rec:
                return "path-weight"
            if "frozen" in rec or "percolated" in rec:
                return "cht"
            if "mean_sensitivity" in rec:
                return "sensitivity"
        return None

    def options(self):
        """The method's options with their defaults (empty when unknown)."""
        from ..estimator.methods import DEFAULTS

        method = self.method
        given = (self.params or {}).get("method_options") or {}
        return dict(DEFAULTS.get(method, {}), **given)

    def zeta(self):
        """ζ as configured (the method's option, else the model's), or None."""
        z = self.options().get("zeta")
        return z if z is not None else (self.params or {}).get("zeta")

    def values(self, field):
        """(epochs, values) of a scalar field over the records that hold it."""
        rows = [(rec["epoch"], rec[field]) for rec in self.history or ()
                if isinstance(rec.get(field), (int, float)) and not isinstance(rec[field], bool)]
        return [e for e, _ in rows], [float(v) for _, v in rows]

    def frozen_after(self):
        """``{layer (1-based): epoch}``: the update after which each frozen layer froze (CHT)."""
        out = {}
        for rec in self.history or ():
            for l, flag in enumerate(rec.get("frozen") or ()):
                if flag and l + 1 not in out:
                    out[l + 1] = rec["epoch"]
        return out

    def schedule(self):
        """Parts of the title: the method and the schedule the run actually used."""
        method, opts, params = self.method, self.options(), self.params or {}
        bits = [method] if method else []
        if method == "path-weight":
            used = [_sequence(_SYMBOL[k], self.values(k)[1]) for k in ("zeta", "lam", "delta")]
            if all(used):
                bits += used
            else:
                bits += [f"{_SYMBOL[k]} = {_number(opts.get(k) if k != 'zeta' else self.zeta())}"
                         for k in ("zeta", "lam", "delta")]
            if opts.get("time_varying"):
                bits.append("time-varying")
        else:
            used = self.values("zeta")[1]            # Sensitivity records the ζ it used
            if used or self.zeta() is not None:
                bits.append(_sequence("ζ", used) or f"ζ = {_number(self.zeta())}")
                if not any(used or [self.zeta()]):
                    bits[-1] += " (static topology)"
            if method == "sensitivity":
                forms = [rec["form"] for rec in self.history or () if "form" in rec]
                bits.append(f"form {forms[-1] if forms else opts.get('form')}")
        if method == "cht":
            if opts.get("topology_init") == "csti":
                bits.append(f"CSTI sparsity {_number(opts.get('sparsity'))}")
            elif params.get("epsilon") is not None:
                bits.append(f"Erdős–Rényi ε = {_number(params['epsilon'])}")
            bits.append(self._early_stop_text(opts))
        elif params.get("epsilon") is not None:
            bits.append(f"ε = {_number(params['epsilon'])}")
        interval = params.get("update_interval")
        if isinstance(interval, int) and interval > 1:
            bits.append(f"update every {interval} epochs")
        rates = self.values("learning_rate")[1]
        if rates and rates[0] != rates[-1]:
            bits.append(f"lr {_number(rates[0])} → {_number(rates[-1])}")
        elif rates:
            bits.append(f"lr {_number(rates[0])}")
        return bits

    def _early_stop_text(self, opts):
        if opts.get("early_stop") == "never":
            return "early stop off"
        frozen = self.frozen_after()
        if not frozen:
            return "no layer frozen"
        epochs = set(frozen.values())
        n_sparse = max((sum(f is not None for f in rec["frozen"]) for rec in self.history
                        if isinstance(rec.get("frozen"), list)), default=0)
        if len(frozen) == n_sparse and len(epochs) == 1:
            return f"all layers frozen after epoch {epochs.pop()}"
        return ", ".join(f"layer {l} frozen after epoch {e}" for l, e in sorted(frozen.items()))

    def title(self, what):
        """``what: name`` and, on a second line, the method and its schedule."""
        lines = [f"{what}: {self.name}"]
        for i, bit in enumerate(self.schedule()):    # lines of at most ~90 characters
            if i == 0:
                lines.append(bit)
            elif len(lines[-1]) + len(bit) + 2 > 90:
                lines[-1] += ","
                lines.append(bit)
            else:
                lines[-1] += f", {bit}"
        return "\n".join(lines)

    # -- the initial network -----------------------------------------------------------------
    def initial_layers(self):
        """(layers, None), or (None, why not): the network before the first epoch."""
        if self._initial is None:
            self._initial = self._rebuild()
        return self._initial

    def _rebuild(self):
        from ..draws import draws_from_seed
        from ..estimator.mlp import SparseMLP, _resolve_dtype
        from .._validation import check_finite_2d

        final = self.model
        if final is None:
            return None, "the run has no model.npz"
        try:                       # the checkpoint holds the run's parameters, seed included
            model = SparseMLP(**final.get_params())
            model._validate_params()
            method = model._method()
        except (TypeError, ValueError) as exc:
            return None, f"its parameters cannot be rebuilt from model.npz ({exc})"
        if isinstance(model.seed, bool) or not isinstance(model.seed, (int, np.integer)):
            return None, f"the run's seed is {model.seed!r}, not an integer"
        X = None
        n_features, n_classes = int(final.n_features_in_), int(len(final.classes_))
        if method.name == "cht" and method.options["topology_init"] == "csti":
            from ..estimator.run import load_run_data

            if self.config is None or not isinstance(self.config.get("data"), Mapping):
                return None, ("CSTI builds it from the training data, and the run has no "
                              "config.json saying which")
            try:
                data = load_run_data(self.config["data"])
                X = check_finite_2d("X", data.X_train, dtype=_resolve_dtype(model._p("dtype")))
            except Exception as exc:          # any failure to load: say so in the figure
                return None, (f"CSTI builds it from the training data, which could not be "
                              f"loaded ({type(exc).__name__}: {exc})")
            if X.shape[1] != n_features or np.unique(data.y_train).size != n_classes:
                return None, "the training data do not match model.npz"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model._initialize(n_features, n_classes, draws_from_seed(model.seed), X)
        except (ValueError, MemoryError) as exc:
            return None, f"rebuilding it failed ({exc})"
        if len(model.layers_) != len(final.layers_):
            return None, "rebuilding it gave another number of layers than model.npz holds"
        return model.layers_, None


def _number(value):
    if isinstance(value, float) and math.isfinite(value):
        return f"{value:.3g}"
    return str(value)


def _sequence(symbol, values):
    """``ζ = 0.3`` if constant, ``ζ per update 0.3 → 0.6 → 1`` if it changed, "" if none."""
    if not values:
        return ""
    runs = [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]
    if len(runs) == 1:
        return f"{symbol} = {_number(runs[0])}"
    if len(runs) > 4:
        runs = runs[:2] + ["…", runs[-1]]
    return f"{symbol} per update " + " → ".join(v if v == "…" else _number(v) for v in runs)


def _config_of(run_dir):
    """The run's config (``config.json``, else the one in ``history.json``), or None."""
    for file in (run_dir / "config.json", run_dir / "history.json"):
        if file.is_file():
            doc = _read_json(file)
            doc = doc.get("config", doc) if isinstance(doc, Mapping) else None
            if isinstance(doc, Mapping) and isinstance(doc.get("model"), Mapping):
                return doc
    return None


def _history_run(source, what="history_or_run_dir"):
    """A :class:`_Run` with its history, from a run directory, history.json, model or records."""
    from ..estimator.mlp import SparseMLP

    if isinstance(source, _Run):
        return source
    if isinstance(source, SparseMLP):
        source._check_fitted()
        return _Run(_model_name(source), history=source.history_, params=source.get_params(),
                    model=source)
    if isinstance(source, Mapping) and isinstance(source.get("history"), list):
        return _Run("run", history=source["history"], config=source.get("config"))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        file = path / "history.json" if path.is_dir() else path
        if file.is_file() and file.suffix == ".json":
            if file.name == "history.json":
                return _dir_run(file.parent)
            return _Run(file.parent.name, history=_read_history(file),
                        config=_config_of(file.parent), run_dir=file.parent)
    if isinstance(source, Sequence) and not isinstance(source, (str, bytes)) and \
            all(isinstance(r, Mapping) and "epoch" in r for r in source):
        return _Run("run", history=list(source))
    raise ValueError(f"{what} must be a list of epoch records, a SparseMLP, a run "
                     f"directory holding history.json or that file, got {source!r}")


def _dir_run(run_dir):
    """A :class:`_Run` of a run directory: its history (None without history.json) and config."""
    run_dir = Path(run_dir)
    history = run_dir / "history.json"
    return _Run(run_dir.name, history=_read_history(history) if history.is_file() else None,
                config=_config_of(run_dir), run_dir=run_dir)


def _model_run(source):
    """(run, final layers): from a run directory, a ``.npz`` file, a model or its layers."""
    from ..estimator.mlp import SparseMLP
    from ..sparse import CooMatrix

    if isinstance(source, _Run) and source.model is not None:
        return source, source.model.layers_
    if isinstance(source, SparseMLP):
        source._check_fitted()
        return _Run(_model_name(source), history=source.history_, params=source.get_params(),
                    model=source), source.layers_
    if isinstance(source, Sequence) and source and all(isinstance(W, CooMatrix) for W in source):
        return _Run("layers"), list(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        file = path / "model.npz" if path.is_dir() else path
        if file.is_file() and file.suffix == ".npz":
            model = SparseMLP.load(file)
            if path.is_dir():
                run = _dir_run(path)
                run._model = model
            else:
                run = _Run(file.name, params=model.get_params(), model=model,
                           history=model.history_)
            return run, model.layers_
    raise ValueError("run_dir_or_model must be a fitted SparseMLP, a list of CooMatrix, a "
                     f"run directory holding model.npz or a .npz file, got {source!r}")


def _model_name(model):
    return f"model after epoch {model.epoch_}"
