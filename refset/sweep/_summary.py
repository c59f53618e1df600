"""Per-run result rows and their summaries (Cavallaro et al., Table 3 and the time gain).

Accuracies are fractions in [0, 1] (as in the histories); the printed table shows percent.
"""
import json
import math
import os

import numpy as np

__all__ = ["ROW_FIELDS", "row_fields", "run_metrics", "summarize", "SUMMARY_FIELDS",
           "summary_fields", "format_summary", "load_results", "epoch_interval"]

#: Row fields before and after the grid columns (``<grid keys>`` go after ``method``).
ROW_HEAD = ("run_id", "dataset", "method")
ROW_TAIL = ("replicate", "seed", "status", "error", "epochs", "final_accuracy", "best_accuracy",
            "best_epoch", "aae", "mean_accuracy", "mean_accuracy_ci_low",
            "mean_accuracy_ci_high", "seconds_train", "seconds_eval", "seconds_topology",
            "seconds_total", "run_dir")
ROW_FIELDS = ROW_HEAD + ROW_TAIL
_METRICS = ROW_TAIL[4:-1]

SUMMARY_STATS = ("n", "n_failed", "n_skipped", "best_accuracy", "final_accuracy_mean",
                 "final_accuracy_sd", "final_accuracy_ci_low", "final_accuracy_ci_high",
                 "mean_accuracy_mean", "aae_mean", "r0_best_accuracy", "r0_mean_accuracy",
                 "r0_ci_low", "r0_ci_high", "seconds_total_mean", "seconds_train_mean",
                 "seconds_eval_mean", "seconds_topology_mean", "gain")
SUMMARY_FIELDS = ("dataset", "method") + SUMMARY_STATS


def _grid_columns(grid_keys):
    return [k for k in grid_keys if k != "method"]


def row_fields(grid_keys):
    """Columns of a result row: ``run_id, dataset, method, <grid keys>, replicate, ...``.

    Examples
    --------
    >>> row_fields(["zeta"])[:5]
    ['run_id', 'dataset', 'method', 'zeta', 'replicate']
    """
    return [*ROW_HEAD, *_grid_columns(grid_keys), *ROW_TAIL]


def summary_fields(grid_keys):
    """Columns of a summary row: ``dataset, method, <grid keys>, n, ...``.

    Examples
    --------
    >>> summary_fields(["method", "zeta"])[:4]
    ['dataset', 'method', 'zeta', 'n']
    """
    return ["dataset", "method", *_grid_columns(grid_keys), *SUMMARY_STATS]


def _t_interval(values, mean=None, confidence=0.95):
    """Student-t confidence interval of the mean of ``values``; (None, None) for n < 2."""
    from scipy import stats

    n = len(values)
    if n < 2:
        return None, None
    a = np.asarray(values, dtype=np.float64)
    mean = float(a.mean()) if mean is None else mean
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(a.std(ddof=1)) / math.sqrt(n)
    return mean - half, mean + half


def epoch_interval(accuracies):
    """Mean of one run's per-epoch accuracies and its 95 % Student-t interval over the epochs.

    This is the statistic of Cavallaro et al.'s Table 3 (one run, mean and confidence interval
    over its epochs).

    Examples
    --------
    >>> mean, low, high = epoch_interval([0.5, 0.7, 0.9])
    >>> round(mean, 6), round(high - mean, 4)     # t(0.975, 2) * 0.2 / sqrt(3)
    (0.7, 0.4968)
    """
    a = np.asarray(accuracies, dtype=np.float64)
    mean = float(a.mean())
    low, high = _t_interval(a, mean)
    return mean, low, high


def run_metrics(history):
    """The metric fields of a result row from a run's history (``epochs`` ... ``seconds_total``).

    Examples
    --------
    >>> h = [{"epoch": 1, "test_accuracy": 0.5, "seconds_train": 1.0, "seconds_eval": 0.5,
    ...       "seconds_topology": 0.25}, {"epoch": 2, "test_accuracy": 0.75,
    ...       "seconds_train": 1.0, "seconds_eval": 0.5, "seconds_topology": 0.0}]
    >>> m = run_metrics(h)
    >>> m["final_accuracy"], m["best_epoch"], m["aae"], m["seconds_total"]
    (0.75, 2, 0.625, 3.25)
    """
    from ..estimator.methods import area_across_epochs

    out = dict.fromkeys(_METRICS)
    out["epochs"] = len(history)
    acc = [r.get("test_accuracy") for r in history]
    if history and all(a is not None for a in acc):
        best = int(np.argmax(acc))
        mean, low, high = epoch_interval(acc)
        out.update(final_accuracy=acc[-1], best_accuracy=max(acc),
                   best_epoch=history[best]["epoch"], aae=float(area_across_epochs(acc)),
                   mean_accuracy=mean, mean_accuracy_ci_low=low, mean_accuracy_ci_high=high)
    if history:
        parts = [math.fsum(r[k] for r in history)
                 for k in ("seconds_train", "seconds_eval", "seconds_topology")]
        out.update(seconds_train=parts[0], seconds_eval=parts[1], seconds_topology=parts[2],
                   seconds_total=math.fsum(parts))
    return out


