"""Figures of a single run: degree distributions against Erdős–Rényi, and link bookkeeping."""
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._style import _COLORS, _MARKERS, _empty, _figure, _integer_epochs, _require_matplotlib
from ._sweep import _read_history, _read_json


def _run_title(run_dir):
    """``name (method, ζ = z)`` from a run directory's config, if any."""
    run_dir = Path(run_dir)
    for file in (run_dir / "config.json", run_dir / "history.json"):
        if file.is_file():
            doc = _read_json(file)
            doc = doc.get("config", doc) if isinstance(doc, Mapping) else None
            model = doc.get("model") if isinstance(doc, Mapping) else None
            if not isinstance(model, Mapping):
                continue
            bits = [b for b in (model.get("method"), None if model.get("zeta") is None
                                else f"ζ = {model['zeta']}") if b]
            return run_dir.name + (f" ({', '.join(bits)})" if bits else "")
    return run_dir.name


def _load_layers(source):
    from ..estimator.mlp import SparseMLP
    from ..sparse import CooMatrix

    if isinstance(source, SparseMLP):
        source._check_fitted()
        return source.layers_, f"{source.method}, ζ = {source.zeta}, epoch {source.epoch_}"
    if isinstance(source, Sequence) and source and all(isinstance(W, CooMatrix) for W in source):
        return list(source), "layers"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        file = path / "model.npz" if path.is_dir() else path
        if file.is_file() and file.suffix == ".npz":
            model = SparseMLP.load(file)
            name = _run_title(file.parent) if path.is_dir() else file.name
            return model.layers_, f"{name}, epoch {model.epoch_}"
    raise ValueError("run_dir_or_model must be a fitted SparseMLP, a list of CooMatrix, a "
                     f"run directory holding model.npz or a .npz file, got {source!r}")


def _degree_bins(degrees, expected):
    """Bin edges at half-integers covering the observed degrees and 99.8 % of ``expected``."""
    lo = min(int(degrees.min()), int(expected.ppf(0.001)))
    hi = max(int(degrees.max()), int(expected.ppf(0.999)))
    if hi - lo <= 60:
        return np.arange(lo, hi + 2) - 0.5
    return np.unique(np.round(np.linspace(lo, hi + 1, 41))) - 0.5


