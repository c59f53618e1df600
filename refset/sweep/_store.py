"""The output directory of a sweep: checking it, reading finished runs, writing runs and tables.

Every file is written atomically; a run's ``result.json`` is written last, so its presence
(with status ``ok``) marks a finished run.
"""
import csv
import io
import json
import os
import shutil

from .._io import atomic_write, json_default
from ._config import load_config, run_identity
from .._lock import check_output_dir, is_bookkeeping
from ._summary import run_metrics

__all__ = ["check_out_dir", "read_json", "checkpoint_problem", "finished_row", "write_csv",
           "write_json", "base_row", "store_outcome"]


def _differences(a, b, prefix=""):
    keys = []
    for k in sorted(set(a) | set(b)):
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            keys.extend(_differences(x, y, f"{prefix}{k}."))
        elif x != y:
            keys.append(f"{prefix}{k}")
    return keys


def _empty_dir(out, name):
    path = os.path.join(out, name)
    return name == "runs" and os.path.isdir(path) and not os.path.islink(path) \
        and not os.listdir(path)


def check_out_dir(out, config, writable=True):
    """Refuse, without writing anything, an ``out`` that cannot hold this sweep.

    ``out`` must be (or be creatable as) a directory, writable unless ``writable`` is false
    (reading a plan), empty or holding a sweep of the same runs (see :func:`run_identity`).
    """
    check_output_dir(out, "out_dir", writable)
    stored = os.path.join(out, "sweep.toml")
    if not os.path.exists(stored):
        if os.path.isdir(out) and any(not is_bookkeeping(n) and not _empty_dir(out, n)
                                      for n in os.listdir(out)):
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


def checkpoint_problem(path):
    """Why ``path`` is not a usable refset checkpoint, or None when it looks whole.

    A quick check that reads the zip directory and the metadata only (not the arrays, which
    can be gigabytes): the file is a zip archive, its metadata is a refset checkpoint of a
    version this refset reads, and it holds exactly the arrays the metadata lists.  This is
    what a killed copy, a truncated transfer or an unrelated file fails; a flipped bit inside
    an array is found by :meth:`refset.SparseMLP.load` (its SHA-256 digests) instead.
    """
    import zipfile

    import numpy as np

    from ..estimator import checkpoint

    readable = getattr(checkpoint, "READABLE_VERSIONS", (checkpoint.VERSION,))
    try:
        size = os.path.getsize(path)
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "meta.npy" not in names:
                return "no metadata (not a refset checkpoint)"
            info = archive.getinfo("meta.npy")
            if info.file_size > size:      # np.savez stores members: none exceeds the file
                return "its metadata claims more bytes than the file holds"
            raw = archive.read(info)       # the zip's CRC is checked
        header = io.BytesIO(raw)
        version = np.lib.format.read_magic(header)
        read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                       (2, 0): np.lib.format.read_array_header_2_0}.get(version)
        if read_header is None:
            return f"metadata of .npy version {version}"
        shape, _, dtype = read_header(header)
        if shape != () or dtype.kind != "U" or dtype.itemsize > len(raw) - header.tell():
            return "unreadable metadata"
        meta = json.loads(str(np.frombuffer(raw, dtype, count=1, offset=header.tell())[0]))
    except FileNotFoundError:
        return "missing"
    except MemoryError:
        raise
    except Exception as exc:           # any malformed zip or .npy header (RuntimeError, ...)
        return f"not a readable checkpoint ({type(exc).__name__}: {' '.join(str(exc).split())})"
    if not isinstance(meta, dict) or meta.get("format") != checkpoint.FORMAT:
        return "not a refset checkpoint"
    if meta.get("version") not in readable:
        return (f"checkpoint format version {meta.get('version')!r}, not one this refset "
                f"reads ({', '.join(map(str, readable))})")
    digests = meta.get("digests")
    arrays = sorted(n[:-len(".npy")] for n in names if n != "meta.npy")
    if not isinstance(digests, dict) or arrays != sorted(digests):
        return "its arrays do not match its metadata (incomplete)"
    return None


def finished_row(out, cell, save_model, problems=None):
    """The stored row of a finished (ok) run, or None when it must run (again).

    With ``save_model`` a run is finished only if its ``model.npz`` is a whole checkpoint
    (:func:`checkpoint_problem`); when it is not, ``(run_id, reason)`` is appended to
    ``problems`` (a list), if given.
    """
    run_dir = os.path.join(out, "runs", cell.run_id)
    row = read_json(os.path.join(run_dir, "result.json"))
    if not isinstance(row, dict) or row.get("status") != "ok" or row.get("seed") != cell.seed:
        return None
    needed = ["history.json", "config.json"] + (["model.npz"] if save_model else [])
    if not all(os.path.isfile(os.path.join(run_dir, name)) for name in needed):
        return None
    if save_model:
        problem = checkpoint_problem(os.path.join(run_dir, "model.npz"))
        if problem is not None:
            if problems is not None:
                problems.append((cell.run_id, f"model.npz: {problem}"))
            return None
    return row


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=json_default)
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
        json.dump(doc, f, indent=1, default=json_default)
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
    if outcome["status"] == "failed":      # the traceback, or the message of a run that had none
        with atomic_write(os.path.join(run_dir, "error.txt"), "w") as f:
            f.write(outcome["traceback"] or f"{outcome['error']}\n")
    row = base_row(cell, grid_keys, outcome["status"], outcome["error"],
                    f"runs/{cell.run_id}")
    metrics = run_metrics(outcome["history"])
    if outcome["status"] == "ok":
        row.update(metrics)
    else:
        row["epochs"] = metrics["epochs"]
    write_json(os.path.join(run_dir, "result.json"), row)
    return row
