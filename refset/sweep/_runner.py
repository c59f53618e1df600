"""The driver of a sweep: plan the cells, hand them to workers, store each outcome, summarise."""
import json
import os
import sys
import time

from .._io import atomic_write
from ._cells import expand_cells
from ._config import _load, parse_config
from .._lock import lock_directory, remove_stale_temporaries, size_text
from ._store import (base_row, check_out_dir, finished_row, read_json, store_outcome, write_csv,
                     write_json)
from ._summary import format_summary, row_fields, seconds_text, summarize, summary_fields
from ._toml import dump_toml
from ._worker import execute

__all__ = ["run_sweep", "plan_sweep", "SweepResult"]


class SweepResult(list):
    """The rows :func:`run_sweep` returns (a list), with what a command line reports.

    Attributes
    ----------
    n_runs : int
        The number of cells of the sweep.
    out_dir : str
        The output directory.

    Examples
    --------
    >>> rows = SweepResult([{"run_id": "a", "status": "ok"}, {"run_id": "b", "status": "failed"}],
    ...                    12, "out")
    >>> len(rows.failed), rows.failure_message()
    (1, '1 of 12 runs failed; see out/runs/b/error.txt')
    >>> SweepResult([], 3, "out").failure_message() is None
    True
    """

    def __init__(self, rows, n_runs, out_dir):
        super().__init__(rows)
        self.n_runs = n_runs
        self.out_dir = os.fspath(out_dir)

    @property
    def failed(self):
        """The rows of the failed runs."""
        return [r for r in self if r.get("status") == "failed"]

    def failure_message(self):
        """``"2 of 12 runs failed; see OUT/runs/*/error.txt"``, or None when none failed."""
        failed = self.failed
        if not failed:
            return None
        run = failed[0]["run_id"] if len(failed) == 1 else "*"
        return (f"{len(failed)} of {self.n_runs} run{'s' if self.n_runs != 1 else ''} failed; "
                f"see {os.path.join(self.out_dir, 'runs', run, 'error.txt')}")


def _prepare(config, data_dir):
    """(normalised config, text for sweep.toml) from a path, a raw dict or a parsed config."""
    if isinstance(config, (str, os.PathLike)):
        parsed, text = _load(config)
    elif isinstance(config, dict):
        parsed, text = parse_config(json.loads(json.dumps(config))), None
    else:
        raise ValueError(f"config must be a path to a TOML file or a dict, got {config!r}")
    if data_dir is not None:
        parsed["data"]["data_dir"] = os.path.abspath(os.fspath(data_dir))
    return parsed, text if text is not None else dump_toml(parsed)


def _missing_datasets(config):
    """{dataset: message} of the datasets whose files are absent from the data directory."""
    from ..datasets import data_home
    from ..datasets._registry import get_spec

    root = data_home(config["data"]["data_dir"])
    missing = {}
    for name in config["data"]["datasets"]:
        for spec in get_spec(name).files:
            if not os.path.isfile(os.path.join(root, *spec.relpath.split("/"))):
                missing[name] = (f"{spec.relpath} not found in {root}; put the file there or "
                                 "remove it from [data] datasets")
                break
    return missing