def plot_degree_distributions(run_dir_or_model, *, ax=None):
    r"""In- and out-degree histograms of every sparse layer, against Erdős–Rényi.

    Parameters
    ----------
    run_dir_or_model : path, SparseMLP or list of CooMatrix
        A run directory (its ``model.npz`` is read), a ``.npz`` model file, a fitted model or
        its layers.
    ax : array-like of matplotlib Axes or None
        Two Axes per sparse layer (out-degree of its inputs, in-degree of its outputs, layer by
        layer), e.g. ``fig.subplots(n_layers, 2)``; None makes a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        For a layer with ``nnz`` links from ``n_in`` to ``n_out`` neurons, the Erdős–Rényi
        expectation of the out-degree is :math:`\mathrm{Bin}(n_{out}, p)` with
        :math:`p = nnz / (n_{in} n_{out})`, mean :math:`nnz / n_{in}` (dashed line); expected
        neurons per bin are drawn as a black step line.  Bins are single degrees (wider when
        the range exceeds 60) covering the observed degrees and 99.8 % of the binomial law.

    Examples
    --------
    >>> import numpy as np
    >>> from refset import erdos_renyi_layer
    >>> W = erdos_renyi_layer(40, 30, epsilon=3, rng=np.random.default_rng(0))
    >>> fig = plot_degree_distributions([W])
    >>> [a.get_title() for a in fig.axes]
    ['layer 1: out-degree of its 40 inputs', 'layer 1: in-degree of its 30 outputs']
    """
    _require_matplotlib()
    from scipy.stats import binom

    layers, title = _load_layers(run_dir_or_model)
    sparse = [(l, W) for l, W in enumerate(layers, 1) if W.nnz < W.shape[0] * W.shape[1]]
    if not sparse:
        raise ValueError("run_dir_or_model has no sparse layer (every layer is dense)")
    if ax is None:
        fig = _figure(figsize=(9.0, 2.9 * len(sparse) + 0.4))
        axes = fig.subplots(len(sparse), 2, squeeze=False).ravel()
        fig.suptitle(f"Degree distributions: {title}")
    else:
        axes = np.asarray(ax, dtype=object).ravel()
        if axes.size != 2 * len(sparse):
            raise ValueError(f"ax must hold 2 Axes per sparse layer ({2 * len(sparse)}), "
                             f"got {axes.size}")
        fig = axes[0].figure
    for (l, W), pair in zip(sparse, axes.reshape(-1, 2)):
        n_in, n_out = W.shape
        p = W.nnz / (n_in * n_out)
        for a, index, n, trials, what, unit in ((pair[0], W.rows, n_in, n_out, "out", "inputs"),
                                                (pair[1], W.cols, n_out, n_in, "in", "outputs")):
            degrees = np.bincount(index, minlength=n)
            edges = _degree_bins(degrees, binom(trials, p))
            counts, _, _ = a.hist(degrees, bins=edges, color="#1f77b4", alpha=0.75,
                                  label="observed")
            upper = np.floor(edges).astype(np.int64)          # bin k holds degrees up to upper[k+1]
            expected = n * np.diff(binom.cdf(upper, trials, p))
            a.stairs(expected, edges, color="black", linewidth=1.2, label="Erdős–Rényi")
            a.axvline(W.nnz / n, color="black", linestyle="--", linewidth=1,
                      label=f"ER mean {W.nnz / n:.3g}")
            positive = counts[counts > 0]
            if positive.size and positive.max() >= 50 * positive.min():
                a.set_yscale("log")
                a.set_ylim(bottom=0.5)
            a.set_title(f"layer {l}: {what}-degree of its {n} {unit}")
            a.set_xlabel(f"{what}-degree (links)")
            a.set_ylabel("neurons")
            a.legend(fontsize="x-small")
    return fig


def _load_history(source):
    from ..estimator.mlp import SparseMLP

    if isinstance(source, SparseMLP):
        return source.history_, f"{source.method}, ζ = {source.zeta}"
    if isinstance(source, Mapping) and isinstance(source.get("history"), list):
        return source["history"], "run"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        file = path / "history.json" if path.is_dir() else path
        if file.is_file() and file.suffix == ".json":
            return _read_history(file), _run_title(file.parent)
    if isinstance(source, Sequence) and not isinstance(source, (str, bytes)) and \
            all(isinstance(r, Mapping) and "epoch" in r for r in source):
        return list(source), "run"
    raise ValueError("history_or_run_dir must be a list of epoch records, a SparseMLP, a run "
                     f"directory holding history.json or that file, got {source!r}")


def _per_layer(history, field):
    """Array (epochs, layers) of a per-layer field, NaN where missing; None if absent."""
    values = [rec.get(field) for rec in history]
    if not any(isinstance(v, list) for v in values):
        return None
    width = max(len(v) for v in values if isinstance(v, list))
    out = np.full((len(values), width), np.nan)
    for i, v in enumerate(values):
        if isinstance(v, list):
            out[i, :len(v)] = [np.nan if x is None else x for x in v]
    return out