def _same(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _key(value):
    return json.dumps(value, sort_keys=True)


def _infer_grid_keys(rows):
    keys = []
    for row in rows:
        keys.extend(k for k in row if k not in ROW_FIELDS and k not in keys)
    return keys


def _mean(values):
    return float(np.mean(values)) if values else None


def summarize(rows, *, grid_keys=None, baseline=None, compare=None):
    """Summary statistics per dataset × method × grid point over the ``ok`` runs.

    Parameters
    ----------
    rows : list of dict
        Result rows (``results.json["runs"]``, see :mod:`refset.sweep`).
    grid_keys : list of str, optional
        The grid keys (row columns); default: every column that is not a standard row field.
    baseline, compare : dict, optional
        Grid points of the time gain ``1 - t(compare) / t(baseline)`` (Cavallaro et al.:
        ``baseline={"zeta": 0.3}``, ``compare={"zeta": 0.0}``, the default ``compare`` when
        ``baseline`` is ``{"zeta": ...}``); ``t`` is the mean ``seconds_total`` per run.

    Returns
    -------
    summary : list of dict
        One row per group, in the order the groups first appear in ``rows``; fields
        :func:`summary_fields`:

        - ``n``, ``n_failed``, ``n_skipped``: runs by status;
        - ``best_accuracy``: the highest accuracy any run reached in any epoch;
        - ``final_accuracy_mean``, ``_sd`` and the 95 % Student-t interval ``_ci_low``,
          ``_ci_high`` over the runs (``t.ppf(0.975, n - 1)``; None for n = 1);
        - ``mean_accuracy_mean``, ``aae_mean``: means over the runs of each run's mean
          accuracy over its epochs and of its AAE;
        - ``r0_best_accuracy``, ``r0_mean_accuracy``, ``r0_ci_low``, ``r0_ci_high``:
          Cavallaro's Table 3 for replicate 0 (one run with a fixed seed, as published):
          its highest accuracy, and its mean over the epochs with the 95 % interval over the
          epochs (None when replicate 0 is not ``ok``);
        - ``seconds_total_mean`` and its split ``seconds_train_mean``, ``seconds_eval_mean``,
          ``seconds_topology_mean``: mean seconds per run;
        - ``gain``: the time gain of the group's dataset × method × other grid values (the
          same on each of its rows); None without a baseline or when a point has no ok run.

    Examples
    --------
    >>> rows = [dict(run_id=f"r{i}", dataset="D", method="set", zeta=z, replicate=i % 2,
    ...              status="ok", final_accuracy=a, best_accuracy=a, seconds_total=t)
    ...         for i, (z, a, t) in enumerate([(0.0, 0.8, 9.0), (0.0, 0.9, 9.0),
    ...                                        (0.3, 0.7, 10.0), (0.3, 0.9, 12.0)])]
    >>> s = summarize(rows, baseline={"zeta": 0.3})
    >>> [(r["zeta"], r["n"], round(r["final_accuracy_mean"], 3), r["gain"]) for r in s]
    [(0.0, 2, 0.85, 0.18181818181818177), (0.3, 2, 0.8, 0.18181818181818177)]
    """
    grid_keys = _infer_grid_keys(rows) if grid_keys is None else list(grid_keys)
    columns = _grid_columns(grid_keys)
    if baseline and compare is None:
        if set(baseline) != {"zeta"}:
            raise ValueError("compare is required unless baseline is {'zeta': ...}")
        compare = {"zeta": 0.0}
    groups = {}
    for row in rows:
        key = (row["dataset"], row["method"], *(_key(row.get(k)) for k in columns))
        groups.setdefault(key, []).append(row)
    out = []
    for members in groups.values():
        first = members[0]
        ok = [r for r in members if r.get("status") == "ok"]
        s = {"dataset": first["dataset"], "method": first["method"],
             **{k: first.get(k) for k in columns}}
        s["n"] = len(ok)
        s["n_failed"] = sum(r.get("status") == "failed" for r in members)
        s["n_skipped"] = sum(r.get("status") == "skipped" for r in members)
        best = [r["best_accuracy"] for r in ok if r.get("best_accuracy") is not None]
        s["best_accuracy"] = max(best) if best else None
        final = [r["final_accuracy"] for r in ok if r.get("final_accuracy") is not None]
        s["final_accuracy_mean"] = _mean(final)
        s["final_accuracy_sd"] = float(np.std(final, ddof=1)) if len(final) > 1 else None
        s["final_accuracy_ci_low"], s["final_accuracy_ci_high"] = _t_interval(
            final, s["final_accuracy_mean"])
        for field in ("mean_accuracy", "aae"):
            s[f"{field}_mean"] = _mean([r[field] for r in ok if r.get(field) is not None])
        r0 = next((r for r in ok if r.get("replicate") == 0), {})
        s["r0_best_accuracy"] = r0.get("best_accuracy")
        s["r0_mean_accuracy"] = r0.get("mean_accuracy")
        s["r0_ci_low"] = r0.get("mean_accuracy_ci_low")
        s["r0_ci_high"] = r0.get("mean_accuracy_ci_high")
        for part in ("total", "train", "eval", "topology"):
            field = f"seconds_{part}"
            s[f"{field}_mean"] = _mean([r[field] for r in ok if r.get(field) is not None])
        s["gain"] = None
        out.append(s)
    if baseline:
        _add_gains(out, baseline, compare)
    return out


def _add_gains(summary, baseline, compare):
    def matches(s, point):
        return all(_same(s.get(k), v) for k, v in point.items())

    def context(s):
        return _key({k: v for k, v in s.items() if k not in baseline and k not in SUMMARY_STATS})

    contexts = {}
    for s in summary:
        contexts.setdefault(context(s), []).append(s)
    for members in contexts.values():
        base = next((s for s in members if matches(s, baseline)), None)
        cmp_ = next((s for s in members if matches(s, compare)), None)
        if base is None or cmp_ is None:
            continue
        t_base, t_cmp = base["seconds_total_mean"], cmp_["seconds_total_mean"]
        if t_base is None or t_cmp is None or t_base <= 0:
            continue
        gain = 1.0 - t_cmp / t_base
        for s in members:
            s["gain"] = gain


def _pct(value):
    return "-" if value is None else f"{100 * value:.2f}"


def seconds_text(x):
    """Seconds with 3 decimals below 1 s, 2 below 100 s, none above."""
    return f"{x:.3f}" if x < 1 else f"{x:.2f}" if x < 100 else f"{x:.0f}"


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list):
        return "x".join(str(v) for v in value)
    return str(value)


