"""Topology evolution of :class:`refset.SparseMLP`: the update after each due epoch.

The methods' steps are in :mod:`refset.algorithms` (SET, Path-Weight, Sensitivity, CHT's ESML);
this part applies them to the model: it installs each new topology with its momentum (new links
start at 0), compacts the neurons CHT removes, pads the per-layer history fields of a dense
output layer and records ANP and AAE.  SET's call, ``SparseMLP._evolve_set``, stays in
:mod:`refset.estimator.mlp`: :mod:`refset.oracle.adapters.mutants` swaps ``refset.estimator.mlp.set_step``.

Deviations
----------
- Methods (:mod:`refset.estimator.methods`): Path-Weight's layer norms :math:`s_l` are the mean
  per-sample norms of each layer's input over at most ``probe_size`` (1024) training samples
  drawn with the run's generator, without dropout; Sensitivity uses the mean of the epoch's
  mini-batch gradients accumulated during training (no extra pass).
- ANP is active hidden neurons / initial hidden neurons; ``aae`` is recorded as the running
  value up to each epoch.
"""
import time

import numpy as np

from .numerics import _EVAL_BATCH
from .methods import area_across_epochs


class _TopologyEvolution:
    """Topology updates: a part of :class:`refset.SparseMLP`, not a model on its own.

    Reads ``layers_``, ``history_``, ``epoch_``, the generator ``_rng``, Sensitivity's
    ``_mean_grads`` and the parameters ``hidden_layer_sizes``, ``prune``, ``epochs`` and
    ``update_interval``; replaces entries of ``layers_`` and ``velocities_``, shrinks ``biases_``
    (CHT) and updates ``method_state_``.  Uses the estimator's ``_method``, ``_n_sparse``,
    ``_layer_init``, ``_evolve_set`` and ``active_neurons``, and the numerics' ``_forward``,
    ``_kernels`` and ``_refresh_caches``.
    """

    def _network_metrics(self, test_acc):
        """ANP and the running AAE (ALGORITHMS §5.5) for the epoch record."""
        hidden = sum(int(n) for n in np.atleast_1d(self.hidden_layer_sizes))
        active = self.active_neurons()[1:-1]
        out = {"anp": sum(active) / hidden}
        if test_acc is not None:
            curve = [r["test_accuracy"] for r in self.history_] + [test_acc]
            out["aae"] = area_across_epochs(curve)
            out["aae_mean"] = float(np.mean(curve))
        return out

    def _evolve(self, X, skip=False):
        """One topology update with the model's method.

        Returns the history fields of the update: per layer ``removed``, ``regrown``,
        ``overlap``, and the method's own fields (see :mod:`refset.estimator.methods`).
        """
        n = len(self.layers_)
        if skip:
            return {"removed": [0] * n, "regrown": [0] * n, "overlap": [None] * n}
        method = self._method()
        if method.name == "set":
            return self._evolve_set(method)
        if method.name == "cht":
            return self._evolve_cht(method)
        return self._evolve_importance(method, X)

    def _inits(self, n_layers):
        return [self._layer_init(*W.shape, W.nnz) for W in self.layers_[:n_layers]]

    def _pad(self, fields):
        """Per-layer lists padded for a static dense output layer (0 / None)."""
        n = len(self.layers_)
        for key, values in fields.items():
            if isinstance(values, list) and len(values) == self._n_sparse() < n:
                fill = None if key in ("overlap", "frozen") else 0
                fields[key] = values + [fill] * (n - len(values))
        return fields

    def _probe_scales(self, X):
        """s_l of ALGORITHMS §4.1: mean per-sample norm of each layer's input on a probe batch."""
        size = min(self._method().options["probe_size"], X.shape[0])
        idx = np.sort(self._rng.choice(X.shape[0], size=size, replace=False))
        kernels = self._kernels()
        sums = np.zeros(len(self.layers_))
        for start in range(0, size, _EVAL_BATCH):
            A = np.ascontiguousarray(X[idx[start:start + _EVAL_BATCH]].T)
            acts, _ = self._forward(A, kernels)
            for l in range(len(self.layers_)):
                sums[l] += np.linalg.norm(acts[l].astype(np.float64), axis=0).sum()
        return [max(s / size, 1e-12) for s in sums]

    def _evolve_importance(self, method, X):
        """Path-Weight or Sensitivity (ALGORITHMS §4) on the sparse layers."""
        opts, state = method.options, self.method_state_
        n_sparse = self._n_sparse()
        layers, inits = self.layers_[:n_sparse], self._inits(n_sparse)
        if method.name == "path-weight":
            from ..algorithms.path_weight import path_weight_step, update_schedule

            step = path_weight_step(
                layers, self._probe_scales(X), self._rng, lam=state["lam"],
                zeta=state["zeta"], delta=state["delta"], candidates=opts["candidates"],
                max_paths=opts["max_paths"], n_path_samples=opts["n_path_samples"],
                count_rule=opts["count_rule"], init=inits)
            info = dict(step.info)
            if opts["time_varying"]:
                lam, zeta, delta = update_schedule(
                    state["lam"], state["zeta"], state["delta"], info["c_prim"], info["c_sec"],
                    K1=opts["K1"], K2=opts["K2"], K3=opts["K3"], K4=opts["K4"])
                self.method_state_ = {"lam": lam, "zeta": zeta, "delta": delta}
        else:
            from ..algorithms.sensitivity import sensitivity_step

            if self._mean_grads is None:
                raise RuntimeError("Sensitivity needs the mean gradient of the epoch just "
                                   "trained; none was recorded")
            step = sensitivity_step(layers, self._mean_grads[:n_sparse], self._rng,
                                    zeta=method.zeta(self), form=opts["form"], init=inits)
            info = dict(step.info)
        for l, (layer, source) in enumerate(zip(step.layers, step.sources)):
            self._replace_layer(l, layer, source)
        fields = self._pad({"removed": [int(r.size) for r in step.removed],
                            "regrown": [int(g.size) for g in step.regrown],
                            "overlap": step.overlap()})
        fields.update({k: v for k, v in info.items() if k not in fields})
        return fields

    def _evolve_cht(self, method):
        """One ESML step (ALGORITHMS §5.3) with percolation and compaction."""
        from ..algorithms.cht import early_stop_update, esml_step

        opts = method.options
        n_sparse = self._n_sparse()
        frozen = list(self.method_state_["frozen"])
        passed = list(self.method_state_["passed"])
        if all(frozen):
            zeros = [0] * n_sparse          # every layer frozen: the same fields, all zero
            return self._pad({"removed": zeros, "regrown": zeros, "overlap": [None] * n_sparse,
                              "pruned": zeros, "percolated": zeros, "shortfall": zeros,
                              "removed_neurons": zeros[:-1], "guarded": zeros,
                              "dropped": zeros, "frozen": frozen})
        quirks = self._run_quirks()
        step = esml_step(self.layers_[:n_sparse], self._rng, zeta=method.zeta(self),
                         prune=opts["prune"] or self._p("prune"), shortfall=opts["shortfall"],
                         new_weights=opts["new_weights"], init=self._inits(n_sparse),
                         frozen=frozen, kernels=self._kernels(),
                         guard="no_isolation_guard" not in quirks,
                         budget=self.method_state_.get("budget"),
                         ties="tie_inclusive" in quirks,
                         keep_regrown_state="regrown_keep_state" in quirks)
        for l, kept in enumerate(step.kept_neurons):   # hidden neurons after sparse layer l
            b = self.biases_[l]
            vw, vb = self.velocities_[l]
            self.biases_[l] = b[kept]
            self.velocities_[l] = (vw, vb[kept])
        for l, (layer, source) in enumerate(zip(step.layers, step.sources)):
            self._replace_layer(l, layer, source)
        overlap = [None if o is None or np.isnan(o) else float(o) for o in step.overlap]
        stop = early_stop_update(passed, overlap, threshold=opts["early_stop_threshold"],
                                 mode=opts["early_stop"])
        self.method_state_ = dict(self.method_state_, passed=[bool(p) for p in stop.passed],
                                  frozen=[bool(f) for f in stop.frozen])
        removed = [int(p) + int(q) for p, q in zip(step.pruned, step.percolated)]
        return self._pad({
            "removed": removed, "regrown": [int(g) for g in step.regrown], "overlap": overlap,
            "pruned": [int(p) for p in step.pruned],
            "percolated": [int(p) for p in step.percolated],
            "shortfall": [int(s) for s in step.shortfall],
            "removed_neurons": [int(np.size(r)) for r in step.removed_neurons],
            "guarded": [int(g) for g in step.guarded], "dropped": [int(d) for d in step.dropped],
            "frozen": self.method_state_["frozen"],
        })

    def _run_pending_update(self, X):
        """Extending a finished run: apply the update its final epoch skipped.

        The skipped update would have been the next use of the generator, so the extended
        run matches one that had the larger ``epochs`` from the start.
        """
        last = self.history_[-1] if self.history_ else None
        if (last is None or last.get("topology_updated", True) or self.epoch_ >= self.epochs
                or self.epoch_ % self._p("update_interval") != 0):
            return
        t = time.perf_counter()
        last.update(self._evolve(X))
        last["seconds_topology"] = time.perf_counter() - t
        last["nnz"] = [W.nnz for W in self.layers_]
        last["active_neurons"] = self.active_neurons()
        last["anp"] = self._network_metrics(None)["anp"]
        last["topology_updated"] = True

    def _replace_layer(self, l, layer, source):
        """Install a new topology; kept links keep their momentum, new links start at 0."""
        vw, vb = self.velocities_[l]
        new_vw = np.zeros_like(layer.values)
        kept = source >= 0
        new_vw[kept] = vw[source[kept]]
        self.layers_[l] = layer
        self.velocities_[l] = (new_vw, vb)
        self._refresh_caches(l)