def _outside_legend(ax):
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def plot_link_bookkeeping(history_or_run_dir):
    """Links per layer, removed and regrown links, and active neurons per epoch.

    Parameters
    ----------
    history_or_run_dir : path, SparseMLP or list of dict
        A run directory (its ``history.json`` is read), that file, a fitted model (its
        ``history_``) or the epoch records themselves.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels sharing the epoch axis: ``nnz`` per layer (a flat line shows the count
        is conserved; the legend says whether it is), ``removed`` (solid) and ``regrown``
        (dashed) links per layer at the epochs whose topology was updated, and active neurons
        per neuron layer.

    Examples
    --------
    >>> history = [{"epoch": e, "nnz": [100, 40], "removed": [30, 12], "regrown": [30, 12],
    ...             "active_neurons": [20, 10, 4], "topology_updated": e < 3} for e in (1, 2, 3)]
    >>> fig = plot_link_bookkeeping(history)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['layer 1: 100 (conserved)', 'layer 2: 40 (conserved)']
    >>> fig.axes[1].get_lines()[0].get_xdata().tolist()      # updated epochs only
    [1, 2]
    """
    _require_matplotlib()
    history, title = _load_history(history_or_run_dir)
    if not history:
        raise ValueError("history_or_run_dir holds no epoch record")
    epochs = np.array([rec["epoch"] for rec in history])
    fig = _figure(figsize=(8.5, 8.2))
    axes = fig.subplots(3, 1, sharex=True)
    fig.suptitle(f"Link bookkeeping: {title}")
    nnz = _per_layer(history, "nnz")
    if nnz is None:
        _empty(axes[0], "no link counts recorded")
    else:
        for l in range(nnz.shape[1]):
            col = nnz[:, l]
            finite = col[~np.isnan(col)]
            if finite.size and np.all(finite == finite[0]):
                state = f"{finite[0]:.0f} (conserved)"
            else:
                state = f"{finite[0]:.0f} → {finite[-1]:.0f}" if finite.size else "none"
            axes[0].plot(epochs, col, color=_COLORS[l % 10], marker=_MARKERS[l % 8], markersize=4,
                         fillstyle="none", linewidth=1.4, label=f"layer {l + 1}: {state}")
        if np.nanmax(nnz) >= 20 * max(np.nanmin(nnz), 1):
            axes[0].set_yscale("log")
        _outside_legend(axes[0])
    axes[0].set_ylabel("links (nnz)")
    axes[0].set_title("links per layer")
    updated = np.array([rec.get("topology_updated", True) is not False for rec in history])
    removed, regrown = _per_layer(history, "removed"), _per_layer(history, "regrown")
    if removed is None or not updated.any():
        _empty(axes[1], "no topology update in this run")
    else:
        busy = [l for l in range(removed.shape[1])
                if np.nansum(removed[updated, l]) or
                (regrown is not None and np.nansum(regrown[updated, l]))]
        for l in busy or range(removed.shape[1]):
            color = _COLORS[l % 10]
            axes[1].plot(epochs[updated], removed[updated, l], color=color, marker="o",
                         markersize=3, linewidth=1.2, label=f"layer {l + 1} removed")
            if regrown is not None:
                axes[1].plot(epochs[updated], regrown[updated, l], color=color, marker="x",
                             markersize=4, linestyle="--", linewidth=1.2,
                             label=f"layer {l + 1} regrown")
        _outside_legend(axes[1])
    axes[1].set_ylabel("links per update")
    axes[1].set_title("removed and regrown links (epochs with a topology update)")
    active = _per_layer(history, "active_neurons")
    if active is None:
        _empty(axes[2], "no active-neuron counts recorded")
    else:
        width = active.shape[1]
        for k in range(width):
            name = "inputs" if k == 0 else "outputs" if k == width - 1 else f"hidden {k}"
            axes[2].plot(epochs, active[:, k], color=_COLORS[k % 10], marker=_MARKERS[k % 8],
                         markersize=4, fillstyle="none", linewidth=1.4, label=name)
        if np.nanmax(active) >= 20 * max(np.nanmin(active), 1):
            axes[2].set_yscale("log")
        _outside_legend(axes[2])
    axes[2].set_ylabel("active neurons")
    axes[2].set_title("active neurons per layer (after the update)")
    axes[2].set_xlabel("epoch")
    for a in axes:
        a.grid(alpha=0.3)
    _integer_epochs(axes[2])
    return fig
