r"""Figures of a ζ sweep and of single runs: Cavallaro et al. (2020), Figs. 2 and 3.

Cavallaro, Grilli, Mocanu et al., *Artificial neural networks training acceleration through
network science strategies*, Soft Computing 24:17787 (2020): Fig. 2 is the test accuracy per
epoch for each revise fraction ζ, one panel per dataset; Fig. 3 the execution time over 10
runs, with the gain :math:`1 - t(\zeta = 0) / t(\zeta_{default})` (ALGORITHMS §6).  Two more
figures read any single run: the degree distributions of its sparse layers against the
Erdős–Rényi expectation, and its link bookkeeping (link counts, removed / regrown links and
active neurons per epoch).

The inputs are the files ``refset sweep`` and ``refset train`` write (``results.json``,
``runs/<run_id>/history.json`` and ``model.npz``).  matplotlib is optional and imported
lazily; figures are built on :class:`matplotlib.figure.Figure` (no pyplot state), so they work
headless, in scripts and in notebooks (matplotlib ≥ 3.7: legends placed outside the axes).
No randomness is involved.

Deviations
----------
- Accuracy is drawn in percent, as in the paper, with its markers (circle, triangle, square,
  cross for the first four values, in sorted order).  The band is the 95 % Student-t confidence
  interval of the mean over the runs that reached the epoch, drawn where at least two did.
- Execution time: mean seconds per run split into train / evaluation / topology (stacked);
  the error bar is the standard deviation over runs of the total (run-to-run spread, what
  "over 10 runs" shows), omitted for a single run.  The gain
  :math:`1 - t(compare) / t(baseline)` uses the mean ``seconds_total`` of the rows (sum of the
  three parts when absent); it is written when both values of ``by`` were run, the baseline
  being ``config["summary"]["baseline"][by]`` (else 0.3 when ``by == "zeta"``) and the
  compared value ``config["summary"]["compare"][by]`` (else 0), per combination of the other
  varying keys.
- Grid keys other than ``by`` (and ``method``) that vary in the results are not averaged over:
  each combination gets its own line or bar, coloured by its ``by`` value and told apart by
  line style (curves) or tick label (bars).  Colours follow the sorted values of ``by`` over
  the whole sweep, so a value has the same colour in every panel and figure.
- Degree distributions skip dense layers (density 1).  The Erdős–Rényi expectation is the
  binomial degree law of :math:`G(n, p)` with the layer's density p (a close approximation of
  the exact-M model), drawn as expected neurons per bin, with its mean degree as a dashed line.
  Counts are log-scaled when the largest and smallest non-zero bins differ by ≥ 50×.
- The representative run of a dataset in :func:`plot_results` is replicate 0 of the baseline
  grid point (``config["summary"]["baseline"]``, else ζ = 0.3) if it finished, else the first
  finished run of that dataset in ``results.json`` order.
- Layout is matplotlib's "constrained" layout (the successor of tight layout, which also fits
  suptitles and legends).
"""
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = ["plot_accuracy_curves", "plot_execution_time", "plot_degree_distributions",
           "plot_link_bookkeeping", "plot_results"]

_MPL_ERROR = "refset plots need matplotlib: pip install 'refset[plot]'"
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f")
_MARKERS = ("o", "^", "s", "X", "D", "v", "P", "*")
_STYLES = ("-", "--", ":", "-.")
_SYMBOLS = {"zeta": "ζ", "epsilon": "ε"}
_DPI = 150


def _require_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError(_MPL_ERROR) from None


def _figure(**kw):
    from matplotlib.figure import Figure

    return Figure(layout="constrained", **kw)


# -- reading runs and sweeps ---------------------------------------------------------------
def _read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


