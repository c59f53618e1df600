"""The output directory of a sweep: checking it, reading finished runs, writing runs and tables.

Every file is written atomically; a run's ``result.json`` is written last, so its presence
(with status ``ok``) marks a finished run.
"""
import csv
import json
import os
import shutil

from .._io import atomic_write
from ._config import load_config, run_identity
from ._summary import run_metrics

__all__ = ["check_out_dir", "read_json", "finished_row", "write_csv", "write_json", "base_row",
           "store_outcome"]


def _differences(a, b, prefix=""):
    keys = []
    for k in sorted(set(a) | set(b)):
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            keys.extend(_differences(x, y, f"{prefix}{k}."))
        elif x != y:
            keys.append(f"{prefix}{k}")
    return keys


def check_out_dir(out, config):
    stored = os.path.join(out, "sweep.toml")
    if not os.path.exists(stored):
        if os.path.isdir(out) and os.listdir(out):
            raise ValueError(f"out_dir: {out} exists and holds no sweep.toml (not a refset "
                             "sweep directory); choose an empty or new directory")
        return
    try:
        old = load_config(stored)
    except ValueError as exc:
        raise ValueError(f"out_dir: {stored} is unreadable ({exc}); choose another "
                         "directory") from None
    diff = _differences(run_identity(old), run_identity(config))
    if diff:
        raise ValueError(f"out_dir: {out} holds a sweep with another config (differs in "
                         f"{', '.join(diff)}); use another output directory, or rerun with "
                         f"{stored}")


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def finished_row(out, cell, save_model):
    """The stored row of a finished (ok) run, or None when it must run (again)."""
    run_dir = os.path.join(out, "runs", cell.run_id)
    row = read_json(os.path.join(run_dir, "result.json"))
    if not isinstance(row, dict) or row.get("status") != "ok" or row.get("seed") != cell.seed:
        return None
    needed = ["history.json", "config.json"] + (["model.npz"] if save_model else [])
    if not all(os.path.isfile(os.path.join(run_dir, name)) for name in needed):
        return None
    return row


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    if isinstance(value, float):
        return repr(value)
    return value


def write_csv(path, rows, fields):
    with atomic_write(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({k: _csv_value(row.get(k)) for k in fields} for row in rows)


def write_json(path, doc):
    with atomic_write(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


def base_row(cell, grid_keys, status="ok", error=None, run_dir=None):
    row = {"run_id": cell.run_id, "dataset": cell.dataset, "method": cell.method}
    row.update({k: cell.point[k] for k in grid_keys if k != "method"})
    row.update(replicate=cell.replicate, seed=cell.seed, status=status, error=error)
    row.update(run_metrics([]))
    row["epochs"] = None
    row["run_dir"] = run_dir
    return row


def _remove(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def store_outcome(out, cell, outcome, grid_keys):
    """Write a finished run's files (result.json last) and return its row."""
    run_dir = os.path.join(out, "runs", cell.run_id)
    if outcome["status"] == "skipped":
        if os.path.isdir(run_dir):
            shutil.rmtree(run_dir)
        return base_row(cell, grid_keys, "skipped", outcome["error"])
    from ..estimator.run import write_run_config, write_run_history

    os.makedirs(run_dir, exist_ok=True)
    for name in ("result.json", "error.txt", "model.npz", "history.json", "history.csv"):
        _remove(os.path.join(run_dir, name))
    write_run_config(run_dir, outcome["config"])
    if outcome["history"]:
        write_run_history(run_dir, outcome["history"], outcome["config"])
    if outcome["model"] is not None:
        with atomic_write(os.path.join(run_dir, "model.npz")) as f:
            f.write(outcome["model"])
    if outcome["traceback"]:
        with atomic_write(os.path.join(run_dir, "error.txt"), "w") as f:
            f.write(outcome["traceback"])
    row = base_row(cell, grid_keys, outcome["status"], outcome["error"],
                    f"runs/{cell.run_id}")
    metrics = run_metrics(outcome["history"])
    if outcome["status"] == "ok":
        row.update(metrics)
    else:
        row["epochs"] = metrics["epochs"]
    write_json(os.path.join(run_dir, "result.json"), row)
    return row
