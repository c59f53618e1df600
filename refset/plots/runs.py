"""Figures of a single run: learning curves, degree distributions, link bookkeeping, method.

Every figure's title names the run and, on a second line, the method and the schedule it
actually used (read from the history where the method records it: Path-Weight's λ, ζ, δ per
update, CHT's frozen layers, the learning rate per epoch).
"""
import numpy as np

from ._run import _history_run, _model_run
from ._style import _COLORS, _MARKERS, _empty, _figure, _integer_epochs, _require_matplotlib

METHOD_PANELS = ("path-weight", "sensitivity", "cht")


# -- shared helpers ---------------------------------------------------------------------------
def _per_layer(history, field):
    """Array (epochs, layers) of a per-layer field, NaN where missing; None if absent."""
    values = [rec.get(field) for rec in history]
    if not any(isinstance(v, list) for v in values):
        return None
    width = max(len(v) for v in values if isinstance(v, list))
    out = np.full((len(values), width), np.nan)
    for i, v in enumerate(values):
        if isinstance(v, list):
            out[i, :len(v)] = [np.nan if x is None or isinstance(x, bool) else x for x in v]
    return out


def _scalar(history, field):
    """Array (epochs,) of a scalar field, NaN where missing."""
    return np.array([float(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                     else np.nan for v in (rec.get(field) for rec in history)])


def _outside_legend(ax):
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _records(run):
    if not run.history:
        raise ValueError("history_or_run_dir holds no epoch record")
    return run.history, np.array([rec["epoch"] for rec in run.history])


def _neuron_name(k, width):
    return "inputs" if k == 0 else "outputs" if k == width - 1 else f"hidden {k}"


def _draw_active(ax, history, epochs, widths):
    """Active neurons per neuron layer on a linear axis: % of the layer's width when known."""
    active = _per_layer(history, "active_neurons")
    if active is None:
        _empty(ax, "no active-neuron counts recorded")
        ax.set_ylabel("active neurons")
        return
    k = active.shape[1]
    share = widths is not None and len(widths) == k
    for i in range(k):
        col = active[:, i]
        finite = col[~np.isnan(col)]
        counts = (f"{finite[0]:.0f}" if finite.size and finite[0] == finite[-1] else
                  f"{finite[0]:.0f} → {finite[-1]:.0f}" if finite.size else "none")
        label = f"{_neuron_name(i, k)}: {counts}" + (f" of {widths[i]}" if share else "")
        y = 100 * col / widths[i] if share else col
        ax.plot(epochs, y, color=_COLORS[i % 10], marker=_MARKERS[i % 8], markersize=4,
                fillstyle="none", linewidth=1.4, label=label)
    ax.set_yscale("linear")
    if share:                     # at least 5 points of the scale, so a small loss shows
        values = 100 * active / np.asarray(widths, dtype=float)
        lo, hi = np.nanmin(values), np.nanmax(values)
        pad = 0.06 * max(hi - lo, 5.0)
        ax.set_ylim(min(lo, hi - 5.0) - pad, hi + pad)
    ax.set_ylabel("active neurons (% of the layer)" if share else "active neurons")
    _outside_legend(ax)


# -- learning curves ----------------------------------------------------------------------------
def plot_learning_curves(history_or_run_dir):
    """Loss and accuracy per epoch (train and test), and the time per epoch.

    Parameters
    ----------
    history_or_run_dir : path, SparseMLP or list of dict
        A run directory (its ``history.json`` and ``config.json`` are read), that file, a
        fitted model (its ``history_``) or the epoch records themselves.

    Returns
    -------
    matplotlib.figure.Figure
        Three panels sharing the epoch axis: ``train_loss`` (solid) and ``test_loss``
        (dashed); ``train_accuracy`` and ``test_accuracy`` in percent, with the final and best
        test accuracy in the panel's title; and the seconds of each epoch stacked as training,
        evaluation and topology update (``seconds_train``, ``seconds_eval``,
        ``seconds_topology``).  With ``train_metrics="running"`` (the default) the train
        values are running means over the epoch's mini-batches, said in the legend.

    Examples
    --------
    >>> history = [{"epoch": e, "train_loss": 1 / e, "test_loss": 1.2 / e,
    ...             "train_accuracy": 0.5 + 0.1 * e, "test_accuracy": 0.4 + 0.1 * e,
    ...             "seconds_train": 1.0, "seconds_eval": 0.1, "seconds_topology": 0.2}
    ...            for e in (1, 2, 3)]
    >>> fig = plot_learning_curves(history)
    >>> for ax in fig.axes:
    ...     print(ax.get_title())
    loss
    accuracy: test 70.0 % at the end, best 70.0 % (epoch 3)
    time per epoch: 3.9 s in all
    >>> [line.get_label() for line in fig.axes[1].get_lines()]
    ['train', 'test']
    >>> fig.axes[1].get_lines()[1].get_ydata().round(1).tolist()
    [50.0, 60.0, 70.0]
    """
    _require_matplotlib()
    run = _history_run(history_or_run_dir)
    history, epochs = _records(run)
    fig = _figure(figsize=(8.5, 8.6))
    loss_ax, acc_ax, time_ax = fig.subplots(3, 1, sharex=True)
    fig.suptitle(run.title("Learning curves"))
    params = run.params or {}
    train_label = "train (running mean over the epoch)" if params.get(
        "train_metrics") == "running" else "train"
    for ax, field, scale in ((loss_ax, "loss", 1.0), (acc_ax, "accuracy", 100.0)):
        drawn = False
        for split, style, color in (("train", "-", _COLORS[0]), ("test", "--", _COLORS[1])):
            y = scale * _scalar(history, f"{split}_{field}")
            if np.isnan(y).all():
                continue
            ax.plot(epochs, y, color=color, linestyle=style, marker="o", markersize=3,
                    linewidth=1.4, label=train_label if split == "train" else "test")
            drawn = True
        if drawn:
            _outside_legend(ax)
        else:
            _empty(ax, f"no {field} recorded")
    loss = params.get("loss")
    loss_ax.set_title("loss" + (f" ({loss.replace('_', '-')})" if loss else ""))
    loss_ax.set_ylabel("loss")
    test = 100 * _scalar(history, "test_accuracy")
    if not np.isnan(test).all():
        best = int(np.nanargmax(test))
        last = test[~np.isnan(test)][-1]
        acc_ax.set_title(f"accuracy: test {last:.1f} % at the end, best {test[best]:.1f} % "
                         f"(epoch {epochs[best]})")
    else:
        acc_ax.set_title("accuracy (no test data)")
    acc_ax.set_ylabel("accuracy (%)")
    bottom = np.zeros(epochs.size)
    total = 0.0
    for field, name, color in (("seconds_train", "training", _COLORS[0]),
                               ("seconds_eval", "evaluation", _COLORS[2]),
                               ("seconds_topology", "topology update", _COLORS[3])):
        seconds = np.nan_to_num(_scalar(history, field))
        time_ax.bar(epochs, seconds, bottom=bottom, width=0.8, color=color, linewidth=0,
                    label=f"{name}: {seconds.sum():.3g} s")
        bottom += seconds
        total += seconds.sum()
    time_ax.set_title(f"time per epoch: {total:.3g} s in all")
    time_ax.set_ylabel("seconds")
    time_ax.set_xlabel("epoch")
    _outside_legend(time_ax)
    for a in (loss_ax, acc_ax, time_ax):
        a.grid(alpha=0.3)
    _integer_epochs(time_ax)
    return fig


# -- degree distributions -----------------------------------------------------------------------
def _degree_bins(degrees, expected):
    """Bin edges at half-integers covering the observed degrees and 99.8 % of ``expected``."""
    lo = min(min(int(d.min()) for d in degrees), int(expected.ppf(0.001)))
    hi = max(max(int(d.max()) for d in degrees), int(expected.ppf(0.999)))
    if hi - lo <= 60:
        return np.arange(lo, hi + 2) - 0.5
    return np.unique(np.round(np.linspace(lo, hi + 1, 41))) - 0.5


def _initial_of(run, initial, final):
    """(initial layers or None, a note for the title or None)."""
    from ..sparse import CooMatrix

    if initial is None or initial is False:
        return None, None
    if isinstance(initial, str) and initial == "auto":
        if run.model is None:                 # bare layers: nothing to rebuild from
            return None, None
        layers, why = run.initial_layers()
        return layers, None if layers is not None else f"initial degrees not drawn: {why}"
    if isinstance(initial, (list, tuple)) and all(isinstance(W, CooMatrix) for W in initial):
        if len(initial) != len(final):
            raise ValueError(f"initial must hold one layer per layer ({len(final)}), got "
                             f"{len(initial)}")
        return list(initial), None
    raise ValueError(f"initial must be 'auto', None or a list of CooMatrix, got {initial!r}")


def plot_degree_distributions(run_dir_or_model, *, initial="auto", ax=None):
    r"""In- and out-degree histograms of every sparse layer, initial and final, against ER.

    Parameters
    ----------
    run_dir_or_model : path, SparseMLP or list of CooMatrix
        A run directory (its ``model.npz`` is read), a ``.npz`` model file, a fitted model or
        its layers.
    initial : "auto", None or list of CooMatrix, default "auto"
        The network before the first epoch, drawn as a step line over the final histogram.
        ``"auto"``: rebuilt from the model's parameters and seed, exactly the run's (CHT's
        CSTI also needs the run's data, named by the run directory's ``config.json``; see
        :mod:`refset.plots`); when it cannot be rebuilt the figure's title says why; nothing
        for bare layers.  None: not drawn.
    ax : array-like of matplotlib Axes or None
        Two Axes per sparse layer (out-degree of its inputs, in-degree of its outputs, layer by
        layer), e.g. ``fig.subplots(n_layers, 2)``; None makes a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The final degrees are the bars; for a layer with ``nnz`` links from ``n_in`` to
        ``n_out`` neurons, the Erdős–Rényi expectation of the out-degree is
        :math:`\mathrm{Bin}(n_{out}, p)` with :math:`p = nnz / (n_{in} n_{out})`, mean
        :math:`nnz / n_{in}` (dashed line); expected neurons per bin are drawn as a black step
        line.  Bins are single degrees (wider when the range exceeds 60) covering the observed
        degrees and 99.8 % of the binomial law.  Neurons CHT removed are not in the final
        layers: the title gives both counts.

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

    run, layers = _model_run(run_dir_or_model)
    start, note = _initial_of(run, initial, layers)
    model = run.model
    sparse = [l for l, W in enumerate(layers) if W.nnz < W.shape[0] * W.shape[1]]
    if not sparse:
        raise ValueError("run_dir_or_model has no sparse layer (every layer is dense)")
    if ax is None:
        fig = _figure(figsize=(10.0, 2.9 * len(sparse) + 0.9))
        axes = fig.subplots(len(sparse), 2, squeeze=False).ravel()
        title = run.title("Degree distributions") if model is not None or run.history else \
            f"Degree distributions: {run.name}"
        fig.suptitle(title + (f"\n{note}" if note else ""))
    else:
        axes = np.asarray(ax, dtype=object).ravel()
        if axes.size != 2 * len(sparse):
            raise ValueError(f"ax must hold 2 Axes per sparse layer ({2 * len(sparse)}), "
                             f"got {axes.size}")
        fig = axes[0].figure
    final_label = f"after epoch {model.epoch_}" if model is not None else "observed"
    for l, pair in zip(sparse, axes.reshape(-1, 2)):
        W = layers[l]
        W0 = start[l] if start is not None else None
        n_in, n_out = W.shape
        p = W.nnz / (n_in * n_out)
        for a, k, n, trials, what, unit in ((pair[0], 0, n_in, n_out, "out", "inputs"),
                                            (pair[1], 1, n_out, n_in, "in", "outputs")):
            degrees = np.bincount(W.rows if k == 0 else W.cols, minlength=n)
            degrees0 = None
            if W0 is not None:
                degrees0 = np.bincount(W0.rows if k == 0 else W0.cols, minlength=W0.shape[k])
            edges = _degree_bins([d for d in (degrees, degrees0) if d is not None],
                                 binom(trials, p))
            counts, _, _ = a.hist(degrees, bins=edges, color="#1f77b4", alpha=0.75,
                                  label=final_label)
            positive = [counts[counts > 0]]
            if degrees0 is not None:
                counts0, _ = np.histogram(degrees0, bins=edges)
                a.stairs(counts0, edges, color=_COLORS[3], linewidth=1.6, label="initial")
                positive.append(counts0[counts0 > 0])
            upper = np.floor(edges).astype(np.int64)          # bin k holds degrees up to upper[k+1]
            expected = n * np.diff(binom.cdf(upper, trials, p))
            a.stairs(expected, edges, color="black", linewidth=1.2, label="Erdős–Rényi")
            a.axvline(W.nnz / n, color="black", linestyle="--", linewidth=1,
                      label=f"ER mean {W.nnz / n:.3g}")
            positive = np.concatenate(positive)
            if positive.size and positive.max() >= 50 * positive.min():
                a.set_yscale("log")
                a.set_ylim(bottom=0.5)
            n0 = W0.shape[k] if W0 is not None else n
            a.set_title(f"layer {l + 1}: {what}-degree of its {n} {unit}"
                        + (f" ({n0} initially)" if n0 != n else ""), fontsize="medium")
            a.set_xlabel(f"{what}-degree (links)")
            a.set_ylabel("neurons")
            a.legend(fontsize="x-small")
    return fig


# -- link bookkeeping ---------------------------------------------------------------------------
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
        per neuron layer on a linear axis, in percent of the layer's width when it is known
        (a model, or a run directory with ``model.npz``), else as counts.

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
    run = _history_run(history_or_run_dir)
    history, epochs = _records(run)
    fig = _figure(figsize=(8.5, 8.4))
    axes = fig.subplots(3, 1, sharex=True)
    fig.suptitle(run.title("Link bookkeeping"))
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
    _draw_active(axes[2], history, epochs, run.widths())
    axes[2].set_title("active neurons per layer (after the update)")
    axes[2].set_xlabel("epoch")
    for a in axes:
        a.grid(alpha=0.3)
    _integer_epochs(axes[2])
    return fig


# -- the method's own panels --------------------------------------------------------------------
def plot_method_panels(history_or_run_dir):
    r"""What the run's method did per update: CHT, Path-Weight or Sensitivity.

    Parameters
    ----------
    history_or_run_dir : path, SparseMLP or list of dict
        As for :func:`plot_link_bookkeeping`.  The method is the run's (``config.json``, the
        model's parameters), else the one whose fields the records hold.

    Returns
    -------
    matplotlib.figure.Figure
        Panels sharing the epoch axis, at the epochs whose update reached the method:

        - CHT: the overlap :math:`|removed \cap regrown| / |regrown|` per sparse layer with
          the early-stop threshold; the frozen layers (a bar from the update after which each
          froze); links removed by percolation per layer and neurons removed per hidden layer
          (with CH3-L3's shortfall when there was one); active neurons per neuron layer, on a
          linear axis in percent of the layer's width when known.
        - Path-Weight: λ and ζ per update as used; δ per update; :math:`C_{prim}` and
          :math:`C_{sec}` (the time-varying rule grows λ, ζ, δ when
          :math:`C_{sec} < K_3 C_{prim}` and shrinks them when
          :math:`C_{sec} > K_4 C_{prim}`; both thresholds dashed).
        - Sensitivity: the mean sensitivity of each layer's links per update.

    Raises
    ------
    ValueError
        The method is SET or unknown: it has no panels of its own.

    Examples
    --------
    >>> used = ((1, 0.1, 0.3), (2, 0.2, 0.6), (3, 0.4, 1.0))
    >>> history = [{"epoch": e, "lam": lam, "zeta": zeta, "delta": 2 ** (e - 1), "c_prim": 1.0,
    ...             "c_sec": 0.05} for e, lam, zeta in used]
    >>> fig = plot_method_panels(history)
    >>> fig.axes[0].get_lines()[1].get_label(), fig.axes[0].get_lines()[1].get_ydata().tolist()
    ('ζ', [0.3, 0.6, 1.0])
    >>> print(fig.get_suptitle())
    Path-Weight: run
    path-weight, ζ per update 0.3 → 0.6 → 1, λ per update 0.1 → 0.2 → 0.4,
    δ per update 1 → 2 → 4
    """
    _require_matplotlib()
    run = _history_run(history_or_run_dir)
    history, epochs = _records(run)
    method = run.method
    if method not in METHOD_PANELS:
        raise ValueError(f"the run's method {method!r} has no panels of its own (those of "
                         f"{', '.join(METHOD_PANELS)} have)")
    draw = {"cht": _cht_panels, "path-weight": _path_weight_panels,
            "sensitivity": _sensitivity_panels}[method]
    fig = draw(run, history, epochs)
    for a in fig.axes:
        a.grid(alpha=0.3)
    fig.axes[-1].set_xlim(epochs.min() - 0.4, epochs.max() + 0.4)   # every epoch, updated or not
    fig.axes[-1].set_xlabel("epoch")
    _integer_epochs(fig.axes[-1])
    return fig


def _reached(history, field):
    """Mask of the records whose update reached the method (they hold ``field``)."""
    return np.array([field in rec for rec in history])


def _cht_panels(run, history, epochs):
    fig = _figure(figsize=(8.5, 10.5))
    overlap_ax, frozen_ax, perc_ax, active_ax = fig.subplots(4, 1, sharex=True)
    fig.suptitle(run.title("CHT"))
    opts = run.options()
    mask = _reached(history, "frozen")
    n_sparse = max((sum(f is not None for f in rec["frozen"]) for rec in history
                    if isinstance(rec.get("frozen"), list)), default=0)
    if not n_sparse:
        overlap = _per_layer(history, "overlap")
        n_sparse = 0 if overlap is None else overlap.shape[1]
    flags, known = [], None       # a record without the field (skipped update) keeps them
    for rec in history:
        if isinstance(rec.get("frozen"), list):
            known = [bool(rec["frozen"][l]) for l in range(n_sparse)]
        flags.append(known)

    overlap = _per_layer(history, "overlap")
    if overlap is None or not mask.any():
        _empty(overlap_ax, "no CHT update in this run")
    else:
        for l in range(n_sparse):
            overlap_ax.plot(epochs[mask], overlap[mask, l], color=_COLORS[l % 10],
                            marker=_MARKERS[l % 8], markersize=4, linewidth=1.4,
                            label=f"layer {l + 1}")
        if opts.get("early_stop") != "never" and opts.get("early_stop_threshold") is not None:
            overlap_ax.axhline(opts["early_stop_threshold"], color="black", linestyle="--",
                               linewidth=1, label=f"early stop > {opts['early_stop_threshold']:g}")
        overlap_ax.set_ylim(-0.03, 1.05)
        _outside_legend(overlap_ax)
    overlap_ax.set_title("overlap |removed ∩ regrown| / |regrown| per update")
    overlap_ax.set_ylabel("overlap")

    after = run.frozen_after()
    mode = opts.get("early_stop")
    for l in range(n_sparse):
        y = np.array([l + 1.0 if f is not None and f[l] else np.nan for f in flags])
        label = (f"layer {l + 1}: frozen after epoch {after[l + 1]}" if l + 1 in after
                 else f"layer {l + 1}: evolving")
        frozen_ax.plot(epochs, y, color=_COLORS[l % 10], linewidth=6, solid_capstyle="butt",
                       marker="s", markersize=5, label=label)
    frozen_ax.set_yticks(range(1, n_sparse + 1), [f"layer {l}" for l in range(1, n_sparse + 1)])
    frozen_ax.set_ylim(0.5, n_sparse + 0.5)
    if n_sparse:
        _outside_legend(frozen_ax)
    if not after:
        _empty(frozen_ax, "early stop off" if mode == "never" else "no layer frozen")
    frozen_ax.set_title(f"frozen layers (early stop per {mode}, from the update after which "
                        "they passed)" if mode in ("layer", "all") else "frozen layers")

    percolated = _per_layer(history, "percolated")
    neurons = _per_layer(history, "removed_neurons")
    shortfall = _per_layer(history, "shortfall")
    if percolated is None or not mask.any():
        _empty(perc_ax, "no CHT update in this run")
    else:
        for l in range(n_sparse):
            perc_ax.plot(epochs[mask], percolated[mask, l], color=_COLORS[l % 10], marker="o",
                         markersize=3, linewidth=1.3, label=f"layer {l + 1}: links percolated")
        if neurons is not None:
            for h in range(neurons.shape[1]):
                perc_ax.plot(epochs[mask], neurons[mask, h], color=_COLORS[(h + 5) % 10],
                             marker="x", markersize=4, linestyle="--", linewidth=1.3,
                             label=f"hidden {h + 1}: neurons removed "
                                   f"({np.nansum(neurons[:, h]):.0f} in all)")
        if shortfall is not None and np.nansum(shortfall[mask]) > 0:
            for l in range(n_sparse):
                perc_ax.plot(epochs[mask], shortfall[mask, l], color=_COLORS[l % 10],
                             linestyle=":", linewidth=1.2, label=f"layer {l + 1}: shortfall")
        _outside_legend(perc_ax)
    perc_ax.set_title("percolation: links and neurons removed per update")
    perc_ax.set_ylabel("per update")

    _draw_active(active_ax, history, epochs, run.widths())
    active_ax.set_title("active neurons per layer (after the update)")
    return fig


def _path_weight_panels(run, history, epochs):
    fig = _figure(figsize=(8.5, 8.4))
    frac_ax, delta_ax, c_ax = fig.subplots(3, 1, sharex=True)
    fig.suptitle(run.title("Path-Weight"))
    opts = run.options()
    varying = "time-varying" if opts.get("time_varying") else "fixed"
    mask = _reached(history, "zeta") & _reached(history, "lam")
    if not mask.any():
        for a in (frac_ax, delta_ax, c_ax):
            _empty(a, "no Path-Weight update in this run")
    else:
        x = epochs[mask]
        for field, symbol, marker, color in (("lam", "λ", "o", _COLORS[0]),
                                             ("zeta", "ζ", "s", _COLORS[1])):
            frac_ax.plot(x, _scalar(history, field)[mask], color=color, marker=marker,
                         markersize=4, linewidth=1.4, label=symbol)
        frac_ax.set_ylim(-0.03, 1.05)
        _outside_legend(frac_ax)
        delta_ax.plot(x, _scalar(history, "delta")[mask], color=_COLORS[2], marker="D",
                      markersize=4, linewidth=1.4, label="δ")
        _outside_legend(delta_ax)
        c_prim, c_sec = _scalar(history, "c_prim")[mask], _scalar(history, "c_sec")[mask]
        c_ax.plot(x, c_prim, color=_COLORS[4], marker="o", markersize=4, linewidth=1.4,
                  label="C_prim (mean node importance)")
        c_ax.plot(x, c_sec, color=_COLORS[5], marker="x", markersize=5, linewidth=1.4,
                  label="C_sec (mean importance removed)")
        if opts.get("time_varying"):
            for k, style in (("K3", "--"), ("K4", ":")):
                c_ax.plot(x, opts[k] * c_prim, color="black", linestyle=style, linewidth=1,
                          label=f"{k}·C_prim = {opts[k]:g}·C_prim")
        values = np.concatenate([c_prim, c_sec])
        values = values[np.isfinite(values)]
        if values.size and values.min() > 0 and values.max() >= 20 * values.min():
            c_ax.set_yscale("log")
        _outside_legend(c_ax)
    frac_ax.set_title(f"λ (weakest paths) and ζ (revise fraction) per update ({varying})")
    frac_ax.set_ylabel("fraction")
    delta_ax.set_title(f"δ per update ({varying})")
    delta_ax.set_ylabel("δ")
    c_ax.set_title("importances that drive the time-varying rule")
    c_ax.set_ylabel("importance")
    return fig


def _sensitivity_panels(run, history, epochs):
    fig = _figure(figsize=(8.5, 3.6))
    ax = fig.subplots(1, 1)
    fig.suptitle(run.title("Sensitivity"))
    mask = _reached(history, "mean_sensitivity")
    values = _per_layer(history, "mean_sensitivity")
    if values is None or not mask.any():
        _empty(ax, "no Sensitivity update in this run")
    else:
        for l in range(values.shape[1]):
            if np.isnan(values[mask, l]).all():
                continue
            ax.plot(epochs[mask], values[mask, l], color=_COLORS[l % 10],
                    marker=_MARKERS[l % 8], markersize=4, linewidth=1.4, label=f"layer {l + 1}")
        _outside_legend(ax)
    ax.set_title("mean sensitivity of the links per update")
    ax.set_ylabel("mean sensitivity")
    return fig

