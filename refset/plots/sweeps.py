"""Figures of a sweep: accuracy per epoch (Cavallaro et al., Fig. 2) and execution time (Fig. 3)."""
import math

import numpy as np

from ._style import (_MARKERS, _STYLES, _SYMBOLS, _empty, _figure, _integer_epochs,
                     _require_matplotlib)
from ._sweep import _Sweep


def _label(key, value):
    name = _SYMBOLS.get(key, key.removeprefix("method_options."))
    return str(value) if key == "method" else f"{name} = {value}"


def _group_label(by, others, key):
    return ", ".join([_label(by, key[0])] + [_label(k, v) for k, v in zip(others, key[1])])


def _grid_axes(fig, n):
    ncols = min(n, 3)
    axes = fig.subplots(-(-n // ncols), ncols, squeeze=False).ravel()
    for ax in axes[n:]:
        ax.set_visible(False)
    return axes[:n]


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