class _Sweep:
    """Rows of a sweep with lazy access to each run's history."""

    def __init__(self, results):
        if isinstance(results, (str, os.PathLike)):
            path = Path(results)
            file = path / "results.json" if path.is_dir() else path
            if not file.is_file() or file.suffix != ".json":
                raise ValueError(f"results must be a sweep output directory holding results.json "
                                 f"(or that file), got {str(path)!r}")
            doc, self.root = _read_json(file), file.parent
        elif isinstance(results, Mapping):
            doc, self.root = results, Path(".")
        elif isinstance(results, Sequence) and not isinstance(results, (str, bytes)):
            doc, self.root = {"runs": list(results)}, Path(".")
        else:
            raise ValueError("results must be a sweep output directory, the dict of its "
                             f"results.json or a list of rows, got {type(results).__name__}")
        self.config = doc.get("config") or {}
        rows = doc.get("runs")
        if not isinstance(rows, list) or not all(isinstance(r, Mapping) and "dataset" in r
                                                 for r in rows):
            raise ValueError("results must hold 'runs', a list of rows with a 'dataset' field")
        self.rows = rows
        self.ok = [r for r in rows if r.get("status", "ok") == "ok"]
        self._histories = {}

    @property
    def grid(self):
        return list((self.config.get("grid") or {}).keys())

    def baseline(self, by, which="baseline"):
        """``config["summary"][which][by]``; defaults: baseline ζ = 0.3, compare 0."""
        point = (self.config.get("summary") or {}).get(which)
        if isinstance(point, Mapping) and by in point:
            return point[by]
        if point is not None and not isinstance(point, Mapping):
            return point
        return 0 if which == "compare" else 0.3 if by == "zeta" else None

    def value(self, row, key):
        """A row's value of a grid key (flat ``a.b`` field, nested, or the fixed model's)."""
        if key in row:
            return row[key]
        head, _, tail = key.partition(".")
        if tail and isinstance(row.get(head), Mapping) and tail in row[head]:
            return row[head][tail]
        model = self.config.get("model") or {}
        if tail and isinstance(model.get(head), Mapping):
            return model[head].get(tail)
        return model.get(key)

    def run_dir(self, row):
        return self.root / (row.get("run_dir") or Path("runs") / str(row.get("run_id", "")))

    def history(self, row):
        if "history" in row:
            return row["history"]
        key = id(row)
        if key not in self._histories:
            file = self.run_dir(row) / "history.json"
            self._histories[key] = _read_json(file)["history"] if file.is_file() else None
        return self._histories[key]

    def datasets(self, dataset=None):
        names = list(dict.fromkeys(r["dataset"] for r in self.ok))
        if dataset is None:
            return names
        if dataset not in names:
            raise ValueError(f"dataset must be one of the datasets with finished runs "
                             f"{names}, got {dataset!r}")
        return [dataset]

    def groups(self, by, rows):
        """``{(by value, other varying values): rows}`` in sorted order, and the other keys."""
        if not any(by in r for r in self.ok) and self.value({}, by) is None:
            keys = sorted({"method", *self.grid})
            raise ValueError(f"by must be a grid key or a row field such as {keys}, got {by!r}")
        others = [k for k in dict.fromkeys([*self.grid, "method"]) if k != by and k != "dataset"
                  and len({_hashable(self.value(r, k)) for r in self.ok}) > 1]
        out = {}
        for r in rows:
            key = (_hashable(self.value(r, by)), tuple(_hashable(self.value(r, k)) for k in others))
            out.setdefault(key, []).append(r)
        return dict(sorted(out.items(), key=lambda kv: (_order(kv[0][0]),
                                                        tuple(map(_order, kv[0][1]))))), others

    def colors(self, by):
        values = sorted({_hashable(self.value(r, by)) for r in self.ok}, key=_order)
        return {v: _COLORS[i % len(_COLORS)] for i, v in enumerate(values)}


def _hashable(value):
    if isinstance(value, list):
        return tuple(map(_hashable, value))
    return json.dumps(value, sort_keys=True) if isinstance(value, Mapping) else value


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _order(value):
    """Sort key: numbers, then tuples of numbers (numerically), then the rest, None last."""
    if _number(value):
        return (0, (float(value),), "")
    if isinstance(value, tuple) and all(map(_number, value)):
        return (1, tuple(map(float, value)), "")
    return (2 if value is not None else 3, (), str(value))


def _label(key, value):
    name = _SYMBOLS.get(key, key.removeprefix("method_options."))
    return str(value) if key == "method" else f"{name} = {value}"


def _group_label(by, others, key):
    return ", ".join([_label(by, key[0])] + [_label(k, v) for k, v in zip(others, key[1])])