def _duration(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _execution_order(cells, pending, config):
    """Replicate by replicate; dataset by dataset; grid points rotated by the replicate.

    ``cells`` is dataset-major, then grid point, then replicate.  Replicate ``r`` starts at
    grid point ``r mod P``, so no grid point always runs first (a drift of the machine's speed
    during a sweep then does not favour one grid point's times).
    """
    runs = config["experiment"]["runs"]
    n_points = len(cells) // (runs * len(config["data"]["datasets"]))
    index = {cell.run_id: i for i, cell in enumerate(cells)}

    def key(cell):
        i = index[cell.run_id]
        dataset, point = divmod(i // runs, n_points)
        return cell.replicate, dataset, (point - cell.replicate) % n_points

    return sorted(pending, key=key)


def plan_sweep(config, out_dir=None, *, data_dir=None):
    """The cells of a sweep and, when ``out_dir`` holds one, their state there.

    Returns
    -------
    config : dict
        The normalised config.
    plan : list of (Cell, str)
        Every cell with ``"done"`` (finished ok), ``"failed"`` or ``"skipped"`` (its last
        attempt; to be retried), ``"missing"`` (its data file is absent here) or ``"pending"``.
    missing : dict
        Dataset name -> message, for the datasets whose file is absent.

    Raises
    ------
    ValueError
        An invalid config, or an ``out_dir`` that cannot hold this sweep (a file, a path
        under a file, another sweep's directory).  ``out_dir`` need not exist and may be
        read-only; nothing is written.

    Examples
    --------
    >>> config, plan, missing = plan_sweep({"data": {"datasets": ["synthetic"]},
    ...                                     "grid": {"zeta": [0.0, 0.3]}})
    >>> [(cell.run_id, state) for cell, state in plan]
    [('synthetic__set__zeta=0.0__r00', 'pending'), ('synthetic__set__zeta=0.3__r00', 'pending')]
    """
    config, _ = _prepare(config, data_dir)
    cells = expand_cells(config)
    missing = _missing_datasets(config)
    plan = []
    save = config["experiment"]["save_models"]
    previous = {}
    if out_dir is not None:
        out = os.fspath(out_dir)
        check_out_dir(out, config, writable=False)
        doc = read_json(os.path.join(out, "results.json"))
        if isinstance(doc, dict):
            previous = {r.get("run_id"): r.get("status") for r in doc.get("runs", [])}
    for cell in cells:
        state = "pending"
        if out_dir is not None:
            if finished_row(out, cell, _saves(save, cell)) is not None:
                state = "done"
            elif previous.get(cell.run_id) in ("failed", "skipped"):
                state = previous[cell.run_id]
        if state != "done" and cell.dataset in missing:
            state = "missing"
        plan.append((cell, state))
    return config, plan, missing


def _saves(save_models, cell):
    return save_models == "all" or (save_models == "first" and cell.replicate == 0)


def run_sweep(config, out_dir, *, jobs=1, dask=None, progress=True, data_dir=None,
              max_runs=None, stream=None):
    """Run every cell of a sweep not yet finished in ``out_dir``; write results and summaries.

    Parameters
    ----------
    config : str, path-like or dict
        A TOML file (see :mod:`refset.sweep` for the format) or the same content as a dict.
    out_dir : str or path-like
        Output directory (layout in :mod:`refset.sweep`).  Rerunning in the same directory
        skips the finished runs and retries failed and skipped ones; a different config is
        refused.
    jobs : int, default 1
        Parallel worker processes (joblib, one compute thread each); 1 runs in this process.
    dask : str, distributed.Client or None
        Address of a Dask distributed scheduler (or a Client): run the cells on that cluster
        through joblib's Dask backend (needs ``pip install 'refset[distributed]'``).
    progress : bool, default True
        Print one line per finished run and the summary table.
    data_dir : str or path-like, optional
        Overrides ``data.data_dir`` (where every worker reads the data files).
    max_runs : int, optional
        Stop after this many runs have finished in this call (the others stay pending).
    stream : file, optional
        Where progress goes (default ``sys.stdout``).

    Returns
    -------
    rows : SweepResult
        A list: the result rows of every finished, failed or skipped cell, in cell order (also
        in ``results.json``); ``rows.failed`` and ``rows.failure_message()`` tell whether runs
        failed (a failing run is recorded, never raised).

    Raises
    ------
    ValueError
        Before anything is written: an invalid config, an ``out_dir`` that is a file, lies
        under a file or is not writable, another sweep's directory, a directory in use by a
        sweep still running (``out_dir/.lock``), or a missing data file with
        ``data.missing = "error"``.

    Notes
    -----
    The sweep holds an exclusive lock on ``out_dir`` (``fcntl.flock`` of ``out_dir/.lock``)
    while it runs; the kernel releases it when the process ends, however it ends.  Under the
    lock it first removes the temporary files (``.tmp-*``) a killed sweep left in ``out_dir``
    and ``out_dir/runs``, and reruns a finished run whose ``model.npz`` is not a whole
    checkpoint.  With ``jobs > 1`` each worker process ends itself when this process dies.

    Examples
    --------
    >>> import tempfile
    >>> config = {"experiment": {"epochs": 2, "runs": 2},
    ...           "data": {"datasets": ["synthetic"],
    ...                    "synthetic": {"n_samples": 90, "n_features": 20}},
    ...           "model": {"hidden_layer_sizes": [8], "epsilon": 2},
    ...           "grid": {"zeta": [0.0, 0.3]}}
    >>> rows = run_sweep(config, tempfile.mkdtemp(), progress=False)
    >>> [(r["zeta"], r["replicate"], r["status"]) for r in rows]
    [(0.0, 0, 'ok'), (0.0, 1, 'ok'), (0.3, 0, 'ok'), (0.3, 1, 'ok')]
    """
    from .._validation import check_int

    jobs = check_int("jobs", jobs, 1)
    if max_runs is not None:
        max_runs = check_int("max_runs", max_runs, 1)
    stream = sys.stdout if stream is None else stream
    say = (lambda text: print(text, file=stream, flush=True)) if progress else (lambda text: None)
    config, text = _prepare(config, data_dir)
    out = os.fspath(out_dir)
    cells = expand_cells(config)
    missing = {} if dask is not None else _missing_datasets(config)
    if missing and config["data"]["missing"] == "error":
        name = next(iter(missing))
        raise ValueError(f"data.datasets: {missing[name]} (or set data.missing = \"skip\")")
    check_out_dir(out, config)
    os.makedirs(out, exist_ok=True)
    with lock_directory(out, what="sweep"):
        check_out_dir(out, config)             # again: another sweep may have started here
        rows = _run_locked(config, text, out, cells, missing, jobs, dask, max_runs, say)
    return SweepResult(rows, len(cells), out)


def _run_locked(config, text, out, cells, missing, jobs, dask, max_runs, say):
    """run_sweep's work, holding the lock of ``out``."""
    grid_keys = list(config["grid"])
    save = config["experiment"]["save_models"]
    removed = [remove_stale_temporaries(out, recursive=False),
               remove_stale_temporaries(os.path.join(out, "runs"), recursive=True)]
    n_removed, n_bytes = (sum(r[0] for r in removed), sum(r[1] for r in removed))
    with atomic_write(os.path.join(out, "sweep.toml"), "w") as f:
        f.write(text)
    os.makedirs(os.path.join(out, "runs"), exist_ok=True)

    previous = read_json(os.path.join(out, "results.json"))
    previous = {r.get("run_id"): r for r in previous.get("runs", [])} \
        if isinstance(previous, dict) else {}
    rows, pending, problems = {}, [], []
    for cell in cells:
        row = finished_row(out, cell, _saves(save, cell), problems)
        if row is not None:
            rows[cell.run_id] = row
        elif cell.dataset in missing:
            rows[cell.run_id] = base_row(cell, grid_keys, "skipped", missing[cell.dataset])
        else:
            pending.append(cell)

    def write_results():
        ordered = [rows[c.run_id] for c in cells if c.run_id in rows]
        write_json(os.path.join(out, "results.json"), {"config": config, "runs": ordered})
        write_csv(os.path.join(out, "results.csv"), ordered, row_fields(grid_keys))
        return ordered

    write_results()
    done = sum(r["status"] == "ok" for r in rows.values())
    retried = sum(previous.get(c.run_id, {}).get("status") == "failed" for c in pending)
    say(f"sweep {config['experiment']['name']}: {len(cells)} runs, {done} finished earlier, "
        f"{len(pending)} to run" + (f" (retrying {retried} failed)" if retried else "")
        + f", {'dask ' + str(dask) if dask is not None else f'{jobs} job(s)'} -> {out}")
    if n_removed:
        say(f"removed {n_removed} temporary file(s) ({size_text(n_bytes)}) left by an "
            "interrupted sweep")
    for run_id, problem in problems:
        say(f"rerunning {run_id}: {problem}")
    for name, message in missing.items():
        say(f"skipping {name}: {message}")

    tasks = [(cell, _saves(save, cell)) for cell in _execution_order(cells, pending, config)]
    if max_runs is not None:
        tasks = tasks[:max_runs]
    by_id = {cell.run_id: cell for cell in pending}
    width = len(str(len(cells)))
    t0, executed, warned = time.perf_counter(), 0, set()
    outcomes = execute(tasks, jobs, dask)
    try:
        for outcome in outcomes:
            cell = by_id[outcome["run_id"]]
            if outcome["status"] == "skipped" and config["data"]["missing"] == "error":
                outcome["status"] = "failed"
            row = store_outcome(out, cell, outcome, grid_keys)
            rows[cell.run_id] = row
            write_results()
            executed += 1
            for message in outcome.get("warnings", []):
                if message not in warned:
                    warned.add(message)
                    say(f"warning ({cell.run_id}): {message}")
            remaining = len(tasks) - executed
            eta = (time.perf_counter() - t0) / executed * remaining
            acc = row.get("final_accuracy")
            detail = (row["error"] if row["status"] != "ok" else
                      f"acc {acc:.4f}  {seconds_text(row['seconds_total'])}s")
            say(f"[{len(rows):>{width}}/{len(cells)}] {cell.run_id}  {row['status']}  {detail}"
                f"  ETA {_duration(eta)}")
    finally:
        outcomes.close()
    ordered = write_results()
    summary = summarize(ordered, grid_keys=grid_keys, baseline=config["summary"]["baseline"],
                        compare=config["summary"]["compare"])
    write_json(os.path.join(out, "summary.json"), summary)
    write_csv(os.path.join(out, "summary.csv"), summary, summary_fields(grid_keys))
    counts = {status: sum(r["status"] == status for r in ordered)
              for status in ("ok", "failed", "skipped")}
    say("")
    say(format_summary(summary, grid_keys))
    unfinished = len(cells) - len(ordered)
    if counts["failed"] or counts["skipped"] or unfinished:
        say(f"\n{counts['ok']} ok, {counts['failed']} failed (see error.txt in their run "
            f"directories), {counts['skipped']} skipped, {unfinished} not run yet; rerun the "
            "same command to retry the failed and skipped runs and run the rest")
    return ordered