def format_summary(summary, grid_keys=()):
    """A plain-text table of a summary (accuracies in percent, seconds per run).

    Columns: dataset, method, grid values, n, highest accuracy, mean final accuracy with its
    95 % interval over the runs, replicate 0's mean over the epochs with its interval (Table 3),
    seconds per run (train / eval / topology) and the gain.

    Examples
    --------
    >>> s = summarize([dict(run_id="a", dataset="D", method="set", zeta=0.3, replicate=0,
    ...                     status="ok", final_accuracy=0.5, best_accuracy=0.6,
    ...                     seconds_total=2.0, seconds_train=1.5, seconds_eval=0.25,
    ...                     seconds_topology=0.25)])
    >>> print(format_summary(s, ["zeta"]))  # doctest: +NORMALIZE_WHITESPACE
    dataset method zeta n best % final % [95% CI] r0 epochs % [95% CI] s/run (train/eval/topo) gain
    D       set    0.3  1 60.00  50.00 [-, -]      - [-, -]             2.00 (1.50/0.250/0.250)  -
    """
    columns = _grid_columns(grid_keys)
    header = ["dataset", "method", *columns, "n", "best %", "final % [95% CI]",
              "r0 epochs % [95% CI]", "s/run (train/eval/topo)", "gain"]
    lines = [header]
    for s in summary:
        secs = "-"
        if s["seconds_total_mean"] is not None:
            total, train, ev, topo = (seconds_text(s[f"seconds_{k}_mean"])
                                      for k in ("total", "train", "eval", "topology"))
            secs = f"{total} ({train}/{ev}/{topo})"
        lines.append([
            s["dataset"], s["method"], *(_cell(s.get(k)) for k in columns),
            str(s["n"]), _pct(s["best_accuracy"]),
            f"{_pct(s['final_accuracy_mean'])} [{_pct(s['final_accuracy_ci_low'])}, "
            f"{_pct(s['final_accuracy_ci_high'])}]",
            f"{_pct(s['r0_mean_accuracy'])} [{_pct(s['r0_ci_low'])}, {_pct(s['r0_ci_high'])}]",
            secs, "-" if s["gain"] is None else f"{s['gain']:.4f}"])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip()
                     for line in lines)


def load_results(out_dir):
    """The result rows of the sweep in ``out_dir`` (``results.json["runs"]``).

    Raises
    ------
    ValueError
        ``out_dir`` holds no readable ``results.json``.

    Examples
    --------
    >>> import tempfile
    >>> load_results(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: out_dir: ... holds no results.json (not a refset sweep directory)
    """
    path = os.path.join(os.fspath(out_dir), "results.json")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)["runs"]
    except FileNotFoundError:
        raise ValueError(f"out_dir: {out_dir} holds no results.json "
                         "(not a refset sweep directory)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"out_dir: {path} is unreadable ({exc})") from None