# -- Fig. 2: accuracy per epoch ------------------------------------------------------------
def _mean_curve(histories):
    """Epochs, mean test accuracy (fraction) and the 95 % CI half-width (NaN where n < 2)."""
    from scipy.stats import t as student_t

    per_epoch = {}
    for history in histories:
        for rec in history:
            if rec.get("test_accuracy") is not None:
                per_epoch.setdefault(int(rec["epoch"]), []).append(float(rec["test_accuracy"]))
    epochs = np.array(sorted(per_epoch), dtype=np.int64)
    mean = np.array([np.mean(per_epoch[e]) for e in epochs])
    half = np.full(epochs.size, np.nan)
    for i, e in enumerate(epochs):
        n = len(per_epoch[e])
        if n > 1:
            half[i] = student_t.ppf(0.975, n - 1) * np.std(per_epoch[e], ddof=1) / math.sqrt(n)
    return epochs, mean, half


def _grid_axes(fig, n):
    ncols = min(n, 3)
    axes = fig.subplots(-(-n // ncols), ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


def _integer_epochs(ax):
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _empty(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")


def plot_accuracy_curves(results, *, dataset=None, by="zeta", ax=None):
    """Test accuracy per epoch, one line per value of ``by`` (Cavallaro et al., Fig. 2).

    Parameters
    ----------
    results : path, dict or list of dict
        A sweep output directory (or its ``results.json``), the dict that file holds, or its
        list of rows.  Histories are read from ``<dir>/<run_dir>/history.json`` (relative to
        the current directory for a dict or list) unless a row holds them as ``"history"``.
        Runs whose ``status`` is not ``"ok"`` are ignored.
    dataset : str or None
        Draw this dataset only; None draws one panel per dataset.
    by : str, default "zeta"
        Grid key (or row field such as ``"method"``) whose values get one line each.
    ax : matplotlib Axes or None
        Draw into this Axes (one dataset only) instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        Each line is the mean over replicates of the test accuracy in percent; the shaded band
        is the 95 % confidence interval of that mean where at least two runs reached the epoch.

    Examples
    --------
    >>> rows = [{"dataset": "toy", "zeta": z, "status": "ok",
    ...          "history": [{"epoch": e, "test_accuracy": 0.5 + 0.1 * e} for e in (1, 2, 3)]}
    ...         for z in (0.0, 0.3)]
    >>> fig = plot_accuracy_curves(rows)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['ζ = 0.0', 'ζ = 0.3']
    >>> fig.axes[0].get_lines()[0].get_ydata().round(1).tolist()
    [60.0, 70.0, 80.0]
    """
    _require_matplotlib()
    sweep = _Sweep(results)
    names = sweep.datasets(dataset)
    if not names:
        raise ValueError("results hold no finished ('ok') run to plot")
    if ax is not None and len(names) > 1:
        raise ValueError(f"ax takes one dataset; pass dataset= (one of {names})")
    colors = sweep.colors(by)
    if ax is None:
        fig = _figure(figsize=(max(6.4, 4.8 * min(len(names), 3)), 3.9 * -(-len(names) // 3)))
        axes = _grid_axes(fig, len(names))
        fig.suptitle("Test accuracy per epoch (mean over replicates; band: 95 % CI of the mean)",
                     fontsize="medium")
    else:
        fig, axes = ax.figure, [ax]
    for ax_, name in zip(axes, names):
        groups, others = sweep.groups(by, [r for r in sweep.ok if r["dataset"] == name])
        styles = {rest: _STYLES[i % len(_STYLES)]
                  for i, rest in enumerate(dict.fromkeys(k[1] for k in groups))}
        curves = {key: [h for h in map(sweep.history, rows) if h] for key, rows in groups.items()}
        counts = {len(h) for h in curves.values() if h}
        for key, histories in curves.items():
            epochs, mean, half = _mean_curve(histories)
            if epochs.size == 0:
                continue
            color, n = colors[key[0]], len(histories)
            ax_.plot(epochs, 100 * mean, color=color, linestyle=styles[key[1]], linewidth=1.4,
                     marker=_MARKERS[list(colors).index(key[0]) % len(_MARKERS)], markersize=4,
                     markevery=max(1, epochs.size // 12),
                     label=_group_label(by, others, key) + (f" (n={n})" if len(counts) > 1 else ""))
            band = ~np.isnan(half)
            if band.any():
                half = np.where(band, half, 0)
                ax_.fill_between(epochs, np.clip(100 * (mean - half), 0, 100),
                                 np.clip(100 * (mean + half), 0, 100), where=band,
                                 color=color, alpha=min(0.15, 0.6 / len(curves)), linewidth=0)
        n_runs = counts.pop() if len(counts) == 1 else 0
        ax_.set_title(name + (f" ({n_runs} runs per line)" if n_runs > 1 else ""))
        ax_.set_xlabel("epoch")
        ax_.set_ylabel("test accuracy (%)")
        _integer_epochs(ax_)
        ax_.grid(alpha=0.3)
        if ax_.get_lines():
            ax_.legend(fontsize="small", loc="best")
        else:
            _empty(ax_, "no test accuracy recorded")
    return fig


# -- Fig. 3: execution time ----------------------------------------------------------------
_PARTS = (("seconds_train", "train", {}),
          ("seconds_eval", "evaluation", {"alpha": 0.45}),
          ("seconds_topology", "topology update", {"hatch": "////", "alpha": 0.9}))


def _seconds(sweep, row, field):
    if row.get(field) is not None:
        return float(row[field])
    history = sweep.history(row) or []
    if field == "seconds_total":
        return sum(_seconds(sweep, row, f) for f, _, _ in _PARTS)
    return float(sum(rec.get(field) or 0.0 for rec in history))


def plot_execution_time(results, *, by="zeta"):
    r"""Seconds per run for each value of ``by``, per dataset (Cavallaro et al., Fig. 3).

    Parameters
    ----------
    results : path, dict or list of dict
        As in :func:`plot_accuracy_curves`; failed and skipped runs are ignored.
    by : str, default "zeta"
        Grid key whose values get one bar each.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per dataset: stacked bars of the mean train, evaluation and topology seconds
        per run, an error bar of one standard deviation (over runs) on the total, and the gain
        :math:`1 - t(0) / t(\text{baseline})` when both values of ``by`` were run.

    Examples
    --------
    >>> rows = [{"dataset": "toy", "zeta": z, "seconds_train": 8.0, "seconds_eval": 1.0,
    ...          "seconds_topology": 1.0 + 10 * z, "seconds_total": 10.0 + 10 * z}
    ...         for z in (0.0, 0.3)]
    >>> fig = plot_execution_time(rows)
    >>> [round(float(bar.get_height()), 1) for bar in fig.axes[0].containers[2]]
    [1.0, 4.0]
    >>> fig.axes[0].texts[0].get_text()
    'gain 1 − t(ζ = 0)/t(ζ = 0.3) = 0.231'
    """
    _require_matplotlib()
    from matplotlib.patches import Patch

    sweep = _Sweep(results)
    names = sweep.datasets()
    if not names:
        raise ValueError("results hold no finished ('ok') run to plot")
    colors = sweep.colors(by)
    panels = {name: sweep.groups(by, [r for r in sweep.ok if r["dataset"] == name])
              for name in names}
    n_bars = max(len(groups) for groups, _ in panels.values())
    width = max(4.6, 1.0 + (1.2 if any(o for _, o in panels.values()) else 0.9) * n_bars)
    fig = _figure(figsize=(max(6.4, width * min(len(names), 3)), 4.2 * -(-len(names) // 3)))
    axes = _grid_axes(fig, len(names))
    fig.suptitle("Execution time per run (mean; error bar: sd over runs)", fontsize="medium")
    baseline, compare = sweep.baseline(by), sweep.baseline(by, "compare")
    for ax, name in zip(axes, names):
        groups, others = panels[name]
        keys = list(groups)
        x = np.arange(len(keys))
        bottom = np.zeros(len(keys))
        for field, label, style in _PARTS:
            heights = np.array([np.mean([_seconds(sweep, r, field) for r in groups[k]])
                                for k in keys])
            ax.bar(x, heights, 0.7, bottom=bottom, color=[colors[k[0]] for k in keys],
                   edgecolor="white" if field != "seconds_topology" else "0.15",
                   linewidth=0.6, label=label, **style)
            bottom += heights
        totals = [[_seconds(sweep, r, "seconds_total") for r in groups[k]] for k in keys]
        mean = np.array([np.mean(t) for t in totals])
        sd = np.array([np.std(t, ddof=1) if len(t) > 1 else np.nan for t in totals])
        if not np.isnan(sd).all():
            ax.errorbar(x, mean, yerr=np.nan_to_num(sd), fmt="none", ecolor="black", capsize=3,
                        linewidth=1)
        ax.set_xticks(x, [_group_label(by, others, k).replace(", ", "\n") + f"\nn={len(groups[k])}"
                          for k in keys], fontsize="small")
        ax.set_title(name)
        ax.set_ylabel("time per run (s)")
        ax.grid(axis="y", alpha=0.3)
        lines = []
        for rest in dict.fromkeys(k[1] for k in keys):
            t0 = [m for k, m in zip(keys, mean) if k == (compare, rest)]
            td = [m for k, m in zip(keys, mean) if baseline is not None and k == (baseline, rest)]
            if t0 and td and td[0] > 0 and baseline != compare:
                where = "" if not others else " (" + ", ".join(
                    _label(k, v) for k, v in zip(others, rest)) + ")"
                sym = _SYMBOLS.get(by, by.removeprefix("method_options."))
                lines.append(f"gain 1 − t({sym} = {compare})/t({sym} = {baseline}) = "
                             f"{1 - t0[0] / td[0]:.3f}{where}")
        top = np.nanmax(mean + np.nan_to_num(sd))
        ax.set_ylim(0, top * (1.08 + 0.09 * len(lines)) if top > 0 else 1)
        if lines:
            ax.text(0.02, 0.97, "\n".join(lines), transform=ax.transAxes, va="top", ha="left",
                    fontsize="small", bbox={"facecolor": "white", "alpha": 0.8, "linewidth": 0})
    handles = [Patch(facecolor="0.45", edgecolor=e, label=label, **style)
               for (_, label, style), e in zip(_PARTS, ("white", "white", "0.15"))]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize="small")
    return fig


# -- single runs ---------------------------------------------------------------------------
def _run_title(run_dir):
    """``name (method, ζ = z)`` from a run directory's config, if any."""
    run_dir = Path(run_dir)
    for file in (run_dir / "config.json", run_dir / "history.json"):
        if file.is_file():
            doc = _read_json(file)
            model = (doc.get("config", doc) or {}).get("model") or {}
            bits = [b for b in (model.get("method"), None if model.get("zeta") is None
                                else f"ζ = {model['zeta']}") if b]
            return run_dir.name + (f" ({', '.join(bits)})" if bits else "")
    return run_dir.name


def _load_layers(source):
    from .mlp import SparseMLP
    from .sparse import CooMatrix

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
    from .mlp import SparseMLP

    if isinstance(source, SparseMLP):
        return source.history_, f"{source.method}, ζ = {source.zeta}"
    if isinstance(source, Mapping) and isinstance(source.get("history"), list):
        return source["history"], "run"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        file = path / "history.json" if path.is_dir() else path
        if file.is_file() and file.suffix == ".json":
            return _read_json(file)["history"], _run_title(file.parent)
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


# -- files ---------------------------------------------------------------------------------
def _check_formats(formats):
    from matplotlib.backend_bases import FigureCanvasBase

    if isinstance(formats, str):
        formats = [f.strip() for f in formats.split(",") if f.strip()]
    formats = [str(f).lower().lstrip(".") for f in formats]
    allowed = sorted(FigureCanvasBase.get_supported_filetypes())
    if not formats or any(f not in allowed for f in formats):
        raise ValueError(f"formats must be a non-empty list of {', '.join(allowed)}, "
                         f"got {formats!r}")
    return list(dict.fromkeys(formats))


def _save(fig, out_dir, stem, formats):
    from ._io import atomic_write

    paths = []
    for fmt in formats:
        path = out_dir / f"{stem}.{fmt}"
        metadata = {"Date": None} if fmt == "svg" else None
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format=fmt, dpi=_DPI, metadata=metadata)
        paths.append(path)
    return paths


def _representative(sweep, dataset, by):
    rows = [r for r in sweep.ok if r["dataset"] == dataset]
    base = (sweep.config.get("summary") or {}).get("baseline")
    if not isinstance(base, Mapping):
        base = {by: sweep.baseline(by)}
    for r in rows:
        if r.get("replicate", 0) == 0 and all(
                _hashable(sweep.value(r, k)) == _hashable(v) for k, v in base.items()):
            return r
    return rows[0]


def plot_results(path, out_dir=None, *, formats=("png", "svg"), quiet=False):
    """Write every figure of a sweep or of a single run to files.

    Parameters
    ----------
    path : path
        A sweep output directory (``results.json``) or a run directory of ``refset train``
        or of a sweep (``history.json``, optionally ``model.npz``).
    out_dir : path or None
        Where to write; default ``<path>/plots``.
    formats : sequence of str or str, default ("png", "svg")
        File formats (matplotlib's, e.g. ``"png"``, ``"svg"``, ``"pdf"``); ``"png,svg"`` too.
    quiet : bool, default False
        Do not print one line per figure written.

    Returns
    -------
    list of pathlib.Path
        The files written (each atomically): for a sweep ``accuracy_curves.*``,
        ``execution_time.*`` and, for the representative run of each dataset (replicate 0
        of the baseline grid point), ``degrees_<run_id>.*`` and ``bookkeeping_<run_id>.*``;
        for a run directory the last two.  The figures are drawn by ``by = "zeta"`` when
        ζ is a grid key or no grid is given, else by the first grid key.

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> tmp = tempfile.TemporaryDirectory()
    >>> run = pathlib.Path(tmp.name) / "run"; run.mkdir()
    >>> history = [{"epoch": e, "test_accuracy": 0.5, "nnz": [50], "removed": [5],
    ...             "regrown": [5], "active_neurons": [10, 3]} for e in (1, 2)]
    >>> _ = (run / "history.json").write_text(json.dumps({"history": history}))
    >>> [str(p.relative_to(run)) for p in plot_results(run, formats=["svg"], quiet=True)]
    ['plots/bookkeeping_run.svg']
    >>> tmp.cleanup()
    """
    _require_matplotlib()
    path = Path(path)
    formats = _check_formats(formats)
    sweep_file, run_file = path / "results.json", path / "history.json"
    if not (path.is_dir() and (sweep_file.is_file() or run_file.is_file())):
        raise ValueError(f"path must be a sweep output directory (holding results.json) or a "
                         f"run directory (holding history.json), got {str(path)!r}")
    out_dir = Path(out_dir) if out_dir is not None else path / "plots"
    written = []

    def save(fig, stem):
        written.extend(_save(fig, out_dir, stem, formats))
        if not quiet:
            suffix = formats[0] if len(formats) == 1 else "{" + ",".join(formats) + "}"
            print(f"wrote {out_dir / stem}.{suffix}")

    def single(run_dir, run_id):
        if (run_dir / "model.npz").is_file():
            save(plot_degree_distributions(run_dir), f"degrees_{run_id}")
        elif not quiet:
            print(f"no model.npz in {run_dir}: degree distributions skipped")
        if (run_dir / "history.json").is_file():
            save(plot_link_bookkeeping(run_dir), f"bookkeeping_{run_id}")

    if not sweep_file.is_file():
        single(path, path.name)
        return written
    sweep = _Sweep(path)
    if not sweep.ok:
        raise ValueError(f"{str(path)!r} holds no finished ('ok') run yet; nothing to plot")
    grid = sweep.grid
    by = "zeta" if "zeta" in grid or not grid else grid[0]
    if not grid and len({r.get("method") for r in sweep.ok}) > 1:
        by = "method"
    save(plot_accuracy_curves(sweep_file, by=by), "accuracy_curves")
    save(plot_execution_time(sweep_file, by=by), "execution_time")
    for name in sweep.datasets():
        row = _representative(sweep, name, by)
        single(sweep.run_dir(row), row.get("run_id") or sweep.run_dir(row).name)
    return written
